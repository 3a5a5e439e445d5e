"""The acoustic anger model: features of a piece of talk against a calm reference, and
a logistic regression over them.

The reference starts as a speaker-independent prior (calm speech of many voices) and
moves towards the customer's own calm speech as it accumulates (`Reference.add`), so a
customer angry from the first word is scored against the prior, and a calm one against
themselves.  Weights are data (`anger_model.json`, fitted by `bench/fit_anger.py` on
acted Mandarin at 8 kHz, raw and loudness-equalised); numpy only at run time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from assist.audio.prosody import VOICE_KEYS, SpurtFeatures
from assist.errors import ConfigError

DEFAULT_MODEL = Path(__file__).with_name("anger_model.json")
# What the reference holds, per piece of talk.
REF_KEYS = ("level", "pitch", "spread", "high", "rate", "b1", "b3", "lsd", *VOICE_KEYS)
# Keys that need voiced frames (unknown in a piece without them).
_PITCHED = frozenset(("pitch", "ptop", "pmove", "strength", "flux", "lflux"))
# Keys whose calm value is the voice range's own (lower and higher voices: men and
# women): the prior has one per range, and their absolute value says which range a voice
# is in, not how aroused it is.
RANGED_KEYS = ("pitch", "ptop")
# Absolute values the model reads: every key but level (which a line's gain moves) and
# the ranged ones. With a few training voices an absolute pitch weighs the voice range
# itself: a calm woman's first sentence read as angrier than a calm man's, an angry
# man's as calmer (held out, bench/eval_calls.py: ROC AUC 0.942 -> 0.948 raw without
# them). Their rises over the range's prior stay.
ABS_KEYS = tuple(k for k in REF_KEYS[1:] if k not in RANGED_KEYS)
# The model's inputs: rises over the reference; the same rises weighted by how much of
# the reference is the speaker's own (`own`, 0 with the prior alone, towards 1 as their
# calm speech accumulates); the speaker-independent absolutes (ABS_KEYS) weighted the
# other way, so a voice is judged against voices in general at first and against itself
# once it is known; the share of voiced time; own.
FEATURES = (*(f"d_{k}" for k in REF_KEYS), *(f"own_d_{k}" for k in REF_KEYS),
            *ABS_KEYS, "voicing", "own")
ADAPT_S = 1.5  # seconds of own calm speech at which own = 0.5


def describe(s: SpurtFeatures) -> dict[str, float | None]:
    """One piece of talk in the reference's units: dB, semitones re 100 Hz, ratio,
    log syllables a minute."""
    d: dict[str, float | None] = {
        "level": s.level_db,
        "pitch": 12.0 * math.log2(s.pitch_hz / 100.0) if s.pitch_hz > 0 else None,
        "spread": s.pitch_spread_st, "high": s.high_ratio,
        "rate": math.log(max(s.syllables_per_min, 30.0)),
        "b1": s.bands[0], "b3": s.bands[1], "lsd": s.level_sd}
    voice = s.voice if len(s.voice) == len(VOICE_KEYS) else (None,) * len(VOICE_KEYS)
    for k, v in zip(VOICE_KEYS, voice, strict=True):
        d[k] = None if v is None or (k in _PITCHED and s.pitch_hz <= 0) else v
    return d


@dataclass(frozen=True, slots=True)
class AngerModel:
    # Calm speech of many voices, REF_KEYS but level: one per voice range (lower and
    # higher voices), the nearer in pitch is used until the customer's own takes over.
    priors: tuple[dict[str, float], ...]
    prior_weight: float  # seconds of own speech the prior counts as
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    adapt: float = ADAPT_S  # seconds of own calm speech at which `own` is 0.5

    def probability(self, x: np.ndarray) -> float:
        z = float(np.dot((x - np.array(self.mean)) / np.array(self.scale),
                         np.array(self.weights))) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> str:
        return json.dumps({"features": FEATURES, "priors": self.priors,
                           "prior_weight": self.prior_weight,
                           "mean": self.mean, "scale": self.scale,
                           "weights": self.weights, "bias": self.bias,
                           "adapt": self.adapt}, indent=1) + "\n"


@lru_cache(maxsize=8)
def load_model(path: str = "") -> AngerModel:
    """The model at `path` (empty: the one shipped with the package)."""
    p = Path(path) if path else DEFAULT_MODEL
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        if tuple(d["features"]) != FEATURES:
            raise ValueError(f"features {d['features']} are not {list(FEATURES)}")
        m = AngerModel(tuple({k: float(v) for k, v in pr.items()} for pr in d["priors"]),
                       float(d["prior_weight"]),
                       tuple(map(float, d["mean"])), tuple(map(float, d["scale"])),
                       tuple(map(float, d["weights"])), float(d["bias"]),
                       float(d.get("adapt", ADAPT_S)))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError("anger.model", f"cannot load {p}: {e}") from None
    if not len(m.mean) == len(m.scale) == len(m.weights) == len(FEATURES):
        raise ConfigError("anger.model", f"{p}: expected {len(FEATURES)} weights")
    return m


class Reference:
    """The calm reference of one speaker: the prior, pulled towards their own calm
    speech by its duration."""

    def __init__(self, priors: tuple[dict[str, float], ...], prior_weight: float,
                 adapt: float = ADAPT_S) -> None:
        self._priors = priors
        self._adapt = adapt
        self._prior = priors[0]
        self._k = prior_weight
        self._sum = dict.fromkeys(REF_KEYS, 0.0)
        self._w = dict.fromkeys(REF_KEYS, 0.0)

    @property
    def own_speech(self) -> float:
        return self._w["spread"]

    def add(self, s: SpurtFeatures) -> None:
        for k, v in describe(s).items():
            if v is not None:
                w = s.voiced_s if k == "pitch" else s.duration
                self._sum[k] += w * v
                self._w[k] += w

    def value(self, key: str) -> float | None:
        if key == "level":  # a line's gain has no prior: only the speaker's own level
            return self._sum[key] / self._w[key] if self._w[key] > 0 else None
        prior = self._prior.get(key)
        if prior is None:  # a model without this key: the speaker's own alone
            return self._sum[key] / self._w[key] if self._w[key] > 0 else None
        return (self._k * prior + self._sum[key]) / (self._k + self._w[key])

    def features(self, s: SpurtFeatures) -> np.ndarray:
        """The piece's features against the prior nearest the speaker's pitch."""
        d = describe(s)
        own_pitch = self._sum["pitch"] / self._w["pitch"] if self._w["pitch"] > 0 else d["pitch"]
        if own_pitch is not None:
            self._prior = min(self._priors, key=lambda pr: abs(pr["pitch"] - own_pitch))
        return self._features(s)

    def _features(self, s: SpurtFeatures) -> np.ndarray:
        d = describe(s)
        rises = []
        for k in REF_KEYS:
            ref, v = self.value(k), d[k]
            if k == "pitch" and ref is None:
                ref = self._prior["pitch"]
            rises.append(0.0 if ref is None or v is None else float(v) - ref)
        # an unknown absolute reads as the prior's (no evidence either way)
        absolute = [d[k] if d[k] is not None else self._prior.get(k, 0.0) for k in ABS_KEYS]
        voicing = s.voiced_s / s.duration if s.duration > 0 else 0.0
        own = self.own_speech / (self.own_speech + self._adapt)
        r = np.array(rises, dtype=np.float64)
        a = np.array([float(v or 0.0) for v in absolute], dtype=np.float64)
        return np.concatenate((r, own * r, (1.0 - own) * a, [voicing, own]))
