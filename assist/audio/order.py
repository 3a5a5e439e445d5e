"""np.median and np.percentile (its default, linear method) of a sorted list of floats.

A spurt's summary takes about ten of them, and numpy's own spend most of their time
on argument handling.  These repeat numpy's arithmetic step for step, so they give
its numbers exactly (a test compares them bit for bit): the list must be non-empty,
sorted and without NaN or -0.0 (numpy's partial sort may order -0.0 and 0.0 the other
way round, and a zero's sign then differ).  The summaries' levels, semitones and
steps are logarithms and absolute values, which are never -0.0.
"""

from __future__ import annotations

import math

import numpy as np


def ordered(values: np.ndarray) -> list[float]:
    """A 1-D float array's values, sorted, as Python floats."""
    return np.sort(values).tolist()


def median(s: list[float]) -> float:
    """np.median: the mean of the middle one or two, summed from numpy's 0.0 start."""
    n = len(s)
    h = n // 2
    if n % 2:
        return 0.0 + s[h]
    return (0.0 + (s[h - 1] + s[h])) / 2


def percentile(s: list[float], q: float) -> float:
    """np.percentile(a, q): linear between the two nearest ranks, as numpy's _lerp."""
    n = len(s)
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:  # at or past the top: numpy takes the last value twice
        lo = hi = n - 1
        gamma = virtual + 1.0  # numpy's gamma against its index -1
    else:
        lo = math.floor(virtual)
        hi = lo + 1
        gamma = virtual - lo
    a, b = s[lo], s[hi]
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma
