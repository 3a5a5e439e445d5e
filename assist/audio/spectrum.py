"""Real FFTs and band slices for per-frame features, cheap on small arrays.

Per 20 ms frame, np.fft's argument handling costs as much as a 1024-point transform;
these call numpy's own kernels directly and give exactly np.fft's numbers.
"""

from __future__ import annotations

import numpy as np

try:  # numpy >= 2: the kernels np.fft itself calls
    from numpy.fft import _pocketfft_umath as _pfu  # type: ignore[attr-defined]
except ImportError:  # another numpy layout: the public functions, same numbers
    _pfu = None

_AXES = [(0,), (), (0,)]


def rfft(x: np.ndarray, nfft: int) -> np.ndarray:
    """np.fft.rfft(x, nfft) of a 1-D float64 array."""
    if _pfu is None or nfft % 2:
        return np.fft.rfft(x, nfft)
    out = np.empty(nfft // 2 + 1, dtype=np.complex128)
    return _pfu.rfft_n_even(x, 1, axes=_AXES, out=out)


def irfft(spec: np.ndarray, nfft: int, inv_nfft: float) -> np.ndarray:
    """np.fft.irfft(spec, nfft); `inv_nfft` is 1.0 / nfft, the scaling np.fft applies."""
    if _pfu is None:
        return np.fft.irfft(spec, nfft)
    out = np.empty(nfft, dtype=np.float64)
    return _pfu.irfft(spec, inv_nfft, axes=_AXES, out=out)


def band_slice(mask: np.ndarray) -> slice:
    """The slice covering a mask's bins, which must be one run.  A view sums the same
    numbers in the same order as the mask's copy, without the copy."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return slice(0, 0)
    if idx[-1] - idx[0] + 1 != len(idx):
        raise ValueError("frequency band is not one run of bins")
    return slice(int(idx[0]), int(idx[-1]) + 1)
