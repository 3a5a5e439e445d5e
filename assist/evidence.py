"""Evidence: what each event type carries, one frozen class per type.

`EventType` (a Literal) names the types; each evidence class declares its wire keys
as fields, in wire order, and checks its values against the vocabularies below
when built.  Evidence is immutable all the way down (lists become tuples,
mappings read-only copies), so the store may serialise it later on its own
thread.  It reads like a mapping as well (`ev["level"]`, `ev.get(...)`), with
the wire's keys.  `assist.events` keys the union of these on the type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar, Literal, get_args

from assist.frames import PARTIES, Party

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
    "audio.health",
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
# A tapped stream's audio: no RTP came (SIP), no media came (a media fork), it stays
# silent, both streams carry the same audio, a faulty stream came back, or (at the end
# of the call) it was fine.
AudioProblem = Literal["no_rtp", "no_audio", "silent", "identical", "recovered", "ok"]
AUDIO_PROBLEMS: tuple[AudioProblem, ...] = get_args(AudioProblem)


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


@dataclass(frozen=True, slots=True, eq=False)
class AudioHealthEvidence(Evidence):
    """One stream's audio as the tap received it (the event's party names the stream;
    none for `identical`, which is about both)."""

    type: ClassVar[EventType] = "audio.health"
    optional: ClassVar[frozenset[str]] = frozenset({"packets", "loss"})
    problem: AudioProblem
    seconds: float  # audio received, s
    level_db: float | None  # dBFS over the call so far; None for digital silence
    detail: str  # for the log and `calls show`
    final: bool = False  # the end-of-call summary of this stream
    packets: int | None = None  # RTP packets (a fork's media messages) received, if counted
    loss: int | None = None  # RTP packets (a fork's messages) lost, when the tap counts them

    def check(self) -> None:
        _one_of("problem", self.problem, AUDIO_PROBLEMS)


AnyEvidence = (
    CallStartedEvidence | CallEndedEvidence | TranscriptionEvidence | TalkStartEvidence
    | TalkEndEvidence | MetricsEvidence | InterruptionEvidence | InterruptionEndEvidence
    | PaceEvidence | PaceDriftEvidence | AngerEvidence | TranscriptPartialEvidence
    | TranscriptFinalEvidence | PhraseEvidence | SuggestionEvidence | FeedbackEvidence
    | SilenceEvidence | SilenceEndEvidence | ResponseGapEvidence | AudioHealthEvidence
)
