"""Per-spurt summaries of the per-frame features (assist/audio/features.py).

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

from assist.audio.features import (
    ENVELOPE_BANDS,
    FrameAnalyzer,
    FrameFeatures,
    PendingFrame,
)
from assist.audio.order import median, ordered, percentile
from assist.settings import check_fields, number

__all__ = ["FrameAnalyzer", "FrameFeatures", "NucleiParams", "PendingFrame", "SpurtFeatures",
           "VOICE_KEYS", "count_nuclei", "count_vowel_nuclei", "summarise"]

PITCH_WITHIN_DB = 25.0  # dB under the spurt's loudest frame
VOWEL_BANDS = slice(1, 6)  # envelope bands 1-5: 293-2222 Hz
# Per spurt, from its loud frames: spectral envelope (mel-band dB relative to the
# frame's own energy, as cepstral-like cosine terms c1-c4 and a tilt in dB per band),
# pitch top (90th percentile, semitones re 100 Hz), pitch movement (median semitones a
# second between voiced frames), energy movement (median dB between frames), level
# range (90th minus 10th percentile dB), the strength of voicing, spectral flux
# (dB RMS between the mean-removed envelopes of consecutive voiced frames: an angry
# voice's spectrum moves faster within its vowels than a calm or merely loud one's),
# onset sharpness (`onset`: the 95th percentile of the rise between consecutive 10 ms
# intensities in the loud frames, dB: how hard the sharpest syllables start), and the
# flux of the louder half of the voiced frames (`lflux`: the vowels' cores, where a
# pressed voice's spectrum moves most, without the quieter onsets and tails).  On acted
# Mandarin the onset alone hardly differs between angry and calm speech; the anger model
# weighs it against anger beside the energy movement (`emove`, which it weighs for):
# at the same median movement a calm voice's level moves in a few sharp syllable starts,
# an angry one's in many smaller steps.
VOICE_KEYS = ("c1", "c2", "c3", "c4", "tilt", "ptop", "pmove", "emove", "erange",
              "strength", "flux", "onset", "lflux")
ONSET_PCT = 95.0


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
    # A chunk cut in the talk's hangover: the end of its last voiced frame (None: `end`)
    voiced_end: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def speech_end(self) -> float:
        """Where the piece's speech ends: `end`, or its last voiced frame's end when it
        was cut in the hangover after it (the time a stopwatch would stop at, if the
        talk ends there)."""
        return self.end if self.voiced_end is None else self.voiced_end

    @property
    def syllables_per_min(self) -> float:
        return 60.0 * self.nuclei / self.duration if self.duration > 0 else 0.0


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
        ptop = percentile(ordered(st), 90)
        both = steady[1:] & steady[:-1]
        semis = 12.0 * np.log2(np.maximum(
            np.array([f.pitch_hz for f in frames]), 1.0) / 100.0)
        step = np.abs(np.diff(semis))[both]
        step = step[step < 3.0]  # larger jumps are octave slips, not intonation
        pmove = median(ordered(step)) * 50.0 if len(step) else 0.0
        strength = float(np.mean([f.strength for f, ok in zip(frames, steady, strict=True)
                                  if ok]))
    else:
        ptop, pmove, strength = 0.0, 0.0, 0.0
    # the steady voiced frames that carry an envelope: both fluxes compare those
    enveloped = steady & np.array([bool(f.envelope) for f in frames], dtype=bool)
    flux = _flux(frames, enveloped)
    lv = levels[loud]
    emove = median(ordered(np.abs(np.diff(lv)))) if len(lv) > 1 else 0.0
    lvs = ordered(lv)
    erange = percentile(lvs, 90) - percentile(lvs, 10) if lvs else 0.0
    return (*(float(c) for c in cep), tilt, ptop, pmove, emove, erange, strength, flux,
            _onset(frames, loud), _loud_flux(frames, levels, enveloped))


def _onset(frames: list[FrameFeatures], loud: np.ndarray) -> float:
    """ONSET_PCT percentile of the rise (dB) from one 10 ms intensity to the next, over
    the steps that end in a loud frame (0 with none)."""
    sub = np.array([v for f in frames for v in f.sub_db])
    if len(sub) < 2:
        return 0.0
    rise = (sub[1:] - sub[:-1])[np.repeat(loud, 2)[1:]]
    return percentile(ordered(rise), ONSET_PCT) if len(rise) else 0.0


def _loud_flux(frames: list[FrameFeatures], levels: np.ndarray, ok: np.ndarray) -> float:
    """Spectral flux over the `ok` frames at or above their median level (0 with fewer
    than four such frames to halve)."""
    if int(ok.sum()) < 4:
        return 0.0
    return _flux(frames, ok & (levels >= median(ordered(levels[ok]))))


def _flux(frames: list[FrameFeatures], ok: np.ndarray) -> float:
    """Mean dB RMS change of the mean-removed envelope between consecutive `ok` frames
    (steady, voiced, with an envelope; 0 when no two are adjacent)."""
    pairs = np.flatnonzero(ok[1:] & ok[:-1])
    if not len(pairs):
        return 0.0
    idx = np.flatnonzero(ok)
    e = np.array([frames[i].envelope for i in idx])
    rel = np.zeros((len(frames), e.shape[1]))
    rel[idx] = e - e.mean(axis=1, keepdims=True)
    d = rel[pairs + 1] - rel[pairs]
    return float(np.mean(np.sqrt(np.mean(d * d, axis=1))))


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
    # its peaks must stand over this percentile of the piece's contour (the full-band
    # count's is the median); lower keeps more weak syllables of dense speech, but the
    # shipped pace model is fitted at 50 (see docs/bench.md, 2026-12-03 e)
    vowel_floor_pct: float = number(50.0, 0.0, 100.0, "%")

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
                  max(1, round(params.min_gap_s / frame_s)), params.vowel_floor_pct)


def _peaks(c: np.ndarray, voiced: np.ndarray, min_dip: float, below_max: float,
           min_gap: int, floor_pct: float = 50.0) -> int:
    """Voiced peaks of contour `c` over its `floor_pct` percentile (and within
    `below_max` of its top) rising `min_dip` over the dip since the last counted one,
    `min_gap` steps apart."""
    cs = ordered(c)
    low = median(cs) if floor_pct == 50.0 else percentile(cs, floor_pct)
    floor = max(low, float(c.max()) - below_max)
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
        sts = ordered(st)
        # the power of a numpy float, as np.median's result was
        pitch = float(100.0 * 2 ** (np.float64(median(sts)) / 12.0))
        spread = percentile(sts, 90) - percentile(sts, 10)
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
