"""Events into Redis Streams: the producer side of the event bus.

The contract every process relies on:
- One stream, `assist:events`.  Each entry has the fields `call` (call id),
  `seq` (int as text), `agent` (agent id or ""), `arrival` (the producer's
  time.monotonic() when the event was made, as text, or ""; comparable only on
  the same machine) and `wire` (the event's JSON, as panels and the store get it).
- An analysis process adds `by` (its process name) to each entry, so that when it
  starts again it can end the calls it left open (assist/cluster/orphans.py).
- Entries of one call are added in seq order.  Delivery is at least once: after a
  connection breaks mid-batch the batch is sent again, so readers skip an entry
  whose seq is not above the last they kept for its call.
- The stream is capped with `MAXLEN ~ cluster.stream_maxlen` (whole stream, all
  calls): what a gateway can rebuild when it starts and a panel can resume from.
- Feedback from panels goes the other way on `assist:feedback` (fields `call`,
  `suggestion`, `action`, `agent`), written by gateways, read by every analysis
  process (assist/cluster/feedback.py); each acts on its own calls only.

`publish()` runs on the event loop and only appends to a bounded in-memory
backlog; one thread per publisher sends batches through a pipeline.  While Redis
is unreachable the backlog keeps the newest `backlog` entries (partial
transcripts go first), the outage is logged once, and the thread reconnects
with a backoff.  A call never waits for Redis and never fails because of it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Any

import redis

from assist.events import DROPPABLE, dumps

log = logging.getLogger(__name__)

EVENTS_STREAM = "assist:events"
FEEDBACK_STREAM = "assist:feedback"
FEEDBACK_MAXLEN = 10_000
BATCH = 500  # entries per pipeline round trip
RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between reconnect attempts

Fields = dict[str, str]


def connect(url: str, *, timeout: float = 5.0) -> redis.Redis:
    """A client for `url` whose calls give up after `timeout` seconds instead of hanging."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                decode_responses=True)


def where(url: str) -> str:
    """`url` without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


class StreamSender:
    """Adds entries to one stream from a background thread, in order, never blocking.

    `add()` is safe from any thread.  `backlog` bounds what waits in memory: past
    it a droppable entry (a partial) is refused, else the oldest waiting entry is
    let go, so a long outage keeps the newest finals.  Partials that came in while
    there was room stay queued: finding them to drop first would cost a scan per
    event on the event loop.
    """

    def __init__(self, url: str, stream: str, *, maxlen: int, backlog: int = 50_000,
                 name: str = "redis-sender") -> None:
        if backlog < 1:
            raise ValueError(f"backlog must be positive, got {backlog}")
        self.url, self.stream, self.maxlen, self.backlog = url, stream, maxlen, backlog
        self._client = connect(url)
        self._items: deque[Fields] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False  # a batch taken from _items is being sent
        self.sent = 0
        self.dropped = 0
        self.down_since: float | None = None  # monotonic time of the outage's start
        self._dropped_at_outage = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def add(self, fields: Fields, droppable: bool = False) -> None:
        with self._cond:
            if self._stopping:
                return
            if len(self._items) >= self.backlog:
                self.dropped += 1
                if droppable:
                    return
                self._items.popleft()
            self._items.append(fields)
            self._cond.notify()

    def __len__(self) -> int:
        return len(self._items)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything added so far is in Redis; False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is waiting (for at most `timeout` seconds), then stop the thread."""
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=timeout)
        self._client.close()

    # -- the sending thread -------------------------------------------------
    def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            with self._cond:
                while not self._items and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch = [self._items.popleft() for _ in range(min(BATCH, len(self._items)))]
                self._busy = True
            try:
                self._send(batch)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
                self._requeue(batch)
                self._went_down(e)
                self._pause(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            except redis.RedisError as e:  # refused by the server: retrying cannot help
                with self._cond:
                    self.dropped += len(batch)
                log.error("Redis %s refused %d entries for %s (%s); dropped", where(self.url),
                          len(batch), self.stream, e)
            else:
                self.sent += len(batch)
                self._came_back()
            delay = RETRY_FIRST
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _send(self, batch: list[Fields]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for fields in batch:
            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
        pipe.execute()

    def _requeue(self, batch: list[Fields]) -> None:
        """Put an unsent batch back in front, still within the backlog bound."""
        with self._cond:
            room = max(0, self.backlog - len(self._items))
            lost = len(batch) - room
            if lost > 0:
                self.dropped += lost
                batch = batch[lost:]
            self._items.extendleft(reversed(batch))
            self._busy = False
            self._cond.notify_all()

    def _pause(self, seconds: float) -> None:
        with self._cond:
            if not self._stopping:
                self._cond.wait(seconds)

    def _went_down(self, e: Exception) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self._dropped_at_outage = self.dropped
            log.error("Redis %s unreachable (%s): %s entries wait in memory (at most %d, "
                      "then the oldest go); retrying", where(self.url), e, self.stream,
                      self.backlog)

    def _came_back(self) -> None:
        if self.down_since is not None:
            lost = self.dropped - self._dropped_at_outage
            log.warning("Redis %s reachable again after %.1f s; %s backlog sent, %d entries "
                        "dropped meanwhile", where(self.url), time.monotonic() - self.down_since,
                        self.stream, lost)
            self.down_since = None


def event_fields(wire: dict[str, Any], agent: str | None, arrival: float | None,
                 by: str = "") -> Fields:  # fmt: skip
    """One `assist:events` entry (see the module's contract)."""
    fields = {"call": str(wire["call_id"]), "seq": str(int(wire["seq"])), "agent": agent or "",
              "arrival": "" if arrival is None else repr(arrival), "wire": dumps(wire)}
    if by:
        fields["by"] = by
    return fields


class BadEntry(ValueError):
    pass


def parse_entry(fields: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """The wire event and agent of one stream entry; BadEntry when it is not one."""
    try:
        wire = json.loads(fields["wire"])
        call, seq = fields["call"], int(fields["seq"])
    except (KeyError, ValueError, TypeError) as e:
        raise BadEntry(f"missing or broken field ({e})") from None
    if not isinstance(wire, dict):
        raise BadEntry("wire is not a JSON object")
    if wire.get("call_id") != call or wire.get("seq") != seq or isinstance(seq, bool):
        raise BadEntry("wire's call_id/seq differ from the entry's")
    if not isinstance(wire.get("type"), str) or seq < 1 or not call:
        raise BadEntry("wire has no type, or no call id, or a seq below 1")
    return wire, fields.get("agent") or None


class RedisPublisher:
    """The hub's Publisher (assist/call/hub.py) that puts events on `assist:events`."""

    def __init__(self, url: str, *, maxlen: int, backlog: int = 50_000,
                 stream: str = EVENTS_STREAM, by: str = "") -> None:  # fmt: skip
        """`by`: the publishing process's name, kept in each entry."""
        self.sender = StreamSender(url, stream, maxlen=maxlen, backlog=backlog,
                                   name="redis-events")
        self.by = by

    @classmethod
    def from_params(cls, cluster: Any, by: str = "") -> RedisPublisher:
        """From a ClusterParams (assist/cluster/params.py)."""
        return cls(cluster.redis_url, maxlen=cluster.stream_maxlen, by=by)

    def publish(self, wire: dict[str, Any], *, agent: str | None, arrival: float | None) -> None:
        # Serialised here, on the loop: the entry is fixed when published, whatever
        # later happens to the dict.
        self.sender.add(event_fields(wire, agent, arrival, self.by),
                        wire.get("type") in DROPPABLE)  # fmt: skip

    def flush(self, timeout: float = 10.0) -> bool:
        return self.sender.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.sender.close(timeout)
