"""Genesys Cloud AudioHook (protocol version 2), the server side.

- The upgrade carries X-API-KEY and an HTTP message signature (see httpsig); a bad
  key or signature gets HTTP 401 before the upgrade, so no audio is ever read.
- Client messages are JSON with `version` "2", `id` (the session), `type`, `seq`
  (1, 2, ...), `serverseq` (the last server seq seen), `position` and
  `parameters`; ours carry `seq` and `clientseq` back.  `open` → `opened` with the
  chosen media (PCMU 8 kHz; stereo is external = customer, internal = agent,
  interleaved per sample); `ping` → `pong`; `paused`/`resumed` stop and restart
  the call's audio; `update` and `discarded` are noted; `close` → `closed`.
- A broken message gets `disconnect` with reason "error" and the reference
  server's wording; the client then runs its close transaction.
- A session that closes with reason "reconnect", or drops, leaves its call parked
  for `reconnect_grace`; an `open` listing it in `continuedSessions` (or for the
  same conversation) resumes the same call, its call time going on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import numpy as np

from assist.privacy import mask
from assist.taps.fork.framing import (
    CallBridge,
    ForkContext,
    ProtocolError,
    RateLimit,
    close_reason,
    receive,
    safe_id,
    ulaw_decode,
)
from assist.taps.fork.params import ForkSource

log = logging.getLogger(__name__)
CHANNEL_ROLES = {"external": "customer", "internal": "agent"}
CLIENT_TYPES = ("open", "close", "discarded", "error", "ping", "update", "paused", "resumed")
_DURATION = re.compile(r"^PT(\d+(\.\d+)?)S$")
CLOSE_WAIT = 5.0  # seconds a client has to close after our disconnect


class Session:
    def __init__(self, ws: Any, src: ForkSource, ctx: ForkContext) -> None:
        self.ws, self.src, self.ctx = ws, src, ctx
        self.id = ws.request.headers.get("audiohook-session-id", "")
        self.seq = self.clientseq = 0
        self.state = "PREPARING"
        self.bridge: CallBridge | None = None
        self.channels: list[str] = []
        self.conversation = ""
        self.close_reason = ""

    async def send(self, type_: str, parameters: dict[str, Any]) -> None:
        self.seq += 1
        await self.ws.send(json.dumps({"version": "2", "type": type_, "id": self.id,
                                       "seq": self.seq, "clientseq": self.clientseq,
                                       "parameters": parameters}))

    async def disconnect(self, info: str) -> None:
        if self.state not in ("CLOSING", "CLOSED", "SIGNALED-ERROR"):
            log.warning("audiohook %s: %s", self.src.name, repr(info)[1:-1])  # one line
            self.state = "SIGNALED-ERROR"
            await self.send("disconnect", {"reason": "error", "info": f"Client Error: {info}"})

    # -- messages ------------------------------------------------------------
    def check(self, text: str) -> dict[str, Any]:
        try:
            msg = json.loads(text)
        except ValueError:
            raise ProtocolError("Text message not valid JSON") from None
        if not (isinstance(msg, dict) and msg.get("version") == "2"
                and isinstance(msg.get("id"), str) and isinstance(msg.get("type"), str)
                and type(msg.get("seq")) is int and type(msg.get("serverseq")) is int
                and isinstance(msg.get("parameters"), dict)
                and _DURATION.match(str(msg.get("position", "")))):
            raise ProtocolError("Message not a well-formed client message")
        if self.state == "SIGNALED-ERROR" and msg["type"] == "close":
            self.clientseq = msg["seq"]  # after our error, take its close as it numbers it
            return msg
        if msg["seq"] != self.clientseq + 1:
            raise ProtocolError("Invalid seq value (not monotonically increasing)")
        self.clientseq = msg["seq"]
        if msg["serverseq"] > self.seq:
            raise ProtocolError("Invalid serverseq value")
        if msg["id"] != self.id:
            raise ProtocolError("Session identifier mismatch")
        if msg["type"] not in CLIENT_TYPES:
            raise ProtocolError(f"Invalid Message: '{msg['type'][:24]}' is not a supported "
                                "client message")
        return msg

    async def on_text(self, text: str) -> None:
        msg = self.check(text)
        kind, params = msg["type"], msg["parameters"]
        if kind == "open":
            if self.state != "PREPARING":
                return  # the reference server ignores a second open
            await self.open(params)
        elif kind == "ping":
            await self.send("pong", {})
        elif kind == "paused" and self.state == "ACTIVE":
            self.state = "PAUSED"
            if self.bridge:
                self.bridge.paused = True
        elif kind == "resumed" and self.state == "PAUSED":
            self.state = "ACTIVE"
            if self.bridge:
                self.bridge.paused = False
        elif kind == "update":
            log.info("audiohook %s: update %s", self.src.name, str(params)[:200])
        elif kind in ("discarded", "error"):
            log.info("audiohook %s: client %s %s", self.src.name, kind, str(params)[:200])
            if kind == "discarded" and self.bridge is not None:
                self.discarded(params.get("discarded"))
        elif kind == "close":
            if self.state not in ("CLOSING", "CLOSED"):
                self.state = "CLOSING"
                self.close_reason = str(params.get("reason", "end"))[:20]
                self.finish(parked=self.close_reason == "reconnect")
                await self.send("closed", {})
                self.state = "CLOSED"

    async def open(self, p: dict[str, Any]) -> None:
        self.state = "OPENING"
        org = self.ws.request.headers.get("audiohook-organization-id")
        if p.get("organizationId") != org:
            raise ProtocolError('Mismatch between "organizationId" open parameter and '
                                '"audiohook-organization-id" header field')
        media = p.get("media")
        participant: dict[str, Any] = (p["participant"] if isinstance(p.get("participant"), dict)
                                       else {})
        if not isinstance(media, list) or not isinstance(p.get("conversationId"), str):
            raise ProtocolError("Invalid Message: Invalid/missing parameters")
        offers = [m for m in media if isinstance(m, dict) and m.get("type") == "audio"
                  and m.get("format") == "PCMU" and m.get("rate") == 8000
                  and isinstance(m.get("channels"), list) and m["channels"]
                  and set(m["channels"]) <= set(CHANNEL_ROLES)
                  and len(set(m["channels"])) == len(m["channels"])]
        if not offers:
            raise ProtocolError("No supported media offered (PCMU, 8000 Hz, external/internal)")
        chosen = max(offers, key=lambda m: len(m["channels"]))
        self.channels = list(chosen["channels"])
        self.conversation = f"{self.src.name}-{safe_id(p['conversationId'])}"
        self.bridge = self.resume(p) or self.new_call(p, participant)
        self.ctx.live.add(self.bridge.call_id)
        self.bridge.paused = False
        await self.send("opened", {"media": [chosen], "startPaused": False})
        self.state = "ACTIVE"

    def resume(self, p: dict[str, Any]) -> CallBridge | None:
        keys = [c.get("id") for c in p.get("continuedSessions") or [] if isinstance(c, dict)]
        for key in [*keys, self.conversation]:
            parked = self.ctx.parked.pop(str(key), None)
            if parked is not None:
                bridge, timer = parked
                timer.cancel()
                self.ctx.parked.pop(getattr(bridge, "audiohook_key", ""), None)
                log.info("audiohook %s: call %s resumed", self.src.name, bridge.call_id)
                return bridge
        return None

    def new_call(self, p: dict[str, Any], participant: dict[str, Any]) -> CallBridge:
        call_id = self.ctx.unique_id(self.conversation, self.id)
        meta = {"protocol": "audiohook", "source": self.src.name,
                "conversation": safe_id(p["conversationId"])}
        for key in ("ani", "dnis"):
            if isinstance(participant.get(key), str):
                meta[key] = mask(participant[key][:80])
        bridge = CallBridge(self.ctx.sink, call_id, rate=8000, agent=self.src.agent_of(p),
                            source=f"fork:{self.src.name}", language=self.src.language,
                            meta=meta, max_ahead=self.ctx.params.max_ahead)
        for ch in self.channels:
            bridge.add_party(CHANNEL_ROLES[ch], 8000)  # type: ignore[arg-type]
        bridge.watch(shared=len(self.channels) > 1)
        return bridge

    def discarded(self, duration: Any) -> None:
        """Audio the client dropped (its backlog was too long): each party's loss, in
        20 ms frames."""
        m = _DURATION.match(str(duration))
        if m and self.bridge is not None and float(m.group(1)) < 86400:
            for ch in self.channels:
                self.bridge.lose(CHANNEL_ROLES[ch], round(float(m.group(1)) * 50))

    def on_audio(self, data: bytes) -> None:
        if self.state in ("SIGNALED-ERROR", "CLOSING", "CLOSED"):
            return  # audio still in flight after we or it ended the session
        if self.state != "ACTIVE" or self.bridge is None:
            raise ProtocolError(f"Received audio in state {self.state}")
        n = len(self.channels)
        if len(data) % n:
            raise ProtocolError("Binary data not a valid audio frame")
        pcm = ulaw_decode(data).reshape(-1, n)
        for i, ch in enumerate(self.channels):
            self.bridge.push(CHANNEL_ROLES[ch], np.ascontiguousarray(pcm[:, i]))  # type: ignore[arg-type]

    def finish(self, *, parked: bool) -> None:
        """End the call, or park it for a reconnecting session."""
        bridge, self.bridge = self.bridge, None
        if bridge is None or bridge.ended:
            return
        self.ctx.live.discard(bridge.call_id)
        if not parked:
            bridge.end({"end": "hangup", "": "disconnect"}.get(self.close_reason,
                                                              self.close_reason))
            return
        bridge.paused = True
        loop = asyncio.get_running_loop()
        key = self.id
        timer = loop.call_later(self.ctx.params.reconnect_grace, self._expire, key,
                                self.conversation)
        bridge.audiohook_key = self.conversation  # type: ignore[attr-defined]
        self.ctx.parked[key] = self.ctx.parked[self.conversation] = (bridge, timer)

    def _expire(self, key: str, conversation: str) -> None:
        parked = self.ctx.parked.pop(key, None)
        self.ctx.parked.pop(conversation, None)
        if parked is not None:
            parked[0].end("disconnect (no reconnect)")


async def serve_connection(ws: Any, src: ForkSource, ctx: ForkContext) -> None:
    s = Session(ws, src, ctx)
    limit = RateLimit(ctx.params.max_rate)
    try:
        while s.state != "CLOSED":
            timeout = ctx.params.open_timeout if s.state == "PREPARING" else None
            if s.state == "SIGNALED-ERROR":
                timeout = CLOSE_WAIT
            try:
                msg = await receive(ws, limit, timeout)
                if isinstance(msg, bytes):
                    s.on_audio(msg)
                else:
                    await s.on_text(msg)
            except ProtocolError as e:
                if s.state == "SIGNALED-ERROR":  # it had its chance to close
                    await ws.close(1008, close_reason(str(e)))
                    return
                await s.disconnect(str(e))
        # After `closed` the client closes the socket; wait for it a little.
        try:
            await asyncio.wait_for(ws.wait_closed(), CLOSE_WAIT)
        except TimeoutError:
            await ws.close(1000, "closed")
    finally:
        if s.bridge is not None:
            # Dropped without a close transaction: the client may come back.
            s.finish(parked=s.state in ("ACTIVE", "PAUSED"))
