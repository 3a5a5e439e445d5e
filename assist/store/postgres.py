"""The call store in PostgreSQL: the same tables and reads as SQLite, for many processes.

`PostgresArchive` reads (review, QA, purge) over one connection, reopened after
a failure.  `PostgresStore` is the in-process Publisher (a queue and a writer
thread, as for SQLite).  In a cluster the `writer` process uses `write_batch`
directly: a batch is one transaction, and an event already stored, (call_id,
seq), is skipped by the database itself, so a batch written again after a crash
leaves every event once.

Unlike SQLite, a PostgreSQL store is shared by processes that come and go, so a
call left open is not closed when one of them starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from assist.errors import UserError
from assist.store.base import (
    SCHEMA,
    BadEvent,
    EventWriter,
    QueuedStore,
    Reads,
    StoreUnavailable,
)

log = logging.getLogger(__name__)
# Taken while creating the tables, so two processes starting together do not race.
_SCHEMA_LOCK = 0x61737369
RETRY_FOR = 30.0  # seconds the in-process store keeps retrying a batch while the server is away


def describe(url: str) -> str:
    """`url` without its password, for messages and logs."""
    try:
        p = conninfo_to_dict(url)
    except psycopg.Error:
        return "the postgres_url given"
    host = p.get("host") or "localhost"
    port = f":{p['port']}" if p.get("port") else ""
    user = f"{p['user']}@" if p.get("user") else ""
    return f"postgresql://{user}{host}{port}/{p.get('dbname', '')}"


def connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection (transactions are explicit); UserError when it fails."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10,
                               application_name="assist")
    except psycopg.Error as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cluster.postgres_url: cannot connect to {describe(url)} ({msg}); "
                        "check the address, the role's password and pg_hba.conf") from None


def create_schema(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        for stmt in SCHEMA.format(real="DOUBLE PRECISION").split(";"):
            if stmt.strip():
                conn.execute(stmt)


def write_batch(conn: psycopg.Connection[Any], events: EventWriter,
                items: list[tuple[dict[str, Any], float | None]]) -> int:
    """Write `items` in one transaction; the number of events new to the store.

    A connection failure propagates (nothing of the batch is kept; write it again).
    Any other error spoils only its own event: the batch is redone one event at a
    time and that event is logged and left out.
    """
    written = 0
    try:
        with conn.transaction():
            for wire, lat in items:
                written += _one(conn, events, wire, lat)
        return written
    except psycopg.OperationalError:
        raise
    except psycopg.Error:
        pass
    written = 0
    with conn.transaction():
        for wire, lat in items:
            try:
                with conn.transaction():  # a savepoint: a failure undoes this event alone
                    written += _one(conn, events, wire, lat)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as e:
                log.warning("store: event %s/%s not written (%s)", wire.get("call_id"),
                            wire.get("seq"), str(e).strip())
    return written


def _one(conn: psycopg.Connection[Any], events: EventWriter, wire: dict[str, Any],
         lat: float | None) -> int:
    try:
        return int(events.write(conn, wire, lat))
    except BadEvent as e:
        log.warning("store: event %s/%s not written: %s", wire.get("call_id"),
                    wire.get("seq"), e)
        return 0


class PostgresArchive(Reads):
    """Reads over one connection (shared by threads, one query at a time)."""

    placeholder = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = describe(url)
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    @contextmanager
    def _db(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                try:
                    self._conn = connect(self.url)
                except UserError as e:
                    raise StoreUnavailable(str(e)) from None
            try:
                with self._conn.transaction():
                    yield self._conn
            except psycopg.OperationalError as e:
                self._conn.close()  # the next read connects again
                self._conn = None
                raise StoreUnavailable(f"{self.where}: {str(e).strip()}") from None

    def check(self) -> None:
        """UserError unless the store can be read."""
        try:
            self.calls(agent="")
        except psycopg.errors.UndefinedTable:
            raise UserError(f"{self.where}: no calls stored there yet (the tables are made "
                            "by the first process that writes calls)") from None
        except StoreUnavailable as e:
            raise UserError(str(e)) from None
        except psycopg.Error as e:
            raise UserError(f"{self.where}: cannot read the store ({str(e).strip()})") from None

    def purge(self, before_utc: str) -> int:
        # Deleted rows leave the files when autovacuum reuses their space.
        return self.delete_before(before_utc)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresStore(PostgresArchive, QueuedStore):
    """The in-process Publisher for PostgreSQL: `publish` only enqueues."""

    closed_at_start = 0

    def __init__(self, url: str) -> None:
        super().__init__(url)
        conn = connect(url)  # fail here, at start-up, with the reason
        try:
            create_schema(conn)
        finally:
            conn.close()
        self._events = EventWriter(self.placeholder)
        self._start_writer()

    def _open_writer(self) -> None:
        self._wdb: psycopg.Connection[Any] | None = None

    def _close_writer(self) -> None:
        if self._wdb is not None:
            self._wdb.close()
        PostgresArchive.close(self)

    def close(self) -> None:
        QueuedStore.close(self)

    def _write_batch(self, items: list[tuple[dict[str, Any], float | None]]) -> None:
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                if self._wdb is None or self._wdb.closed:
                    self._wdb = connect(self.url)
                write_batch(self._wdb, self._events, items)
                return
            except (UserError, psycopg.OperationalError) as e:
                self._wdb = None
                if time.monotonic() > deadline:
                    log.error("store: %d event(s) not written, %s unreachable (%s)",
                              len(items), self.where, e)
                    return
                time.sleep(1.0)
