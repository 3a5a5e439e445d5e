"""Synthetic audio for recogniser tests: espeak-ng speech, silence, frames."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from assist.events import Party
from assist.frames import Frame, samples_per_frame

ESPEAK = shutil.which("espeak-ng")


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Band-limited resampling through the spectrum (exact for whole clips)."""
    if src == dst:
        return x
    n = int(round(len(x) * dst / src))
    spec = np.fft.rfft(x.astype(np.float64))
    keep = n // 2 + 1
    spec = spec[:keep] if len(spec) >= keep else np.pad(spec, (0, keep - len(spec)))
    y = np.fft.irfft(spec, n) * (n / len(x))
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def speak(text: str, rate: int, voice: str = "ko", wpm: int = 150) -> np.ndarray:
    """`text` spoken by espeak-ng as int16 PCM at `rate`, edges trimmed."""
    if ESPEAK is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = subprocess.run(
        [ESPEAK, "-v", voice, "-s", str(wpm), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(out)) as w:
        src = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    pcm = resample(pcm, src, rate)
    voiced = np.flatnonzero(np.abs(pcm) > 300)
    return pcm[voiced[0] : voiced[-1] + 1] if len(voiced) else pcm


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(round(seconds * rate)), dtype=np.int16)


def frames(pcm: np.ndarray, rate: int, party: Party = "customer", t0: float = 0.0) -> list[Frame]:
    """Cut into 20 ms frames stamped with call time from the sample count."""
    n = samples_per_frame(rate)
    pad = (-len(pcm)) % n
    pcm = np.concatenate([pcm, np.zeros(pad, dtype=np.int16)])
    return [Frame(party, pcm[i : i + n].copy(), rate, t0 + i / rate) for i in range(0, len(pcm), n)]


def talking_mask(fs: list[Frame], spans: list[tuple[float, float]]) -> list[bool]:
    """True for frames overlapping any (start, end) call-time span."""
    return [any(f.t < e and f.t + f.duration > s for s, e in spans) for f in fs]
