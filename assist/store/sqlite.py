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

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY, agent TEXT, language TEXT, source TEXT,
    started_utc TEXT, ended_utc TEXT, duration REAL, reason TEXT);
CREATE TABLE IF NOT EXISTS events (
    call_id TEXT NOT NULL, seq INTEGER NOT NULL, t REAL NOT NULL, utc TEXT NOT NULL,
    type TEXT NOT NULL, party TEXT, body TEXT NOT NULL, PRIMARY KEY (call_id, seq));
CREATE INDEX IF NOT EXISTS events_type ON events (type);
CREATE TABLE IF NOT EXISTS latency (
    call_id TEXT NOT NULL, seq INTEGER NOT NULL, ms REAL NOT NULL, PRIMARY KEY (call_id, seq));
"""
_STOP = object()
# A call still open when a store opens was left by a process that died (crash, kill -9):
# only one process writes a store, and it closes its calls before it stops.
ABANDONED = "abandoned: the process taking the call stopped before it ended"


class Archive:
    """Reading the store, for review and tests: a connection of its own per call."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def calls(self, agent: str | None = None) -> list[dict[str, Any]]:
        with sqlite3.connect(self.path) as db:
            db.row_factory = sqlite3.Row
            q = "SELECT * FROM calls"
            args: tuple[str, ...] = ()
            if agent is not None:
                q, args = q + " WHERE agent=?", (agent,)
            return [dict(r) for r in db.execute(q + " ORDER BY started_utc", args)]

    def events(self, call_id: str, after: int = 0,
               types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """A call's events in seq order; with `types`, only those (read in SQL, not parsed)."""
        q, args = "SELECT body FROM events WHERE call_id=? AND seq>?", [call_id, after]
        if types is not None:
            kinds = sorted(set(types))
            q += f" AND type IN ({','.join('?' * len(kinds))})"
            args += kinds
        with sqlite3.connect(self.path) as db:
            rows = db.execute(q + " ORDER BY seq", args)
            return [json.loads(r[0]) for r in rows]

    def latencies(self, call_id: str) -> dict[int, float]:
        """Milliseconds from the audio that completed an event to its hand-over to panels."""
        with sqlite3.connect(self.path) as db:
            try:
                rows = db.execute("SELECT seq, ms FROM latency WHERE call_id=?", (call_id,))
                return {int(s): float(ms) for s, ms in rows}
            except sqlite3.OperationalError:  # a store written before latencies were kept
                return {}


def purge(path: str | Path, before_utc: str) -> int:
    """Delete calls that started before `before_utc` (ISO 8601) with their events."""
    with sqlite3.connect(path, timeout=10) as db:
        ids = [r[0] for r in db.execute("SELECT call_id FROM calls WHERE started_utc < ?",
                                        (before_utc,))]
        db.executemany("DELETE FROM events WHERE call_id=?", [(i,) for i in ids])
        db.executemany("DELETE FROM calls WHERE call_id=?", [(i,) for i in ids])
        db.executemany("DELETE FROM latency WHERE call_id=?", [(i,) for i in ids])
    try:
        with sqlite3.connect(path, timeout=5) as db:
            db.execute("VACUUM")  # the deleted transcripts leave the file too
    except sqlite3.OperationalError as e:  # the running service holds the file
        log.warning("store: deleted, but could not compact %s now (%s); run again later",
                    path, e)
    return len(ids)


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
    cur = db.execute(
        "UPDATE calls SET"
        " ended_utc = COALESCE((SELECT MAX(utc) FROM events e WHERE e.call_id = calls.call_id),"
        " started_utc),"
        " duration = COALESCE((SELECT MAX(t) FROM events e WHERE e.call_id = calls.call_id), 0),"
        " reason = ? WHERE ended_utc IS NULL", (ABANDONED,))
    return cur.rowcount


class Store(Archive):
    """Archive plus the writer: `publish` only enqueues."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        create_private(self.path)
        self._renamed: dict[str, str] = {}  # live call id -> the id it is stored under
        # Fail here, at start-up, if the file cannot be opened or is not a database.
        with sqlite3.connect(self.path) as db:
            db.executescript(SCHEMA)
            self.closed_at_start = close_abandoned(db)
        if self.closed_at_start:
            log.warning("store: closed %d call(s) a stopped process left open (%s)",
                        self.closed_at_start, ABANDONED)
        self._q: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._writer, name="store", daemon=True)
        self._thread.start()

    def publish(self, wire: dict[str, Any], *, agent: str | None, arrival: float | None) -> None:
        # Publishers are called together, so now is when the panels were handed the event.
        lat = None if arrival is None else max(0.0, (time.monotonic() - arrival) * 1000)
        self._q.put((wire, lat))

    def close(self) -> None:
        self._q.put(_STOP)
        self._thread.join(timeout=10)

    def flush(self) -> None:
        done = threading.Event()
        self._q.put(done)
        done.wait(timeout=10)

    def _writer(self) -> None:
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        while True:
            item = self._q.get()
            batch = [item]
            while not self._q.empty() and len(batch) < 500:
                batch.append(self._q.get_nowait())
            stop = False
            for w in batch:
                if w is _STOP:
                    stop = True
                elif isinstance(w, threading.Event):
                    db.commit()
                    w.set()
                else:
                    wire, lat = w
                    try:
                        self._write(db, wire, lat)
                    except sqlite3.IntegrityError as e:  # a seq written twice: keep the first
                        log.warning("store: event %s/%s not written again (%s)",
                                    wire.get("call_id"), wire.get("seq"), e)
                    except sqlite3.Error:
                        log.exception("store: could not write event %s/%s",
                                      wire.get("call_id"), wire.get("seq"))
            db.commit()
            if stop:
                db.close()
                return

    def _write(self, db: sqlite3.Connection, w: dict[str, Any],
               lat: float | None = None) -> None:
        if w["type"] == "call.started":
            self._renamed.pop(w["call_id"], None)
            stored = _free_id(db, w["call_id"])
            if stored != w["call_id"]:
                log.warning("store: call %s is already stored; keeping this one as %s",
                            w["call_id"], stored)
                self._renamed[w["call_id"]] = stored
        renamed = self._renamed.get(w["call_id"])
        if renamed is not None:
            w = {**w, "call_id": renamed}
        db.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?)",
                   (w["call_id"], w["seq"], w["t"], w["utc"], w["type"], w.get("party"),
                    json.dumps(w, ensure_ascii=False)))
        if lat is not None:
            db.execute("INSERT OR REPLACE INTO latency VALUES (?,?,?)",
                       (w["call_id"], w["seq"], round(lat, 2)))
        ev = w.get("evidence", {})
        if w["type"] == "call.started":
            db.execute("INSERT INTO calls (call_id, agent, language, source, "
                       "started_utc) VALUES (?,?,?,?,?)",
                       (w["call_id"], ev.get("agent"), ev.get("language"), ev.get("source"),
                        w["utc"]))
        elif w["type"] == "call.ended":
            db.execute("UPDATE calls SET ended_utc=?, duration=?, reason=? WHERE call_id=?",
                       (w["utc"], ev.get("duration"), ev.get("reason"), w["call_id"]))


def _free_id(db: sqlite3.Connection, call_id: str) -> str:
    """`call_id`, or the first of `call_id~2`, `call_id~3`, ... not yet stored."""
    candidate, n = call_id, 1
    while db.execute("SELECT 1 FROM calls WHERE call_id=? UNION ALL "
                     "SELECT 1 FROM events WHERE call_id=? LIMIT 1",
                     (candidate, candidate)).fetchone():
        n += 1
        candidate = f"{call_id}~{n}"
    return candidate

