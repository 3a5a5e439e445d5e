"""Characters a minute from syllable nuclei a minute, for pace without a recogniser.

Counted nuclei do not scale one for one with the speech rate: in faster speech more
syllables merge, in slower speech long vowels split.  The model is a power law around
300 a minute, log(cpm / 300) = intercept + slope * log(nuclei / 300), fitted on read
Mandarin at several tempos by `bench/fit_pace.py`.  Weights are data
(`pace_model.json`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assist.errors import ConfigError

DEFAULT_MODEL = Path(__file__).with_name("pace_model.json")
PIVOT = 300.0  # characters a minute; near the middle of the fitted range


@dataclass(frozen=True, slots=True)
class PaceModel:
    intercept: float = 0.0
    slope: float = 1.0

    def cpm(self, nuclei_per_min: float) -> float:
        """The characters a minute that `nuclei_per_min` counted nuclei stand for."""
        if nuclei_per_min <= 0.0:
            return 0.0
        return PIVOT * math.exp(self.intercept + self.slope * math.log(nuclei_per_min / PIVOT))

    def to_json(self, **about: object) -> str:
        return json.dumps({"pivot": PIVOT, "intercept": self.intercept, "slope": self.slope,
                           **about}, indent=1) + "\n"


@lru_cache(maxsize=8)
def load_model(path: str = "") -> PaceModel:
    """The model at `path` (empty: the one shipped with the package)."""
    p = Path(path) if path else DEFAULT_MODEL
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        if float(d["pivot"]) != PIVOT:
            raise ValueError(f"pivot {d['pivot']} is not {PIVOT:g}")
        m = PaceModel(float(d["intercept"]), float(d["slope"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError("pace.model", f"cannot load {p}: {e}") from None
    if not (math.isfinite(m.intercept) and 0.2 <= m.slope <= 5.0):
        raise ConfigError("pace.model", f"{p}: intercept must be finite and slope 0.2..5,"
                                        f" got {m.intercept!r}, {m.slope!r}")
    return m
