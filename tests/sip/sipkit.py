"""Helpers for the SIP tests: a recording call sink, sipp runs, audio checks."""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assist.frames import Frame
from tests.sip.rtp import dominant_hz, tone, write_pcap

SCENARIOS = Path(__file__).parent / "scenarios"

TRUNKS = """\
[[trunks]]
name = "sbc"
sources = ["127.0.0.1"]
language = "zh-CN"
agent_aor = '^sip:(?P<agent>8\\d{3})@'

[[trunks]]
name = "sbc-nometa"
sources = ["127.0.0.3/32"]
agent_aor = '^sip:(?P<agent>8\\d{3})@'
order = ["customer", "agent"]

[[trunks]]
name = "sbc-auth"
sources = ["127.0.0.5"]
agent_aor = '^sip:(?P<agent>8\\d{3})@'
username = "sbc-east"
password = "Circle Of Life"
realm = "tap.example"

[[trunks]]
name = "vendors"
sources = ["127.0.0.6"]
agent_aor = '^sip:(?:Extension-)?(?P<agent>\\d{4})@'
order = ["customer", "agent"]

[[trunks]]
name = "pbx"
mode = "forked"
sources = ["127.0.0.4"]
language = "en-US"
pair_timeout = 2.0
"""


@dataclass
class Call:
    call_id: str
    agent: str | None
    rate: int
    language: str | None
    source: str
    meta: dict[str, Any]
    started_seq: int
    frames: dict[str, list[Frame]] = field(default_factory=lambda: defaultdict(list))
    ended: str | None = None
    ended_seq: int | None = None
    last_frame_seq: int = -1
    health: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)

    def pcm(self, party: str) -> np.ndarray:
        frames = self.frames.get(party, [])
        return np.concatenate([f.pcm for f in frames]) if frames else np.zeros(0, np.int16)


class RecordingSink:
    """A CallSink that keeps everything; it also checks it is only called on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.calls: dict[str, Call] = {}
        self.order: list[str] = []
        self.errors: list[str] = []
        self._seq = itertools.count()

    def _check_loop(self, what: str) -> None:
        try:
            if asyncio.get_running_loop() is not self.loop:
                self.errors.append(f"{what} on a foreign loop")
        except RuntimeError:
            self.errors.append(f"{what} off the event loop")

    def start_call(self, call_id, *, agent, rate, language=None, source="replay", meta=None):
        self._check_loop("start_call")
        if call_id in self.calls:
            self.errors.append(f"start_call twice for {call_id}")
        self.calls[call_id] = Call(call_id, agent, rate, language, source, meta or {},
                                   next(self._seq))  # fmt: skip
        self.order.append(call_id)

    def feed(self, call_id, frame):
        self._check_loop("feed")
        call = self.calls.get(call_id)
        if call is None or call.ended is not None:
            self.errors.append(f"frame for a call not running: {call_id}")
            return
        call.frames[frame.party].append(frame)
        call.last_frame_seq = next(self._seq)

    def audio_health(self, call_id, party, evidence):
        self._check_loop("audio_health")
        call = self.calls.get(call_id)
        if call is None:
            self.errors.append(f"audio report for a call never started: {call_id}")
            return
        call.health.append((party, evidence))

    def end_call(self, call_id, reason="hangup"):
        self._check_loop("end_call")
        call = self.calls.get(call_id)
        if call is None or call.ended is not None:
            self.errors.append(f"end_call for a call not running: {call_id}")
            return
        call.ended = reason
        call.ended_seq = next(self._seq)

    def new_calls(self, since: int) -> list[Call]:
        return [self.calls[c] for c in self.order[since:]]


def free_port(kind: int = socket.SOCK_DGRAM, even: bool = False) -> int:
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not even or port % 2 == 0:
            return port


# Each tap under test takes its RTP ports from its own block below the kernel's ephemeral
# ports (32768 up on Linux), so no socket opened meanwhile (sipp's, a client's) and no
# other tap can take one: sipp sends the second stream to the first one's port + 2, so
# a tap that had to skip a taken port would answer a call whose second party is silent.
RTP_BLOCK = 100  # ports: [sip] rtp_port_range of every tap under test
_BLOCKS = (32768 - 10000) // RTP_BLOCK  # blocks from port 10000 up, all below 32768
_next_block = itertools.count(int(time.time() * 1000) % 200)  # runs side by side differ


def rtp_block() -> int:
    """The first of RTP_BLOCK free UDP ports no other tap in this run was given."""
    for _ in range(_BLOCKS):
        base = 10000 + next(_next_block) % _BLOCKS * RTP_BLOCK
        if udp_free(base, RTP_BLOCK):
            return base
    raise RuntimeError("no free block of RTP ports below 32768")


def media_port() -> int:
    """A base for sipp's -mp: sipp binds it and the next three (audio RTP and RTCP, video
    RTP and RTCP) and exits if any is taken, so all four must be free, on any address."""
    while True:
        base = free_port(even=True)
        if udp_free(base, 4):
            return base


def udp_free(base: int, count: int) -> bool:
    """Whether UDP ports base .. base + count - 1 are all free, on any address."""
    socks: list[socket.socket] = []
    try:
        for port in range(base, base + count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind(("0.0.0.0", port))
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
    return True


def wait_until(pred, timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


@dataclass
class Tap:
    server: Any
    sink: RecordingSink
    port: int
    rtp_port: int
    loop: asyncio.AbstractEventLoop

    def idle(self, timeout: float = 10.0) -> bool:
        return wait_until(lambda: not self.server._calls, timeout)


def run_sipp(tap: Tap, scenario: str, workdir: Path, *, ip: str = "127.0.0.1",
             calls: int = 1, duration_ms: int = 2500, transport: str = "u1",
             keys: dict[str, str] | None = None, extra: list[str] | None = None,
             background: bool = False, timeout: float = 30.0):  # fmt: skip
    """Run sipp as the SBC/PBX.  The message log is kept in workdir/messages.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "audio.pcap").exists():  # sipp loads it even for calls it refuses
        write_pcap(workdir / "audio.pcap", [(0, np.zeros(1600, np.int16))])
    keys = {"pad": "<!-- -->", **(keys or {})}
    cmd = ["sipp", "-sf", str(SCENARIOS / scenario), "-m", str(calls), "-l", str(calls),
           "-r", "50", "-i", ip, "-p", str(free_port()), "-mp", str(media_port()),
           "-d", str(duration_ms), "-t", transport, "-nostdin", "-timeout", f"{int(timeout)}s",
           "-timeout_error", "-trace_msg", "-message_file", str(workdir / "messages.log"),
           "-trace_err", "-error_file", str(workdir / "errors.log")]  # fmt: skip
    for k, v in keys.items():
        cmd += ["-key", k, v]
    cmd += (extra or []) + [f"127.0.0.1:{tap.port}"]
    # sipp quotes datagrams it could not parse (e.g. RTCP that pjmedia sends to the RTP
    # source port + 1, which may be sipp's SIP port) on stderr, raw bytes and all.
    if background:
        return subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, errors="replace")  # fmt: skip
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, errors="replace",
                          timeout=timeout + 10)  # fmt: skip


def statuses(workdir: Path) -> list[str]:
    """Status lines sipp received, e.g. ['SIP/2.0 100 Trying', 'SIP/2.0 403 Forbidden']."""
    log = workdir / "messages.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [ln.strip() for ln in text.splitlines() if ln.startswith("SIP/2.0 ")]


def answered(workdir: Path) -> list[str]:
    """The CSeq of each request sipp got a 200 for, once each: a 200 that pjsip sent
    again because sipp's ACK was slow (a busy machine) is the same answer."""
    lines = (workdir / "messages.log").read_text(errors="replace").splitlines()
    seen: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("SIP/2.0 200 "):
            cseq = next((ln.split(":", 1)[1].strip() for ln in lines[i + 1 : i + 40]
                         if ln.lower().startswith("cseq:")), "")  # fmt: skip
            if cseq not in seen:
                seen.append(cseq)
    return seen


def warning_of(workdir: Path, status: int) -> str | None:
    text = (workdir / "messages.log").read_text(errors="replace")
    block = text.split(f"SIP/2.0 {status} ", 1)
    if len(block) < 2:
        return None
    for line in block[1].splitlines()[:30]:
        if line.lower().startswith("warning:"):
            return line.split(":", 1)[1].strip()
    return None


CUSTOMER_HZ, AGENT_HZ = 440.0, 1000.0


def two_tone_pcap(workdir, seconds=2.0):
    workdir.mkdir(parents=True, exist_ok=True)
    flows = [(0, tone(CUSTOMER_HZ, seconds)), (2, tone(AGENT_HZ, seconds))]
    write_pcap(workdir / "audio.pcap", flows)


def assert_party_audio(call, party, hz, min_frames=80):
    frames = call.frames[party]
    assert len(frames) >= min_frames, f"{party}: only {len(frames)} frames"
    # t counts this party's samples on the 20 ms grid with no gap or repeat, from where
    # its audio began in the call: 0, or a little later where another party's audio
    # came first (kept from before the call started: sip/media.py)
    ts = np.array([f.t for f in frames])
    assert 0.0 <= ts[0] < 0.5 and round(ts[0] * 50, 6).is_integer(), ts[0]
    assert np.allclose(np.diff(ts), 0.02)
    assert all(f.rate == 8000 and len(f.pcm) == 160 and f.party == party for f in frames)
    arrivals = [f.arrival for f in frames]
    assert arrivals == sorted(arrivals) and arrivals[0] > 0
    loud = [f.pcm for f in frames if np.abs(f.pcm).max() > 4000]
    assert len(loud) >= min_frames * 0.8, f"{party}: {len(loud)} frames carry the tone"
    assert dominant_hz(np.concatenate(loud)) == pytest.approx(hz, abs=10)


def assert_ended_in_order(call, reason="hangup"):
    assert call.ended == reason
    assert call.started_seq < call.last_frame_seq < call.ended_seq
