"""The frame transforms give exactly np.fft's numbers, whichever kernels they run on."""

from __future__ import annotations

import numpy as np
import pytest
from audio import noise, syllables

from assist.audio import spectrum


def inputs(nfft: int) -> list[np.ndarray]:
    """Windowed 40 ms pieces as the frame analyser transforms them: noise at several
    levels, speech-like syllables, silence, zero-padded to `nfft`."""
    rate = 8000 if nfft == 1024 else 16000
    win = 320 * nfft // 1024
    rng = np.random.default_rng(4)
    speech = syllables(1.0, rate)
    out = [np.zeros(nfft)]
    for i in range(40):
        x = (rng.standard_normal(win) * 10 ** rng.uniform(-2, 4) if i % 2
             else speech[i * win // 2:i * win // 2 + win] * 32767)
        padded = np.zeros(nfft)
        padded[:win] = (x - x.mean()) * np.hanning(win)
        out.append(padded)
    out.append(noise(nfft / rate, rate, db=-40.0, seed=9) * 32767)
    return out


@pytest.fixture(params=["loaded", "numpy"])
def kernels(request, monkeypatch):
    spectrum.load()
    if request.param == "numpy":
        monkeypatch.setattr(spectrum, "_scipy", None)
    return request.param


@pytest.mark.parametrize("nfft", [1024, 2048])
def test_the_transforms_are_np_fft_bit_for_bit(kernels, nfft):
    for x in inputs(nfft):
        spec = spectrum.rfft(x, nfft)
        assert np.array_equal(spec, np.fft.rfft(x, nfft))
        power = spec.real**2 + spec.imag**2
        assert np.array_equal(spectrum.irfft(power, nfft, 1.0 / nfft), np.fft.irfft(power, nfft))
    short = inputs(nfft)[5][:nfft // 3]  # padded by the transform itself
    assert np.array_equal(spectrum.rfft(short, nfft), np.fft.rfft(short, nfft))


class _Off:
    """Kernels that are one rounding off np.fft's: they must not be used."""

    @staticmethod
    def r2c(x, axes, forward, inorm, out, nthreads):
        return np.fft.rfft(x) * (1 + 2**-52)

    @staticmethod
    def c2r(spec, axes, n, forward, inorm, out, nthreads):
        return np.fft.irfft(spec, n)


def test_kernels_that_change_a_number_are_not_used(monkeypatch):
    scipy_fft = pytest.importorskip("scipy.fft._pocketfft")
    monkeypatch.setattr(scipy_fft, "pypocketfft", _Off)
    monkeypatch.setattr(spectrum, "_loaded", False)
    monkeypatch.setattr(spectrum, "_scipy", None)
    spectrum.load()
    x = inputs(1024)[3]
    assert np.array_equal(spectrum.rfft(x, 1024), np.fft.rfft(x, 1024))
