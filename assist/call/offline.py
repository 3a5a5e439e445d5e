"""Whole-recording analysis with the live pipeline: for review and for scoring detectors.

Each function runs the same PartyPipeline the live loop uses, frame by frame,
so a figure measured here is the figure a live call would get.
"""

from __future__ import annotations

import math

import numpy as np

from assist.audio.prosody import SpurtFeatures
from assist.call.pipeline import LoopParams, PartyPipeline
from assist.detectors.anger import AngerParams, arousal, make_baseline, squash
from assist.frames import samples_per_frame

TELEPHONE_RATE = 8000


def to_telephone(pcm: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """16 kHz to 8 kHz through a windowed-sinc low-pass, as a phone line would deliver it."""
    if rate == TELEPHONE_RATE:
        return pcm, rate
    if rate != 2 * TELEPHONE_RATE:
        raise ValueError(f"only 16000 Hz converts to 8000 Hz here, got {rate}")
    taps = np.sinc(np.arange(-32, 33) / 2) * np.hamming(65)
    y = np.convolve(pcm.astype(np.float64), taps / taps.sum(), mode="same")[::2]
    return np.clip(np.round(y), -32768, 32767).astype(np.int16), TELEPHONE_RATE


def spurts(pcm: np.ndarray, rate: int, params: LoopParams | None = None) -> list[SpurtFeatures]:
    """The talk spurts of one party's recording."""
    pipe = PartyPipeline("customer", rate, samples_per_frame(rate), params or LoopParams())
    n = samples_per_frame(rate)
    out: list[SpurtFeatures] = []
    for i in range(0, len(pcm) - n + 1, n):
        s = pipe.feed(i / rate, pcm[i:i + n]).spurt
        if s is not None:
            out.append(s)
    s = pipe.finish().spurt
    if s is not None:
        out.append(s)
    return out


def estimate_rate(pcm: np.ndarray, rate: int) -> float:
    """Characters (syllables) a minute over the span from first to last speech."""
    pcm, rate = to_telephone(pcm, rate)
    found = spurts(pcm, rate)
    if not found:
        return 0.0
    span = found[-1].end - found[0].start
    return 60.0 * sum(s.nuclei for s in found) / span if span > 0 else 0.0


def anger_scores(baseline: list[np.ndarray], clips: list[np.ndarray], rate: int,
                 params: AngerParams | None = None) -> list[float]:
    """Arousal score (0..1) of each clip against a speaker's calm `baseline` clips."""
    p = params or AngerParams()
    base = [s for b in baseline for s in spurts(*to_telephone(b, rate))
            if s.duration >= p.min_spurt]
    if not base:
        raise ValueError("no speech in the baseline clips")
    ref = make_baseline(base)
    out = []
    for clip in clips:
        found = [s for s in spurts(*to_telephone(clip, rate)) if s.duration >= p.min_spurt]
        if not found:
            out.append(0.0)
            continue
        z = [arousal(s, ref, p)[0] for s in found]
        w = [s.duration for s in found]
        out.append(squash(float(np.average(z, weights=w))))
    return [0.0 if math.isnan(x) else x for x in out]
