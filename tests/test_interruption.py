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
          params: InterruptionParams | None = None,
          gaps: dict[str, list[tuple[float, float]]] | None = None) -> list[Event]:
    """Feed both parties frame by frame to `end`, applying transitions at their times;
    a frame is voiced inside a spurt (from its start to its end, or on while open),
    except in `gaps`: unvoiced stretches inside a spurt, shorter than the hangover."""
    det = InterruptionDetector("c1", params or InterruptionParams())
    spans: dict[str, list[tuple[float, float]]] = {"customer": [], "agent": []}
    for _, party, c in script:
        if c is not None and c.end is None:
            ends = [x.end for _, p, x in script if p == party and x is not None
                    and x.start == c.start and x.end is not None]
            spans[party].append((c.start, ends[0] if ends else end))
    out: list[Event] = []
    steps = round(end / F)
    for i in range(steps):
        t_end = round((i + 1) * F, 6)
        for party in ("customer", "agent"):
            change = next((c for at, p, c in script if p == party and abs(at - t_end) < 1e-6),
                          None)
            voiced = (any(a <= t_end - F + 1e-9 and t_end <= b + 1e-9 for a, b in spans[party])
                      and not any(a < t_end - 1e-9 and t_end - F < b - 1e-9
                                  for a, b in (gaps or {}).get(party, [])))
            out += det.feed(party, t_end, change, voiced)  # type: ignore[arg-type]
    return out


def test_agent_cutting_in_is_flagged_when_overlap_reaches_minimum() -> None:
    # Customer talks from 1.0 s; the agent starts at 3.0 s (confirmed 3.06) and
    # both talk until the customer stops at 5.0 s (known at 5.3 after hangover).
    # The customer could go on after a pause: the overlap is over once their
    # pause reaches the floor gap (1.0 s), at 6.0.  The flag is raised at 4.0, both
    # talking; the customer's frame ending at 4.0 is fed before the agent's, so the
    # overlap voiced so far reads 0.98.
    got = drive([(1.06, "customer", Transition(1.0)), (3.06, "agent", Transition(3.0)),
                 (5.3, "customer", Transition(1.0, 5.0)), (6.0, "agent", Transition(3.0, 5.7))],
                end=7.0)
    assert got == [
        Event("interruption", "c1", 4.0, "agent",
              {"onset": 3.0, "overlap": 0.98, "min_overlap": 1.0, "customer_since": 1.0}),
        Event("interruption.end", "c1", 6.0, "agent",
              {"onset": 3.0, "overlap": 2.0, "ended_by": "customer"}),
    ]


def test_a_pause_inside_the_customers_turn_keeps_their_floor() -> None:
    # The customer talks 1.0-3.0, pauses 0.4 s, goes on 3.4-6.0; the agent starts
    # in the pause at 3.2 and talks on.  Their floor is from 1.0: flagged once the
    # agent has talked over them for 1.0 s (from 3.2, both voiced at 4.2).
    got = drive([(1.06, "customer", Transition(1.0)), (3.3, "customer", Transition(1.0, 3.0)),
                 (3.26, "agent", Transition(3.2)), (3.46, "customer", Transition(3.4)),
                 (6.3, "customer", Transition(3.4, 6.0)), (7.3, "agent", Transition(3.2, 7.0))],
                end=8.0)
    assert got == [
        Event("interruption", "c1", 4.2, "agent",
              {"onset": 3.2, "overlap": 0.98, "min_overlap": 1.0, "customer_since": 1.0}),
        Event("interruption.end", "c1", 7.0, "agent",
              {"onset": 3.2, "overlap": 2.8, "ended_by": "customer"}),
    ]


def test_the_agent_taking_a_pause_for_the_turn_is_not_an_interruption() -> None:
    # The customer stops at 3.0; the agent answers at 3.5 and the customer does not
    # go on: the agent did not talk over anyone.
    got = drive([(1.06, "customer", Transition(1.0)), (3.3, "customer", Transition(1.0, 3.0)),
                 (3.56, "agent", Transition(3.5))], end=8.0)
    assert got == []


def test_overlap_evidence_agrees_with_itself() -> None:
    # The customer stops voicing at 4.1 and their talk ends (after hangover) at 4.4:
    # the flag said 0.98 at 4.0, the end says the whole 1.1, never less.
    got = drive([(1.06, "customer", Transition(1.0)), (3.06, "agent", Transition(3.0)),
                 (4.4, "customer", Transition(1.0, 4.1)), (5.0, "agent", Transition(3.0, 4.7))],
                end=7.0)
    flag, end = got
    assert (flag.type, flag.evidence["overlap"]) == ("interruption", 0.98)
    assert (end.type, end.evidence["overlap"]) == ("interruption.end", 1.1)


def test_a_short_pause_of_the_customer_at_the_decision_does_not_delay_the_flag() -> None:
    # The customer talks 1.0-6.0 and draws breath at 3.84-4.1, shorter than the
    # hangover: their talk goes on.  The agent has talked over them since 3.0; at 4.0
    # both are talking, so the flag is raised then, not when the customer's next
    # voiced frame comes (4.12).  Its overlap is what was voiced: to 3.84.
    got = drive([(1.06, "customer", Transition(1.0)), (3.06, "agent", Transition(3.0)),
                 (6.3, "customer", Transition(1.0, 6.0)), (7.0, "agent", Transition(3.0, 6.7))],
                end=8.0, gaps={"customer": [(3.84, 4.1)]})
    assert [(e.type, e.t, e.evidence["overlap"]) for e in got] == [
        ("interruption", 4.0, 0.84), ("interruption.end", 7.0, 3.0)]


def test_a_customer_pause_past_the_hangover_waits_for_them_to_go_on() -> None:
    # The customer's talk ends at 3.6 (known at 3.9): at 4.0 they may have stopped.
    # They go on at 4.2, inside the floor gap: flagged with their first voiced frame.
    got = drive([(1.06, "customer", Transition(1.0)), (3.06, "agent", Transition(3.0)),
                 (3.9, "customer", Transition(1.0, 3.6)), (4.26, "customer", Transition(4.2)),
                 (6.3, "customer", Transition(4.2, 6.0))], end=7.0)
    flag = got[0]
    assert (flag.type, flag.t, flag.evidence["overlap"]) == ("interruption", 4.22, 1.2)


def test_a_customer_who_stopped_is_not_interrupted_by_the_answer() -> None:
    # The agent starts 0.6 s before the customer's last word ends and talks on; the
    # customer does not go on.  At 4.0 their talk has ended (3.6, known at 3.9), and
    # their pause outgrows the floor gap: the agent answered, it did not talk over.
    got = drive([(1.06, "customer", Transition(1.0)), (3.06, "agent", Transition(3.0)),
                 (3.9, "customer", Transition(1.0, 3.6))], end=8.0)
    assert got == []


def test_a_customer_stopping_within_a_hangover_of_the_decision_is_flagged() -> None:
    # The customer's last voiced frame ends at 3.8: at 4.0 they are still talking by
    # their talk state (hangover 0.3 s), so the flag is raised, with the 0.8 s voiced;
    # the end says the same.  Overlaps of 0.8-1.0 s are the edge a VAD can date.
    got = drive([(1.06, "customer", Transition(1.0)), (3.06, "agent", Transition(3.0)),
                 (4.1, "customer", Transition(1.0, 3.8))], end=6.0)
    assert [(e.type, e.t, e.evidence["overlap"]) for e in got] == [
        ("interruption", 4.0, 0.8), ("interruption.end", 4.8, 0.8)]


def test_the_longest_backchannel_is_not_an_interruption() -> None:
    # 好的 voiced for 0.6 s at 2.0 while the customer talks on: the agent's talk ends
    # at 2.6 (known at 2.9), so at 3.0 the agent is not talking and 0.6 s < 1.0 s.
    got = drive([(1.06, "customer", Transition(1.0)), (2.06, "agent", Transition(2.0)),
                 (2.9, "agent", Transition(2.0, 2.6))], end=5.0)
    assert got == []


def test_a_short_pause_of_the_agent_keeps_one_interruption() -> None:
    # The agent talks 2.0-2.6, breathes 0.4 s, goes on from 3.0 over a customer who
    # talks 1.0-6.0: one interruption from 2.0, flagged at 3.0 when both are voiced.
    got = drive([(1.06, "customer", Transition(1.0)), (2.06, "agent", Transition(2.0)),
                 (2.9, "agent", Transition(2.0, 2.6)), (3.06, "agent", Transition(3.0)),
                 (6.3, "customer", Transition(1.0, 6.0))], end=8.0)
    assert [(e.type, e.t, e.evidence["onset"], e.evidence["overlap"]) for e in got] == [
        ("interruption", 3.02, 2.0, 1.02), ("interruption.end", 7.0, 2.0, 4.0)]


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
                 (3.8, "agent", Transition(2.0, 3.5)), (4.56, "agent", Transition(4.5)),
                 (6.3, "customer", Transition(1.0, 6.0))], end=7.5)
    assert [(e.type, e.evidence["onset"]) for e in got] == [
        ("interruption", 2.0), ("interruption.end", 2.0),
        ("interruption", 4.5), ("interruption.end", 4.5)]


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


@pytest.mark.parametrize("delay", [0.0, 0.12])
def test_the_customer_bleeding_into_the_agent_stream_at_25_db_is_not_the_agent(
        delay: float) -> None:
    # Sidetone (no delay) or echo (120 ms): the agent leg carries the customer 25 dB
    # down.  The agent never talks, so nothing of theirs may start.
    rate = 8000
    c = Track(rate, 8).put(1.0, syllables(5, rate, pitch=220, db=-18))
    a = Track(rate, 8).put(1.0 + delay, syllables(5, rate, pitch=220, db=-18 - 25))
    got = run_session(c.x, a.x, rate)
    assert [e for e in got if e.party == "agent" and e.type == "talk.start"] == []
    assert of_type(got, "interruption") == []


def test_a_real_cut_in_is_flagged_through_both_parties_bleed() -> None:
    rate = 8000
    cust = syllables(4, rate, pitch=220, db=-20)
    agent = syllables(2.5, rate, per_second=5, pitch=120, db=-22)
    c = Track(rate, 8).put(1.0, cust).put(3.0, agent * 10 ** (-25 / 20))
    a = Track(rate, 8).put(3.0, agent).put(1.0, cust * 10 ** (-25 / 20))
    got = run_session(c.x, a.x, rate)
    (cut,) = evidence(got, "interruption")
    assert cut["onset"] == pytest.approx(3.0, abs=0.1)
    assert cut["customer_since"] == pytest.approx(1.0, abs=0.1)
    (end,) = evidence(got, "interruption.end")
    assert end["overlap"] == pytest.approx(2.0, abs=0.15)


def test_on_audio_a_pause_before_the_agent_starts_keeps_the_customers_floor() -> None:
    # The customer pauses 0.5 s at 3.0-3.5 and goes on; the agent starts 0.1 s into
    # that pause and talks over the rest.  Before, the pause reset "customer since".
    rate = 8000
    c = Track(rate, 9).put(1.0, syllables(2.0, rate, pitch=220)).put(
        3.5, syllables(2.5, rate, pitch=220, seed=3))
    a = Track(rate, 9).put(3.1, syllables(3.0, rate, per_second=5, pitch=120))
    got = run_session(c.x, a.x, rate)
    (cut,) = evidence(got, "interruption")
    assert cut["customer_since"] == pytest.approx(1.0, abs=0.1)
    assert cut["onset"] == pytest.approx(3.1, abs=0.1)
    (end,) = evidence(got, "interruption.end")
    assert end["overlap"] >= cut["overlap"]
    assert end["overlap"] == pytest.approx(2.9, abs=0.2)


def test_on_audio_a_breath_of_the_customer_at_the_decision_does_not_delay_the_flag() -> None:
    # The agent talks over the customer from 3.0; the customer draws breath for 0.2 s
    # at 3.9-4.1 and goes on.  The flag comes 1.0 s after the agent's onset, not when
    # the customer's voice comes back.
    rate = 8000
    c = Track(rate, 8).put(1.0, syllables(2.9, rate, pitch=220)).put(
        4.1, syllables(2.0, rate, pitch=220, seed=3))
    a = Track(rate, 8).put(3.0, syllables(3.0, rate, per_second=5, pitch=120))
    got = run_session(c.x, a.x, rate)
    (flag,) = of_type(got, "interruption")
    assert flag.evidence["onset"] == pytest.approx(3.0, abs=0.1)
    assert flag.t == pytest.approx(flag.evidence["onset"] + 1.0, abs=0.03)
    (end,) = evidence(got, "interruption.end")
    assert end["overlap"] >= flag.evidence["overlap"]


def test_the_agent_is_dated_from_when_they_were_first_heard() -> None:
    # The VAD's voiced frames start at 3.0; the quiet sound leading into them at 2.96
    # (Transition.heard): the interruption runs from then, and is flagged 1 s later.
    got = drive([(1.06, "customer", Transition(1.0)),
                 (3.06, "agent", Transition(3.0, heard=2.96)),
                 (5.3, "customer", Transition(1.0, 5.0)), (6.0, "agent", Transition(3.0, 5.7))],
                end=7.0)
    flag = of_type(got, "interruption")[0]
    assert flag.t == pytest.approx(3.96)
    assert flag.evidence["onset"] == pytest.approx(2.96)
