"""`python -m assist run`: the service on one machine.

Starts the store, the panel server and the taps, then replays a call (the
bundled demo by default, again and again) so a browser at the printed
address shows a call live on a fresh machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assist.asr.transcription import Transcription
from assist.call.hub import CallHub, Publisher
from assist.config import Config, load_coaching
from assist.errors import UserError
from assist.panel.auth import issue_token
from assist.panel.setup import panel_secret, panel_server
from assist.store import open_store, where
from assist.taps.listen import start_fork, start_sip
from assist.taps.replay import new_call_id, replay
from assist.taps.wav import Recording, read_call

log = logging.getLogger(__name__)
DEMO_CALL = Path(__file__).parent / "demo" / "demo_call.wav"
DEMO_TOKEN_TTL = 3600.0  # the demo's printed tokens: an hour to look, not a shift
PAUSE_BETWEEN_CALLS = 3.0


class Service:
    def __init__(self, cfg: Config, *, host: str | None = None, port: int | None = None,
                 realtime: bool = True) -> None:
        self.cfg = cfg
        coaching = load_coaching(cfg)  # a broken playbook stops us here, with file and line
        self.secret = panel_secret(cfg)
        self.store = open_store(cfg)
        # A replay faster than real time must not drop audio to keep up.
        self.transcription = Transcription(cfg.asr, realtime=realtime)
        self.server = panel_server(cfg, self.secret, self._feedback, host=host, port=port)
        publishers: list[Publisher] = [self.server, self.store]
        self.hub = CallHub(cfg.loop, publishers, language=cfg.call.language,
                           transcription=self.transcription, coaching=coaching,
                           per_agent=cfg.agents)
        self.sip: Any = None
        self.fork: Any = None

    def _feedback(self, call_id: str, suggestion: str, action: str, agent: str | None) -> None:
        self.hub.feedback(call_id, suggestion, action, agent)

    def urls(self, agent: str, ttl: float | None = None) -> dict[str, str]:
        now, ttl = time.time(), ttl or self.cfg.auth.token_ttl
        base = self.server.url
        agent_token = issue_token(self.secret, role="agent", agent=agent, ttl=ttl, now=now)
        supervisor_token = issue_token(self.secret, role="supervisor", ttl=ttl, now=now)
        return {"agent": f"{base}?token={agent_token}",
                "supervisor": f"{base}?token={supervisor_token}"}

    async def start(self) -> None:
        try:
            await self.server.start()
        except OSError as e:
            raise UserError(f"cannot listen on {self.server.host}:{self.server.port} ({e}); "
                            "choose another port with --port or server.port") from None
        await self.transcription.load()
        if self.cfg.trunks:
            await self._start_sip()
        if self.cfg.fork.enabled:
            await self._start_fork()

    async def _start_fork(self) -> None:
        self.fork = await start_fork(self.cfg, self.hub)

    async def _start_sip(self) -> None:
        self.sip = await start_sip(self.cfg, self.hub, self.secret)

    async def stop(self) -> None:
        if self.fork is not None:
            await self.fork.stop()  # ends its calls before the hub drains
        if self.sip is not None:
            await asyncio.to_thread(self.sip.stop)
        for call_id in list(self.hub.sessions):
            self.hub.end_call(call_id, "shutdown")
        await self.hub.drain()
        await self.server.stop()
        await asyncio.to_thread(self.store.close)

    async def replay_forever(self, rec: Recording, *, speed: float, once: bool) -> None:
        while True:
            start = datetime.now(UTC)
            call_id = new_call_id(rec.path.stem, start)
            await replay(rec, self.hub, call_id, speed=speed, agent=self.cfg.call.agent,
                         language=self.cfg.call.language, start_utc=start)
            await self.hub.drain()
            if once:
                return
            await asyncio.sleep(PAUSE_BETWEEN_CALLS)


def panel_lines(svc: Service, show_tokens: bool, demo: bool) -> list[str]:
    """What `run` prints about the panel: addresses with tokens only when asked.

    A token printed to a journal or a CI log is a key left lying there, so
    without a terminal (or --show-tokens) it says how to get one instead.
    """
    agent = svc.cfg.call.agent
    if show_tokens:
        urls = svc.urls(agent, ttl=DEMO_TOKEN_TTL if demo else None)
        life = (DEMO_TOKEN_TTL if demo else svc.cfg.auth.token_ttl) / 60
        return [f"  agent panel ({agent}): {urls['agent']}",
                f"  supervisor view:          {urls['supervisor']}",
                f"  (these tokens are valid {life:.0f} min)"]
    config = "" if svc.cfg.path == "<defaults>" else f" --config {svc.cfg.path}"
    command = f"python -m assist{config} token"
    return ["  panel tokens are not printed here (not a terminal; --show-tokens prints them)",
            "  get a panel address with:",
            f"    {command} --agent {agent} --url {svc.server.url}",
            f"    {command} --supervisor --url {svc.server.url}"]


async def run(cfg: Config, call: str | None, *, speed: float, once: bool,
              host: str | None, port: int | None, demo: bool = True,
              show_tokens: bool | None = None) -> int:
    if cfg.cluster.role == "writer":
        from assist.cluster.writer import run_writer

        return await run_writer(cfg)
    if cfg.cluster.role == "gateway":
        from assist.cluster.gateway import run_gateway

        return await run_gateway(cfg, host=host, port=port)
    if cfg.cluster.role in ("tap", "analysis"):
        from assist.cluster import analysis, tap

        return await (tap.run if cfg.cluster.role == "tap" else analysis.run)(cfg)
    # With trunks or media forks configured the demo call is off unless a call is named.
    live = bool(cfg.trunks) or cfg.fork.enabled
    rec = read_call(call or DEMO_CALL) if (call or (demo and not live)) else None
    svc = Service(cfg, host=host, port=port, realtime=rec is None or speed == 1.0)
    await svc.start()
    if show_tokens is None:
        show_tokens = sys.stdout.isatty()
    lines = panel_lines(svc, show_tokens, demo=rec is not None and call is None)
    print("\n".join([f"assist is running on {svc.server.url}", *lines,
                     f"  store: {where(cfg)}"]), flush=True)
    if svc.sip is not None:
        sp = cfg.sip
        print(f"  SIP tap: {sp.host} udp {sp.udp_port or 'off'} tcp {sp.tcp_port or 'off'}, "
              f"{len(cfg.trunks)} trunk(s)", flush=True)
    if svc.fork is not None:
        print(f"  media forks: {cfg.fork.host}:{svc.fork.port}, "
              + ", ".join(f"{s.kind} {s.path}" for s in cfg.fork.sources), flush=True)
    if rec is not None:
        print(f"replaying {rec.path.name} ({rec.duration:.0f} s)"
              f"{'' if once else ' in a loop'}; Ctrl-C stops.", flush=True)
    else:
        print("waiting for calls; Ctrl-C stops.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(svc.replay_forever(rec, speed=speed, once=once) if rec
                               else stop.wait())
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await svc.stop()
    exc = task.exception() if task.done() and not task.cancelled() else None
    if exc is not None:
        raise exc
    log.info("stopped")
    return 0
