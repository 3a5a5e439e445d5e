"""The analysis end of the hop: tap processes' calls into one CallHub, events to Redis.

Rules:
- Listens on `cluster.analysis_socket` (DATA_DIR/analysis.sock by default);
  every tap process of the machine connects once (assist/cluster/hop.py).
- One CallHub and one set of speech models for all calls; every event goes to
  `assist:events` through RedisPublisher (its agent field keeps isolation).
  No panel server and no store here: gateways and the writer do those.
- When a tap's connection ends while it has calls (the tap was killed), each
  of them ends at once with the reason "tap process NAME lost", published like
  any call end.  Bytes that are not the protocol get one log line and close that
  connection only (its calls end the same way); other taps go on.
- Panel feedback comes from `assist:feedback` (assist/cluster/feedback.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assist.cluster import wire
from assist.cluster.hop import process_name, socket_path
from assist.errors import UserError

if TYPE_CHECKING:
    from assist.call.hub import CallHub
    from assist.config import Config

log = logging.getLogger(__name__)
READ_SIZE = 64 * 1024


@dataclass
class _Tap:
    """One tap's connection: its calls by slot."""

    label: str
    writer: asyncio.StreamWriter
    name: str = "?"
    calls: dict[int, tuple[str, int]] = field(default_factory=dict)  # slot -> (call id, rate)
    ignored: int = 0  # frames for a slot that is not a live call


class HopServer:
    def __init__(self, path: str, hub: CallHub) -> None:
        self.path = path
        self.hub = hub
        self._server: asyncio.AbstractServer | None = None
        self._taps: dict[asyncio.Task[Any], _Tap] = {}
        self._numbers = itertools.count(1)
        self.stopping = False
        self.frames = 0
        self.bad_streams = 0

    @property
    def taps(self) -> list[str]:
        return [t.name for t in self._taps.values()]

    async def start(self) -> None:
        _claim(self.path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path)
        except OSError as e:
            raise UserError(f"cluster.analysis_socket: cannot listen on {self.path} ({e})") \
                from None
        os.chmod(self.path, 0o660)  # the taps run as this user or its group, nobody else

    async def stop(self) -> None:
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for tap in self._taps.values():
            tap.writer.transport.abort()  # its handler reads EOF and returns
        await asyncio.gather(*self._taps, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tap = _Tap(f"connection {next(self._numbers)}", writer)
        task = asyncio.current_task()
        assert task is not None
        self._taps[task] = tap
        decoder = wire.Decoder()
        reason = "tap process {} lost"
        try:
            while data := await reader.read(READ_SIZE):
                for msg in decoder.feed(data):
                    self._on(tap, msg)
        except wire.WireError as e:
            self.bad_streams += 1
            log.warning("hop %s (tap %s): not the hop protocol (%s); closing it", tap.label,
                        tap.name, e)
            reason = "tap process {} lost (bad data on the hop)"
        except OSError as e:
            log.warning("hop %s (tap %s): %s", tap.label, tap.name, e)
        finally:
            del self._taps[task]
            writer.close()
            self._lost(tap, reason.format(tap.name))

    def _on(self, tap: _Tap, msg: wire.Message) -> None:
        if isinstance(msg, wire.FrameIn):
            call = tap.calls.get(msg.slot)
            if call is None:
                tap.ignored += 1
                return
            self.frames += 1
            self.hub.feed(call[0], msg.frame(call[1]))
        elif isinstance(msg, wire.Start):
            self._start(tap, msg)
        elif isinstance(msg, wire.End):
            call = tap.calls.pop(msg.slot, None)
            if call is not None:
                self.hub.end_call(call[0], msg.reason)
        elif isinstance(msg, wire.Health):
            call = tap.calls.get(msg.slot)
            if call is not None:
                self.hub.audio_health(call[0], msg.party, msg.evidence)
        else:
            tap.name = msg.tap
            log.info("hop %s: tap process %s connected", tap.label, tap.name)

    def _start(self, tap: _Tap, msg: wire.Start) -> None:
        if msg.slot in tap.calls:
            raise wire.WireError(f"START of call {msg.call_id[:40]!r} on slot {msg.slot}, "
                                 f"still in use by {tap.calls[msg.slot][0][:40]!r}")
        if msg.call_id in self.hub.sessions:
            log.warning("hop %s (tap %s): call %s is already live here; not analysing it "
                        "twice", tap.label, tap.name, msg.call_id[:40])
            return
        tap.calls[msg.slot] = (msg.call_id, msg.rate)
        meta = {**(msg.meta or {}), "tap_process": tap.name}
        self.hub.start_call(msg.call_id, agent=msg.agent, rate=msg.rate, language=msg.language,
                            source=msg.source, meta=meta)

    def _lost(self, tap: _Tap, reason: str) -> None:
        if tap.ignored:
            log.info("hop %s (tap %s): %d frame(s) for no live call ignored", tap.label,
                     tap.name, tap.ignored)
        if self.stopping:
            return  # the shutdown ends every call itself
        if tap.calls:
            log.warning("hop %s: %s with %d live call(s); ending them", tap.label, reason,
                        len(tap.calls))
        else:
            log.info("hop %s: tap process %s disconnected", tap.label, tap.name)
        for call_id, _ in tap.calls.values():
            self.hub.end_call(call_id, reason)
        tap.calls.clear()


def _claim(path: str) -> None:
    """Remove a socket file left by a dead process; UserError if one still listens."""
    if not os.path.exists(path):
        return
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
        except OSError:
            os.unlink(path)
            return
    raise UserError(f"cluster.analysis_socket: another analysis process listens on {path}")


async def run_analysis(cfg: Config) -> int:
    """The analysis process: until SIGTERM or SIGINT."""
    from assist.asr.transcription import Transcription
    from assist.call.hub import CallHub
    from assist.cluster.bus import RedisPublisher, where
    from assist.cluster.feedback import FeedbackReader
    from assist.cluster.orphans import ending, orphan_endings, reason_lost
    from assist.config import load_coaching

    name = process_name(cfg, "analysis")
    path = socket_path(cfg)
    coaching = load_coaching(cfg)
    transcription = Transcription(cfg.asr)
    publisher = RedisPublisher.from_params(cfg.cluster, by=name)
    hub = CallHub(cfg.loop, [publisher], language=cfg.call.language,
                  transcription=transcription, coaching=coaching, per_agent=cfg.agents)
    server = HopServer(path, hub)
    try:
        await transcription.load()
        # Before any frame: what a previous run of this process left open is ended.
        for call in await asyncio.to_thread(orphan_endings, cfg.cluster.redis_url, name):
            publisher.publish(ending(call, reason_lost(name)), agent=call.agent, arrival=None)
        await server.start()
    except BaseException:
        publisher.close(timeout=1.0)
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    # What start-up made (modules, the model's wrappers, scipy) lives as long as the
    # process: kept out of the cycle collector's full passes, which otherwise walk it
    # all and, with tens of calls, stalled the loop for 50-80 ms at a time.
    gc.collect()
    gc.freeze()
    feedback = FeedbackReader(cfg.cluster.redis_url, hub)
    reader = asyncio.create_task(feedback.run(stop))
    models = ", ".join(lang for lang in dict(cfg.asr.models)
                       if transcription.registry.loaded(lang)) or "none"
    print(f"assist analysis {name}: frames from taps on {path}, events to "
          f"{where(cfg.cluster.redis_url)}; models loaded: {models}\n"
          "  waiting for taps; Ctrl-C stops.", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
        for call_id in list(hub.sessions):
            hub.end_call(call_id, f"analysis process {name} stopped")
        await hub.drain()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await asyncio.to_thread(publisher.close)
    log.info("analysis stopped: %d frame(s) from taps, %d bad stream(s)", server.frames,
             server.bad_streams)
    return 0


async def run(cfg: Config, args: object = None) -> int:
    """The role's entry as `run` calls it (`run`'s options mean nothing here)."""
    return await run_analysis(cfg)
