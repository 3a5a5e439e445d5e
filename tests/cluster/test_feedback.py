"""Panel feedback from `assist:feedback` reaches the coach of this process's calls only."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import SimpleNamespace

from assist.cluster.bus import FEEDBACK_STREAM, connect
from assist.cluster.feedback import FeedbackReader
from assist.errors import UserError
from tests.cluster import redisd
from tests.sip.sipkit import wait_until

redis_server = redisd.redis_server


def wait(pred, timeout: float = 15.0) -> None:
    assert wait_until(pred, timeout), "timed out"


class Hub:
    """The two things the reader uses of a CallHub: its sessions and feedback()."""

    def __init__(self) -> None:
        self.sessions = {"mine": SimpleNamespace(call_id="mine", agent="a1")}
        self.got: list[tuple[str, str, str, str | None]] = []

    def feedback(self, call_id: str, suggestion: str, action: str, agent: str | None) -> None:
        if suggestion == "gone":
            raise UserError(f"no suggestion {suggestion!r} on call {call_id}")
        self.got.append((call_id, suggestion, action, agent))


def entry(call: str, suggestion: str = "s1", action: str = "used", agent: str = "a1"):
    return {"call": call, "suggestion": suggestion, "action": action, "agent": agent}


def test_feedback_goes_to_its_own_calls_coach_only(redis_server, caplog) -> None:
    caplog.set_level(logging.INFO)
    r = connect(redis_server.url)
    r.xadd(FEEDBACK_STREAM, entry("mine", "before"))  # older than this process: not replayed
    hub = Hub()
    reader = FeedbackReader(redis_server.url, hub)  # type: ignore[arg-type]
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(reader.run(stop),))
    thread.start()
    try:
        wait(lambda: reader.last is not None)
        r.xadd(FEEDBACK_STREAM, entry("other-process-call"))
        r.xadd(FEEDBACK_STREAM, entry("mine", "s1", agent="a2"))  # not the call's agent
        r.xadd(FEEDBACK_STREAM, entry("mine", "gone"))  # a card the coach does not know
        r.xadd(FEEDBACK_STREAM, entry("mine", "s2", "dismissed"))
        wait(lambda: hub.got)
        # Redis restarts (empty); the reader goes on with what comes next.
        redis_server.restart()
        r = connect(redis_server.url)
        r.xadd(FEEDBACK_STREAM, entry("mine", "s3"))
        wait(lambda: len(hub.got) == 2, 30)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
    assert hub.got == [("mine", "s2", "dismissed", "a1"), ("mine", "s3", "used", "a1")]
    assert reader.refused == 2 and reader.handed == 2
    refused = [r.getMessage() for r in caplog.records if "feedback refused" in r.getMessage()]
    assert "from agent 'a2', not the call's agent" in refused[0]
    assert "no suggestion 'gone'" in refused[1]
    assert not any(r.exc_info for r in caplog.records)

