"""The whole chain for the cluster tests, as plain processes on loopback.

Kamailio -> tap processes (role tap) -> the machine's analysis process -> Redis
-> gateways (panels) and the writer (PostgreSQL).  Every process is `python -m
assist --config FILE run` with its own file, exactly as the systemd units in
docs/operations.md start them; `RoleProcess` starts one, waits for it to be
ready (a banner line on stdout, or its socket answering) and kills it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from assist.cluster.check import probe_unix
from assist.panel.auth import issue_token
from tests.cluster.tapd import stop_process

ROOT = Path(__file__).resolve().parents[2]


class RoleProcess:
    """One `python -m assist run` process; `ready(self)` says when it is up."""

    def __init__(self, name: str, folder: Path, config: str,
                 ready: Callable[[RoleProcess], bool], args: tuple[str, ...] = ()) -> None:
        self.name, self.ready, self.args = name, ready, args
        self.dir = folder / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "assist.toml"
        self.config.write_text(config, encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def out_path(self) -> Path:
        return self.dir / f"out{self.starts}.log"

    def start(self, timeout: float = 120.0) -> RoleProcess:
        self.starts += 1
        err_path = self.dir / f"err{self.starts}.log"
        with self.out_path.open("wb") as out, err_path.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "assist", "--config",
                                          str(self.config), "run", *self.args],
                                         cwd=ROOT, stdout=out, stderr=err)  # fmt: skip
        end = time.monotonic() + timeout
        while not self.ready(self):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n"
                                   f"{self.log()[-3000:]}")
            if time.monotonic() > end:
                raise RuntimeError(f"{self.name} was not ready in {timeout:.0f} s:\n"
                                   f"{self.log()[-3000:]}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("err*.log")))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no chance to end its calls or say goodbye to anyone."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc)


def says(text: str) -> Callable[[RoleProcess], bool]:
    """Ready once this process's stdout holds `text`."""
    return lambda p: text in p.output()


def socket_answers(path: Path) -> Callable[[RoleProcess], bool]:
    return lambda p: probe_unix(path) is None


def writer(folder: Path, redis_url: str, postgres_url: str, name: str = "writer1") -> RoleProcess:
    return RoleProcess(name, folder, f"""data_dir = "{folder / name / 'data'}"
[prompts]
enabled = false
[cluster]
role = "writer"
name = "{name}"
redis_url = "{redis_url}"
postgres_url = "{postgres_url}"
""", says(f"assist writer {name}"))


def analysis(folder: Path, redis_url: str, socket_path: Path, name: str = "analysis1",
             extra: str = "") -> RoleProcess:
    return RoleProcess(name, folder, f"""data_dir = "{folder / name / 'data'}"
{extra}
[prompts]
enabled = false
[asr]
enabled = false
[cluster]
role = "analysis"
name = "{name}"
redis_url = "{redis_url}"
analysis_socket = "{socket_path}"
""", socket_answers(socket_path))


# --- panels -------------------------------------------------------------------------
class PanelReader:
    """A real websocket panel (hello with a token) whose messages a thread collects."""

    def __init__(self, ws_url: str, token: str, label: str = "") -> None:
        self.label = label
        self.ws = connect(ws_url, open_timeout=30, max_size=None).__enter__()
        self.ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))
        self.messages: list[dict[str, Any]] = []
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                with self._lock:
                    self.messages.append(json.loads(raw))
        except (ConnectionClosed, OSError):
            pass
        finally:
            self.closed.set()

    def events(self, call_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            evs = [m["event"] for m in self.messages if m.get("type") == "event"]
        return [e for e in evs if call_id is None or e["call_id"] == call_id]

    def calls(self) -> dict[str, list[dict[str, Any]]]:
        """call id -> its events in the order they came."""
        out: dict[str, list[dict[str, Any]]] = {}
        for e in self.events():
            out.setdefault(e["call_id"], []).append(e)
        return out

    def close(self) -> None:
        try:
            self.ws.close()
        except (ConnectionClosed, OSError):
            pass
        self._thread.join(5)


def agent_token(secret: bytes, agent: str, ttl: float = 3600) -> str:
    return issue_token(secret, role="agent", agent=agent, ttl=ttl, now=time.time())


# --- what PostgreSQL holds ----------------------------------------------------------
def pg_calls(url: str) -> dict[str, dict[str, Any]]:
    """agent -> its stored call (the tests give every call its own agent)."""
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute("SELECT call_id, agent, reason, source FROM calls").fetchall()
    return {agent: {"call_id": cid, "reason": reason, "source": source}
            for cid, agent, reason, source in rows}  # fmt: skip


def pg_events(url: str, call_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute("SELECT body FROM events WHERE call_id = %s ORDER BY seq",
                          (call_id,)).fetchall()  # fmt: skip
    return [json.loads(body) for (body,) in rows]


def pg_seq_counts(url: str, call_ids: list[str]) -> dict[str, list[tuple[int, int]]]:
    """call id -> [(seq, how many rows have it)], in seq order."""
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute("SELECT call_id, seq, count(*) FROM events WHERE call_id = ANY(%s) "
                          "GROUP BY call_id, seq ORDER BY call_id, seq",
                          (call_ids,)).fetchall()  # fmt: skip
    out: dict[str, list[tuple[int, int]]] = {c: [] for c in call_ids}
    for cid, seq, n in rows:
        out[cid].append((seq, n))
    return out
