"""Customer anger: scored from the first spurt against a prior, adapting to the
customer's own calm voice, in levels, without flicker."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from audio import Track, syllables
from helpers import evidence, run_session

from assist.audio.prosody import SpurtFeatures
from assist.call.session import LoopParams
from assist.detectors.anger import AngerDetector, AngerParams
from assist.detectors.anger_model import FEATURES, AngerModel, load_model
from assist.errors import ConfigError

PRIOR_ST = 12.0  # 200 Hz


def spurt(start: float, dur: float = 2.0, pitch: float = 200.0,
          level: float = -20.0) -> SpurtFeatures:
    return SpurtFeatures(start, start + dur, level, pitch, 4.0, 0.3, round(4 * dur), dur * 0.7,
                         (0.2, 0.1), 6.0)


@pytest.fixture
def params(tmp_path: Path) -> AngerParams:
    """A model that reads only the pitch rise over the reference: p = 0.5 at +3
    semitones, 0.05 at the reference, 0.95 at +6."""
    w = [0.0] * len(FEATURES)
    w[FEATURES.index("d_pitch")] = 1.0
    prior = {"pitch": PRIOR_ST, "spread": 4.0, "high": 0.3, "rate": math.log(240.0),
             "b1": 0.2, "b3": 0.1, "lsd": 6.0}
    m = AngerModel((prior,), 3.0, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES),
                   tuple(w), -3.0)
    path = tmp_path / "model.json"
    path.write_text(m.to_json(), encoding="utf-8")
    return AngerParams(model=str(path))


def hz(semitones_over_prior: float) -> float:
    return 100.0 * 2 ** ((PRIOR_ST + semitones_over_prior) / 12)


def test_an_angry_first_spurt_is_angry_at_once(params) -> None:
    det = AngerDetector("c1", params)
    score, events = det.feed(spurt(0.0, pitch=hz(7)), 2.3)
    assert score is not None and score > 0.85
    assert [(e.evidence["previous"], e.evidence["level"]) for e in events] == [("calm", "angry")]


def test_a_calm_first_spurt_is_scored_calm_not_null(params) -> None:
    det = AngerDetector("c1", params)
    assert det.feed(spurt(0.0, dur=0.2), 0.5) == (None, [])  # nothing to score yet
    score, events = det.feed(spurt(1.0), 3.3)
    assert score is not None and score < 0.1 and events == []


def test_flagged_speech_never_becomes_the_calm_reference(params) -> None:
    det = AngerDetector("c1", params)
    t = 0.0
    for _ in range(15):  # half a minute of angry speech from the first word
        det.feed(spurt(t, pitch=hz(6)), t + 2.3)
        t += 2.5
    assert det.reference.own_speech == 0.0
    assert det.level == "angry"
    back = []
    for _ in range(8):  # then calm: back down, with hysteresis
        back += [e.evidence["level"] for e in det.feed(spurt(t), t + 2.3)[1]]
        t += 2.5
    assert back == ["tense", "calm"]
    assert det.reference.own_speech > 0


def test_the_reference_adapts_to_the_customers_own_voice(params) -> None:
    # A voice 2 semitones above the prior, calm: taken in, it becomes the reference,
    # and the same voice 5 semitones over itself is then angry.
    det = AngerDetector("c1", params)
    t = 0.0
    first, _ = det.feed(spurt(t, pitch=hz(2)), t + 2.3)
    for _ in range(10):
        t += 2.5
        score, events = det.feed(spurt(t, pitch=hz(2)), t + 2.3)
        assert events == []
    assert score is not None and first is not None and score < first
    levels = []
    for _ in range(3):
        t += 2.5
        levels += [e.evidence["level"] for e in det.feed(spurt(t, pitch=hz(7)), t + 2.3)[1]]
    assert levels[-1] == "angry"


def test_score_near_threshold_does_not_flicker(params) -> None:
    det = AngerDetector("c1", params)
    changes = []
    t = 0.0
    # the pitch rise at which the fixture's model gives p = tense_on
    at = 3.0 + math.log(params.tense_on / (1.0 - params.tense_on))
    for k in range(30):  # alternating around the tense threshold
        changes += det.feed(spurt(t, pitch=hz(at + (0.3 if k % 2 else -0.3))), t + 2.3)[1]
        t += 2.5
    assert len(changes) <= 1


def test_a_strongly_angry_sentence_after_calm_is_angry_by_its_end(params) -> None:
    # A calm start, then one 1 s piece at p 0.95: it rises over strong_attack (0.6 s)
    # and is angry at once; at the plain attack (1.2 s) it would not be angry yet, and a
    # piece under strong_above (p 0.8) still rises over the plain attack.
    def after_calm(p: AngerParams, rise: float) -> list[str]:
        det = AngerDetector("c1", p)
        det.feed(spurt(0.0), 2.3)
        return [e.evidence["level"] for e in det.feed(spurt(2.5, dur=1.0, pitch=hz(rise)),
                                                      3.8)[1]]

    assert after_calm(params, 6.0) == ["angry"]
    assert "angry" not in after_calm(replace(params, strong_attack=params.attack), 6.0)
    assert after_calm(params, 3.0 + math.log(0.8 / 0.2)) == []


def test_strong_evidence_never_rises_slower() -> None:
    with pytest.raises(ConfigError, match="anger.strong_attack"):
        AngerParams(attack=0.5, strong_attack=0.6)


def test_lexical_cues_raise_the_score(params) -> None:
    det = AngerDetector("c1", params)
    det.feed(spurt(0.0), 2.3)
    before = det.score
    assert det.feed_cues(2.0 * 0.5, 3.0) == []  # one cue: raised, still calm
    assert det.score > before + 0.3
    det = AngerDetector("c1", params)
    det.feed(spurt(0.0), 2.3)
    events = det.feed_cues(2.0 * 0.85, 3.0)  # complaint + refund + manager
    assert [e.evidence["level"] for e in events] == ["angry"]


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ConfigError, match="thresholds"):
        AngerParams(tense_on=0.9, angry_on=0.8)


def test_an_unreadable_model_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="anger.model"):
        load_model(str(bad))


def test_the_shipped_model_loads_with_every_feature() -> None:
    m = load_model()
    assert len(m.weights) == len(FEATURES) and len(m.priors) >= 1


def calm_voice(m: AngerModel, prior: dict[str, float]) -> SpurtFeatures:
    """A piece that reads exactly as the prior's calm voice."""
    from assist.audio.prosody import VOICE_KEYS

    return replace(spurt(0.0, pitch=100.0 * 2 ** (prior["pitch"] / 12)),
                   voice=tuple(prior.get(k, 0.0) for k in VOICE_KEYS))


@pytest.mark.parametrize(("key", "rise"), [
    ("flux", 3.0),  # the voiced spectrum, dB RMS between frames; calm voices about 3.4
    ("lflux", 2.0),  # the loud half of the voiced frames (the vowels' cores); calm 3.2
])
def test_the_shipped_model_reads_a_faster_moving_spectrum_as_angrier(key: str,
                                                                     rise: float) -> None:
    """How fast the voiced spectrum moves, over all voiced frames (flux) and over the
    loud half (lflux), is evidence of anger, from the first piece (against the prior)
    and once the caller's own calm voice is known."""
    from assist.audio.prosody import VOICE_KEYS
    from assist.detectors.anger_model import Reference

    m = load_model()
    calm = calm_voice(m, m.priors[0])
    voice = list(calm.voice)
    voice[VOICE_KEYS.index(key)] += rise
    raised = replace(calm, voice=tuple(voice))
    for own in (0, 5):
        ref = Reference(m.priors, m.prior_weight, m.adapt)
        for k in range(own):
            ref.add(replace(calm, start=2.0 * k, end=2.0 * k + 2.0))
        assert m.probability(ref.features(raised)) > m.probability(ref.features(calm)) + 0.1


def test_the_shipped_model_does_not_read_a_voice_range_as_anger() -> None:
    """A calm lower voice and a calm higher voice, each at its range's calm pitch, read
    the same on their first piece: the model reads pitch only as a rise over the range's
    prior (an absolute pitch made a calm woman's first sentence angrier than a calm
    man's)."""
    from assist.detectors.anger_model import Reference

    m = load_model()
    assert len(m.priors) == 2 and "pitch" not in FEATURES
    low, high = (calm_voice(m, pr) for pr in sorted(m.priors, key=lambda pr: pr["pitch"]))
    p = [m.probability(Reference(m.priors, m.prior_weight, m.adapt).features(s))
         for s in (low, high)]
    assert p[0] == pytest.approx(p[1], abs=1e-9)


def test_on_audio_an_angry_turn_is_flagged_after_a_calm_start(params) -> None:
    rate = 8000
    c = Track(rate, 40)
    for k in range(3):  # calm: 3 s phrases at 200 Hz
        c.put(1.0 + 4.0 * k, syllables(3.0, rate, pitch=200, per_second=4, db=-24, seed=k))
    for k in range(5):  # angry: 6 semitones higher
        c.put(16.0 + 4.0 * k, syllables(3.0, rate, pitch=285, per_second=5, db=-20, seed=9 + k))
    got = run_session(c.x, Track(rate, 40).x, rate, LoopParams(anger=params))
    metrics = evidence(got, "metrics")
    calm = metrics[:3]
    assert all(m["anger"] is not None and m["anger"] < 0.5 for m in calm)  # from the first
    angry = [e for e in got if e.type == "anger" and e.evidence["level"] == "angry"]
    # Scored every 2 s while the customer talks: flagged within the first angry phrase.
    assert angry and 16.0 < angry[0].t < 19.5
