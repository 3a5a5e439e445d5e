"""The tap's end of the hop: its calls' frames to the analysis process over a Unix socket.

Rules:
- One connection per tap process, multiplexing its calls (assist/cluster/wire.py).
- `HopSink` is the tap's CallSink and runs on the event loop; it only appends
  to the socket's buffer.  Past `limit` bytes waiting (the analysis process is
  slow or stopped) frames are dropped and counted, never queued without bound;
  starts and ends of calls are always sent.
- While no analysis process is connected `refusal()` says why, and the SIP tap
  refuses new INVITEs with 503 and that reason, so the proxy tries another tap.
- The connection is retried with a backoff.  Calls that were live when it broke
  go on in SIP but are no longer analysed: the analysis side has ended them
  ("tap process NAME lost" if the tap died, or its own shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from typing import TYPE_CHECKING, Any

from assist.cluster import wire
from assist.cluster.check import analysis_socket
from assist.frames import Frame

if TYPE_CHECKING:
    from assist.config import Config

log = logging.getLogger(__name__)
BUFFER_LIMIT = 512 * 1024  # bytes waiting in the socket's buffer: ~5 s of 4 calls at 16 kHz
RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between connection attempts


def socket_path(cfg: Config) -> str:
    """`cluster.analysis_socket`, or DATA_DIR/analysis.sock (its length is checked when
    the config loads)."""
    return str(analysis_socket(cfg))


def process_name(cfg: Config, role: str) -> str:
    return cfg.cluster.name or f"{socket.gethostname()}-{role}"


class HopSink:
    """A CallSink that forwards start_call, feed, audio_health and end_call to the
    analysis process."""

    def __init__(self, path: str, tap: str, *, limit: int = BUFFER_LIMIT) -> None:
        self.path, self.tap, self.limit = path, tap, limit
        self._writer: asyncio.StreamWriter | None = None
        self._slots: dict[str, int] = {}  # live calls on this connection
        self._numbers = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._down_reason: str | None = f"not yet connected to the analysis process at {path}"
        self._down_since = time.monotonic()
        self._down_logged = False
        self.sent = 0
        self.dropped = 0  # frames let go because the analysis side was slow
        self._dropping = False

    # --- any thread --------------------------------------------------------------
    def refusal(self) -> str | None:
        """Why a new call cannot be analysed now, or None (read from the SIP thread)."""
        return self._down_reason

    # --- the event loop ----------------------------------------------------------
    async def start(self, wait: float = 5.0) -> bool:
        """Start connecting; wait up to `wait` s for the first connection (True if up)."""
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), wait)
        return self._up.is_set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            with contextlib.suppress(OSError):
                await self._writer.drain()
            self._writer.close()
            self._writer = None

    def start_call(self, call_id: str, *, agent: str | None, rate: int,
                   language: str | None = None, source: str = "replay",
                   meta: dict[str, Any] | None = None) -> None:
        if self._writer is None:
            log.warning("call %s is not analysed: %s", call_id, self._down_reason)
            return
        slot = next(self._numbers) & 0xFFFFFFFF
        try:
            msg = wire.start(slot, call_id, agent=agent, rate=rate, language=language,
                             source=source, meta=meta)
        except ValueError as e:
            log.warning("call %s is not analysed: %s", call_id, e)
            return
        self._slots[call_id] = slot
        self._writer.write(msg)

    def feed(self, call_id: str, frame: Frame) -> None:
        slot = self._slots.get(call_id)
        writer = self._writer
        if slot is None or writer is None:
            return
        if writer.transport.get_write_buffer_size() > self.limit:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("the analysis process at %s is not keeping up: over %d KB wait; "
                            "dropping frames until it catches up", self.path, self.limit // 1024)
            return
        if self._dropping:
            self._dropping = False
            log.warning("the analysis process caught up; %d frame(s) dropped so far",
                        self.dropped)
        writer.write(wire.frame(slot, frame))
        self.sent += 1

    def audio_health(self, call_id: str, party: str | None, evidence: dict[str, Any]) -> None:
        """Like starts and ends, always sent: a report is rare and small."""
        slot = self._slots.get(call_id)
        if slot is None or self._writer is None:
            return
        try:
            msg = wire.health(slot, party, evidence)
        except ValueError as e:
            log.warning("call %s: audio report not sent (%s)", call_id, e)
            return
        self._writer.write(msg)

    def end_call(self, call_id: str, reason: str = "hangup") -> None:
        slot = self._slots.pop(call_id, None)
        if slot is not None and self._writer is not None:
            self._writer.write(wire.end(slot, reason))

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(self.path)
            except OSError as e:
                self._went_down(f"no analysis process at {self.path} ({e.strerror or e})")
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
            writer.write(wire.hello(self.tap))
            self._writer = writer
            self._came_up()
            try:
                while await reader.read(4096):  # the analysis side sends nothing; b"" is EOF
                    pass
            except OSError:
                pass
            finally:
                self._writer = None
                lost = len(self._slots)
                self._slots.clear()
                writer.close()
            self._went_down(f"lost the analysis process at {self.path}", lost)

    def _came_up(self) -> None:
        self._down_reason = None
        self._up.set()
        if self._down_logged:
            self._down_logged = False
            log.info("connected to the analysis process at %s as %s (after %.1f s); taking "
                     "calls", self.path, self.tap, time.monotonic() - self._down_since)

    def _went_down(self, reason: str, live: int = 0) -> None:
        self._up.clear()
        if self._down_reason is None:
            self._down_since = time.monotonic()
        if not self._down_logged:
            self._down_logged = True
            log.error("%s: refusing new calls until it is back%s", reason,
                      f"; {live} live call(s) go on unanalysed" if live else "")
        self._down_reason = reason

