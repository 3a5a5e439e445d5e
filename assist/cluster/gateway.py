"""The `gateway` role: the panel server fed by the Redis event stream.

Rules:
- A gateway serves the same pages, websocket and review requests as the
  embedded service; its events come from `assist:events` (assist/cluster/bus.py)
  instead of an in-process hub.  Any number of gateways may run: each reads the
  whole stream, so a panel on any of them sees its agent's calls wherever they
  are tapped.
- On start it reads the stream from its first entry (what `cluster.stream_maxlen`
  kept) before it listens, so a panel that resumes by seq, on this gateway or
  after its restart, gets what it missed.  Seqs are the producer's, the same on
  every gateway.
- Delivery is at least once: an entry whose seq is not above the last kept for
  its call is skipped, so panels never get an event twice.
- An entry that is not an event is logged and skipped.  Redis going away is
  logged once; panels stay connected and the gateway reconnects with a backoff,
  going on from the last entry it read.  A Redis that came back as a new server
  (restarted, maybe empty) is read again from its start; seqs keep out what
  panels already have.
- A card's used/dismissed click goes to `assist:feedback` for the analysis
  process that holds the call; only the call's agent may send it (the server
  checks), and only for a card of a live call this gateway has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis

from assist.cluster.bus import (
    EVENTS_STREAM,
    FEEDBACK_MAXLEN,
    FEEDBACK_STREAM,
    RETRY_FIRST,
    RETRY_MAX,
    BadEntry,
    StreamSender,
    parse_entry,
    where,
)
from assist.errors import UserError

if TYPE_CHECKING:
    from assist.config import Config

log = logging.getLogger(__name__)
READ_COUNT = 2000  # entries per XRANGE / XREAD round trip
BLOCK_MS = 1000
KEEP_SEQS = 50_000  # calls whose last seq is remembered (long after they end)
KEEP_CARDS = 10_000  # live calls whose suggestion ids are remembered for feedback
BAD_LOGGED = 10  # bad entries logged one by one; after that every 1000th

# What the follower hands each kept event to: (wire, agent or None, the panel message).
Sink = Callable[[dict[str, Any], str | None, str], None]
Entry = tuple[str, dict[str, str]]


class Follower:
    """Reads `assist:events` into `sink`, each (call, seq) at most once, surviving outages."""

    def __init__(self, url: str, sink: Sink, *, stream: str = EVENTS_STREAM,
                 count: int = READ_COUNT, block_ms: int = BLOCK_MS) -> None:
        self.url, self.stream, self.count, self.block_ms = url, stream, count, block_ms
        self.sink = sink
        self.client = aioredis.Redis.from_url(url, decode_responses=True,
                                              socket_connect_timeout=5,
                                              socket_timeout=block_ms / 1000 + 5)
        self.last_id = "0-0"
        self.last_seq: OrderedDict[str, int] = OrderedDict()
        self.run_id: str | None = None
        self.read = self.kept = self.skipped = self.bad = 0
        self.down_since: float | None = None

    async def connect(self) -> None:
        """Ask the server who it is; a new server (restarted) is read from its start."""
        info = await self.client.info("server")
        run_id = str(info.get("run_id", ""))
        if self.run_id is not None and run_id != self.run_id:
            log.warning("gateway: Redis %s is a new server (restarted); reading %s again "
                        "from its start, skipping what panels already have",
                        where(self.url), self.stream)
            self.last_id = "0-0"
        self.run_id = run_id

    async def rebuild(self) -> int:
        """Read everything the stream holds now; how many entries.  Raises when unreachable."""
        await self.connect()
        n, start = 0, "-"
        while True:
            got: Any = await self.client.xrange(self.stream, min=start, max="+",
                                                count=self.count)
            if not got:
                return n
            self.feed(got)
            n += len(got)
            if len(got) < self.count:
                return n
            start = "(" + got[-1][0]

    async def step(self) -> int:
        """Wait up to block_ms for new entries and feed them; how many."""
        got: Any = await self.client.xread({self.stream: self.last_id}, count=self.count,
                                           block=self.block_ms)
        entries = got[0][1] if got else []
        if entries:
            self.feed(entries)
        return len(entries)

    async def follow(self, stop: asyncio.Event) -> None:
        """Follow the stream until `stop`; outages are logged once and waited out."""
        delay = RETRY_FIRST
        connected = True
        while not stop.is_set():
            try:
                if not connected:
                    await self.connect()
                    connected = True
                    self._came_back()
                await self.step()
                delay = RETRY_FIRST
            except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
                connected = False
                self._went_down(e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, RETRY_MAX)
            except redis.ResponseError as e:  # e.g. the key holds something else
                log.error("gateway: Redis refused reading %s (%s); retrying", self.stream, e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_MAX)

    def feed(self, entries: list[Entry]) -> None:
        for entry_id, fields in entries:
            self.last_id = entry_id
            self.read += 1
            try:
                wire, agent = parse_entry(fields)
            except BadEntry as e:
                self.bad += 1
                if self.bad <= BAD_LOGGED or self.bad % 1000 == 0:
                    log.warning("gateway: entry %s of %s is not an event (%s); skipped "
                                "(%d so far)", entry_id, self.stream, e, self.bad)
                continue
            call, seq = wire["call_id"], wire["seq"]
            if seq <= self.last_seq.get(call, 0):
                self.skipped += 1
                continue
            self.last_seq[call] = seq
            self.last_seq.move_to_end(call)
            if len(self.last_seq) > KEEP_SEQS:
                self.last_seq.popitem(last=False)
            self.kept += 1
            # The entry's JSON parsed as one object, so it can be sent as it came.
            self.sink(wire, agent, '{"type":"event","event":' + fields["wire"] + "}")

    def _went_down(self, e: Exception) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.error("gateway: Redis %s unreachable (%s); panels stay connected, retrying",
                      where(self.url), e)

    def _came_back(self) -> None:
        if self.down_since is not None:
            log.warning("gateway: Redis %s reachable again after %.1f s; following %s from "
                        "entry %s", where(self.url), time.monotonic() - self.down_since,
                        self.stream, self.last_id)
            self.down_since = None

    async def close(self) -> None:
        await self.client.aclose()


class Cards:
    """Suggestion ids of live calls, so feedback names a card that was shown."""

    def __init__(self) -> None:
        self.calls: OrderedDict[str, set[str]] = OrderedDict()

    def see(self, wire: dict[str, Any]) -> None:
        typ, call = wire["type"], wire["call_id"]
        if typ == "call.ended":
            self.calls.pop(call, None)
        elif typ == "suggestion":
            card = (wire.get("evidence") or {}).get("id")
            if isinstance(card, str):
                self.calls.setdefault(call, set()).add(card)
                self.calls.move_to_end(call)
                if len(self.calls) > KEEP_CARDS:
                    self.calls.popitem(last=False)

    def shown(self, call: str, card: str) -> bool:
        return card in self.calls.get(call, ())


class FeedbackOut:
    """The panel server's feedback callback: clicks onto `assist:feedback`, never blocking."""

    def __init__(self, url: str, cards: Cards) -> None:
        self.cards = cards
        self.sender = StreamSender(url, FEEDBACK_STREAM, maxlen=FEEDBACK_MAXLEN,
                                   backlog=FEEDBACK_MAXLEN, name="redis-feedback")

    def __call__(self, call_id: str, suggestion: str, action: str, agent: str | None) -> None:
        if not self.cards.shown(call_id, suggestion):
            raise UserError(f"no card {suggestion[:40]!r} on a live call {call_id[:40]!r}")
        self.sender.add({"call": call_id, "suggestion": suggestion, "action": action,
                         "agent": agent or ""})

    def close(self) -> None:
        self.sender.close()


def gateway_name(cfg: Config) -> str:
    return cfg.cluster.name or f"{socket.gethostname()}-gateway"


async def run_gateway(cfg: Config, *, host: str | None = None, port: int | None = None) -> int:
    """The gateway process: rebuild from the stream, serve panels, follow; until SIGTERM."""
    from assist.panel.setup import panel_secret, panel_server

    url = cfg.cluster.redis_url
    secret = panel_secret(cfg)
    cards = Cards()
    feedback = FeedbackOut(url, cards)
    server = panel_server(cfg, secret, feedback, host=host, port=port)

    def sink(wire: dict[str, Any], agent: str | None, text: str) -> None:
        cards.see(wire)
        server.publish(wire, agent=agent, text=text)

    follower = Follower(url, sink)
    started = time.monotonic()
    try:
        entries = await follower.rebuild()
    except (redis.RedisError, OSError) as e:
        await follower.close()
        feedback.close()
        raise UserError(f"cluster.redis_url: cannot read {EVENTS_STREAM} at {where(url)} "
                        f"({e})") from None
    took = time.monotonic() - started
    try:
        await server.start()
    except OSError as e:
        await follower.close()
        feedback.close()
        raise UserError(f"cannot listen on {server.host}:{server.port} ({e}); choose "
                        "another port with --port or server.port") from None
    config = "" if cfg.path == "<defaults>" else f" --config {cfg.path}"
    print(f"assist gateway {gateway_name(cfg)} on {server.url}, following {EVENTS_STREAM} "
          f"at {where(url)}\n"
          f"  rebuilt {len(server.fanout.calls)} call(s) from {entries} entr(ies) in "
          f"{took:.2f} s\n"
          f"  panel addresses: python -m assist{config} token --agent ID --url {server.url}\n"
          "  Ctrl-C stops.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await follower.follow(stop)
    finally:
        await server.stop()
        await follower.close()
        await asyncio.to_thread(feedback.close)
    log.info("gateway stopped: %d entr(ies) read, %d kept, %d duplicate(s) skipped, %d bad",
             follower.read, follower.kept, follower.skipped, follower.bad)
    return 0


async def run(cfg: Config, args: object = None) -> int:
    """The role's entry with `run`'s options (host and port apply)."""
    return await run_gateway(cfg, host=getattr(args, "host", None),
                             port=getattr(args, "port", None))
