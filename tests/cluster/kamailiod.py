"""A real Kamailio for the tests: config rendered by `assist cluster kamailio-cfg`,
run as a plain foreground process in a temporary folder (no systemd)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.sip.sipkit import free_port

ROOT = Path(__file__).resolve().parents[2]
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"


def have_kamailio() -> bool:
    return Path(KAMAILIO).exists()


def options_ok(host: str, port: int, timeout: float = 0.5) -> bool:
    """Does a SIP OPTIONS to host:port get 200 back?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        me = s.getsockname()
        branch = uuid.uuid4().hex
        msg = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bK{branch}\r\n"
               f"From: <sip:probe@{me[0]}>;tag={branch[:8]}\r\nTo: <sip:{host}:{port}>\r\n"
               f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), (host, port))
        try:
            data = s.recv(4096)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200")


class Kamailio:
    """`python -m assist --config CONFIG cluster kamailio-cfg`, then kamailio -DD -E."""

    def __init__(self, config: Path, workdir: Path, host: str, port: int) -> None:
        self.config, self.dir, self.host, self.port = config, workdir, host, port
        self.log_path = workdir / "kamailio.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def in_front_of(cls, workdir: Path, taps: list[str], tap_calls: int) -> Kamailio:
        """Kamailio on a free loopback port for these taps ("IP:PORT"), probing every
        second so a dead tap is noticed quickly."""
        port = free_port()
        config = workdir / "kamailio.toml"
        config.write_text(f"""[kamailio]
host = "127.0.0.1"
port = {port}
tcp = false
taps = [{", ".join(f'"{t}"' for t in taps)}]
tap_calls = {tap_calls}
probe_interval = 1
tap_timeout = 2.0
children = 2
""", encoding="utf-8")
        return cls(config, workdir / "kamailio", "127.0.0.1", port)

    def start(self, timeout: float = 20.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "assist", "--config", str(self.config), "cluster",
                        "kamailio-cfg", "--out", str(self.dir)], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        log = open(self.log_path, "wb")  # noqa: SIM115 (kept open for the process)
        self.proc = subprocess.Popen(
            [KAMAILIO, "-f", str(self.dir / "kamailio.cfg"), "-DD", "-E", "-w", str(self.dir),
             "-P", str(self.dir / "kamailio.pid"), "-m", "64", "-M", "8"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited {self.proc.returncode}:\n{self.log()}")
            if options_ok(self.host, self.port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"kamailio did not answer OPTIONS:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def lines(self, needle: str) -> list[str]:
        return [ln for ln in self.log().splitlines() if needle in ln]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)  # its own session: the main process and its children
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(5)
