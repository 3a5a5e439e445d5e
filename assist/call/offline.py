"""Whole-recording analysis with the live pipeline: for review and for scoring detectors.

Each function runs the same PartyPipeline the live loop uses, frame by frame,
so a figure measured here is the figure a live call would get.
"""

from __future__ import annotations

import numpy as np

from assist.audio.prosody import SpurtFeatures
from assist.call.pipeline import LoopParams, PartyPipeline
from assist.detectors.pace_model import load_model
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


def chunks(pcm: np.ndarray, rate: int, params: LoopParams | None = None) -> list[SpurtFeatures]:
    """The pieces of talk the live loop scores for anger and pace: every 2 s while
    talking, and each spurt's tail."""
    pipe = PartyPipeline("customer", rate, samples_per_frame(rate), params or LoopParams())
    n = samples_per_frame(rate)
    out: list[SpurtFeatures] = []
    for i in range(0, len(pcm) - n + 1, n):
        out += pipe.feed(i / rate, pcm[i:i + n]).chunks
    return out + pipe.finish().chunks


def estimate_rate(pcm: np.ndarray, rate: int) -> float:
    """Characters (syllables) a minute over the span from first to last speech."""
    pcm, rate = to_telephone(pcm, rate)
    found = spurts(pcm, rate)
    if not found:
        return 0.0
    span = found[-1].end - found[0].start
    if span <= 0:
        return 0.0
    return load_model().cpm(60.0 * sum(s.vowel_nuclei for s in found) / span)
