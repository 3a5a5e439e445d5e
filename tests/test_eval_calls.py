"""The call-building benchmark's own parts, on synthetic speech (the development
recordings are not in the repository)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio import syllables

from bench.eval_calls import (
    RATE,
    SETTLE,
    Call,
    Clip,
    Sentence,
    angry_in_time,
    build_call,
    run,
    score_talkover,
    stretch,
)


def test_without_the_development_data_the_benchmark_says_it_skipped(tmp_path: Path) -> None:
    got = run(tmp_path / "nothing-here")
    assert set(got) == {"skipped"} and "casia_dev" in got["skipped"]


def test_tempo_changes_duration_not_pitch() -> None:
    x = syllables(4.0, RATE, pitch=200) * 10000
    fast = stretch(x, 1.25)
    assert len(fast) == int(len(x) / 1.25)

    def peak(y: np.ndarray) -> int:  # strongest harmonic, 1 Hz bins
        return int(np.argmax(np.abs(np.fft.rfft(y[RATE:2 * RATE]))[50:1500])) + 50

    assert abs(peak(fast) - peak(x)) <= 0.05 * peak(x)


def test_a_built_call_puts_each_overlap_before_the_customers_turn_ends() -> None:
    rng = np.random.default_rng(3)
    sent = Clip(syllables(2.0, RATE, pitch=220) * 8000, (0.0, 2.0), [])
    reply = Clip(syllables(4.0, RATE, pitch=120) * 8000, (0.0, 4.0), [])
    call = build_call("t", "s", [[(sent, "neutral"), (sent, "angry")]] * 6, [reply], rng,
                      overlap_p=1.0)
    assert call.overlaps
    for a0, end in call.overlaps:
        assert 0.3 <= end - a0 <= 2.5
        assert any(s.start <= end <= s.end + 1e-6 for s in call.sentences)
    assert [s.angry for s in call.sentences] == [False, True] * 6
    assert len(call.customer) == len(call.agent)


def _voiced(seconds: float, *spans: tuple[float, float]) -> np.ndarray:
    """Per 20 ms frame: voiced inside any of `spans`."""
    t = np.arange(round(seconds / 0.02)) * 0.02
    return np.array([any(a - 1e-9 <= x < b - 1e-9 for a, b in spans) for x in t])


def _call(customer: np.ndarray, agent: np.ndarray) -> Call:
    z = np.zeros(10, dtype=np.int16)
    return Call("t", "s", z, z, voiced={"customer": customer, "agent": agent})


def test_the_decision_point_is_the_detectors_rule_on_the_clean_20_ms_frames() -> None:
    # The agent's onset at 1.0 (its clip's speech starts at 0.99 on the 30 ms grid).
    agent = _voiced(4, (1.0, 4.0))
    # Both talking 1 s into the overlap: then.
    assert _call(_voiced(4, (0.0, 4.0)), agent).decision(0.99) == pytest.approx(2.0)
    # The customer in a pause shorter than the VAD's hangover: still talking, then.
    short = _voiced(4, (0.0, 1.84), (2.1, 4.0))
    assert _call(short, agent).decision(0.99) == pytest.approx(2.0)
    # A longer pause: when they go on (the end of their first voiced frame).
    long = _voiced(4, (0.0, 1.6), (2.3, 4.0))
    assert _call(long, agent).decision(0.99) == pytest.approx(2.32)
    # The agent's own pause counts the same way.
    paused = _voiced(4, (1.0, 1.5), (2.2, 4.0))
    assert _call(_voiced(4, (0.0, 4.0)), paused).decision(0.99) == pytest.approx(2.22)


def test_a_pace_turn_is_two_clips_with_a_short_pause_and_its_characters() -> None:
    from bench.eval_calls import pace_turn, rate_over_last

    def clip(seconds: float) -> Clip:
        x = np.concatenate([np.zeros(400), syllables(seconds, RATE) * 10000, np.zeros(400)])
        return Clip(x, (0.05, 0.05 + seconds), [])

    call, parts = pace_turn("t", (clip(3.0), 12), (clip(2.0), 10), np.random.default_rng(1),
                            1.0)
    (a0, a1, n1), (g0, g1, n0), (b0, b1, n2) = parts
    assert (n1, n0, n2) == (12, 0.0, 10) and 0.3 <= g1 - g0 <= 0.7
    assert a1 == pytest.approx(g0) and g1 == pytest.approx(b0)
    assert np.abs(call.agent[int(b0 * RATE): int(b1 * RATE)]).max() > 1000
    # the reading's window reaches back over the pause into the first clip
    assert rate_over_last(parts, b1 - b0) == pytest.approx(60 * 10 / 2.0)
    assert rate_over_last(parts, 100.0) == pytest.approx(60 * 22 / (b1 - a0))


def _flag(t: float, onset: float) -> dict:
    return {"type": "interruption", "t": t, "evidence": {"onset": onset, "overlap": 0.98}}


def test_a_flag_more_than_50_ms_after_its_decision_point_is_listed_with_its_onsets() -> None:
    call = _call(_voiced(4, (0.0, 4.0)), _voiced(4, (1.0, 4.0)))
    call.overlaps = [(0.99, 3.5)]  # decided at 2.0
    # The agent's first three frames unseen: onset 1.06, flag 60 ms late.
    late = score_talkover(call, [_flag(2.06, 1.06)])
    assert late["late_flags"] == [("t", 1.0, 1.06, 60)]
    assert late["late"] == [pytest.approx(0.06)]
    # 40 ms is within the target: counted in the distribution, not listed.
    on_time = score_talkover(call, [_flag(2.04, 1.04)])
    assert on_time["late_flags"] == [] and on_time["hit"] == 1


def test_an_angry_flag_at_the_deadline_is_in_time_on_the_events_millisecond_grid() -> None:
    # A sentence ending at 0.5 + 63 * 0.03 s: its deadline is 2.7399999999999998 in
    # floats, and a flag the events date at 2.74 is in time.
    end = 0.5 + 63 * 0.03
    z = np.zeros(10, dtype=np.int16)
    call = Call("t", "s", z, z, sentences=[Sentence(0.5, end, True, "angry"),
                                          Sentence(3.0, 4.0, True, "angry")])
    assert end + SETTLE < 2.74

    def flag(t: float) -> dict:
        return {"type": "anger", "t": t, "evidence": {"level": "angry"}}

    assert angry_in_time(call, [flag(2.74)]) == [True, True]
    assert angry_in_time(call, [flag(2.741)]) == [False, True]
    assert angry_in_time(call, [flag(4.36)]) == [False, False]
