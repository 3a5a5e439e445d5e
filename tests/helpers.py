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


# A whole evidence of each type, for tests that care about a few keys only.
_TEMPLATES: dict[str, dict[str, Any]] = {
    "call.started": {"agent": "a1", "language": "zh-CN", "sample_rate": 8000, "source": "test"},
    "call.ended": {"agent": "a1", "duration": 0.0, "reason": "hangup"},
    "transcription": {"enabled": True},
    "talk.start": {"onset": 0.0},
    "talk.end": {"start": 0.0, "duration": 0.0},
    "metrics": {"start": 0.0, "duration": 0.0, "level_db": -30.0, "pitch_hz": 0.0,
                "pitch_spread_st": 0.0, "high_ratio": 0.0, "syllables": 0, "pace_cpm": 0.0,
                "anger": None},
    "interruption": {"onset": 0.0, "overlap": 0.6, "min_overlap": 0.6, "customer_since": 0.0},
    "interruption.end": {"onset": 0.0, "overlap": 0.6, "ended_by": "agent"},
    "pace": {"cpm": 120.0, "target": 120.0, "band": (72.0, 210.0), "window": 30.0,
             "source": "acoustic", "baseline": None},
    "pace.drift": {"cpm": 120.0, "target": 120.0, "band": (72.0, 210.0), "direction": "fast",
                   "kind": "band", "baseline": None, "sustained": 8.0, "source": "acoustic"},
    "anger": {"level": "calm", "previous": None, "score": 0.0,
              "thresholds": {"tense": (0.35, 0.5), "angry": (0.55, 0.7)}, "rise": {}},
    "transcript.partial": {"text": "", "start": 0.0, "end": 0.0},
    "transcript.final": {"text": "", "start": 0.0, "end": 0.0, "words": ()},
    "phrase": {"rule": "r", "matched": "", "instead": "", "title": "", "seed": "",
               "final": True, "utterance_start": None},
    "suggestion": {"id": "s1", "entry": "e", "title": "", "priority": 0, "text": "",
                   "phrasings": (), "reason": {"type": "call.started", "t": 0.0, "summary": ""},
                   "cooldown": 0.0, "ttl": 60.0, "expires": 60.0, "replaces": (), "seed": "",
                   "language": "zh-CN"},
    "feedback": {"suggestion": "s1", "entry": "e", "action": "used", "agent": "a1"},
}


def make_event(type_: Any, call_id: str, t: float, party: Any = None,
               **evidence: Any) -> Event:
    """An event whose evidence has the keys given and neutral values for the rest."""
    return Event(type_, call_id, t, party, {**_TEMPLATES[type_], **evidence})
