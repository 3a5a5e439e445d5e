"""One call: per-party VAD, talk state and prosody, the detectors, and event numbering.

Runs synchronously on the event loop (microseconds per frame); anything slow
(recognition) lives in workers that hand their events back with `inject`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from assist.asr.text import count_units
from assist.audio.prosody import (
    FrameAnalyzer,
    FrameFeatures,
    NucleiParams,
    SpurtFeatures,
    summarise,
)
from assist.audio.vad import BleedGate, TalkTracker, Transition, VadParams, VoiceDetector
from assist.detectors.anger import AngerDetector, AngerParams
from assist.detectors.interruption import InterruptionDetector, InterruptionParams
from assist.detectors.lexicon import lexical_cues, lexical_score
from assist.detectors.pace import PaceDetector, PaceParams
from assist.events import (
    PARTIES,
    Event,
    Party,
    TranscriptFinalEvidence,
    TranscriptPartialEvidence,
    to_wire,
)
from assist.frames import FRAME_MS, Frame
from assist.privacy import mask, mask_words

log = logging.getLogger(__name__)

FRAME_S = FRAME_MS / 1000.0


@dataclass(frozen=True, slots=True)
class LoopParams:
    vad: VadParams = field(default_factory=VadParams)
    interruption: InterruptionParams = field(default_factory=InterruptionParams)
    pace: PaceParams = field(default_factory=PaceParams)
    anger: AngerParams = field(default_factory=AngerParams)
    nuclei: NucleiParams = field(default_factory=NucleiParams)


@dataclass(slots=True)
class Step:
    """What one frame of one party brought."""

    change: Transition | None = None
    voiced: bool = False
    spurt: SpurtFeatures | None = None  # the whole spurt, when it ended
    # Pieces of talk to score: every CHUNK_S while talking, and the tail when it ends,
    # so a long angry or hurried turn is flagged while it lasts, not after.
    chunks: list[SpurtFeatures] = field(default_factory=list)


CHUNK_S = 2.0


class PartyPipeline:
    """VAD, talk state and features of one party; yields spurts and chunks of them."""

    def __init__(self, party: Party, rate: int, frame_len: int, params: LoopParams,
                 gate: BleedGate | None = None) -> None:
        self.party = party
        self._gate = gate
        self._vad = VoiceDetector(rate, params.vad)
        self.talk = TalkTracker(params.vad, FRAME_S)
        self._features = FrameAnalyzer(rate, frame_len)
        self._nuclei = params.nuclei
        self._recent: deque[tuple[float, FrameFeatures]] = deque(maxlen=64)
        self._spurt: list[tuple[float, FrameFeatures]] = []
        self._chunk_start = 0.0

    def feed(self, t: float, pcm: Any) -> Step:
        f = self._features.feed(pcm)
        voiced = self._vad.is_voiced(pcm, f.mean_square)
        if self._gate is not None and self._gate.is_bleed(self.party, f.level_db):
            voiced = False
        step = Step(self.talk.feed(t, voiced), voiced)
        change = step.change
        if self.talk.talking or change is not None:
            if change is not None and change.end is None:
                self._spurt = [(ft, ff) for ft, ff in self._recent if ft >= change.start]
                self._chunk_start = change.start
            self._spurt.append((t, f))
        else:
            self._recent.append((t, f))
        if change is not None and change.end is not None:
            self._close(change, step)
        elif self.talk.talking and t + FRAME_S - self._chunk_start >= CHUNK_S - 1e-9:
            step.chunks.append(self._summary(self._chunk_start, t + FRAME_S))
            self._chunk_start = t + FRAME_S
        return step

    def _summary(self, start: float, end: float) -> SpurtFeatures:
        # Walk back from the newest frame: a chunk is the spurt's tail, so a long
        # monologue costs the chunk, not the whole turn, every 2 s.
        frames = []
        for ft, ff in reversed(self._spurt):
            if ft < start - 1e-9:
                break
            if ft < end - 1e-9:
                frames.append(ff)
        frames.reverse()
        return summarise(start, end, frames, FRAME_S, self._nuclei)

    def _close(self, change: Transition, step: Step) -> None:
        end = change.end if change.end is not None else change.start
        if end > self._chunk_start + 1e-9:
            step.chunks.append(self._summary(self._chunk_start, end))
        step.spurt = self._summary(change.start, end)
        self._spurt = []
        self._recent.clear()

    def finish(self) -> Step:
        step = Step(self.talk.finish())
        if step.change is not None:
            self._close(step.change, step)
        return step


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
    ) -> None:
        self.call_id = call_id
        self.rate = rate
        self.agent = agent
        self.language = language
        self.start_utc = start_utc
        self._emit = emit
        self._seq = 0
        self._t = 0.0  # latest call time seen on any party
        frame_len = rate * FRAME_MS // 1000
        gate = BleedGate(params.vad, FRAME_S)  # one for both: it compares the two
        self.pipes = {p: PartyPipeline(p, rate, frame_len, params, gate) for p in PARTIES}
        self.interruption = InterruptionDetector(call_id, params.interruption)
        self.pace = PaceDetector(call_id, params.pace)
        self.anger = AngerDetector(call_id, params.anger)
        # Called with each event and its sequence number; may answer with more events.
        self.listeners: list[Callable[[Event, int], list[Event]]] = []
        self.coach: Any = None  # set by assist.coach.per_call when playbooks are loaded
        # Per-party recognisers (assist.asr.PartyRecognizer) when a model is loaded;
        # their finals then measure the agent's pace in recognised characters.
        self.recognizers: dict[Party, Any] = {}
        self.audio_done = False
        self.ended = False
        self._source = source
        self._tap = tap  # what the tap knows of the call (SIP: trunk, basis, masked parties)

    def start(self) -> None:
        """Announce the call; separate from __init__ so listeners can be attached first."""
        evidence: dict[str, Any] = {"agent": self.agent, "language": self.language,
                                    "sample_rate": self.rate, "source": self._source}
        if self._tap:
            evidence["tap"] = self._tap
        self.inject(Event("call.started", self.call_id, 0.0, None, evidence))

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def now(self) -> float:
        """The latest call time seen on either party."""
        return self._t

    def feed(self, frame: Frame) -> None:
        if self.audio_done:
            return
        party, t = frame.party, frame.t
        if frame.rate != self.rate:
            raise ValueError(f"frame at {frame.rate} Hz on a {self.rate} Hz call")
        pipe = self.pipes[party]
        step = pipe.feed(t, frame.pcm)
        change = step.change
        rec = self.recognizers.get(party)
        if rec is not None:
            rec.feed(frame, pipe.talk.talking or change is not None)
        t_end = t + FRAME_S
        self._t = max(self._t, t_end)
        out: list[Event] = []
        if change is not None and change.end is None:
            out.append(Event("talk.start", self.call_id, t_end, party,
                             {"onset": round(change.start, 3)}))
        out += self.interruption.feed(party, t_end, change, step.voiced)
        out += self._step_events(party, step, t_end)
        for e in out:
            self.inject(e, frame.arrival)

    def _step_events(self, party: Party, step: Step, t: float) -> list[Event]:
        found: list[Event] = []
        for chunk in step.chunks:
            if party == "customer":
                found += self.anger.feed(chunk, t)[1]
            elif "agent" not in self.recognizers:
                found += self.pace.feed(chunk.start, chunk.end, chunk.nuclei, t)
        if step.spurt is None:
            return found
        return self._spurt_events(party, step.spurt, t) + found

    def _spurt_events(self, party: Party, s: SpurtFeatures, t: float) -> list[Event]:
        out = [Event("talk.end", self.call_id, t, party,
                     {"start": round(s.start, 3), "duration": round(s.duration, 3)})]
        anger = None
        if party == "customer" and self.anger.baseline is not None:
            anger = round(self.anger.score, 3)
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
        for more in self._react(event):
            self.inject(more, arrival)
        for listen in self.listeners:
            for more in listen(event, seq):
                self.inject(more, arrival)

    def use_recognizers(self, recognizers: dict[Party, Any]) -> None:
        self.recognizers = recognizers
        self.pace.source = "words" if recognizers else "acoustic"

    def _react(self, event: Event) -> list[Event]:
        """What the words of a final transcript tell the detectors."""
        if (event.type == "transcription" and event.party is not None
                and not event.evidence.get("enabled", True)):
            # That party's recogniser failed: its audio goes on, pace turns acoustic again.
            failed = self.recognizers.pop(event.party, None)
            if failed is not None:
                failed.close(self._t)
            self.pace.source = "words" if "agent" in self.recognizers else "acoustic"
            return []
        if event.type != "transcript.final":
            return []
        if event.party == "customer":
            cues = lexical_cues(str(event.evidence.get("text", "")), self.language)
            # Cue weights combine by noisy-OR; complaint + refund + manager (0.85) alone
            # moves a calm customer to tense, one cue needs a raised voice with it.
            return self.anger.feed_cues(2.0 * lexical_score(cues), event.t) if cues else []
        if "agent" not in self.recognizers:
            return []
        words = event.evidence.get("words") or []
        units = count_units(str(event.evidence.get("text", "")), self.language)
        if not words or units == 0:
            return []
        return self.pace.feed(float(words[0]["start"]), float(words[-1]["end"]), units, event.t)

    def finish_audio(self) -> None:
        """The audio has ended: close open spurts and let recognisers flush."""
        if self.audio_done:
            return
        self.audio_done = True
        for party, pipe in self.pipes.items():
            step = pipe.finish()
            t = self._t
            events = (self.interruption.feed(party, t, step.change, False) if step.change
                      else [])
            for e in events + self._step_events(party, step, t):
                self.inject(e)
        for rec in self.recognizers.values():
            rec.close(self._t)

    def end(self, reason: str = "hangup") -> None:
        """Announce the end; call after recognisers have flushed (the hub awaits them)."""
        if self.ended:
            return
        self.finish_audio()
        self.ended = True
        self.inject(Event("call.ended", self.call_id, self._t, None,
                          {"agent": self.agent, "duration": round(self._t, 3),
                           "reason": reason}))
