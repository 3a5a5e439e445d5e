"""The summaries' medians and percentiles are numpy's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assist.audio.order import median, ordered, percentile


def same(got: float, want: float) -> bool:
    """Equal to the bit, the sign of a zero included."""
    return np.float64(got).tobytes() == np.float64(want).tobytes()


def samples() -> list[np.ndarray]:
    """Arrays like a summary's (levels in dB, semitones, dB steps) and awkward ones:
    one or two values, ties, integers, zeros, tiny and huge magnitudes."""
    rng = np.random.default_rng(11)
    out = [np.array([3.0]), np.array([0.0]), np.array([-2.5, 7.0]), np.zeros(5),
           np.array([1.0, 1.0, 2.0, 2.0]), np.arange(10.0)]
    for n in list(range(1, 40)) + [63, 64, 100, 101, 250, 999]:
        out.append(rng.normal(-35.0, 12.0, n))  # levels
        out.append(np.abs(np.diff(rng.normal(-30.0, 6.0, n + 1))))  # steps
        out.append(12.0 * np.log2(rng.uniform(70.0, 420.0, n) / 100.0))  # semitones
        out.append(rng.integers(-3, 4, n).astype(np.float64))  # many ties
        out.append(rng.standard_normal(n) * 10.0 ** rng.integers(-12, 12))
    return out


@pytest.mark.parametrize("q", [0, 10, 25, 50, 90, 99, 100])
def test_percentiles_are_numpys(q):
    for a in samples():
        assert same(percentile(ordered(a), q), np.percentile(a, q)), (q, a)


def test_medians_are_numpys():
    for a in samples():
        assert same(median(ordered(a)), np.median(a)), a


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: v + 0.0),  # no -0.0
                min_size=1, max_size=60), st.integers(0, 100))
def test_any_list_of_floats_gives_numpys_numbers(values, q):
    a = np.array(values)
    assert same(percentile(ordered(a), q), np.percentile(a, q))
    assert same(median(ordered(a)), np.median(a))
