"""Per-frame acoustic features of one party's 20 ms frames.

Level (dBFS), pitch (Hz, 0 when unvoiced, from the autocorrelation of the last
40 ms normalised by the window's own, after Boersma), high-band energy ratio (voice
quality: pressed, angry voices carry more energy above 1 kHz), two 10 ms
intensities for syllable nuclei, band shares and a mel-band envelope.  The level is
computed for every frame; the rest only for frames a spurt's summary reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assist.audio import spectrum
from assist.audio.spectrum import band_slice, irfft, rfft

PITCH_MIN_HZ = 70.0
PITCH_MAX_HZ = 420.0
VOICING_THRESHOLD = 0.45
HIGH_BAND_HZ = 1000.0
ENVELOPE_BANDS = 8
LOW_BAND_HZ = 100.0  # under the envelope's lowest band


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    level_db: float
    mean_square: float  # int16 scale, for the VAD floor
    pitch_hz: float
    high_ratio: float
    sub_db: tuple[float, float]  # two 10 ms intensities (dB)
    bands: tuple[float, float] = (0.0, 0.0)  # energy shares 500-1000 Hz, 2000-3800 Hz
    # Log energies (dB) of ENVELOPE_BANDS mel-spaced bands over 100-3800 Hz, and the
    # strength of the pitch peak (normalised autocorrelation, 0 when unvoiced).
    envelope: tuple[float, ...] = ()
    strength: float = 0.0
    # Log energy (dB, the envelope's scale) under LOW_BAND_HZ: no feature reads it; the
    # bleed gate does (a thump or a voice's onset there is sound the other party's
    # audio may or may not explain, as in any envelope band).
    low_db: float = -30.0


class PendingFrame:
    """One frame's level now, its other features when first asked for.

    Every frame needs its level (the VAD floor, the bleed gate); the spectrum, pitch
    and envelope only matter for frames a spurt or chunk summary reads, under half of
    a call's.  `features()` computes them from the frame's own 40 ms window, so when
    it runs does not change a number.
    """

    __slots__ = ("level_db", "mean_square", "_analyzer", "_prev", "_cur", "_features")

    def __init__(self, analyzer: FrameAnalyzer, prev: np.ndarray, cur: np.ndarray,
                 level_db: float, mean_square: float) -> None:
        self.level_db = level_db
        self.mean_square = mean_square  # int16 scale, for the VAD floor
        self._analyzer = analyzer
        self._prev = prev
        self._cur = cur
        self._features: FrameFeatures | None = None

    def features(self) -> FrameFeatures:
        f = self._features
        if f is None:
            f = self._analyzer._spectral(self)
            self._features = f
            self._prev = self._cur = _EMPTY  # the window is not needed again
        return f

    def power_offset_db(self) -> float:
        """What a band power's dB (`envelope`) reads above the dBFS of the same power
        spread over the whole frame."""
        return self._analyzer.power_offset_db


_EMPTY = np.zeros(0)


class FrameAnalyzer:
    """Features of consecutive 20 ms frames of one party at one sample rate.

    `level(pcm)` costs a frame's level and keeps its window for `features()`;
    `feed(pcm)` is both at once.  `eager` computes every frame's features as it
    arrives (the same numbers; for tests that compare the two).
    """

    def __init__(self, rate: int, frame_len: int, *, eager: bool = False) -> None:
        spectrum.load()
        self.rate = rate
        self._n = frame_len
        self._eager = eager
        win_len = 2 * frame_len
        self._nfft = 1 << (2 * win_len - 1).bit_length()
        self._window = np.hanning(win_len).astype(np.float64)
        # Parseval: a frame's mean square m (int16 scale) sums to m * nfft / 2 * sum(w^2)
        # over the half spectrum's powers.
        self.power_offset_db = 10.0 * float(np.log10(
            self._nfft / 2 * float(np.dot(self._window, self._window)))) + 20.0 * float(
            np.log10(32768.0))
        wspec = np.fft.rfft(self._window, self._nfft)
        rw = np.fft.irfft(wspec * np.conj(wspec), self._nfft)[:win_len]
        self._rw = rw / rw[0]
        self._lag_lo = int(rate / PITCH_MAX_HZ)
        self._lag_hi = min(int(rate / PITCH_MIN_HZ), win_len // 2)
        freqs = np.fft.rfftfreq(self._nfft, 1.0 / rate)
        # Bands as slices: each is a run of bins, and a view sums the same numbers in
        # the same order as a boolean mask's copy, without the copy.
        speech = (freqs >= 80.0) & (freqs <= 3800.0)
        self._speech_band = band_slice(speech)
        self._high = band_slice((freqs >= HIGH_BAND_HZ) & speech)
        self._low_mid = band_slice((freqs >= 500.0) & (freqs < 1000.0))
        self._top = band_slice((freqs >= 2000.0) & (freqs <= 3800.0))
        self._low = band_slice((freqs > 0.0) & (freqs < LOW_BAND_HZ))
        self._rw_lags = self._rw[self._lag_lo:self._lag_hi]
        mel = np.linspace(_mel(100.0), _mel(3800.0), ENVELOPE_BANDS + 1)
        edges = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
        # one row per band: which bins it sums (rectangular bands: the cheapest filter)
        self._env = np.array([(freqs >= lo) & (freqs < hi) for lo, hi in
                              zip(edges[:-1], edges[1:], strict=True)], dtype=np.float64)
        self._prev = np.zeros(frame_len, dtype=np.float64)
        self._level = np.empty(1, dtype=np.float64)  # level's scratch
        self._logs = np.empty(2 + ENVELOPE_BANDS, dtype=np.float64)  # _spectral's scratch
        self._inv_nfft = 1.0 / self._nfft  # irfft's backward scaling, as np.fft applies it
        # the windowed 40 ms, zero-padded to the transform's length: the tail stays zero
        self._padded = np.zeros(self._nfft, dtype=np.float64)
        self._windowed = self._padded[:win_len]

    def feed(self, pcm: np.ndarray) -> FrameFeatures:
        return self.level(pcm).features()

    def level(self, pcm: np.ndarray) -> PendingFrame:
        """The frame's level; the rest of its features wait for `features()`."""
        cur = pcm.astype(np.float64)
        ms = float(np.dot(cur, cur)) / self._n
        # log10 of a one-element array: the same kernel, so the same number, as the
        # element of a longer one
        lv = self._level
        lv[0] = ms / 32768.0**2 + 1e-12
        np.log10(lv, out=lv)
        frame = PendingFrame(self, self._prev, cur, 10.0 * float(lv[0]), ms)
        self._prev = cur
        if self._eager:
            frame.features()
        return frame

    def _spectral(self, frame: PendingFrame) -> FrameFeatures:
        # Python floats and views where arrays are tiny: per-call numpy overhead is
        # most of a frame's cost.  Every sum keeps its order, so results are unchanged.
        cur = frame._cur
        n = self._n
        half = n // 2
        first, second = cur[:half], cur[half:]
        x = np.concatenate((frame._prev, cur))
        x -= float(np.add.reduce(x)) / x.size  # x.mean(), without its wrapper
        np.multiply(x, self._window, out=self._windowed)
        spec = rfft(self._padded, self._nfft)
        power = spec.real**2 + spec.imag**2
        total = np.add.reduce
        band = float(total(power[self._speech_band]))
        high = float(total(power[self._high]))
        pitch, strength = self._pitch(power)
        # One log10 for the two 10 ms levels and the envelope bands.
        logs = self._logs
        logs[0] = float(np.dot(first, first)) / half / 32768.0**2 + 1e-12
        logs[1] = float(np.dot(second, second)) / (n - half) / 32768.0**2 + 1e-12
        np.matmul(self._env, power, out=logs[2:])
        logs[2:] += 1e-3
        db = (10.0 * np.log10(logs)).tolist()
        low = 10.0 * float(np.log10(float(total(power[self._low])) + 1e-3))
        shares = ((float(total(power[self._low_mid])) / band,
                   float(total(power[self._top])) / band) if band > 0 else (0.0, 0.0))
        return FrameFeatures(frame.level_db, frame.mean_square, pitch,
                             high / band if band > 0 else 0.0, (db[0], db[1]), shares,
                             tuple(db[2:]), strength, low)

    def _pitch(self, power: np.ndarray) -> tuple[float, float]:
        """Pitch (Hz, 0 when unvoiced) and the strength of its autocorrelation peak."""
        r = irfft(power, self._nfft, self._inv_nfft)
        r0 = float(r[0])
        if r0 <= 0:
            return 0.0, 0.0
        lo = self._lag_lo
        norm = r[lo:self._lag_hi] / r0 / self._rw_lags
        k = int(norm.argmax())
        peak = float(norm[k])
        if peak < VOICING_THRESHOLD:
            return 0.0, 0.0
        # Parabolic interpolation around the peak for a sub-sample lag.
        lag = float(lo + k)
        if 0 < k < len(norm) - 1:
            a, c = float(norm[k - 1]), float(norm[k + 1])
            denom = a - 2 * peak + c
            if denom < 0:
                lag += 0.5 * (a - c) / denom
        return self.rate / lag, min(1.0, peak)


def _mel(hz: float) -> float:
    return 2595.0 * float(np.log10(1.0 + hz / 700.0))
