"""Reading a call recording for replay: stereo 16-bit PCM WAV, left customer, right agent."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assist.errors import UserError
from assist.frames import SUPPORTED_RATES, samples_per_frame

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
log = logging.getLogger("assist.taps.wav")


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


# KSDATAFORMAT_SUBTYPE_PCM: the tail of an extensible fmt chunk's sub-format GUID.
PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
CONVERT = "sox IN -c 2 -r 8000 -b 16 -e signed OUT.wav"


@dataclass(frozen=True, slots=True)
class _Layout:
    tag: int  # the real format: an extensible file's sub-format
    channels: int
    rate: int
    bits: int
    data_at: int  # file offset of the audio
    data_size: int  # bytes the header promises
    file_size: int


def _layout(p: Path) -> _Layout:
    """Walk the RIFF chunks for fmt and data; a UserError for anything unreadable."""
    size = p.stat().st_size
    with p.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise UserError(f"{p}: not a WAV file (no RIFF/WAVE header, {size} bytes); "
                            f"convert it with `{CONVERT}`")
        fmt: bytes | None = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                what = "no fmt chunk" if fmt is None else "no data chunk"
                raise UserError(f"{p}: WAV header ends early ({what}, {size} bytes): the file "
                                "is cut short or not a recording; re-export it")
            cid, csize = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if cid == b"fmt ":
                fmt = f.read(min(csize, 40))
                if len(fmt) < 16:
                    raise UserError(f"{p}: WAV header is cut short ({size} bytes, no complete "
                                    "fmt chunk): not a whole recording; re-export it")
                f.seek(csize - len(fmt) + (csize & 1), 1)
            elif cid == b"data":
                if fmt is None:
                    raise UserError(f"{p}: WAV data comes before its fmt chunk; "
                                    f"rewrite it with `{CONVERT}`")
                break
            else:
                f.seek(csize + (csize & 1), 1)
        tag, channels, rate = struct.unpack_from("<HHI", fmt)
        bits = struct.unpack_from("<H", fmt, 14)[0]
        if tag == WAVE_FORMAT_EXTENSIBLE:
            if len(fmt) < 40:
                raise UserError(f"{p}: WAV extensible fmt chunk is cut short; re-export it")
            guid = fmt[24:40]
            tag = int.from_bytes(guid[:2], "little") if guid[2:] == PCM_GUID_TAIL else -1
        return _Layout(tag, channels, rate, bits, f.tell(), csize, size)


def read_call(path: str | Path) -> Recording:
    """Read and check a stereo call recording; every problem is a UserError saying what to do.

    Plain and extensible (WAVE_FORMAT_EXTENSIBLE) 16-bit PCM both read.  A file cut
    short keeps the audio it has, with a warning saying how much is missing.
    """
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file; give the path of a stereo WAV call recording")
    if p.is_dir():
        raise UserError(f"{p}: is a folder; give the path of a stereo WAV call recording")
    lay = _layout(p)
    problems = []
    if lay.tag != WAVE_FORMAT_PCM:
        kind = {3: "32-bit float", 6: "A-law", 7: "µ-law", -1: "an unknown sub-format"}.get(
            lay.tag, f"format {lay.tag:#x}")
        problems.append(f"samples are {kind}, not PCM")
    elif lay.bits != 16:
        problems.append(f"samples are {lay.bits}-bit; replay needs 16-bit PCM")
    if lay.channels != 2:
        problems.append(f"has {lay.channels} channel(s); replay needs stereo with the customer "
                        "on the left and the agent on the right")
    if lay.rate not in SUPPORTED_RATES:
        problems.append(f"sample rate {lay.rate} Hz is not supported; use 8000 or 16000")
    if problems:
        fix = [f"`{CONVERT}`"]
        if lay.channels == 1:
            fix = ["`sox -M customer.wav agent.wav -r 8000 -b 16 -e signed out.wav` "
                   "(one mono file per party)"]
        raise UserError(f"{p}: " + "; ".join(problems) + "; convert it with " + fix[0])
    promised = lay.data_size
    if promised in (0, 0xFFFFFFFF):  # a recorder that never went back to fill it in
        promised = lay.file_size - lay.data_at
    with p.open("rb") as f:
        f.seek(lay.data_at)
        raw = f.read(promised)
    usable = len(raw) // 4 * 4
    if usable == 0:
        raise UserError(f"{p}: WAV holds no audio" + (
            f" (the header promises {promised / 4 / lay.rate:.1f} s: the file is cut "
            "short, re-export it)" if promised else ""))
    if usable < promised // 4 * 4:
        # Cut short (a copy or upload that stopped): keep what is there, and say so.
        missing = (promised - usable) / 4 / lay.rate
        log.warning("%s: the file is cut short: %.1f s of the %.1f s its header promises is "
                    "missing; replaying the first %.1f s", p, missing,
                    promised / 4 / lay.rate, usable / 4 / lay.rate)
    pcm = np.frombuffer(raw[:usable], dtype="<i2").reshape(-1, 2)
    return Recording(p, lay.rate, np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1]))
