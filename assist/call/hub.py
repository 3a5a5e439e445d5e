"""What a tap (WAV replay, SIP) talks to: start a call, feed frames, end it.

All three methods run on the asyncio event loop and return at once; a tap on
another thread hands off with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from assist.audio import spectrum
from assist.call.session import (
    CallCoach,
    CallSession,
    LoopParams,
    Recognizers,
    TranscriptionStart,
)
from assist.errors import UserError
from assist.events import Event
from assist.frames import Frame, FrameError, check_frame

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Where serialised events go (websocket fan-out, store).  Must never block."""

    def publish(
        self, wire: dict[str, Any], *, agent: str | None, arrival: float | None
    ) -> None: ...


class Coaching(Protocol):
    """Makes each call's coach (assist.coach.per_call.Coaching)."""

    def for_call(self, call_id: str, language: str, start_utc: datetime) -> CallCoach: ...


class CallHub:
    """The loop's side of every tap: one CallSession per live call.

    A failure inside one call's processing is logged and ends that call only;
    it never reaches the tap or another call.
    """

    def __init__(self, params: LoopParams, publishers: list[Publisher], *,
                 language: str = "zh-CN", clock: Callable[[], datetime] | None = None,
                 transcription: TranscriptionStart | None = None,
                 coaching: Coaching | None = None,
                 per_agent: Mapping[str, LoopParams] | None = None) -> None:
        self._params = params
        self._per_agent = per_agent or {}  # agents with settings of their own
        self._publishers = publishers
        self._language = language
        self._now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.sessions: dict[str, CallSession] = {}
        self.transcription = transcription
        self.coaching = coaching
        self._dropped: dict[str, int] = {}  # bad frames per call
        self._ending: set[asyncio.Task[None]] = set()  # calls waiting for recognisers to flush
        spectrum.load()  # now, not while the first call's frames wait

    def start_call(self, call_id: str, *, agent: str | None, rate: int,
                   language: str | None = None, source: str = "replay",
                   meta: dict[str, Any] | None = None,
                   start_utc: datetime | None = None) -> None:
        if call_id in self.sessions:
            log.warning("call %s already started; ignoring a second start", call_id)
            return
        language = language or self._language
        start_utc = start_utc or self._now()
        coach = None
        if self.coaching is not None:
            coach = self.coaching.for_call(call_id, language, start_utc)
        params = self._per_agent.get(agent or "", self._params)
        session = CallSession(call_id, rate, params, start_utc=start_utc,
                              emit=lambda wire, event: self._publish(session, wire, event),
                              agent=agent, language=language, source=source, tap=meta,
                              coach=coach, transcription=self.transcription)
        self.sessions[call_id] = session
        log.info("call %s started (agent %s, %d Hz, %s)", call_id, agent, rate, source)
        session.start()

    def feed(self, call_id: str, frame: Frame) -> None:
        """Feed one frame.  A frame that breaks the contract (rate, dtype, length) is
        dropped: the call goes on, and the first of each call's bad frames is logged."""
        session = self.sessions.get(call_id)
        if session is None:
            return
        try:
            check_frame(frame, session.rate)
        except FrameError as e:
            self._dropped[call_id] = self._dropped.get(call_id, 0) + 1
            if self._dropped[call_id] == 1:
                log.warning("call %s: dropping a bad frame (%s); the call goes on", call_id, e)
            return
        try:
            session.feed(frame, checked=True)
        except Exception:
            log.exception("call %s: processing failed; ending the call's analysis", call_id)
            self.end_call(call_id, "error")

    def end_call(self, call_id: str, reason: str = "hangup") -> None:
        session = self.sessions.pop(call_id, None)
        if session is None:
            return
        dropped = self._dropped.pop(call_id, 0)
        if dropped:
            log.warning("call %s: %d bad frames dropped in all", call_id, dropped)
        try:
            session.finish_audio()
        except Exception:
            log.exception("call %s: failed while ending", call_id)
        if session.recognizers is not None:
            task = asyncio.ensure_future(self._end_after_flush(session, session.recognizers,
                                                               reason))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)
        else:
            self._finish(session, reason)

    async def _end_after_flush(self, session: CallSession, recognizers: Recognizers,
                               reason: str) -> None:
        try:
            await asyncio.wait_for(recognizers.idle(), recognizers.flush_limit)
        except Exception:  # a timeout, or a recogniser that failed: end the call anyway
            log.warning("call %s: recognisers did not flush in time", session.call_id)
        self._finish(session, reason)

    def _finish(self, session: CallSession, reason: str) -> None:
        try:
            session.end(reason)
        except Exception:
            log.exception("call %s: failed while ending", session.call_id)
        log.info("call %s ended (%s)", session.call_id, reason)

    def audio_health(self, call_id: str, party: str | None, evidence: dict[str, Any]) -> None:
        """A tap's report on a stream's audio (sip/health.py): an `audio.health` event."""
        session = self.sessions.get(call_id)
        if session is None:
            return
        try:
            event = Event("audio.health", call_id, session.now, party,  # type: ignore[arg-type]
                          evidence)  # fmt: skip
        except ValueError as e:
            log.warning("call %s: bad audio report dropped (%s)", call_id, e)
            return
        session.inject(event)

    def feedback(self, call_id: str, suggestion_id: str, action: str, agent: str | None) -> None:
        """The agent marked a suggestion used or dismissed (raises UserError if unknown)."""
        session = self.sessions.get(call_id)
        if session is None or session.coach is None:
            raise UserError(f"no live call {call_id!r} with suggestions")
        session.inject(session.coach.feedback(suggestion_id, action, agent, session.now))

    async def drain(self) -> None:
        """Wait for calls that are still flushing their transcripts."""
        while self._ending:
            await asyncio.gather(*list(self._ending), return_exceptions=True)

    def _publish(self, session: CallSession, wire: dict[str, Any], event: Event) -> None:
        for pub in self._publishers:
            try:
                pub.publish(wire, agent=session.agent, arrival=event.arrival)
            except Exception:
                log.exception("publisher %r failed on %s", pub, wire.get("type"))
