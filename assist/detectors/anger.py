"""Customer anger: arousal relative to the customer's own start of call.

Rules:
- the first `baseline_speech` seconds of the customer's spurts (each at least
  `min_spurt` long) set their baseline: level, pitch, pitch spread, syllable
  rate and high-band ratio;
- every later spurt scores its rise over that baseline, each feature in its
  own unit, weighted so that loudness alone cannot make anger (phones and
  SBCs apply gain control), squashed to 0..1 and smoothed over speaking time;
- lexical cues (complaints, media, refunds, managers, insults) add to it;
- levels calm < tense < angry with hysteresis, so the flag does not flicker:
  an `anger` event only when the level changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assist.audio.prosody import SpurtFeatures
from assist.errors import ConfigError
from assist.events import ANGER_LEVELS, AngerLevel, Event
from assist.settings import check_fields, number

LEVELS = ANGER_LEVELS  # the vocabulary lives with the evidence types


@dataclass(frozen=True, slots=True)
class AngerParams:
    baseline_speech: float = number(6.0, 1.0, 120.0, "s")
    min_spurt: float = number(0.4, 0.05, 10.0, "s")  # shorter talk is not scored
    tense_on: float = number(0.5, 0.0, 1.0, lo_open=True)
    tense_off: float = number(0.35, 0.0, 1.0, lo_open=True)
    angry_on: float = number(0.7, 0.0, 1.0, lo_open=True)
    angry_off: float = number(0.55, 0.0, 1.0, lo_open=True)
    # seconds of speech for the score to move 63% of a step
    smoothing: float = number(3.0, 0.0, 120.0, "s", lo_open=True)
    # Weights of each feature's rise (in its unit below) in the arousal sum,
    # fitted on acted Mandarin (bench/eval_shared.py): pitch leads, loudness
    # stays under a third, pitch spread misled (octave slips) and is off.
    w_level: float = number(0.3, 0.0, 5.0)  # per 6 dB
    w_pitch: float = number(0.4, 0.0, 5.0)  # per 3 semitones
    w_spread: float = number(0.0, 0.0, 5.0)  # per 3 semitones
    w_rate: float = number(0.15, 0.0, 5.0)  # per 25 %
    w_high: float = number(0.15, 0.0, 5.0)  # per 0.1 of high-band ratio
    # added per cue weight unit, decays with smoothing
    lexical_weight: float = number(0.3, 0.0, 5.0)

    def __post_init__(self) -> None:
        check_fields(self, "anger")
        if not self.tense_off < self.tense_on < self.angry_on:
            raise ConfigError("anger.tense_on", "thresholds must satisfy tense_off < tense_on"
                              f" < angry_on, got {self.tense_off:g}, {self.tense_on:g},"
                              f" {self.angry_on:g}")
        if not self.tense_on <= self.angry_off < self.angry_on:
            raise ConfigError("anger.angry_off", "must lie in [tense_on, angry_on), got "
                              f"{self.angry_off:g}")


@dataclass(frozen=True, slots=True)
class Baseline:
    level_db: float
    pitch_st: float | None
    spread_st: float
    rate: float
    high_ratio: float


def _st(hz: float) -> float:
    return 12.0 * math.log2(hz / 100.0)


def make_baseline(spurts: list[SpurtFeatures]) -> Baseline:
    w = np.array([s.duration for s in spurts])
    lv = 10.0 * math.log10(float(np.average(10.0 ** (np.array([s.level_db for s in spurts]) / 10),
                                            weights=w)))
    voiced = [(s, s.voiced_s) for s in spurts if s.pitch_hz > 0 and s.voiced_s > 0]
    pitch = (float(np.average([_st(s.pitch_hz) for s, _ in voiced], weights=[v for _, v in voiced]))
             if voiced else None)
    spread = float(np.average([s.pitch_spread_st for s in spurts], weights=w))
    rate = float(sum(s.nuclei for s in spurts) * 60.0 / max(w.sum(), 1e-6))
    high = float(np.average([s.high_ratio for s in spurts], weights=w))
    return Baseline(lv, pitch, spread, rate, high)


def arousal(s: SpurtFeatures, b: Baseline, p: AngerParams) -> tuple[float, dict[str, float]]:
    """Raw arousal rise of one spurt over the baseline, and its parts."""
    parts = {
        "level": (s.level_db - b.level_db) / 6.0,
        "pitch": (_st(s.pitch_hz) - b.pitch_st) / 3.0
        if s.pitch_hz > 0 and b.pitch_st is not None else 0.0,
        "spread": (s.pitch_spread_st - b.spread_st) / 3.0,
        "rate": (s.syllables_per_min / b.rate - 1.0) / 0.25 if b.rate > 0 else 0.0,
        "high": (s.high_ratio - b.high_ratio) / 0.1,
    }
    weights = {"level": p.w_level, "pitch": p.w_pitch, "spread": p.w_spread,
               "rate": p.w_rate, "high": p.w_high}
    z = sum(weights[k] * max(-2.0, min(3.0, v)) for k, v in parts.items())
    return z, {k: round(v, 2) for k, v in parts.items()}


def squash(z: float) -> float:
    """0..1; a rise of one unit in every feature scores about 0.73."""
    return 1.0 / (1.0 + math.exp(-3.0 * (z - 0.67)))


class AngerDetector:
    def __init__(self, call_id: str, params: AngerParams) -> None:
        self._call_id = call_id
        self._p = params
        self._base_spurts: list[SpurtFeatures] = []
        self.baseline: Baseline | None = None
        self.score = 0.0
        self.level: AngerLevel = "calm"
        self._lexical = 0.0

    def feed(self, s: SpurtFeatures, t: float) -> tuple[float | None, list[Event]]:
        """One finished customer spurt; returns its score (None before a baseline) and events."""
        if s.duration < self._p.min_spurt:
            return (None if self.baseline is None else round(self.score, 3)), []
        if self.baseline is None:
            self._base_spurts.append(s)
            if sum(x.duration for x in self._base_spurts) >= self._p.baseline_speech:
                self.baseline = make_baseline(self._base_spurts)
            return None, []
        z, parts = arousal(s, self.baseline, self._p)
        alpha = 1.0 - math.exp(-s.duration / self._p.smoothing)
        self._lexical *= 1.0 - alpha
        self.score += alpha * (min(1.0, squash(z) + self._lexical) - self.score)
        return round(self.score, 3), self._level_change(t, parts)

    def running_score(self) -> float | None:
        """The customer's score so far (rounded), None before there is a baseline."""
        return None if self.baseline is None else round(self.score, 3)

    def feed_cues(self, weight: float, t: float) -> list[Event]:
        """Lexical cues heard from the customer (sum of cue weights, 1 = a clear cue)."""
        if weight <= 0:
            return []
        bump = self._p.lexical_weight * weight
        self._lexical = min(0.5, self._lexical + bump)
        self.score = min(1.0, self.score + bump)
        return self._level_change(t, {"lexical": round(weight, 2)})

    def _level_change(self, t: float, parts: dict[str, float]) -> list[Event]:
        p, s, old = self._p, self.score, self.level
        new = old
        if old == "calm":
            new = "angry" if s >= p.angry_on else "tense" if s >= p.tense_on else "calm"
        elif old == "tense":
            new = "angry" if s >= p.angry_on else "calm" if s < p.tense_off else "tense"
        elif s < p.angry_off:
            new = "calm" if s < p.tense_off else "tense"
        if new == old:
            return []
        self.level = new
        return [Event("anger", self._call_id, t, "customer",
                      {"level": new, "previous": old, "score": round(s, 3),
                       "thresholds": {"tense": [p.tense_off, p.tense_on],
                                      "angry": [p.angry_off, p.angry_on]},
                       "rise": parts})]
