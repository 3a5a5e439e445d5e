"""Feeding sessions and detectors, and comparing whole events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from assist.call.session import CallSession, LoopParams
from assist.events import Event
from assist.frames import Frame, samples_per_frame

START = datetime(2026, 1, 1, tzinfo=UTC)


def run_session(customer: np.ndarray, agent: np.ndarray, rate: int,
                params: LoopParams | None = None) -> list[Event]:
    """Feed two float channels (-1..1) through a CallSession; return every event."""
    from audio import pcm16

    got: list[Event] = []
    s = CallSession("c1", rate, params or LoopParams(), start_utc=START,
                    emit=lambda wire, e: got.append(e), agent="a1")
    s.start()
    c, a = pcm16(customer), pcm16(agent)
    n = samples_per_frame(rate)
    for i in range(0, min(len(c), len(a)) - n + 1, n):
        s.feed(Frame("customer", c[i:i + n], rate, i / rate))
        s.feed(Frame("agent", a[i:i + n], rate, i / rate))
    s.end()
    return got


def of_type(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.type == kind]


def evidence(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.evidence for e in of_type(events, kind)]


class Collect:
    """A publisher that keeps every wire event."""

    def __init__(self) -> None:
        self.wires: list[dict[str, Any]] = []

    def publish(self, wire: dict[str, Any], *, agent: str | None, arrival: float | None) -> None:
        self.wires.append(wire)
