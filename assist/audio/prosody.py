"""Per-frame acoustic features and per-spurt summaries.

Per 20 ms frame: level (dBFS), pitch (Hz, 0 when unvoiced, from the
autocorrelation of the last 40 ms normalised by the window's own, after
Boersma), high-band energy ratio (voice quality: pressed, angry voices carry
more energy above 1 kHz) and two 10 ms intensities for syllable nuclei.

Per spurt: energy-mean level, median pitch and its spread in semitones, and
syllable nuclei counted as intensity peaks that are voiced and stand out from
the dip before them (after de Jong & Wempe, 2009).  One Mandarin character is
one syllable, so nuclei per minute estimate characters per minute.  Two counts:
`nuclei` on the full-band 10 ms intensity (an anger feature), and `vowel_nuclei`
on the energy of the 300-2200 Hz envelope bands (where vowels' first two formants
sit), which pace uses: consonants, nasals and glides carry little energy there, so
the dips between syllables are deeper and fewer syllables merge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assist.audio import spectrum
from assist.audio.spectrum import band_slice, irfft, rfft
from assist.settings import check_fields, number

PITCH_MIN_HZ = 70.0
PITCH_MAX_HZ = 420.0
VOICING_THRESHOLD = 0.45
HIGH_BAND_HZ = 1000.0
PITCH_WITHIN_DB = 25.0  # dB under the spurt's loudest frame
ENVELOPE_BANDS = 8
VOWEL_BANDS = slice(1, 6)  # envelope bands 1-5: 293-2222 Hz
# Per spurt, from its loud frames: spectral envelope (mel-band dB relative to the
# frame's own energy, as cepstral-like cosine terms c1-c4 and a tilt in dB per band),
# pitch top (90th percentile, semitones re 100 Hz), pitch movement (median semitones a
# second between voiced frames), energy movement (median dB between frames), level
# range (90th minus 10th percentile dB) and the strength of voicing.
VOICE_KEYS = ("c1", "c2", "c3", "c4", "tilt", "ptop", "pmove", "emove", "erange",
              "strength")


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


@dataclass(frozen=True, slots=True)
class SpurtFeatures:
    start: float
    end: float
    level_db: float
    pitch_hz: float  # median of voiced frames, 0 when none
    pitch_spread_st: float  # 90th minus 10th percentile, semitones
    high_ratio: float
    nuclei: int
    voiced_s: float
    # Spectral shape and dynamics, for anger: band shares of the loud frames and the
    # spread of frame levels (dB), neither of which a line's gain moves.
    bands: tuple[float, float] = (0.0, 0.0)
    level_sd: float = 0.0
    # Voice shape for anger, VOICE_KEYS in order (none moves with a line's gain).
    voice: tuple[float, ...] = ()
    vowel_nuclei: int = 0  # syllable nuclei of the vowel-band contour, for pace

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def syllables_per_min(self) -> float:
        return 60.0 * self.nuclei / self.duration if self.duration > 0 else 0.0


def _db(mean_square: float) -> float:
    return 10.0 * float(np.log10(mean_square + 1e-12))


class PendingFrame:
    """One frame's level now, its other features when first asked for.

    Every frame needs its level (the VAD floor, the bleed gate); the spectrum, pitch
    and envelope only matter for frames that join a spurt, about half of a call's.
    `features()` computes them from the frame's own 40 ms window, so when it runs
    does not change a number.
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
        shares = ((float(total(power[self._low_mid])) / band,
                   float(total(power[self._top])) / band) if band > 0 else (0.0, 0.0))
        return FrameFeatures(frame.level_db, frame.mean_square, pitch,
                             high / band if band > 0 else 0.0, (db[0], db[1]), shares,
                             tuple(db[2:]), strength)

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


# Cosine terms over the envelope bands (c1-c4 of a DCT-II): spectral shape in a few
# numbers, as MFCCs summarise it.
_DCT = np.cos(np.pi * np.outer(np.arange(1, 5), np.arange(ENVELOPE_BANDS) + 0.5)
              / ENVELOPE_BANDS) * np.sqrt(2.0 / ENVELOPE_BANDS)
_TILT = (np.arange(ENVELOPE_BANDS) - (ENVELOPE_BANDS - 1) / 2.0)
_TILT = _TILT / float(np.dot(_TILT, _TILT))


def _voice(levels: np.ndarray, loud: np.ndarray, st: np.ndarray, steady: np.ndarray,
           frames: list[FrameFeatures]) -> tuple[float, ...]:
    """VOICE_KEYS of one spurt."""
    env = [f.envelope for f, ok in zip(frames, steady & loud, strict=True) if ok and f.envelope]
    if env:
        e = np.array(env)
        rel = (e - e.mean(axis=1, keepdims=True)).mean(axis=0)
        cep = _DCT @ rel
        tilt = float(np.dot(_TILT, rel))
    else:
        cep, tilt = np.zeros(4), 0.0
    if len(st):
        ptop = float(np.percentile(st, 90))
        both = steady[1:] & steady[:-1]
        semis = 12.0 * np.log2(np.maximum(
            np.array([f.pitch_hz for f in frames]), 1.0) / 100.0)
        step = np.abs(np.diff(semis))[both]
        step = step[step < 3.0]  # larger jumps are octave slips, not intonation
        pmove = float(np.median(step)) * 50.0 if len(step) else 0.0
        strength = float(np.mean([f.strength for f, ok in zip(frames, steady, strict=True)
                                  if ok]))
    else:
        ptop, pmove, strength = 0.0, 0.0, 0.0
    lv = levels[loud]
    emove = float(np.median(np.abs(np.diff(lv)))) if len(lv) > 1 else 0.0
    erange = float(np.percentile(lv, 90) - np.percentile(lv, 10)) if len(lv) else 0.0
    return (*(float(c) for c in cep), tilt, ptop, pmove, emove, erange, strength)


@dataclass(frozen=True, slots=True)
class NucleiParams:
    # a peak must rise this far above the dip before it
    min_dip_db: float = number(1.0, 0.0, 20.0, "dB")
    # peaks quieter than the spurt's loudest by more are ignored
    below_max_db: float = number(25.0, 1.0, 60.0, "dB")
    smooth: int = number(3, 1, 20, "steps of 10 ms")  # moving-average length over the contour
    # no two syllables closer than this (0.06 s: 1000 a minute)
    min_gap_s: float = number(0.06, 0.01, 0.5, "s")
    # the vowel-band count's dip (its contour is 20 ms steps, not smoothed further)
    vowel_dip_db: float = number(2.5, 0.0, 20.0, "dB")

    def __post_init__(self) -> None:
        check_fields(self, "nuclei")


def count_nuclei(sub_db: np.ndarray, voiced: np.ndarray, params: NucleiParams) -> int:
    """Syllable nuclei in a 10 ms intensity contour; `voiced` is per 10 ms step."""
    if len(sub_db) < 3:
        return 0
    k = max(1, params.smooth)
    c = np.convolve(sub_db, np.ones(k) / k, mode="same") if k > 1 else sub_db
    return _peaks(c, voiced, params.min_dip_db, params.below_max_db,
                  max(1, round(params.min_gap_s / 0.01)))


def count_vowel_nuclei(frames: list[FrameFeatures], frame_s: float,
                       params: NucleiParams) -> int:
    """Syllable nuclei in the vowel-band (300-2200 Hz) energy of the frames' envelopes."""
    if len(frames) < 3 or any(not f.envelope for f in frames):
        return 0
    env = np.array([f.envelope for f in frames])[:, VOWEL_BANDS]
    c = 10.0 * np.log10((10.0 ** (env / 10.0)).sum(axis=1))
    v = np.array([f.pitch_hz > 0 for f in frames])
    v = v | np.roll(v, 1) | np.roll(v, -1)  # a frame next to a voiced one counts
    return _peaks(c, v, params.vowel_dip_db, params.below_max_db,
                  max(1, round(params.min_gap_s / frame_s)))


def _peaks(c: np.ndarray, voiced: np.ndarray, min_dip: float, below_max: float,
           min_gap: int) -> int:
    """Voiced peaks of contour `c` over its median (and within `below_max` of its top)
    rising `min_dip` over the dip since the last counted one, `min_gap` steps apart."""
    floor = max(float(np.median(c)), float(c.max()) - below_max)
    mid = c[1:-1]
    # Candidate peaks (vectorised); only they are walked in Python.
    cand = np.flatnonzero((mid >= c[:-2]) & (mid > c[2:]) & (mid > floor) & voiced[1:-1]) + 1
    count = 0
    last = 0  # index after which the dip before the next peak is measured
    last_peak = -min_gap
    for i in cand:
        v = float(c[i])
        dip = float(c[last:i + 1].min())
        if v - dip >= min_dip and i - last_peak >= min_gap:
            count += 1
            last_peak = int(i)
            last = int(i)
    return count


def summarise(
    start: float, end: float, frames: list[FrameFeatures], frame_s: float, params: NucleiParams
) -> SpurtFeatures:
    """Summary of one spurt's frames (already trimmed to the spurt)."""
    if not frames:
        return SpurtFeatures(start, end, -120.0, 0.0, 0.0, 0.0, 0, 0.0)  # no voice: unknown
    levels = np.array([f.level_db for f in frames])
    loud = levels >= levels.max() - 30.0
    level = 10.0 * float(np.log10(np.mean(10.0 ** (levels[loud] / 10.0))))
    pitches = np.array([f.pitch_hz for f in frames])
    voiced = pitches > 0
    # Pitch from the spurt's loud frames only: quiet onsets and tails slip octaves.
    steady = voiced & (levels >= levels.max() - PITCH_WITHIN_DB)
    st = np.zeros(0)
    if steady.any():
        st = 12.0 * np.log2(pitches[steady] / 100.0)
        pitch = float(100.0 * 2 ** (np.median(st) / 12.0))
        spread = float(np.percentile(st, 90) - np.percentile(st, 10))
    else:
        pitch, spread = 0.0, 0.0
    high = float(np.mean([f.high_ratio for f in frames]))
    sub = np.array([v for f in frames for v in f.sub_db])
    # A 10 ms step counts as voiced when its own frame or a neighbour is.
    v2 = np.repeat(voiced, 2)
    v2 = v2 | np.roll(v2, 1) | np.roll(v2, -1)
    nuclei = count_nuclei(sub, v2, params)
    shape = np.array([f.bands for f in frames])[loud].mean(axis=0)
    return SpurtFeatures(start, end, level, pitch, spread, high, nuclei,
                         float(voiced.sum()) * frame_s, (float(shape[0]), float(shape[1])),
                         float(levels[loud].std()), _voice(levels, loud, st, steady, frames),
                         count_vowel_nuclei(frames, frame_s, params))
