"""Synthetic call audio for tests: silence, noise and speech-like syllable trains."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(round(seconds * rate)), dtype=np.float64)


def noise(seconds: float, rate: int, db: float = -60.0, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(int(round(seconds * rate))) * 10 ** (db / 20)


def syllables(seconds: float, rate: int, *, per_second: float = 4.0, pitch: float = 180.0,
              db: float = -20.0, jitter: float = 0.0, seed: int = 7) -> np.ndarray:
    """A voiced syllable train: harmonics of `pitch` (with slow intonation), shaped by
    vowel-like formants, amplitude-modulated at `per_second` syllables with short dips."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = pitch * (1 + 0.06 * np.sin(2 * np.pi * 0.7 * t) + jitter * rng.standard_normal() * 0.01)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = np.zeros(n)
    for h in range(1, int(3400 / pitch)):
        fh = h * pitch
        # Formant envelope around 500, 1500 and 2500 Hz.
        amp = sum(np.exp(-((fh - fc) / bw) ** 2) for fc, bw in ((500, 250), (1500, 400),
                                                                 (2500, 500)))
        x += (0.2 + amp) / h**0.5 * np.sin(h * phase)
    # Syllable envelope: raised-cosine bumps with deep dips between them.
    env = np.zeros(n)
    period = rate / per_second
    k = 0
    while k * period < n:
        c = int(k * period + period / 2)
        half = int(period * 0.42)
        lo, hi = max(0, c - half), min(n, c + half)
        if hi > lo:
            bump = np.hanning(2 * half)[lo - (c - half):hi - (c - half)]
            env[lo:hi] = np.maximum(env[lo:hi], bump)
        k += 1
    x *= env
    peak_rms = np.sqrt(np.mean(x[env > 0.5] ** 2)) if np.any(env > 0.5) else 1.0
    return x / peak_rms * 10 ** (db / 20)


@dataclass
class Track:
    """Builds one party's channel by placing segments at call times."""

    rate: int
    seconds: float

    def __post_init__(self) -> None:
        self.x = noise(self.seconds, self.rate, -62.0, seed=self.rate)

    def put(self, at: float, segment: np.ndarray) -> Track:
        i = int(round(at * self.rate))
        self.x[i:i + len(segment)] += segment[: max(0, len(self.x) - i)]
        return self


def pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def write_stereo(path: Path, customer: np.ndarray, agent: np.ndarray, rate: int) -> Path:
    n = max(len(customer), len(agent))
    both = np.zeros((n, 2), dtype=np.int16)
    both[: len(customer), 0] = pcm16(customer)
    both[: len(agent), 1] = pcm16(agent)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(both.tobytes())
    return path
