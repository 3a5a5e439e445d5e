"""Reading call recordings: what works, and one clear error for everything else."""

from __future__ import annotations

import logging
import shutil
import struct
import subprocess
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
    with pytest.raises(UserError, match="32-bit float, not PCM.*sox IN"):
        read_call(p)


def test_truncated_file_keeps_what_is_there_and_says_how_much_is_missing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = _wav(tmp_path / "c.wav", 2, 2, 8000, frames=8000)
    p.write_bytes(p.read_bytes()[: 44 + 4 * 4000 + 2])  # half the audio and a torn sample
    with caplog.at_level(logging.WARNING, logger="assist.taps.wav"):
        rec = read_call(p)
    assert len(rec.customer) == 4000
    assert "cut short: 0.5 s of the 1.0 s" in caplog.text


def test_whole_file_gives_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="assist.taps.wav"):
        read_call(_wav(tmp_path / "c.wav", 2, 2, 8000))
    assert caplog.text == ""


def _extensible(path: Path, pcm: np.ndarray, rate: int, sub_format: int = 1) -> Path:
    """A WAVE_FORMAT_EXTENSIBLE file, as many recorders write even for 16-bit stereo."""
    guid = sub_format.to_bytes(2, "little") + bytes.fromhex("000000001000800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 2, rate, rate * 4, 4, 16, 22, 16, 3) + guid
    data = pcm.astype("<i2").tobytes()
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_extensible_16_bit_pcm_reads_like_plain(tmp_path: Path) -> None:
    pcm = np.zeros((8000, 2), dtype=np.int16)
    pcm[:, 0], pcm[:, 1] = 123, -456
    rec = read_call(_extensible(tmp_path / "x.wav", pcm, 8000))
    assert rec.duration == pytest.approx(1.0)
    assert set(rec.customer.tolist()) == {123} and set(rec.agent.tolist()) == {-456}


def test_extensible_float_is_named(tmp_path: Path) -> None:
    p = _extensible(tmp_path / "x.wav", np.zeros((800, 2), dtype=np.int16), 8000, sub_format=3)
    with pytest.raises(UserError, match="32-bit float, not PCM"):
        read_call(p)


SOX = shutil.which("sox")


@pytest.mark.skipif(SOX is None, reason="needs sox (apt-get install sox)")
@pytest.mark.parametrize("args, expect", [
    (["-c", "2", "-r", "8000", "-b", "24"], r"24-bit; replay needs 16-bit PCM"),
    (["-c", "1", "-r", "44100", "-b", "16"], r"1 channel\(s\).*44100 Hz.*sox -M"),
    (["-c", "2", "-r", "44100", "-b", "16"], r"44100 Hz is not supported.*sox IN -c 2 -r 8000"),
    (["-c", "4", "-r", "8000", "-b", "16"], r"has 4 channel\(s\)"),
])
def test_sox_made_files_name_the_real_problem(tmp_path: Path, args: list[str],
                                              expect: str) -> None:
    p = tmp_path / "s.wav"
    subprocess.run([SOX, "-n", *args, str(p), "synth", "0.5", "sine", "440"], check=True)
    with pytest.raises(UserError, match=expect):
        read_call(p)


@pytest.mark.skipif(SOX is None, reason="needs sox (apt-get install sox)")
def test_sox_stereo_16_bit_reads(tmp_path: Path) -> None:
    # (sox itself writes the extensible header only past 16 bits or 2 channels, the
    # cases above; the hand-made files cover extensible 16-bit stereo.)
    p = tmp_path / "s.wav"
    subprocess.run([SOX, "-n", "-c", "2", "-r", "16000", "-b", "16", str(p), "synth", "1",
                    "sine", "440", "sine", "880"], check=True)
    rec = read_call(p)
    assert rec.rate == 16000 and rec.duration == pytest.approx(1.0)
    assert np.abs(rec.customer).max() > 1000 and np.abs(rec.agent).max() > 1000


def test_a_30_byte_file_says_it_is_cut_short(tmp_path: Path) -> None:
    p = _wav(tmp_path / "c.wav", 2, 2, 8000)
    p.write_bytes(p.read_bytes()[:30])
    with pytest.raises(UserError, match="header is cut short \\(30 bytes") as e:
        read_call(p)
    assert "EOFError" not in str(e.value)


def test_header_only_file_is_refused(tmp_path: Path) -> None:
    p = _wav(tmp_path / "c.wav", 2, 2, 8000, frames=8000)
    p.write_bytes(p.read_bytes()[:44])
    with pytest.raises(UserError, match="truncated|no audio"):
        read_call(p)
