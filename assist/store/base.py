"""What the SQLite and PostgreSQL stores share: the tables, the reads and the writer.

The SQL is written once, with `?` placeholders, in the subset both engines speak
(upserts with ON CONFLICT, correlated subqueries); a store names its engine's
placeholder and how it connects.  An event is keyed by (call_id, seq), and a
second copy of one is not written: that is what makes a redelivered event
harmless.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

log = logging.getLogger(__name__)

# `{real}`: SQLite's REAL is a double, PostgreSQL's a single; t and duration need doubles.
SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY, agent TEXT, language TEXT, source TEXT,
    started_utc TEXT, ended_utc TEXT, duration {real}, reason TEXT);
CREATE TABLE IF NOT EXISTS events (
    call_id TEXT NOT NULL, seq INTEGER NOT NULL, t {real} NOT NULL, utc TEXT NOT NULL,
    type TEXT NOT NULL, party TEXT, body TEXT NOT NULL, PRIMARY KEY (call_id, seq));
CREATE INDEX IF NOT EXISTS events_type ON events (type);
CREATE INDEX IF NOT EXISTS calls_agent ON calls (agent, started_utc);
CREATE TABLE IF NOT EXISTS latency (
    call_id TEXT NOT NULL, seq INTEGER NOT NULL, ms {real} NOT NULL, PRIMARY KEY (call_id, seq));
"""
# A call still open when a store opens was left by a process that died (crash, kill -9):
# only one process writes a store, and it closes its calls before it stops.
ABANDONED = "abandoned: the process taking the call stopped before it ended"
CLOSE_ABANDONED = (
    "UPDATE calls SET"
    " ended_utc = COALESCE((SELECT MAX(utc) FROM events e WHERE e.call_id = calls.call_id),"
    " started_utc),"
    " duration = COALESCE((SELECT MAX(t) FROM events e WHERE e.call_id = calls.call_id), 0),"
    " reason = ? WHERE ended_utc IS NULL")
_STOP = object()


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Conn(Protocol):
    """The part of a DB-API connection both sqlite3 and psycopg offer."""

    def execute(self, sql: Any, params: Sequence[Any] = ..., /) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class StoreUnavailable(OSError):
    """The store's server cannot be reached now (a read may succeed later)."""


class BadEvent(ValueError):
    """A wire that cannot be stored (missing or mistyped fields)."""


def event_row(w: dict[str, Any]) -> tuple[Any, ...]:
    """The events row of wire `w`; BadEvent when it lacks what a row needs."""
    try:
        row = (str(w["call_id"]), int(w["seq"]), float(w["t"]), str(w["utc"]), str(w["type"]),
               None if w.get("party") is None else str(w["party"]))
    except (KeyError, TypeError, ValueError) as e:
        raise BadEvent(f"not a storable event ({type(e).__name__}: {e})") from None
    if isinstance(w["seq"], bool) or not isinstance(w["seq"], int):
        raise BadEvent(f"seq {w['seq']!r} is not a whole number")
    if not isinstance(w.get("evidence", {}), dict):
        raise BadEvent("evidence is not an object")
    return (*row, json.dumps(w, ensure_ascii=False))


class Reads:
    """The reads used for review: `calls list/show`, the review page, QA, purge."""

    placeholder = "?"
    where = ""  # the store's address, for messages

    def purge(self, before_utc: str) -> int:
        """Delete calls that started before `before_utc` with their events; how many."""
        return self.delete_before(before_utc)

    def _db(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def sql(self, q: str) -> str:
        return q if self.placeholder == "?" else q.replace("?", self.placeholder)

    def _rows(self, q: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._db() as db:
            return list(db.execute(self.sql(q), args).fetchall())

    def calls(self, agent: str | None = None) -> list[dict[str, Any]]:
        cols = ("call_id", "agent", "language", "source", "started_utc", "ended_utc",
                "duration", "reason")
        q = f"SELECT {', '.join(cols)} FROM calls"
        args = [] if agent is None else [agent]
        if agent is not None:
            q += " WHERE agent=?"
        rows = self._rows(q + " ORDER BY started_utc, call_id", args)
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def events(self, call_id: str, after: int = 0,
               types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """A call's events in seq order; with `types`, only those (read in SQL, not parsed)."""
        q, args = "SELECT body FROM events WHERE call_id=? AND seq>?", [call_id, after]
        if types is not None:
            kinds = sorted(set(types))
            q += f" AND type IN ({','.join('?' * len(kinds))})"
            args += kinds
        return [json.loads(r[0]) for r in self._rows(q + " ORDER BY seq", args)]

    def latencies(self, call_id: str) -> dict[int, float]:
        """Milliseconds from the audio that completed an event to its hand-over to panels."""
        rows = self._rows("SELECT seq, ms FROM latency WHERE call_id=?", (call_id,))
        return {int(s): float(ms) for s, ms in rows}

    def delete_before(self, before_utc: str) -> int:
        """Delete calls that started before `before_utc` (ISO 8601) with their events."""
        with self._db() as db:
            ids = [r[0] for r in db.execute(
                self.sql("SELECT call_id FROM calls WHERE started_utc < ?"),
                (before_utc,)).fetchall()]
            for table in ("events", "latency", "calls"):
                for i in ids:
                    db.execute(self.sql(f"DELETE FROM {table} WHERE call_id=?"), (i,))
        return len(ids)


class EventWriter:
    """Writes wires as rows: events, latencies and the calls table.

    A call that starts under an id already stored is kept as "ID~2" ("~3", ...).
    With `redelivery` (a bus that delivers at least once), a call.started equal to
    one already stored is that call delivered again, not a new call, and a call's
    first event seen by this writer finds the id its call is stored under.
    """

    def __init__(self, placeholder: str = "?", *, redelivery: bool = False) -> None:
        self.placeholder = placeholder
        self.redelivery = redelivery
        self._renamed: dict[str, str] = {}  # live call id -> the id it is stored under

    def sql(self, q: str) -> str:
        return q if self.placeholder == "?" else q.replace("?", self.placeholder)

    def write(self, db: Conn, w: dict[str, Any], lat: float | None = None) -> bool:
        """Store wire `w`; False when this (call_id, seq) was already stored."""
        event_row(w)  # BadEvent before any SQL
        cid = w["call_id"]
        if w["type"] == "call.started":
            self._renamed[cid] = self._start_id(db, w)
        elif cid not in self._renamed and self.redelivery:
            self._renamed[cid] = self._latest_id(db, cid)
        stored = self._renamed.get(cid, cid)
        if stored != cid:
            w = {**w, "call_id": stored}
        cur = db.execute(self.sql("INSERT INTO events VALUES (?,?,?,?,?,?,?) "
                                  "ON CONFLICT (call_id, seq) DO NOTHING"), event_row(w))
        if cur.rowcount == 0:
            return False
        if lat is not None:
            db.execute(self.sql("INSERT INTO latency VALUES (?,?,?) ON CONFLICT (call_id, seq) "
                                "DO UPDATE SET ms=excluded.ms"), (stored, w["seq"], round(lat, 2)))
        ev = w.get("evidence", {})
        if w["type"] == "call.started":
            db.execute(self.sql("INSERT INTO calls (call_id, agent, language, source, "
                                "started_utc) VALUES (?,?,?,?,?) ON CONFLICT (call_id) DO NOTHING"),
                       (stored, ev.get("agent"), ev.get("language"), ev.get("source"), w["utc"]))
        elif w["type"] == "call.ended":
            db.execute(self.sql("UPDATE calls SET ended_utc=?, duration=?, reason=? "
                                "WHERE call_id=?"),
                       (w["utc"], ev.get("duration"), ev.get("reason"), stored))
        return True

    def _stored(self, db: Conn, call_id: str) -> bool:
        return db.execute(self.sql("SELECT 1 FROM calls WHERE call_id=? UNION ALL "
                                   "SELECT 1 FROM events WHERE call_id=? LIMIT 1"),
                          (call_id, call_id)).fetchone() is not None

    def _variants(self, db: Conn, call_id: str) -> Iterator[str]:
        """`call_id`, `call_id~2`, ... while they are stored."""
        candidate, n = call_id, 1
        while self._stored(db, candidate):
            yield candidate
            n += 1
            candidate = f"{call_id}~{n}"

    def _start_id(self, db: Conn, w: dict[str, Any]) -> str:
        cid = w["call_id"]
        stored = list(self._variants(db, cid))
        if self.redelivery:
            again = next((s for s in stored if self._same_start(db, s, w)), None)
            if again is not None:
                return again
        free = cid if not stored else f"{cid}~{len(stored) + 1}"
        if free != cid:
            log.warning("store: call %s is already stored; keeping this one as %s", cid, free)
        return free

    def _same_start(self, db: Conn, stored: str, w: dict[str, Any]) -> bool:
        row = db.execute(self.sql("SELECT body FROM events WHERE call_id=? AND seq=?"),
                         (stored, w["seq"])).fetchone()
        return row is not None and {**json.loads(row[0]), "call_id": w["call_id"]} == w

    def _latest_id(self, db: Conn, call_id: str) -> str:
        return ([call_id] + list(self._variants(db, call_id)))[-1]


class QueuedStore:
    """A Publisher that only enqueues; one thread writes batches and commits them."""

    def _open_writer(self) -> None:
        raise NotImplementedError

    def _write_batch(self, items: list[tuple[dict[str, Any], float | None]]) -> None:
        raise NotImplementedError

    def _close_writer(self) -> None:
        raise NotImplementedError

    def _start_writer(self) -> None:
        self._q: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="store", daemon=True)
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

    def _run(self) -> None:
        self._open_writer()
        while True:
            batch = [self._q.get()]
            while not self._q.empty() and len(batch) < 500:
                batch.append(self._q.get_nowait())
            items = [w for w in batch if isinstance(w, tuple)]
            if items:
                self._write_batch(items)
            for w in batch:
                if isinstance(w, threading.Event):
                    w.set()
            if _STOP in batch:
                self._close_writer()
                return
