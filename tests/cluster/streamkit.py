"""Wire events for the bus tests, and reading the events stream back."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from assist.cluster.bus import EVENTS_STREAM
from assist.events import to_wire
from tests.helpers import make_event

START = datetime(2026, 1, 1, tzinfo=UTC)


class Calls:
    """Makes each call's wire events with increasing seq, as a hub would."""

    def __init__(self) -> None:
        self.seq: dict[str, int] = {}
        self.agents: dict[str, str] = {}

    def event(self, call_id: str, typ: str, party: str | None = None,
              **evidence: Any) -> dict[str, Any]:
        seq = self.seq[call_id] = self.seq.get(call_id, 0) + 1
        return to_wire(make_event(typ, call_id, seq / 10, party, **evidence), seq, START)

    def started(self, call_id: str, agent: str) -> dict[str, Any]:
        self.agents[call_id] = agent
        return self.event(call_id, "call.started", agent=agent, language="zh-CN",
                          sample_rate=8000, source="test")

    def final(self, call_id: str, text: str = "您好") -> dict[str, Any]:
        return self.event(call_id, "transcript.final", "customer", text=text)

    def partial(self, call_id: str, text: str = "您") -> dict[str, Any]:
        return self.event(call_id, "transcript.partial", "customer", text=text)

    def ended(self, call_id: str) -> dict[str, Any]:
        return self.event(call_id, "call.ended", reason="hangup")


def entries(url: str, stream: str = EVENTS_STREAM) -> list[dict[str, str]]:
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        return [fields for _, fields in r.xrange(stream)]
    finally:
        r.close()


def wires(url: str) -> list[dict[str, Any]]:
    return [json.loads(f["wire"]) for f in entries(url)]


def wait_for(check: Any, timeout: float = 30.0, what: str = "a state") -> Any:
    """Poll `check()` until it returns something true (a state, never a duration)."""
    end = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
