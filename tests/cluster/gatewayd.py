"""Real gateway processes and real websocket panels for the cluster tests.

`Gateway(tmp_path, redis_url, "gw1").start()` runs `python -m assist run` with
`[cluster] role = "gateway"` on a free port; gateways made with the same
`data_dir` share the panel secret (`secret()` creates it first, so two
gateways starting together cannot each make their own).  `Panel` is a
websocket client that says hello and collects what the gateway sends.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from assist.panel.auth import issue_token, load_or_create_secret

ROOT = Path(__file__).resolve().parents[2]
BANNER = re.compile(r"assist gateway \S+ on (http://[\d.]+:\d+/)")


class Gateway:
    def __init__(self, folder: Path, redis_url: str, name: str, *, data_dir: Path | None = None,
                 extra: str = "", cluster: str = "") -> None:
        self.folder = folder
        self.name = name
        self.data_dir = data_dir or folder / "data"
        self.config = folder / f"{name}.toml"
        self.config.write_text(
            f'data_dir = "{self.data_dir}"\n{extra}\n[cluster]\nrole = "gateway"\n'
            f'name = "{name}"\nredis_url = "{redis_url}"\n{cluster}\n', encoding="utf-8")
        self.out = folder / f"{name}.out"
        self.err = folder / f"{name}.err"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0  # kept across restarts, so panels reconnect to the same address

    def secret(self) -> bytes:
        return load_or_create_secret(self.data_dir / "panel-secret")

    def token(self, role: str = "agent", agent: str | None = "1001", ttl: float = 600) -> str:
        return issue_token(self.secret(), role=role, agent=agent if role == "agent" else None,
                           ttl=ttl, now=time.time())  # type: ignore[arg-type]

    def start(self, timeout: float = 120.0) -> Gateway:
        self.secret()
        seen = self.out.stat().st_size if self.out.exists() else 0
        with self.out.open("ab") as out, self.err.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "assist", "--config", str(self.config), "run",
                 "--port", str(self.port)], cwd=ROOT, stdout=out, stderr=err)
        end = time.monotonic() + timeout
        while True:
            found = BANNER.search(self.out.read_bytes()[seen:].decode(errors="replace"))
            if found:
                self.url = found[1]
                self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway {self.name} exited ({self.proc.returncode}): "
                                   f"{self.log()[-2000:]}")
            if time.monotonic() > end:
                raise RuntimeError(f"gateway {self.name} did not start: {self.log()[-2000:]}")
            time.sleep(0.05)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "ws"

    def log(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""

    def banner(self) -> str:
        return self.out.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        code, self.proc = self.proc.returncode, None
        return code


class Panel:
    """One websocket panel: hello (with resume), then everything the gateway sends."""

    def __init__(self, gw: Gateway, token: str, *, resume: dict[str, int] | None = None,
                 open_calls: list[str] | None = None) -> None:
        self.ws: ClientConnection = connect(gw.ws_url, open_timeout=30).__enter__()
        hello: dict[str, Any] = {"type": "hello", "v": 1, "token": token}
        if resume:
            hello["resume"] = resume
        if open_calls:
            hello["open"] = open_calls
        self.ws.send(json.dumps(hello))
        self.messages: list[dict[str, Any]] = []
        self.welcome = self.next(30)
        assert self.welcome["type"] == "welcome", self.welcome

    def next(self, timeout: float) -> dict[str, Any]:
        msg = json.loads(self.ws.recv(timeout=timeout))
        self.messages.append(msg)
        return msg

    def send(self, msg: dict[str, Any]) -> None:
        self.ws.send(json.dumps(msg))

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m["event"] for m in self.messages if m["type"] == "event"]

    def seqs(self, call_id: str) -> list[int]:
        return [e["seq"] for e in self.events if e["call_id"] == call_id]

    def until(self, check: Any, timeout: float = 60.0, what: str = "a message") -> Any:
        """Read until `check(self)` is true; AssertionError after `timeout` seconds."""
        end = time.monotonic() + timeout
        while not (got := check(self)):
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; got {self.messages[-5:]}")
            try:
                self.next(left)
            except TimeoutError:
                continue
        return got

    def until_event(self, call_id: str, seq: int, timeout: float = 60.0) -> None:
        self.until(lambda p: seq in p.seqs(call_id), timeout, f"{call_id} seq {seq}")

    def reply(self, ref: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.until(lambda p: next((m for m in p.messages if m.get("ref") == ref), None),
                          timeout, f"the reply to {ref}")

    def close(self) -> None:
        try:
            self.ws.close()
        except ConnectionClosed:
            pass
