"""Interruptions: the agent talking over a customer who holds the floor."""

from __future__ import annotations

import pytest
from audio import Track, syllables
from helpers import evidence, of_type, run_session

from assist.audio.vad import Transition
from assist.detectors.interruption import InterruptionDetector, InterruptionParams
from assist.errors import ConfigError
from assist.events import Event

F = 0.02


def drive(script: list[tuple[float, str, Transition | None]], end: float,
          params: InterruptionParams | None = None) -> list[Event]:
    """Feed both parties frame by frame to `end`, applying transitions at their times."""
    det = InterruptionDetector("c1", params or InterruptionParams())
    out: list[Event] = []
    steps = round(end / F)
    for i in range(steps):
        t_end = round((i + 1) * F, 6)
        for party in ("customer", "agent"):
            change = next((c for at, p, c in script if p == party and abs(at - t_end) < 1e-6),
                          None)
            out += det.feed(party, t_end, change)  # type: ignore[arg-type]
    return out


def test_agent_cutting_in_is_flagged_when_overlap_reaches_minimum() -> None:
    # Customer talks from 1.0 s; the agent starts at 3.0 s (confirmed 3.06) and
    # both talk until the customer stops at 5.0 s (known at 5.3 after hangover).
    got = drive([(1.06, "customer", Transition(1.0)), (3.06, "agent", Transition(3.0)),
                 (5.3, "customer", Transition(1.0, 5.0)), (6.0, "agent", Transition(3.0, 5.7))],
                end=7.0)
    assert got == [
        Event("interruption", "c1", 4.0, "agent",
              {"onset": 3.0, "overlap": 1.0, "min_overlap": 1.0, "customer_since": 1.0}),
        Event("interruption.end", "c1", 5.3, "agent",
              {"onset": 3.0, "overlap": 2.0, "ended_by": "customer"}),
    ]


def test_backchannel_is_not_an_interruption() -> None:
    # 嗯 for 0.4 s at 2.0 s while the customer talks on: 0.4 + 0.3 hangover < 1.0 s.
    got = drive([(1.06, "customer", Transition(1.0)), (2.06, "agent", Transition(2.0)),
                 (2.7, "agent", Transition(2.0, 2.4))], end=5.0)
    assert got == []


def test_agent_answering_after_customer_stops_is_not_an_interruption() -> None:
    got = drive([(1.06, "customer", Transition(1.0)), (3.3, "customer", Transition(1.0, 3.0)),
                 (3.56, "agent", Transition(3.5))], end=6.0)
    assert got == []


def test_customer_cutting_in_on_the_agent_is_not_the_agents_fault() -> None:
    got = drive([(1.06, "agent", Transition(1.0)), (2.06, "customer", Transition(2.0))],
                end=6.0)
    assert got == []


def test_starting_together_is_not_holding_the_floor() -> None:
    got = drive([(1.06, "customer", Transition(1.0)), (1.16, "agent", Transition(1.1))],
                end=5.0)
    assert got == []


def test_minimum_overlap_is_configurable() -> None:
    script = [(1.06, "customer", Transition(1.0)), (3.06, "agent", Transition(3.0))]
    late = drive(script, end=6.0, params=InterruptionParams(min_overlap=2.5))
    assert [(e.type, e.t) for e in late] == [("interruption", 5.5)]


def test_each_cut_in_is_counted_once() -> None:
    got = drive([(1.06, "customer", Transition(1.0)), (2.06, "agent", Transition(2.0)),
                 (3.8, "agent", Transition(2.0, 3.5)), (4.06, "agent", Transition(4.0)),
                 (6.3, "customer", Transition(1.0, 6.0))], end=7.0)
    assert [(e.type, e.evidence["onset"]) for e in got] == [
        ("interruption", 2.0), ("interruption.end", 2.0),
        ("interruption", 4.0), ("interruption.end", 4.0)]


@pytest.mark.parametrize("bad", [dict(min_overlap=0.05), dict(min_overlap=9), dict(min_floor=-1)])
def test_bad_parameters_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError):
        InterruptionParams(**bad)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_on_audio_overlap_is_measured_from_the_agents_onset(rate: int) -> None:
    c = Track(rate, 9).put(1.0, syllables(4, rate, pitch=220))
    a = Track(rate, 9).put(3.0, syllables(2.5, rate, per_second=5, pitch=120))
    # A backchannel while the customer talks again later.
    c.put(6.0, syllables(2.5, rate, pitch=220))
    a.put(7.0, syllables(0.35, rate, per_second=3, pitch=120))
    got = run_session(c.x, a.x, rate)
    starts = evidence(got, "interruption")
    assert len(starts) == 1
    assert starts[0]["onset"] == pytest.approx(3.0, abs=0.1)
    (end,) = evidence(got, "interruption.end")
    # Overlap runs from the agent's onset to the customer's end at 5.0 s.
    assert end["overlap"] == pytest.approx(2.0, abs=0.15)
    assert of_type(got, "interruption")[0].t == pytest.approx(starts[0]["onset"] + 1.0, abs=0.05)
