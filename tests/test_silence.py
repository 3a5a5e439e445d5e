"""Dead air and response gaps on synthetic calls: talk spans fed frame by frame."""

from __future__ import annotations

import pytest

from assist.audio.vad import Transition
from assist.coach.coach import Coach
from assist.coach.playbook import load_playbooks
from assist.detectors.silence import SilenceDetector, SilenceParams
from assist.errors import ConfigError
from assist.events import Event

FRAME = 0.02


def run(spans, params=None, length=None):
    """Feed both parties' frames for talk `spans` [(party, start, end)]; events out."""
    det = SilenceDetector("c", params or SilenceParams())
    end = length or max(e for _, _, e in spans) + 1.0
    out = []
    n = round(end / FRAME)
    for i in range(1, n + 1):
        t = round(i * FRAME, 3)
        for party in ("customer", "agent"):
            change = None
            for p, s, e in spans:
                if p == party and abs(t - s) < FRAME / 2:
                    change = Transition(s)
                elif p == party and abs(t - e) < FRAME / 2:
                    change = Transition(s, e)
            out += det.feed(party, t, change)
    return out


def of(events, typ):
    return [e for e in events if e.type == typ]


def test_dead_air_is_raised_once_at_the_threshold_and_ended_by_whoever_speaks():
    # Customer asks (1-4 s); the agent says one word (4.5-5 s), then 7 s of nothing.
    ev = run([("customer", 1.0, 4.0), ("agent", 4.5, 5.0), ("customer", 12.0, 13.0)])
    sil = of(ev, "silence")
    assert len(sil) == 1
    assert sil[0].t == pytest.approx(10.0, abs=FRAME)  # 5 s after the agent stopped at 5.0
    assert sil[0].evidence["start"] == 5.0 and sil[0].evidence["after"] == "agent"
    end = of(ev, "silence.end")
    assert len(end) == 1 and end[0].t == 12.0
    assert end[0].evidence == {"start": 5.0, "duration": 7.0, "resumed_by": "customer"}


def test_a_pause_shorter_than_the_threshold_raises_nothing():
    ev = run([("customer", 1.0, 4.0), ("agent", 8.5, 10.0)])  # 4.5 s, under 5 s
    assert of(ev, "silence") == [] and of(ev, "silence.end") == []
    # Before anyone talks there is no dead air to flag (ringing, the greeting coming).
    assert of(run([("agent", 7.0, 8.0)]), "silence") == []


def test_one_party_talking_is_not_dead_air():
    ev = run([("customer", 1.0, 12.0)])
    assert of(ev, "silence") == []


def test_response_gaps_name_talking_over_latching_normal_and_long_answers():
    ev = run([
        ("customer", 1.0, 4.0), ("agent", 3.0, 6.0),     # over: agent began 1 s before the end
        ("customer", 7.0, 9.0), ("agent", 9.04, 10.0),   # latch: 0.04 s
        ("customer", 11.0, 13.0), ("agent", 13.8, 15.0),  # normal: 0.8 s
        ("customer", 16.0, 18.0), ("agent", 24.0, 25.0),  # long: 6 s (and dead air)
        ("customer", 26.0, 26.5), ("agent", 27.0, 28.0),  # a 0.5 s backchannel: no turn
    ])
    gaps = [(e.t, e.evidence["gap"], e.evidence["kind"]) for e in of(ev, "response.gap")]
    assert gaps == [(4.0, -1.0, "over"), (9.04, 0.04, "latch"), (13.8, 0.8, "normal"),
                    (24.0, 6.0, "long")]
    assert all(e.party == "agent" for e in of(ev, "response.gap"))
    assert len(of(ev, "silence")) == 1  # the 6 s wait


def test_a_customer_who_goes_on_gets_no_answer_timed():
    ev = run([("customer", 1.0, 3.0), ("customer", 3.5, 6.0), ("agent", 6.3, 8.0)])
    assert [e.evidence["gap"] for e in of(ev, "response.gap")] == [0.3]


def test_params_are_range_checked():
    with pytest.raises(ConfigError):
        SilenceParams(min_silence=0.5)
    with pytest.raises(ConfigError):
        SilenceParams(latch=-1.0)


def test_the_seed_cards_come_before_and_after_a_hold():
    books = load_playbooks(["prompts"], "zh-CN")
    coach = Coach(books, "c", language="zh-CN")
    ev = run([("customer", 1.0, 4.0), ("agent", 4.3, 5.0), ("agent", 12.0, 14.0)])
    cards = []
    for e in ev:
        cards += [c for c in coach.feed(e) if c.type == "suggestion"]
    texts = [c.evidence["entry"] for c in cards]
    assert texts == ["hold.tell", "hold.back"]
    assert cards[0].evidence["text"] == "请您稍等,我帮您查一下。"
    assert "耐心等候" in cards[1].evidence["text"]
    assert isinstance(cards[0], Event)


def test_a_synthetic_call_through_the_session_raises_dead_air_and_times_the_answers():
    from audio import Track, syllables
    from helpers import of_type, run_session

    rate = 8000
    c = Track(rate, 20).put(1.0, syllables(3, rate, pitch=220))  # customer 1-4 s
    a = Track(rate, 20).put(4.5, syllables(2, rate, pitch=120))  # agent answers 4.5-6.5 s
    a.put(14.0, syllables(2, rate, pitch=120))  # 7.5 s of dead air, then the agent is back
    ev = run_session(c.x, a.x, rate)
    gaps = of_type(ev, "response.gap")
    assert len(gaps) == 1 and 0.2 < gaps[0].evidence["gap"] < 0.6  # the 0.5 s answer
    assert gaps[0].evidence["kind"] == "normal"
    sil = of_type(ev, "silence")
    assert len(sil) == 1 and sil[0].evidence["after"] == "agent"
    assert 6.3 < sil[0].evidence["start"] < 6.9 and sil[0].t == pytest.approx(
        sil[0].evidence["start"] + 5.0, abs=0.05)
    end = of_type(ev, "silence.end")
    assert len(end) == 1 and end[0].evidence["resumed_by"] == "agent"
    assert 7.0 < end[0].evidence["duration"] < 8.0
