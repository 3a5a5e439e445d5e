"""One pjsua2 endpoint for the whole SIP test session (it can exist once per process),
driven by real sipp processes playing SBCs and PBXs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assist.frames import Frame

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


@pytest.fixture(scope="session")
def tap():
    if shutil.which("sipp") is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    from sip.server import SipServer, SipSettings
    from sip.trunks import parse_trunks

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="loop", daemon=True)
    thread.start()
    sink = RecordingSink(loop)
    port = free_port()
    rtp_port = 30000 + (port % 1000) * 20
    settings = SipSettings(host="0.0.0.0", udp_port=port, tcp_port=port, rtp_port=rtp_port,
                           answer_delay=0.2)  # fmt: skip
    server = SipServer(parse_trunks(TRUNKS, "tests"), loop, sink, settings)
    server.start()
    yield Tap(server, sink, port, rtp_port, loop)
    server.stop()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    assert not sink.errors, sink.errors


def run_sipp(tap: Tap, scenario: str, workdir: Path, *, ip: str = "127.0.0.1",
             calls: int = 1, duration_ms: int = 2500, transport: str = "u1",
             keys: dict[str, str] | None = None, extra: list[str] | None = None,
             background: bool = False, timeout: float = 30.0):  # fmt: skip
    """Run sipp as the SBC/PBX.  The message log is kept in workdir/messages.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "audio.pcap").exists():  # sipp loads it even for calls it refuses
        from tests.sip.rtp import write_pcap

        write_pcap(workdir / "audio.pcap", [(0, np.zeros(1600, np.int16))])
    keys = {"pad": "<!-- -->", **(keys or {})}
    cmd = ["sipp", "-sf", str(SCENARIOS / scenario), "-m", str(calls), "-l", str(calls),
           "-r", "50", "-i", ip, "-p", str(free_port()), "-mp", str(free_port(even=True)),
           "-d", str(duration_ms), "-t", transport, "-nostdin", "-timeout", f"{int(timeout)}s",
           "-timeout_error", "-trace_msg", "-message_file", str(workdir / "messages.log"),
           "-trace_err", "-error_file", str(workdir / "errors.log")]  # fmt: skip
    for k, v in keys.items():
        cmd += ["-key", k, v]
    cmd += (extra or []) + [f"127.0.0.1:{tap.port}"]
    if background:
        return subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout + 10)


def statuses(workdir: Path) -> list[str]:
    """Status lines sipp received, e.g. ['SIP/2.0 100 Trying', 'SIP/2.0 403 Forbidden']."""
    log = workdir / "messages.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [ln.strip() for ln in text.splitlines() if ln.startswith("SIP/2.0 ")]


def warning_of(workdir: Path, status: int) -> str | None:
    text = (workdir / "messages.log").read_text(errors="replace")
    block = text.split(f"SIP/2.0 {status} ", 1)
    if len(block) < 2:
        return None
    for line in block[1].splitlines()[:30]:
        if line.lower().startswith("warning:"):
            return line.split(":", 1)[1].strip()
    return None


@pytest.fixture(autouse=True)
def _quiet_pjsip_logs(caplog):
    caplog.set_level(logging.INFO, logger="assist.sip")
