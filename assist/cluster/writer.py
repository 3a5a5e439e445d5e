"""The `writer` role: events from the Redis stream into PostgreSQL, each exactly once.

Rules:
- One consumer group, `writer`, on `assist:events`; each writer process is one
  consumer, named by `[cluster] name`.
- A batch is written in one transaction and acknowledged (XACK) only after it
  is committed, so an entry a writer read and then died on stays pending.
- On start a writer first rewrites its own pending entries (a restart under the
  same name), then claims entries other consumers have held longer than
  `claim_idle` (a writer that died and was not restarted); it claims again at
  that interval while it runs.
- Writing an entry twice is harmless: the store keeps the first (call_id, seq).
- An entry that is not an event (bad JSON, missing fields) is logged and
  acknowledged, so it cannot stop the stream; one trimmed from the stream
  before it was written is logged as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
import redis

from assist.errors import UserError
from assist.store.base import EventWriter
from assist.store.postgres import PostgresArchive, connect, create_schema, describe, write_batch

if TYPE_CHECKING:
    from assist.config import Config

log = logging.getLogger(__name__)
STREAM = "assist:events"
GROUP = "writer"
Entry = tuple[str, dict[str, str] | None]


class _Stopping(Exception):
    """Stop was asked while a batch waited for PostgreSQL: it stays pending in Redis."""


def consumer_name(cfg: Config) -> str:
    return cfg.cluster.name or f"{socket.gethostname()}-writer"


def open_redis(url: str) -> redis.Redis:
    """A client that has answered a PING; UserError when there is no server there."""
    try:
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=10,
                                      health_check_interval=30)
        client.ping()
    except (ValueError, redis.RedisError) as e:
        raise UserError(f"cluster.redis_url: cannot reach Redis at {url.split('@')[-1]} "
                        f"({e})") from None
    return client


class StreamWriter:
    def __init__(self, r: redis.Redis, postgres_url: str, consumer: str, *,
                 batch: int = 500, block_ms: int = 1000, claim_idle: float = 30.0) -> None:
        self.r = r
        self.url = postgres_url
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = int(claim_idle * 1000)
        self.events = EventWriter(PostgresArchive.placeholder, redelivery=True)
        self.written = 0  # events new to the store, since start
        self._db: psycopg.Connection[Any] | None = None
        self._next_claim = 0.0
        self.stop = threading.Event()

    def setup(self) -> None:
        conn = connect(self.url)
        create_schema(conn)
        self._db = conn
        self._group()

    def _group(self) -> None:
        try:
            # From the stream's start: a writer that arrives late still stores what Redis holds.
            self.r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def recover(self) -> int:
        """Write this consumer's own pending entries, then claim idle ones; how many entries."""
        done, after = 0, "0"
        while not self.stop.is_set():
            entries = self._read(after)
            if not entries:
                break
            self._handle(entries)
            done += len(entries)
            after = entries[-1][0]
        return done + self.claim()

    def claim(self) -> int:
        """Take over entries other consumers have held past `claim_idle` and write them."""
        done, start = 0, "0-0"
        while not self.stop.is_set():
            nxt, entries, deleted = self.r.xautoclaim(STREAM, GROUP, self.consumer,
                                                      self.claim_idle_ms, start_id=start,
                                                      count=self.batch)
            if deleted:
                self._lost(deleted)
            if entries:
                log.info("writer: claimed %d entr(ies) another writer left pending", len(entries))
                self._handle(entries)
                done += len(entries)
            if nxt == "0-0":
                break
            start = nxt
        self._next_claim = time.monotonic() + self.claim_idle_ms / 1000
        return done

    def step(self) -> int:
        """Read and write one batch of new entries (waiting up to block_ms); how many."""
        if time.monotonic() >= self._next_claim:
            self.claim()
        entries = self._read(">", block=self.block_ms)
        if entries:
            self._handle(entries)
        return len(entries)

    def _read(self, after: str, block: int | None = None) -> list[Entry]:
        got: Any = self.r.xreadgroup(GROUP, self.consumer, {STREAM: after}, count=self.batch,
                                     block=block)
        return list(got[0][1]) if got else []

    def run(self) -> None:
        """Recover, then follow the stream until `stop` is set; outages are waited out."""
        recovered = False
        while not self.stop.is_set():
            try:
                if not recovered:
                    n = self.recover()
                    recovered = True
                    if n:
                        log.info("writer: %d pending entr(ies) written again", n)
                self.step()
            except redis.ResponseError as e:
                # NOGROUP, or UNBLOCKED when the stream vanished under a blocked read.
                if not str(e).startswith(("NOGROUP", "UNBLOCKED")):
                    raise
                log.warning("writer: the consumer group was gone (Redis restarted?); made again")
                self._group()
            except redis.RedisError as e:
                log.warning("writer: Redis unreachable (%s); retrying", e)
                recovered = False  # what was read but not acknowledged is ours to redo
                self.stop.wait(1.0)
            except _Stopping:
                return

    def _handle(self, entries: Sequence[Entry]) -> None:
        items: list[tuple[dict[str, Any], float | None]] = []
        lost = []
        for entry_id, fields in entries:
            if not fields:  # trimmed from the stream while pending
                lost.append(entry_id)
                continue
            try:
                wire = json.loads(fields["wire"])
                if not isinstance(wire, dict):
                    raise ValueError("not a JSON object")
                items.append((wire, None))
            except (KeyError, ValueError) as e:
                log.warning("writer: entry %s is not an event (%s); skipped", entry_id, e)
        if lost:
            self._lost(lost)
        if items:
            self._commit(items)
        self.r.xack(STREAM, GROUP, *[e for e, _ in entries])

    def _commit(self, items: list[tuple[dict[str, Any], float | None]]) -> None:
        """Write `items` in one transaction, reconnecting until it is committed (or stop)."""
        while True:
            try:
                if self._db is None or self._db.closed:
                    self._db = connect(self.url)
                self.written += write_batch(self._db, self.events, items)
                return
            except (UserError, psycopg.OperationalError) as e:
                self._db = None
                log.warning("writer: %s unavailable (%s); the batch waits in Redis",
                            describe(self.url), str(e).strip())
                if self.stop.wait(2.0):
                    raise _Stopping from None

    def _lost(self, ids: Sequence[str]) -> None:
        log.error("writer: %d entr(ies) trimmed from %s before they were written (%s...); "
                  "raise cluster.stream_maxlen", len(ids), STREAM, ids[0])
        self.r.xack(STREAM, GROUP, *ids)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        self.r.close()


async def run_writer(cfg: Config) -> int:
    """The writer process: until SIGTERM or SIGINT."""
    r = open_redis(cfg.cluster.redis_url)
    w = StreamWriter(r, cfg.cluster.postgres_url, consumer_name(cfg))
    await asyncio.to_thread(w.setup)
    print(f"assist writer {w.consumer}: {STREAM} (group {GROUP}) into "
          f"{describe(cfg.cluster.postgres_url)}; Ctrl-C stops.", flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, w.stop.set)
    try:
        await asyncio.to_thread(w.run)
    finally:
        w.close()
    log.info("writer stopped after %d new event(s)", w.written)
    return 0


async def run(cfg: Config, args: object = None) -> int:
    """The role's entry as `run` calls it (`run`'s options mean nothing to a writer)."""
    return await run_writer(cfg)
