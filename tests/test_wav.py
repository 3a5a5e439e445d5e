"""Reading call recordings: what works, and one clear error for everything else."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from assist.errors import UserError
from assist.taps.wav import read_call


def _wav(path: Path, channels: int, width: int, rate: int, frames: int = 800) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * (frames * channels * width // 2))
    return path


@pytest.mark.parametrize("rate", [8000, 16000])
def test_stereo_splits_customer_left_agent_right(tmp_path: Path, rate: int) -> None:
    pcm = np.zeros((rate, 2), dtype=np.int16)
    pcm[:, 0], pcm[:, 1] = 1000, -2000
    p = tmp_path / "c.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    rec = read_call(p)
    assert rec.rate == rate and rec.duration == pytest.approx(1.0)
    assert set(rec.customer.tolist()) == {1000} and set(rec.agent.tolist()) == {-2000}
    frames = list(rec.frames())
    assert len(frames) == 50
    assert [t for t, _, _ in frames[:3]] == [0.0, 0.02, 0.04]  # call time from sample counts
    assert all(len(c) == rate // 50 for _, c, _ in frames)


def test_short_tail_is_zero_padded(tmp_path: Path) -> None:
    rec = read_call(_wav(tmp_path / "c.wav", 2, 2, 8000, frames=8000 + 40))
    frames = list(rec.frames())
    assert len(frames) == 51 and len(frames[-1][1]) == 160
    assert frames[-1][1][40:].tolist() == [0] * 120


@pytest.mark.parametrize("make, expect", [
    (lambda p: _wav(p, 1, 2, 8000), "has 1 channel(s)"),
    (lambda p: _wav(p, 2, 1, 8000), "8-bit"),
    (lambda p: _wav(p, 2, 2, 44100), "44100 Hz is not supported"),
    (lambda p: p.write_bytes(b"not a wav at all") and p, "not a WAV file"),
    (lambda p: p, "no such file"),
])
def test_bad_files_say_what_is_wrong(tmp_path: Path, make, expect: str) -> None:
    p = tmp_path / "bad.wav"
    make(p)
    with pytest.raises(UserError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        read_call(p)


def test_non_pcm_wav_is_refused(tmp_path: Path) -> None:
    p = _wav(tmp_path / "c.wav", 2, 2, 8000)
    raw = bytearray(p.read_bytes())
    raw[20:22] = (3).to_bytes(2, "little")  # IEEE float tag
    p.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="not plain PCM"):
        read_call(p)


def test_truncated_file_keeps_what_is_there(tmp_path: Path) -> None:
    p = _wav(tmp_path / "c.wav", 2, 2, 8000, frames=8000)
    p.write_bytes(p.read_bytes()[: 44 + 4 * 4000 + 2])  # half the audio and a torn sample
    rec = read_call(p)
    assert len(rec.customer) == 4000


def test_header_only_file_is_refused(tmp_path: Path) -> None:
    p = _wav(tmp_path / "c.wav", 2, 2, 8000, frames=8000)
    p.write_bytes(p.read_bytes()[:44])
    with pytest.raises(UserError, match="truncated|no audio"):
        read_call(p)
