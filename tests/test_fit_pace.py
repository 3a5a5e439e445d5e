"""The pace model's fit (bench/fit_pace.py) on made-up turns: no development data."""

from __future__ import annotations

import math

import pytest

from bench.eval_shared import DataError
from bench.fit_pace import Point, choose, fit, held_out_error

CLIPS = ("a", "b", "c", "d")
TEMPOS = (0.75, 0.85, 0.95, 1.05, 1.15, 1.3)


def turns(slope: float = 1.3, high: str = "", by: float = 1.1) -> list[Point]:
    """Every ordered pair of two clips at each tempo, the counts on a power law; clip
    `high` counts `by` too many wherever it is."""
    out = []
    for tempo in TEMPOS:
        for f1 in CLIPS:
            for f2 in CLIPS:
                if f1 != f2:
                    nuclei = 300.0 * tempo ** (1 / slope) * (by if high in (f1, f2) else 1.0)
                    out.append(Point((f1, f2), tempo, nuclei, 300.0 * tempo))
    return out


def test_the_fit_recovers_the_power_law_the_counts_follow() -> None:
    m = fit(turns())
    assert m.slope == pytest.approx(1.3, rel=1e-6)
    assert m.intercept == pytest.approx(0.0, abs=1e-9)
    assert m.cpm(300.0 * 1.2 ** (1 / 1.3)) == pytest.approx(360.0)
    with pytest.raises(DataError, match="too few"):
        fit(turns()[:2])


def test_each_turn_is_read_by_a_model_fitted_without_its_clips() -> None:
    skewed = turns(high="a")
    mape, bias = held_out_error(skewed)
    # Turns holding "a" count high.  In the fold without "a" the model is exact and
    # reads them high; a model that had trained on them would hide part of that.
    assert 0.0 < bias and 0.05 < mape < 0.2
    assert held_out_error(turns()) == pytest.approx((0.0, 0.0), abs=1e-9)
    dip, model = choose({2.0: skewed, 2.5: turns()}, train={"b", "c", "d"})
    assert model.slope == pytest.approx(1.3, rel=1e-6)  # no turn of "a" trains
    assert math.isfinite(model.intercept) and dip in (2.0, 2.5)
