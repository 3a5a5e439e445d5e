"""Events: what the loop tells panels, the store and the tests.

An `Event` is built by a detector or the session with call time only (the
detector knows when the thing happened).  The schema version, the per-call
sequence number and the UTC stamp are added when the session serialises it,
so a replay at any speed gives the same events at the same call times.

Each event type has one frozen evidence class; `Event.type` (a Literal) keys
the union of them, checked when the event is built.  Evidence is immutable
all the way down (lists become tuples, mappings read-only copies), so the
store may serialise it later on its own thread.  A detector may pass a plain
dict: it is checked and frozen into the type's evidence class.  Evidence reads
like a mapping as well (`ev["level"]`, `ev.get(...)`), with the wire's keys.

`CATEGORIES` is the one table of what each type is (which a slow panel may
drop, which a supervisor's floor list shows, ...); consumers read it rather
than keep sets of their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, get_args

from assist.evidence import (
    ANGER_LEVELS,
    DRIFT_KINDS,
    PACE_DIRECTIONS,
    AngerEvidence,
    AnyEvidence,
    AudioHealthEvidence,
    CallEndedEvidence,
    CallStartedEvidence,
    EventType,
    Evidence,
    FeedbackEvidence,
    InterruptionEndEvidence,
    InterruptionEvidence,
    MetricsEvidence,
    PaceDriftEvidence,
    PaceEvidence,
    PhraseEvidence,
    ResponseGapEvidence,
    SilenceEndEvidence,
    SilenceEvidence,
    SuggestionEvidence,
    TalkEndEvidence,
    TalkStartEvidence,
    TranscriptFinalEvidence,
    TranscriptionEvidence,
    TranscriptPartialEvidence,
)

# Re-exported: an event names its party as a frame does.
from assist.frames import PARTIES as PARTIES
from assist.frames import Party as Party

SCHEMA_VERSION = 1

@dataclass(frozen=True, slots=True)
class Category:
    """What an event type is, for every consumer."""

    evidence: type[Evidence]
    floor: bool = False  # on a supervisor's floor list for calls not opened
    droppable: bool = False  # a slow panel may lose it (a newer one supersedes it)
    state: bool = False  # a new one outdates the suggestion the previous one raised
    transcript: bool = False  # recognised words: phrase spotting, playbook `match`
    masked: bool = False  # carries recognised text: numbers masked before it leaves
    quiet: bool = False  # left out of `assist replay`'s readable output


CATEGORIES: Mapping[EventType, Category] = MappingProxyType({
    "call.started": Category(CallStartedEvidence, floor=True),
    "call.ended": Category(CallEndedEvidence, floor=True),
    "transcription": Category(TranscriptionEvidence, floor=True),
    "talk.start": Category(TalkStartEvidence, quiet=True),
    "talk.end": Category(TalkEndEvidence, quiet=True),
    "metrics": Category(MetricsEvidence, quiet=True),
    "interruption": Category(InterruptionEvidence, floor=True),
    "interruption.end": Category(InterruptionEndEvidence, floor=True),
    "pace": Category(PaceEvidence, floor=True, quiet=True),
    "pace.drift": Category(PaceDriftEvidence, floor=True, state=True),
    "anger": Category(AngerEvidence, floor=True, state=True),
    "transcript.partial": Category(TranscriptPartialEvidence, droppable=True,
                                   transcript=True, masked=True, quiet=True),
    "transcript.final": Category(TranscriptFinalEvidence, transcript=True, masked=True),
    "phrase": Category(PhraseEvidence, floor=True),
    "suggestion": Category(SuggestionEvidence, floor=True),
    "feedback": Category(FeedbackEvidence, floor=True),
    "silence": Category(SilenceEvidence, floor=True),
    "silence.end": Category(SilenceEndEvidence, floor=True),
    "response.gap": Category(ResponseGapEvidence, quiet=True),
    "audio.health": Category(AudioHealthEvidence, floor=True),
})


def _types(flag: str) -> frozenset[str]:
    return frozenset(t for t, c in CATEGORIES.items() if getattr(c, flag))


EVENT_TYPES: frozenset[str] = frozenset(CATEGORIES)
FLOOR_TYPES = _types("floor")
DROPPABLE = _types("droppable")
STATE_TYPES = _types("state")
TRANSCRIPT_TYPES = _types("transcript")
MASKED_TYPES = _types("masked")
QUIET_TYPES = _types("quiet")

# Evidence keys a playbook trigger may filter on: key -> (event types, allowed values
# or None for any string).
EVIDENCE_FILTERS: Mapping[str, tuple[tuple[EventType, ...], tuple[str, ...] | None]] = (
    MappingProxyType({
        "level": (("anger",), ANGER_LEVELS),
        "previous": (("anger",), ANGER_LEVELS),
        "direction": (("pace.drift",), PACE_DIRECTIONS),
        "kind": (("pace.drift",), DRIFT_KINDS),
        "rule": (("phrase",), None),
        "after": (("silence",), PARTIES),
        "resumed_by": (("silence.end",), PARTIES),
    })
)

if set(get_args(EventType)) != EVENT_TYPES or any(
    c.evidence.type != t for t, c in CATEGORIES.items()
):
    raise RuntimeError("CATEGORIES must name every EventType with its own evidence class")


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One thing that happened on a call, at call time `t` (seconds).

    `evidence` may be given as the type's evidence class or as a mapping of its
    wire keys; either way it is checked and stored frozen.
    """

    type: EventType
    call_id: str
    t: float
    party: Party | None
    evidence: AnyEvidence
    # Wall-clock (time.monotonic) arrival of the frame that completed the
    # evidence; used to measure latency, never serialised.
    arrival: float | None = field(compare=False)

    def __init__(
        self,
        type: EventType,
        call_id: str,
        t: float,
        party: Party | None = None,
        evidence: Evidence | Mapping[str, Any] | None = None,
        arrival: float | None = None,
    ) -> None:
        category = CATEGORIES.get(type)
        if category is None:
            raise ValueError(f"unknown event type {type!r}")
        if t < 0:
            raise ValueError(f"event time must not be negative, got {t}")
        if party is not None and party not in PARTIES:
            raise ValueError(f"unknown party {party!r}")
        if not isinstance(evidence, Evidence):
            try:
                evidence = category.evidence(**(evidence or {}))
            except TypeError as e:  # a missing or unknown key
                raise ValueError(f"bad evidence for {type}: {e}") from None
        elif not isinstance(evidence, category.evidence):
            raise ValueError(f"{type} needs {category.evidence.__name__}, "
                             f"got {evidence.__class__.__name__}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "party", party)
        object.__setattr__(self, "evidence", evidence)
        object.__setattr__(self, "arrival", arrival)

    def with_arrival(self, arrival: float | None) -> Event:
        return Event(self.type, self.call_id, self.t, self.party, self.evidence, arrival)


def to_wire(event: Event, seq: int, call_start_utc: datetime) -> dict[str, Any]:
    """The JSON object sent to panels and kept in the store (a fresh dict each time)."""
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
    out["evidence"] = event.evidence.to_json()
    return out


def dumps(obj: dict[str, Any]) -> str:
    """Compact JSON, UTF-8 text kept readable (Chinese is not escaped)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
