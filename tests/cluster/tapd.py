"""Tap processes for the cluster tests: `python -m assist run` with a SIP listener
behind the proxy, each with its own data folder and store."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.sip.sipkit import RTP_BLOCK

ROOT = Path(__file__).resolve().parents[2]
SBC = "127.0.0.7"  # the SBC's address: the only one the trunk allows
SBC_AUTH = "127.0.0.5"  # an SBC that must prove a shared secret
STRANGER = "127.0.0.9"  # allowed by no trunk
AGENT_AOR = r"^sip:(?P<agent>[a-z]\d+)@"

TRUNKS = f"""
[[trunks]]
name = "sbc"
sources = ["{SBC}"]
agent_aor = '{AGENT_AOR}'

[[trunks]]
name = "sbc-auth"
sources = ["{SBC_AUTH}"]
agent_aor = '{AGENT_AOR}'
username = "sbc-east"
password = "Circle Of Life"
realm = "tap.example"
"""


def stop_process(proc: subprocess.Popen[str] | None) -> None:
    """SIGTERM, so the process ends its calls; SIGKILL if it has not gone in 30 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class TapProcess:
    def __init__(self, name: str, workdir: Path, sip_port: int, rtp_port: int,
                 secret: Path, proxy: str, extra: str = "",
                 rtp_ports: int = RTP_BLOCK) -> None:  # fmt: skip
        self.name, self.port = name, sip_port
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "assist.toml"
        self.config.write_text(f"""data_dir = "{self.dir / 'data'}"
[auth]
secret_file = "{secret}"
[prompts]
enabled = false
[sip]
host = "127.0.0.1"
udp_port = {sip_port}
tcp_port = 0
rtp_port = {rtp_port}
rtp_port_range = {rtp_ports}
[cluster]
name = "{name}"
proxies = ["{proxy}"]
{extra}
{TRUNKS}""", encoding="utf-8")
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.starts += 1
        log = open(self.dir / f"run{self.starts}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "assist", "--config",
                                      str(self.config), "run", "--port", "0", "--no-demo"],
                                     cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=log)
        log.close()
        ready = threading.Event()
        proc = self.proc

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line)
                if "waiting for calls" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.stderr()[-3000:]}")

    def stderr(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("run*.log")))

    def kill(self) -> None:
        """kill -9: no chance to end its calls or close its store."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc)

    # --- what the tap kept ----------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.dir / "data" / "assist.sqlite3", timeout=10)

    def calls(self) -> dict[str, dict[str, Any]]:
        """agent -> the stored call (the tests give every call its own agent)."""
        if not (self.dir / "data" / "assist.sqlite3").exists():
            return {}
        with self._db() as db:
            rows = db.execute("SELECT call_id, agent, reason FROM calls").fetchall()
        return {agent: {"call_id": cid, "reason": reason, "tap": self.name}
                for cid, agent, reason in rows}  # fmt: skip

    def events(self, call_id: str) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT body FROM events WHERE call_id = ? ORDER BY seq",
                              (call_id,)).fetchall()  # fmt: skip
        return [json.loads(body) for (body,) in rows]
