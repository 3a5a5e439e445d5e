"""Whether two streams carry the same audio: an SBC forking one leg twice."""

from __future__ import annotations

import numpy as np

SAME_CORRELATION = 0.95
SAME_MAX_LAG = 0.25  # seconds one copy of a forked leg may trail the other


def same_audio(a: np.ndarray, b: np.ndarray, rate: int) -> bool:
    """Whether two streams carry the same audio, one perhaps trailing the other by up
    to `SAME_MAX_LAG`.  Compared in half-second blocks, each at its own best lag: the
    two copies of a forked leg rarely arrive in step, and a jitter buffer that drops or
    repeats a frame on one copy shifts everything after it."""
    n = min(len(a), len(b))
    block, most = rate // 2, int(SAME_MAX_LAG * rate)
    x, y = a[:n].astype(np.float64), b[:n].astype(np.float64)
    loud = same = 0
    for start in range(0, n - block + 1, block):
        seg = x[start : start + block]
        energy = float(np.dot(seg, seg))
        if energy <= 0:
            continue
        lo, hi = max(0, start - most), min(n, start + block + most)
        region = y[lo:hi]
        size = 1 << (len(region) + block - 1).bit_length()
        num = np.fft.irfft(np.fft.rfft(region, size) * np.conj(np.fft.rfft(seg, size)),
                           size)[: len(region) - block + 1]  # fmt: skip
        sums = np.concatenate(([0.0], np.cumsum(region * region)))
        windows = sums[block:] - sums[:-block]
        ok = windows > energy * 1e-6
        loud += 1
        if ok.any() and float(np.max(num[ok] / np.sqrt(windows[ok] * energy))) > SAME_CORRELATION:
            same += 1
    return loud >= 2 and same >= 0.8 * loud
