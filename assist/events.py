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
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Literal, get_args

# Re-exported: an event names its party as a frame does.
from assist.frames import PARTIES as PARTIES
from assist.frames import Party as Party

SCHEMA_VERSION = 1

EventType = Literal[
    "call.started",
    "call.ended",
    "transcription",
    "talk.start",
    "talk.end",
    "metrics",
    "interruption",
    "interruption.end",
    "pace",
    "pace.drift",
    "anger",
    "transcript.partial",
    "transcript.final",
    "phrase",
    "suggestion",
    "feedback",
    "silence",
    "silence.end",
    "response.gap",
]

# The evidence vocabularies: detectors emit them, playbook triggers filter on them.
AngerLevel = Literal["calm", "tense", "angry"]
ANGER_LEVELS: tuple[AngerLevel, ...] = get_args(AngerLevel)
PaceSource = Literal["acoustic", "words"]
PACE_SOURCES: tuple[PaceSource, ...] = get_args(PaceSource)
PaceDirection = Literal["fast", "slow"]
PACE_DIRECTIONS: tuple[PaceDirection, ...] = get_args(PaceDirection)
DriftKind = Literal["band", "self"]  # off the target band, or off the agent's own pace
DRIFT_KINDS: tuple[DriftKind, ...] = get_args(DriftKind)
FeedbackAction = Literal["used", "dismissed"]
FEEDBACK_ACTIONS: tuple[FeedbackAction, ...] = get_args(FeedbackAction)
GapKind = Literal["over", "latch", "normal", "long"]  # the agent's answer after a turn
GAP_KINDS: tuple[GapKind, ...] = get_args(GapKind)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


_NAMES: dict[type, frozenset[str]] = {}


def _names(cls: type) -> frozenset[str]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(f.name for f in fields(cls))
    return names


def _one_of(name: str, value: object, allowed: tuple[object, ...], none: bool = False) -> None:
    if value is None and none:
        return
    if value not in allowed:
        raise ValueError(f"evidence {name} must be one of {allowed}, got {value!r}")


@dataclass(frozen=True, slots=True, eq=False)
class Evidence:
    """Base of the evidence classes: wire keys are the fields, in order."""

    type: ClassVar[EventType]
    # Fields left off the wire when None (optional keys of the protocol).
    optional: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (list, tuple, Mapping)):
                object.__setattr__(self, f.name, _freeze(value))
        self.check()

    def check(self) -> None:
        """Raise ValueError for a value outside the vocabulary."""

    def to_json(self) -> dict[str, Any]:
        """A fresh, plain dict in wire key order (safe to hand to another thread)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in self.optional:
                continue
            out[f.name] = _thaw(value)
        return out

    # Read like the wire's mapping, so `ev["text"]` and `ev.get("start")` work; these
    # give the wire's plain values (copies), attributes the frozen ones.
    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(key)
        return _thaw(getattr(self, key))

    def get(self, key: str, default: Any = None) -> Any:
        return _thaw(getattr(self, key)) if key in self else default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str) or key not in _names(type(self)):
            return False
        return not (key in self.optional and getattr(self, key) is None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Evidence):
            return type(self) is type(other) and self.to_json() == other.to_json()
        if isinstance(other, Mapping):
            return self.to_json() == _thaw(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((type(self), json.dumps(self.to_json(), sort_keys=True, default=str)))


@dataclass(frozen=True, slots=True, eq=False)
class CallStartedEvidence(Evidence):
    type: ClassVar[EventType] = "call.started"
    optional: ClassVar[frozenset[str]] = frozenset({"tap", "local_hour"})
    agent: str | None
    language: str
    sample_rate: int
    source: str
    tap: Mapping[str, Any] | None = None  # SIP: trunk, mode, basis, masked parties, rtp
    local_hour: int | None = None  # the caller's hour of day, when the tap knows it


@dataclass(frozen=True, slots=True, eq=False)
class CallEndedEvidence(Evidence):
    type: ClassVar[EventType] = "call.ended"
    agent: str | None
    duration: float
    reason: str


@dataclass(frozen=True, slots=True, eq=False)
class TranscriptionEvidence(Evidence):
    type: ClassVar[EventType] = "transcription"
    optional: ClassVar[frozenset[str]] = frozenset({"code", "reason", "model", "language"})
    enabled: bool
    code: str | None = None  # when off: no_model, disabled, bad_rate
    reason: str | None = None
    model: str | None = None  # when on
    language: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class TalkStartEvidence(Evidence):
    type: ClassVar[EventType] = "talk.start"
    onset: float


@dataclass(frozen=True, slots=True, eq=False)
class TalkEndEvidence(Evidence):
    type: ClassVar[EventType] = "talk.end"
    start: float
    duration: float


@dataclass(frozen=True, slots=True, eq=False)
class MetricsEvidence(Evidence):
    type: ClassVar[EventType] = "metrics"
    start: float
    duration: float
    level_db: float
    pitch_hz: float
    pitch_spread_st: float
    high_ratio: float
    syllables: int
    pace_cpm: float
    anger: float | None  # the customer's running score, None until a piece of their talk was scored


@dataclass(frozen=True, slots=True, eq=False)
class InterruptionEvidence(Evidence):
    type: ClassVar[EventType] = "interruption"
    onset: float
    overlap: float
    min_overlap: float
    customer_since: float


@dataclass(frozen=True, slots=True, eq=False)
class InterruptionEndEvidence(Evidence):
    type: ClassVar[EventType] = "interruption.end"
    onset: float
    overlap: float
    ended_by: Party  # whose talk ending closed the overlap

    def check(self) -> None:
        _one_of("ended_by", self.ended_by, PARTIES)


@dataclass(frozen=True, slots=True, eq=False)
class PaceEvidence(Evidence):
    type: ClassVar[EventType] = "pace"
    cpm: float
    target: float
    band: tuple[float, float]
    window: float  # seconds of speaking measured
    source: PaceSource
    baseline: float | None  # the agent's own early pace, once known

    def check(self) -> None:
        _one_of("source", self.source, PACE_SOURCES)


@dataclass(frozen=True, slots=True, eq=False)
class PaceDriftEvidence(Evidence):
    type: ClassVar[EventType] = "pace.drift"
    cpm: float
    target: float
    band: tuple[float, float]
    direction: PaceDirection
    kind: DriftKind
    baseline: float | None
    sustained: float
    source: PaceSource

    def check(self) -> None:
        _one_of("direction", self.direction, PACE_DIRECTIONS)
        _one_of("kind", self.kind, DRIFT_KINDS)
        _one_of("source", self.source, PACE_SOURCES)


@dataclass(frozen=True, slots=True, eq=False)
class AngerEvidence(Evidence):
    type: ClassVar[EventType] = "anger"
    level: AngerLevel
    previous: AngerLevel | None
    score: float
    thresholds: Mapping[str, tuple[float, float]]  # level: (off, on)
    rise: Mapping[str, float]  # each feature's rise, or "lexical"

    def check(self) -> None:
        _one_of("level", self.level, ANGER_LEVELS)
        _one_of("previous", self.previous, ANGER_LEVELS, none=True)


@dataclass(frozen=True, slots=True, eq=False)
class TranscriptPartialEvidence(Evidence):
    type: ClassVar[EventType] = "transcript.partial"
    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True, eq=False)
class TranscriptFinalEvidence(Evidence):
    type: ClassVar[EventType] = "transcript.final"
    text: str
    start: float
    end: float
    words: tuple[Mapping[str, Any], ...] = ()  # {w, start, end, conf}


@dataclass(frozen=True, slots=True, eq=False)
class PhraseEvidence(Evidence):
    type: ClassVar[EventType] = "phrase"
    rule: str
    matched: str
    instead: str
    title: str
    seed: str
    final: bool  # False while spotted in a partial transcript
    utterance_start: float | None


@dataclass(frozen=True, slots=True, eq=False)
class SuggestionEvidence(Evidence):
    type: ClassVar[EventType] = "suggestion"
    id: str
    entry: str
    title: str
    priority: int
    text: str
    phrasings: tuple[str, ...]
    reason: Mapping[str, Any]  # {type, t, summary, seq?, party?}: the event that raised it
    cooldown: float
    ttl: float
    expires: float
    replaces: tuple[str, ...]  # ids of the cards it takes off the screen
    seed: str
    language: str


@dataclass(frozen=True, slots=True, eq=False)
class FeedbackEvidence(Evidence):
    type: ClassVar[EventType] = "feedback"
    suggestion: str
    entry: str
    action: FeedbackAction
    agent: str | None

    def check(self) -> None:
        _one_of("action", self.action, FEEDBACK_ACTIONS)


@dataclass(frozen=True, slots=True, eq=False)
class SilenceEvidence(Evidence):
    type: ClassVar[EventType] = "silence"
    start: float  # both parties silent since
    threshold: float
    after: Party | None  # who talked last

    def check(self) -> None:
        _one_of("after", self.after, PARTIES, none=True)


@dataclass(frozen=True, slots=True, eq=False)
class SilenceEndEvidence(Evidence):
    type: ClassVar[EventType] = "silence.end"
    start: float
    duration: float  # the whole stretch
    resumed_by: Party

    def check(self) -> None:
        _one_of("resumed_by", self.resumed_by, PARTIES)


@dataclass(frozen=True, slots=True, eq=False)
class ResponseGapEvidence(Evidence):
    type: ClassVar[EventType] = "response.gap"
    gap: float  # s from the customer's turn end to the agent's onset; negative = over
    kind: GapKind

    def check(self) -> None:
        _one_of("kind", self.kind, GAP_KINDS)


AnyEvidence = (
    CallStartedEvidence | CallEndedEvidence | TranscriptionEvidence | TalkStartEvidence
    | TalkEndEvidence | MetricsEvidence | InterruptionEvidence | InterruptionEndEvidence
    | PaceEvidence | PaceDriftEvidence | AngerEvidence | TranscriptPartialEvidence
    | TranscriptFinalEvidence | PhraseEvidence | SuggestionEvidence | FeedbackEvidence
    | SilenceEvidence | SilenceEndEvidence | ResponseGapEvidence
)


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
