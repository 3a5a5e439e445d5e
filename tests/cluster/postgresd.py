"""A real PostgreSQL 15 for the tests: initdb in a temporary folder, loopback, a free port.

The server runs as the `postgres` user (it refuses root), with fsync off: the
tests check what is written and that it survives the server's crash, not a power
cut.  One server per test session; each test gets a database of its own
(`pg_url`); `own_postgres` is a server for one test to stop and start.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path("/usr/lib/postgresql/15/bin")
_names = itertools.count(1)


def _as_postgres(*cmd: str) -> list[str]:
    return list(cmd) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *cmd]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Unavailable(RuntimeError):
    """PostgreSQL 15 cannot be started here (not installed, or no way to drop root)."""


@dataclass
class Postgres:
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(_as_postgres(str(BIN / "psql"), "-X", "-q", "-A", "-t",
                                          "-h", str(self.folder), "-p", str(self.port),
                                          "-d", db, "-c", sql),
                             capture_output=True, text=True, timeout=60, check=True)
        return out.stdout.strip()

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(_names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def start(self) -> None:
        # fsync off: the tests stop the server, never the machine, so what a commit wrote
        # is in the OS's cache either way.  synchronous_commit stays on: without it an
        # acknowledged commit may not have reached even that.
        opts = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off")
        subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-l",
                                    str(self.folder / "log"), "-o", opts, "-w", "-t", "120",
                                    "start"), capture_output=True, check=True, timeout=180)

    def stop(self) -> None:
        """As a crash leaves it: no shutdown checkpoint, connections cut."""
        subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m",
                                    "immediate", "-w", "stop"), capture_output=True, timeout=120)


@contextmanager
def running() -> Iterator[Postgres]:
    """A server of its own in a temporary folder, stopped and removed on exit."""
    if not (BIN / "initdb").exists():
        raise Unavailable(f"PostgreSQL 15 is not installed ({BIN}/initdb missing; make system)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise Unavailable("runuser is needed to start PostgreSQL as the postgres user")
    folder = Path(tempfile.mkdtemp(prefix="assist-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    pg = Postgres(folder, free_port())
    try:
        subprocess.run(_as_postgres(str(BIN / "initdb"), "-D", str(pg.data), "-U", "postgres",
                                    "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"),
                       capture_output=True, check=True, timeout=120)
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    yield from _server()


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A server for one test, which may stop and start it."""
    yield from _server()


def _server() -> Iterator[Postgres]:
    try:
        server = running()
        pg = server.__enter__()
    except Unavailable as e:
        pytest.skip(str(e))
    try:
        yield pg
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def pg_url(postgres_server: Postgres) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.new_database()
