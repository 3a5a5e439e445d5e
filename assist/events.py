"""Events: what the loop tells panels, the store and the tests.

An `Event` is built by a detector or the session with call time only (the
detector knows when the thing happened).  The schema version, the per-call
sequence number and the UTC stamp are added when the session serialises it,
so a replay at any speed gives the same events at the same call times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Re-exported: an event names its party as a frame does.
from assist.frames import PARTIES as PARTIES
from assist.frames import Party as Party

SCHEMA_VERSION = 1

# The vocabulary.  Panels switch on `type`; unknown types must be ignored by clients.
EVENT_TYPES = frozenset(
    {
        "call.started",  # evidence: agent, language, sample_rate, source
        "call.ended",  # evidence: duration, reason
        "talk.start",  # party; evidence: onset (call time of first voiced frame)
        "talk.end",  # party; evidence: start, duration
        "metrics",  # party; one per finished talk spurt (see assist/call/session.py)
        "interruption",  # party=agent; evidence: onset, overlap, min_overlap, customer_since
        "interruption.end",  # party=agent; evidence: onset, overlap (final length)
        "pace",  # party=agent; evidence: cpm, target, band, source (acoustic|words)
        "pace.drift",  # party=agent; evidence: cpm, target, band, direction, kind, sustained
        "anger",  # party=customer; evidence: level, previous, score, thresholds
        "transcript.partial",  # party; evidence: text, start, end
        "transcript.final",  # party; evidence: text, start, end, words
        "transcription",  # evidence: enabled, reason (why it is off)
        "phrase",  # party; evidence: rule id, matched text, instead
        "suggestion",  # evidence: id, priority, text, reason, cooldown
        "feedback",  # evidence: suggestion, action (used|dismissed), agent
        "silence",  # evidence: start, threshold, after (who talked last)
        "silence.end",  # evidence: start, duration, resumed_by
        "response.gap",  # party=agent; evidence: gap (s, negative = over), kind
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened on a call, at call time `t` (seconds)."""

    type: str
    call_id: str
    t: float
    party: Party | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    # Wall-clock (time.monotonic) arrival of the frame that completed the
    # evidence; used to measure latency, never serialised.
    arrival: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        if self.t < 0:
            raise ValueError(f"event time must not be negative, got {self.t}")


def to_wire(event: Event, seq: int, call_start_utc: datetime) -> dict[str, Any]:
    """The JSON object sent to panels and kept in the store."""
    utc = call_start_utc + timedelta(seconds=event.t)
    out: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "call_id": event.call_id,
        "seq": seq,
        "t": round(event.t, 3),
        "utc": utc.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "type": event.type,
    }
    if event.party is not None:
        out["party"] = event.party
    out["evidence"] = event.evidence
    return out


def dumps(obj: dict[str, Any]) -> str:
    """Compact JSON, UTF-8 text kept readable (Chinese is not escaped)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
