"""The `tap` role: SIP and RTP (and media forks) only, every frame to the analysis process.

No detectors, speech model, panel server or store in this process: its calls go
through `HopSink` (assist/cluster/hop.py) to the analysis process of the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Any

from assist.cluster.hop import HopSink, process_name, socket_path
from assist.errors import UserError

if TYPE_CHECKING:
    from assist.config import Config

log = logging.getLogger(__name__)
CONNECT_WAIT = 5.0  # s to wait for the analysis process before saying we run without it


async def run_tap(cfg: Config) -> int:
    """The tap process: until SIGTERM or SIGINT."""
    from assist.panel.setup import panel_secret
    from assist.taps.listen import start_fork, start_sip

    if not cfg.trunks and not cfg.fork.enabled:
        raise UserError("a tap process takes calls: configure [[trunks]] or [fork]")
    name = process_name(cfg, "tap")
    path = socket_path(cfg)
    sink = HopSink(path, name)
    up = await sink.start(CONNECT_WAIT)
    sip: Any = None
    fork: Any = None
    try:
        if cfg.trunks:
            # The panel secret only keys the digest nonces shared by the taps behind a proxy.
            sip = await start_sip(cfg, sink, panel_secret(cfg), unready=sink.refusal)
        if cfg.fork.enabled:
            fork = await start_fork(cfg, sink)
        lines = [f"assist tap {name}: frames to the analysis process at {path} "
                 f"({'connected' if up else 'not reachable yet: calls are refused until it is'})"]
        if sip is not None:
            sp = cfg.sip
            lines.append(f"  SIP tap: {sp.host} udp {sp.udp_port or 'off'} tcp "
                         f"{sp.tcp_port or 'off'}, {len(cfg.trunks)} trunk(s)")
        if fork is not None:
            lines.append(f"  media forks: {cfg.fork.host}:{fork.port}")
        print("\n".join([*lines, "waiting for calls; Ctrl-C stops."]), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        if fork is not None:
            await fork.stop()
        if sip is not None:
            await asyncio.to_thread(sip.stop)  # ends its calls through the sink
        await sink.stop()
    log.info("tap stopped: %d frame(s) sent, %d dropped", sink.sent, sink.dropped)
    return 0


async def run(cfg: Config, args: object = None) -> int:
    """The role's entry as `run` calls it (`run`'s options mean nothing to a tap)."""
    return await run_tap(cfg)
