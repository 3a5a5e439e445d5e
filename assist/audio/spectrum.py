"""Real FFTs and band slices for per-frame features, cheap on small arrays.

Per 20 ms frame, np.fft's argument handling costs as much as a 1024-point transform,
and numpy's pocketfft builds its plan (the twiddle factors) anew on every call: a
third of a transform.  scipy ships the same pocketfft with a cache of plans; its
kernels, called directly, give exactly np.fft's numbers (a test checks, bit for bit).
Without scipy, numpy's own kernels are called directly: the same numbers again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # numpy >= 2: the kernels np.fft itself calls
    from numpy.fft import _pocketfft_umath as _pfu  # type: ignore[attr-defined]
except ImportError:  # another numpy layout: the public functions, same numbers
    _pfu = None

_AXES = [(0,), (), (0,)]
_AXIS = (0,)
_scipy: Any = None  # scipy's pocketfft module, once load() found it
_loaded = False


def load() -> None:
    """Import scipy's transform kernels (about a quarter second, once a process).

    Done when the first analyser is built, so a process that analyses no audio (a
    tap, a command) never pays for it; the hub calls it when it is built.  They are
    used only if they give numpy's numbers on a probe, so another scipy or numpy
    build can cost speed, never a changed number."""
    global _scipy, _loaded
    if _loaded:
        return
    _loaded = True
    try:
        from scipy.fft._pocketfft import pypocketfft
    except ImportError:  # no scipy, or another layout: numpy's kernels
        return
    if _same_numbers(pypocketfft):
        _scipy = pypocketfft


def _same_numbers(kernels: Any) -> bool:
    probe = np.random.default_rng(0).standard_normal(2048)
    for nfft in (1024, 2048):
        x = probe[:nfft]
        spec = np.fft.rfft(x)
        try:
            ok = (np.array_equal(kernels.r2c(x, _AXIS, True, 0, None, 1), spec) and
                  np.array_equal(kernels.c2r(spec, _AXIS, nfft, False, 2, None, 1),
                                 np.fft.irfft(spec, nfft)))
        except Exception:  # another signature
            return False
        if not ok:
            return False
    return True


def rfft(x: np.ndarray, nfft: int) -> np.ndarray:
    """np.fft.rfft(x, nfft) of a 1-D float64 array (cheapest when len(x) == nfft)."""
    if _scipy is not None:
        if len(x) != nfft:
            padded = np.zeros(nfft)
            padded[:min(len(x), nfft)] = x[:nfft]
            x = padded
        return _scipy.r2c(x, _AXIS, True, 0, None, 1)
    if _pfu is None or nfft % 2:
        return np.fft.rfft(x, nfft)
    out = np.empty(nfft // 2 + 1, dtype=np.complex128)
    return _pfu.rfft_n_even(x, 1, axes=_AXES, out=out)


def irfft(spec: np.ndarray, nfft: int, inv_nfft: float) -> np.ndarray:
    """np.fft.irfft(spec, nfft) of a 1-D spectrum of nfft // 2 + 1 bins; `inv_nfft` is
    1.0 / nfft, the scaling np.fft applies."""
    if _scipy is not None and len(spec) == nfft // 2 + 1 and nfft & (nfft - 1) == 0:
        # inorm 2: times 1 / nfft inside the transform, as np.fft does (a power of two's
        # inverse is exact, so both round it alike)
        return _scipy.c2r(spec.astype(np.complex128), _AXIS, nfft, False, 2, None, 1)
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
