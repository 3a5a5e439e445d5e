"""The loop side of the SIP tap's call bookkeeping, without pjsua2."""

from __future__ import annotations

import asyncio
import logging

from sip.taps import Taps


class FailingHealthSink:
    """A sink whose audio reports fail: the call must still end."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.ended: list[tuple[str, str]] = []

    def start_call(self, call_id: str, **_: object) -> None:
        self.started.append(call_id)

    def feed(self, call_id: str, frame: object) -> None:
        pass

    def audio_health(self, call_id: str, party: str | None, evidence: dict) -> None:
        raise RuntimeError("report lost")

    def end_call(self, call_id: str, reason: str = "hangup") -> None:
        self.ended.append((call_id, reason))


def test_a_failing_audio_report_never_keeps_a_call_from_ending(caplog) -> None:
    loop = asyncio.new_event_loop()
    try:
        sink = FailingHealthSink()
        taps = Taps((), loop, sink, 8000, {})
        taps._loop_start("sip-1", "8107", None, {"parties": {"customer": None, "agent": None}})
        with caplog.at_level(logging.ERROR, logger="assist.sip"):
            taps._loop_end("sip-1", "hangup")
        assert sink.ended == [("sip-1", "hangup")]
        assert "call sip-1: audio report not delivered" in caplog.text
    finally:
        loop.close()
