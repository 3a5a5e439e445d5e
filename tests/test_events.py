"""Typed events: checked when built, frozen, and serialised as the protocol says."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from helpers import make_event

from assist.events import (
    CATEGORIES,
    DROPPABLE,
    EVENT_TYPES,
    FLOOR_TYPES,
    AngerEvidence,
    Event,
    dumps,
    to_wire,
)
from assist.evidence import TranscriptionEvidence

START = datetime(2026, 1, 1, 9, tzinfo=UTC)


def anger(**change: object) -> dict[str, object]:
    ev: dict[str, object] = {"level": "tense", "previous": "calm", "score": 0.612,
                             "thresholds": {"tense": [0.35, 0.5], "angry": [0.55, 0.7]},
                             "rise": {"level_db": 1.2}}
    return {**ev, **change}


def test_a_dict_becomes_the_types_evidence_and_serialises_in_wire_order():
    e = Event("anger", "c1", 12.5, "customer", anger())
    assert isinstance(e.evidence, AngerEvidence) and e.evidence.level == "tense"
    assert dumps(to_wire(e, 7, START)) == (
        '{"v":1,"call_id":"c1","seq":7,"t":12.5,"utc":"2026-01-01T09:00:12.500Z",'
        '"type":"anger","party":"customer","evidence":{"level":"tense","previous":"calm",'
        '"score":0.612,"thresholds":{"tense":[0.35,0.5],"angry":[0.55,0.7]},'
        '"rise":{"level_db":1.2}}}')


@pytest.mark.parametrize("bad", [
    {"level": "furious"},  # not in the vocabulary
    {"previous": "cross"},
    {"extra": 1},  # unknown key
])
def test_a_bad_value_or_key_raises_when_built(bad):
    with pytest.raises(ValueError):
        Event("anger", "c1", 1.0, "customer", anger(**bad))


def test_a_missing_key_unknown_type_or_party_raises():
    with pytest.raises(ValueError, match="rise"):
        Event("anger", "c1", 1.0, "customer", {k: v for k, v in anger().items() if k != "rise"})
    with pytest.raises(ValueError, match="unknown event type"):
        Event("shouting", "c1", 1.0, "customer", {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="party"):
        Event("anger", "c1", 1.0, "caller", anger())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="AngerEvidence"):
        Event("anger", "c1", 1.0, "customer", TranscriptionEvidence(enabled=True))
    with pytest.raises(ValueError, match="negative"):
        Event("anger", "c1", -0.1, "customer", anger())


def test_evidence_is_frozen_and_shares_nothing_with_what_built_it():
    source = anger()
    e = Event("anger", "c1", 1.0, "customer", source)
    source["thresholds"]["tense"].append(9)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.evidence.level = "calm"  # type: ignore[misc]
    with pytest.raises(TypeError):
        e.evidence.thresholds["tense"] = (0.0, 0.0)  # type: ignore[index]
    wire = to_wire(e, 1, START)
    wire["evidence"]["rise"]["level_db"] = 99.0  # the wire dict is a fresh copy
    assert to_wire(e, 1, START)["evidence"]["thresholds"]["tense"] == [0.35, 0.5]
    assert to_wire(e, 1, START)["evidence"]["rise"] == {"level_db": 1.2}


def test_optional_keys_are_left_off_and_none_values_kept():
    off = Event("transcription", "c1", 0.0, None, {"enabled": False, "code": "no_model",
                                                   "reason": "no model"})
    assert to_wire(off, 1, START)["evidence"] == {"enabled": False, "code": "no_model",
                                                  "reason": "no model"}
    assert "model" not in off.evidence and off.evidence.get("model", "-") == "-"
    pace = make_event("pace", "c1", 1.0, "agent", baseline=None)
    assert to_wire(pace, 1, START)["evidence"]["baseline"] is None


def test_the_category_table_covers_every_type():
    assert set(CATEGORIES) == EVENT_TYPES
    assert DROPPABLE == {"transcript.partial"} and not DROPPABLE & FLOOR_TYPES
    for kind, cat in CATEGORIES.items():
        assert cat.evidence.type == kind
