"""Reading a call recording for replay: stereo 16-bit PCM WAV, left customer, right agent."""

from __future__ import annotations

import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assist.errors import UserError
from assist.frames import SUPPORTED_RATES, samples_per_frame

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    rate: int
    customer: np.ndarray  # int16
    agent: np.ndarray  # int16

    @property
    def duration(self) -> float:
        return len(self.customer) / self.rate

    def frames(self) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
        """(call time, customer pcm, agent pcm) per 20 ms; a short tail is zero-padded."""
        n = samples_per_frame(self.rate)
        total = len(self.customer)
        for start in range(0, total, n):
            c = self.customer[start : start + n]
            a = self.agent[start : start + n]
            if len(c) < n:
                c = np.pad(c, (0, n - len(c)))
                a = np.pad(a, (0, n - len(a)))
            yield start / self.rate, c, a


def _format_tag(path: Path) -> int | None:
    """The WAVE format tag from the fmt chunk, or None if there is none to read."""
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"fmt ":
                body = f.read(min(size, 40))
                if len(body) < 2:
                    return None
                tag = int.from_bytes(body[:2], "little")
                if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                    tag = int.from_bytes(body[24:26], "little")
                return tag
            f.seek(size + (size & 1), 1)


def read_call(path: str | Path) -> Recording:
    """Read and check a stereo call recording; every problem is a UserError saying what to do."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file; give the path of a stereo WAV call recording")
    if p.is_dir():
        raise UserError(f"{p}: is a folder; give the path of a stereo WAV call recording")
    tag = _format_tag(p)
    if tag is None:
        raise UserError(f"{p}: not a WAV file (no RIFF/WAVE header); convert it with "
                        "`sox IN -b 16 -e signed OUT.wav`")
    if tag != WAVE_FORMAT_PCM:
        raise UserError(f"{p}: WAV is not plain PCM (format tag {tag:#x}); convert it with "
                        "`sox IN -b 16 -e signed OUT.wav`")
    try:
        with wave.open(str(p), "rb") as w:
            channels, width, rate, count = (
                w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
            if channels != 2:
                raise UserError(
                    f"{p}: has {channels} channel(s); replay needs stereo with the customer on "
                    "the left and the agent on the right (`sox -M customer.wav agent.wav out.wav`)")
            if width != 2:
                raise UserError(f"{p}: samples are {8 * width}-bit; replay needs 16-bit PCM "
                                "(`sox IN -b 16 OUT.wav`)")
            if rate not in SUPPORTED_RATES:
                raise UserError(f"{p}: sample rate {rate} Hz is not supported; use 8000 or 16000 "
                                "(`sox IN -r 8000 OUT.wav`)")
            raw = w.readframes(count)
    except UserError:
        raise
    except (wave.Error, EOFError, RuntimeError, ValueError, OverflowError, struct.error) as e:
        # The wave module raises more than wave.Error on torn chunk headers.
        raise UserError(f"{p}: corrupt WAV ({type(e).__name__}: {e}); re-export the recording"
                        ) from None
    usable = len(raw) // 4 * 4
    if usable < count * 4:
        # A truncated file: keep what is there, but say so rather than guessing silently.
        if usable == 0:
            raise UserError(f"{p}: WAV header promises {count} frames but holds no audio; "
                            "the file is truncated, re-export it")
    pcm = np.frombuffer(raw[:usable], dtype="<i2").reshape(-1, 2)
    if len(pcm) == 0:
        raise UserError(f"{p}: WAV holds no audio")
    return Recording(p, rate, np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1]))
