"""A real redis-server for the cluster tests: loopback, a free port, a tmp folder, no disk.

Use it with `from tests.cluster import redisd`, `redis_server = redisd.redis_server`
at module level and a `redis_server` argument; the fixture gives a `RedisD` that the test may stop,
kill and start again on the same port (what a Redis restart looks like to clients;
with `--save ""` and no AOF it comes back empty).  Tests skip, saying why, when
redis-server is not installed (`make system` installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisD:
    def __init__(self, folder: Path, port: int | None = None) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed")
        self.folder = folder
        self.port = port or free_tcp_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisD:
        self.folder.mkdir(parents=True, exist_ok=True)
        cmd = [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", str(self.folder),
               "--daemonize", "no", "--logfile", str(self.log), "--protected-mode", "yes"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while not self.ping():
            if self.proc.poll() is not None:
                text = self.log.read_text(errors="replace") if self.log.exists() else ""
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}): {text[-500:]}")
            if time.monotonic() > end:
                raise RuntimeError(f"redis-server on port {self.port} did not answer")
            time.sleep(0.02)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate and wait (the port is free again when this returns)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisD]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian package redis-server; "
                    "`make system` installs it)")
    server = RedisD(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()
