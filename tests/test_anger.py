"""Customer anger: arousal over the customer's own start of call, in levels, without flicker."""

from __future__ import annotations

import pytest
from audio import Track, syllables
from helpers import evidence, run_session

from assist.audio.prosody import SpurtFeatures
from assist.detectors.anger import AngerDetector, AngerParams
from assist.errors import ConfigError


def spurt(start: float, dur: float = 3.0, level: float = -20.0, pitch: float = 200.0,
          rate: float = 240.0, high: float = 0.3) -> SpurtFeatures:
    return SpurtFeatures(start, start + dur, level, pitch, 4.0, high,
                         round(rate * dur / 60), dur * 0.7)


def calm_start(det: AngerDetector) -> float:
    t = 0.0
    for _ in range(2):  # 6 s of calm speech sets the baseline
        assert det.feed(spurt(t), t + 3.3) == (None, [])
        t += 4.0
    assert det.baseline is not None
    return t


def test_no_score_until_the_customer_has_a_baseline() -> None:
    det = AngerDetector("c1", AngerParams())
    score, events = det.feed(spurt(0.0), 3.3)
    assert score is None and events == []


def test_calm_customer_stays_calm() -> None:
    det = AngerDetector("c1", AngerParams())
    t = calm_start(det)
    for k in range(10):
        score, events = det.feed(spurt(t, level=-20 + (k % 3 - 1), pitch=200 + 5 * (k % 2)),
                                 t + 3.3)
        assert events == [] and score is not None and score < 0.35
        t += 4.0


def test_raised_voice_goes_tense_then_angry_and_back_with_hysteresis() -> None:
    det = AngerDetector("c1", AngerParams())
    t = calm_start(det)
    levels = []
    for _ in range(5):  # pitch up 5 semitones, 8 dB louder, 40% faster, pressed voice
        _, events = det.feed(spurt(t, level=-12, pitch=267, rate=336, high=0.42), t + 3.3)
        levels += [(e.evidence["previous"], e.evidence["level"]) for e in events]
        t += 4.0
    assert levels == [("calm", "tense"), ("tense", "angry")]
    assert det.level == "angry"
    back = []
    for _ in range(6):
        _, events = det.feed(spurt(t), t + 3.3)
        back += [e.evidence["level"] for e in events]
        t += 4.0
    assert back == ["tense", "calm"]


def test_loudness_alone_does_not_make_anger() -> None:
    # A gain change on the line (AGC, a louder handset) is not an angry customer.
    det = AngerDetector("c1", AngerParams())
    t = calm_start(det)
    for _ in range(8):
        _, events = det.feed(spurt(t, level=-8), t + 3.3)
        assert all(e.evidence["level"] != "angry" for e in events)
        t += 4.0


def test_score_near_threshold_does_not_flicker() -> None:
    det = AngerDetector("c1", AngerParams())
    t = calm_start(det)
    changes = []
    for k in range(30):  # alternating slightly raised and calm spurts
        pitch = 240 if k % 2 else 225
        _, events = det.feed(spurt(t, level=-16, pitch=pitch, rate=280), t + 3.3)
        changes += events
        t += 4.0
    assert len(changes) <= 1


def test_lexical_cues_raise_the_score() -> None:
    det = AngerDetector("c1", AngerParams())
    t = calm_start(det)
    before = det.score
    events = det.feed_cues(2.0, t)  # e.g. 我要投诉 + 找你们领导
    assert det.score > before + 0.4
    assert [e.evidence["level"] for e in events] == ["tense"]


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ConfigError, match="thresholds"):
        AngerParams(tense_on=0.8, angry_on=0.7)


def test_on_audio_an_angry_turn_is_flagged_after_a_calm_start() -> None:
    rate = 8000
    c = Track(rate, 40)
    for k in range(3):  # calm: 3 s phrases at 200 Hz, 4 syllables/s
        c.put(1.0 + 4.0 * k, syllables(3.0, rate, pitch=200, per_second=4, db=-24, seed=k))
    for k in range(5):  # angry: higher, louder, faster
        c.put(16.0 + 4.0 * k, syllables(3.0, rate, pitch=290, per_second=5.5, db=-16, seed=9 + k))
    got = run_session(c.x, Track(rate, 40).x, rate)
    metrics = evidence(got, "metrics")
    calm = metrics[:3]
    assert calm[0]["anger"] is None  # no baseline yet
    assert all(m["anger"] is None or m["anger"] < 0.35 for m in calm)
    angry = [e for e in got if e.type == "anger" and e.evidence["level"] == "angry"]
    # Scored every 2 s while the customer talks: flagged during the first angry
    # phrases, not only after them.
    assert angry and 16.0 < angry[0].t < 24.0
