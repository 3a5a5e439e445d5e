"""One call: both parties' audio paths, the detectors, and event numbering.

Runs synchronously on the event loop (microseconds per frame); anything slow
(recognition) lives in workers that hand their events back with `inject`.  The
session is handed its parts when it is built: the coach (phrases and suggestions)
and the transcription that gives it recognisers, each behind a small Protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from assist.audio.bleed import BleedGate
from assist.audio.prosody import SpurtFeatures
from assist.call.pipeline import FRAME_S, LoopParams, PartyPipeline, Step
from assist.detectors.anger import AngerDetector
from assist.detectors.interruption import InterruptionDetector
from assist.detectors.pace import PaceDetector
from assist.detectors.silence import SilenceDetector
from assist.detectors.words import WordReactions
from assist.events import PARTIES, Event, Party, TranscriptPartialEvidence, to_wire
from assist.evidence import TranscriptFinalEvidence
from assist.frames import Frame, check_frame, samples_per_frame
from assist.privacy import mask, mask_words

__all__ = ["CallSession", "LoopParams", "CallCoach", "Recognizers", "TranscriptionStart"]

log = logging.getLogger(__name__)


class CallCoach(Protocol):
    """Answers each numbered event with more (phrases, suggestions); takes feedback."""

    def feed(self, event: Event, seq: int) -> list[Event]: ...

    def feedback(self, suggestion_id: str, action: str, agent: str | None, t: float) -> Event: ...


class Recognizers(Protocol):
    """A call's recognisers (assist.asr.transcription.CallRecognizers)."""

    def feed(self, frame: Frame, talking: bool) -> None: ...

    def on_event(self, event: Event, t: float) -> None: ...

    def close(self, t: float) -> None: ...

    async def idle(self) -> None: ...

    @property
    def flush_limit(self) -> float | None:
        """Seconds of wall time the end of a call waits for idle(); None: as it takes."""
        ...


class TranscriptionStart(Protocol):
    """Gives a started call its recognisers (or None) and the event announcing them."""

    def start(self, call_id: str, language: str, rate: int,
              emit: Callable[[Event], None]) -> tuple[Recognizers | None, Event]: ...


class CallSession:
    """Feeds frames through the pipelines and detectors; numbers and serialises events."""

    def __init__(
        self,
        call_id: str,
        rate: int,
        params: LoopParams,
        *,
        start_utc: datetime,
        emit: Callable[[dict[str, Any], Event], None],
        agent: str | None = None,
        language: str = "zh-CN",
        source: str = "replay",
        tap: dict[str, Any] | None = None,
        coach: CallCoach | None = None,
        transcription: TranscriptionStart | None = None,
    ) -> None:
        self.call_id = call_id
        self.rate = rate
        self.agent = agent
        self.language = language
        self.start_utc = start_utc
        self._emit = emit
        self._seq = 0
        self._t = 0.0  # latest call time seen on any party
        frame_len = samples_per_frame(rate)
        gate = BleedGate(params.vad, FRAME_S)  # one for both: it compares the two
        self.pipes = {p: PartyPipeline(p, rate, frame_len, params, gate) for p in PARTIES}
        self.interruption = InterruptionDetector(call_id, params.interruption)
        self.silence = SilenceDetector(call_id, params.silence)
        self.pace = PaceDetector(call_id, params.pace)
        self.anger = AngerDetector(call_id, params.anger)
        self.words = WordReactions(self.anger, self.pace, language)
        self.coach = coach
        self._transcription = transcription
        # Set by start() when a model is loaded; their finals then measure the agent's
        # pace in recognised characters.
        self.recognizers: Recognizers | None = None
        self.audio_done = False
        self.ended = False
        self._source = source
        self._tap = tap  # what the tap knows of the call (SIP: trunk, basis, masked parties)

    def start(self) -> None:
        """Announce the call, then start its recognisers (or say why there are none)."""
        evidence: dict[str, Any] = {"agent": self.agent, "language": self.language,
                                    "sample_rate": self.rate, "source": self._source}
        if self._tap:
            evidence["tap"] = self._tap
        self.inject(Event("call.started", self.call_id, 0.0, None, evidence))
        if self._transcription is None:
            return
        try:
            self.recognizers, announce = self._transcription.start(
                self.call_id, self.language, self.rate, self._from_worker)
        except Exception:
            log.exception("call %s: could not start transcription", self.call_id)
            return
        self.inject(announce)

    def _from_worker(self, event: Event) -> None:
        if not self.ended:
            self.inject(event)

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def now(self) -> float:
        """The latest call time seen on either party."""
        return self._t

    def feed(self, frame: Frame, *, checked: bool = False) -> None:
        """Feed one frame; `checked`: the caller (the hub) has already checked it."""
        if self.audio_done:
            return
        party, t = frame.party, frame.t
        if not checked:
            check_frame(frame, self.rate)
        pipe = self.pipes[party]
        step = pipe.feed(t, frame.pcm)
        change = step.change
        if self.recognizers is not None:
            self.recognizers.feed(frame, pipe.talk.talking or change is not None)
        t_end = t + frame.duration
        self._t = max(self._t, t_end)
        out: list[Event] = []
        if change is not None and change.end is None:
            out.append(Event("talk.start", self.call_id, t_end, party,
                             {"onset": round(change.start, 3)}))
        out += self.interruption.feed(party, t_end, change, step.voiced)
        out += self.silence.feed(party, t_end, change)
        out += self._step_events(party, step, t_end)
        for e in out:
            self.inject(e, frame.arrival)

    def _step_events(self, party: Party, step: Step, t: float) -> list[Event]:
        found: list[Event] = []
        for chunk in step.chunks:
            if party == "customer":
                found += self.anger.feed(chunk, t)[1]
            elif self.words.acoustic_pace:
                found += self.pace.feed(chunk.start, chunk.speech_end, chunk.vowel_nuclei, t)
        if step.spurt is None:
            return found
        return self._spurt_events(party, step.spurt, t) + found

    def _spurt_events(self, party: Party, s: SpurtFeatures, t: float) -> list[Event]:
        out = [Event("talk.end", self.call_id, t, party,
                     {"start": round(s.start, 3), "duration": round(s.duration, 3)})]
        anger = self.anger.running_score() if party == "customer" else None
        out.append(Event("metrics", self.call_id, t, party, {
            "start": round(s.start, 3), "duration": round(s.duration, 3),
            "level_db": round(s.level_db, 1), "pitch_hz": round(s.pitch_hz, 1),
            "pitch_spread_st": round(s.pitch_spread_st, 2),
            "high_ratio": round(s.high_ratio, 3), "syllables": s.nuclei,
            "pace_cpm": round(s.syllables_per_min, 1), "anger": anger}))
        return out

    def inject(self, event: Event, arrival: float | None = None) -> None:
        """Number, serialise and emit an event; listeners (the coach) may answer with more."""
        ev = event.evidence
        if isinstance(ev, TranscriptPartialEvidence | TranscriptFinalEvidence):
            masked: TranscriptPartialEvidence | TranscriptFinalEvidence
            if isinstance(ev, TranscriptFinalEvidence):
                masked = replace(ev, text=mask(ev.text), words=tuple(mask_words(ev.words)))
            else:
                masked = replace(ev, text=mask(ev.text))
            event = Event(event.type, event.call_id, event.t, event.party, masked,
                          event.arrival)
        self._seq += 1
        wire = to_wire(event, self._seq, self.start_utc)
        if arrival is not None and event.arrival is None:
            event = event.with_arrival(arrival)
        self._emit(wire, event)
        seq = self._seq
        if self.recognizers is not None:
            self.recognizers.on_event(event, self._t)
        for more in self.words.feed(event):
            self.inject(more, arrival)
        if self.coach is not None:
            for more in self.coach.feed(event, seq):
                self.inject(more, arrival)

    def finish_audio(self) -> None:
        """The audio has ended: close open spurts and let recognisers flush."""
        if self.audio_done:
            return
        self.audio_done = True
        for party, pipe in self.pipes.items():
            step = pipe.finish()
            t = self._t
            events = (self.interruption.feed(party, t, step.change, False)
                      + self.silence.feed(party, t, step.change) if step.change else [])
            for e in events + self._step_events(party, step, t):
                self.inject(e)
        if self.recognizers is not None:
            self.recognizers.close(self._t)

    def end(self, reason: str = "hangup") -> None:
        """Announce the end; call after recognisers have flushed (the hub awaits them)."""
        if self.ended:
            return
        self.finish_audio()
        self.ended = True
        self.inject(Event("call.ended", self.call_id, self._t, None,
                          {"agent": self.agent, "duration": round(self._t, 3),
                           "reason": reason}))
