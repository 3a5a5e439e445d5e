"""The call store: every event of every call, kept in SQLite for review.

Writes happen on one writer thread fed by a queue, so the event loop never
waits on the disk; `publish` only enqueues.

A stored call is never overwritten: a call that starts under an id already in
the store is kept under the id with "~2" (or "~3", ...) added, events and all,
and a warning says so.  The store's folder is created 0700 and the file 0600
(SQLite gives its WAL and shared-memory files the database file's mode), like
the panel secret, since it holds transcripts.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assist.store.base import (
    ABANDONED,
    CLOSE_ABANDONED,
    SCHEMA,
    BadEvent,
    EventWriter,
    QueuedStore,
    Reads,
)

log = logging.getLogger(__name__)
__all__ = ["ABANDONED", "Archive", "Store", "close_abandoned", "create_private", "purge"]


class Archive(Reads):
    """Reading the store, for review and tests: a connection of its own per call."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def latencies(self, call_id: str) -> dict[int, float]:
        try:
            return super().latencies(call_id)
        except sqlite3.OperationalError:  # a store written before latencies were kept
            return {}

    def purge(self, before_utc: str) -> int:
        """Delete calls that started before `before_utc` (ISO 8601) with their events."""
        count = self.delete_before(before_utc)
        try:
            with sqlite3.connect(self.path, timeout=5) as db:
                db.execute("VACUUM")  # the deleted transcripts leave the file too
        except sqlite3.OperationalError as e:  # the running service holds the file
            log.warning("store: deleted, but could not compact %s now (%s); run again later",
                        self.path, e)
        return count


def purge(path: str | Path, before_utc: str) -> int:
    return Archive(path).purge(before_utc)


def create_private(path: Path) -> None:
    """Create `path`'s folder (0700) and the file itself (0600) if missing."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            log.warning("store: %s is readable by others; chmod 600 it (and its -wal, -shm)",
                        path)


def close_abandoned(db: sqlite3.Connection) -> int:
    """End open calls at their last stored event, with the reason that says why."""
    return db.execute(CLOSE_ABANDONED, (ABANDONED,)).rowcount


class Store(Archive, QueuedStore):
    """Archive plus the writer: `publish` only enqueues."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        create_private(self.path)
        self._events = EventWriter()
        # Fail here, at start-up, if the file cannot be opened or is not a database.
        with sqlite3.connect(self.path) as db:
            db.executescript(SCHEMA.format(real="REAL"))
            self.closed_at_start = close_abandoned(db)
        if self.closed_at_start:
            log.warning("store: closed %d call(s) a stopped process left open (%s)",
                        self.closed_at_start, ABANDONED)
        self._start_writer()

    def _open_writer(self) -> None:
        self._wdb = db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")

    def _close_writer(self) -> None:
        self._wdb.close()

    def _write_batch(self, items: list[tuple[dict[str, Any], float | None]]) -> None:
        db = self._wdb
        for wire, lat in items:
            try:
                if not self._events.write(db, wire, lat):  # a seq written twice: keep the first
                    log.warning("store: event %s/%s not written again",
                                wire.get("call_id"), wire.get("seq"))
            except BadEvent as e:
                log.warning("store: event %s/%s not written: %s",
                            wire.get("call_id"), wire.get("seq"), e)
            except sqlite3.Error:
                log.exception("store: could not write event %s/%s",
                              wire.get("call_id"), wire.get("seq"))
        db.commit()
