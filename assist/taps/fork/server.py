"""The media-fork listener: one websocket port, one URL path per configured source.

Who may connect is settled in the HTTP upgrade, before any audio is read: the
path names the source, its allow-list must hold the peer's address, and its
credentials must check (Basic for audio_fork, signature for AudioHook and
Twilio).  Refusals are one log line, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import ssl as ssl_mod
import time
from collections.abc import Callable, Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from assist.taps.fork import audio_fork, audiohook, twilio
from assist.taps.fork.framing import ForkContext, ProtocolError, close_reason
from assist.taps.fork.httpsig import SignatureError, verify
from assist.taps.fork.params import ForkParams, ForkSource

log = logging.getLogger(__name__)
HANDLERS = {"audio_fork": audio_fork.serve_connection, "audiohook": audiohook.serve_connection,
            "twilio": twilio.serve_connection}


def _header(headers: Headers, name: str) -> str | None:
    values = headers.get_all(name)
    return ", ".join(v.strip() for v in values) if values else None


def basic_ok(src: ForkSource, value: str | None) -> bool:
    if src.username is None:
        return True
    if not value or not value.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(value[6:].strip(), validate=True).decode(
        ).partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return (hmac.compare_digest(user.encode(), src.username.encode())
            & hmac.compare_digest(password.encode(), (src.password or "").encode()))


class ForkServer:
    def __init__(self, params: ForkParams, sink: Any, *, clock: Callable[[], float] = time.time,
                 ssl_context: ssl_mod.SSLContext | None = None) -> None:
        self.params = params
        self.host, self.port = params.host, params.port
        self.ctx = ForkContext(sink, params, clock)
        self._ssl = ssl_context
        self._accepted: dict[ServerConnection, ForkSource] = {}
        self._server: Server | None = None
        self.stats = {"accepted": 0, "refused": 0, "protocol_errors": 0}

    async def start(self) -> None:
        self._server = await serve(self._handle, self.host, self.port,
                                   process_request=self._process_request,
                                   select_subprotocol=self._select, ssl=self._ssl,
                                   max_size=self.params.max_message, server_header=None,
                                   close_timeout=2.0)  # a flooding peer may never read our close
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for bridge, timer in {id(v[0]): v for v in self.ctx.parked.values()}.values():
            timer.cancel()
            bridge.end("shutdown")
        self.ctx.parked.clear()

    def _select(self, conn: ServerConnection, offered: Sequence[Subprotocol]
                ) -> Subprotocol | None:
        return next((p for p in offered if p in audio_fork.SUBPROTOCOLS), None)

    def _refuse(self, conn: ServerConnection, status: int, why: str, src: str = "-",
                headers: dict[str, str] | None = None) -> Response:
        self.stats["refused"] += 1
        peer = conn.remote_address[0] if conn.remote_address else "?"
        log.warning("fork: refused %s from %s (source %s): %s", conn.request.path[:80]
                    if conn.request else "?", peer, src, why)
        resp = conn.respond(status, f"{why}\n")
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        src = self.params.source_at(request.path)
        if src is None:
            return self._refuse(conn, 404, "no fork source at this path")
        if len(self._accepted) + len(self.ctx.live) >= self.params.max_connections:
            return self._refuse(conn, 503, "too many connections", src.name)
        peer = conn.remote_address[0] if conn.remote_address else None
        if not src.allows(peer):
            return self._refuse(conn, 403, "address not in the source's allow-list", src.name)
        h = request.headers
        if src.kind == "audio_fork" and not basic_ok(src, _header(h, "authorization")):
            return self._refuse(conn, 401, "bad or missing credentials", src.name,
                                {"WWW-Authenticate": 'Basic realm="assist"'})
        if src.kind == "audiohook":
            try:
                verify(lambda n: _header(h, n), target=request.path, api_key=src.api_key or "",
                       secret=src.client_secret or b"", now=self.ctx.clock())
            except SignatureError as e:
                return self._refuse(conn, 401, f"AudioHook authentication failed: {e}",
                                    src.name)
        if src.kind == "twilio" and not twilio.check_signature(
                src, request.path, _header(h, "x-twilio-signature")):
            return self._refuse(conn, 403, "X-Twilio-Signature does not match", src.name)
        self._accepted[conn] = src
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        src = self._accepted.pop(ws, None)
        if src is None:
            return
        self.stats["accepted"] += 1
        try:
            await HANDLERS[src.kind](ws, src, self.ctx)
        except ProtocolError as e:
            self.stats["protocol_errors"] += 1
            log.warning("fork %s: %s; closing with %d", src.name, repr(str(e))[1:-1], e.code)
            await ws.close(e.code, close_reason(str(e)))
        except ConnectionClosed:
            pass
        except Exception:  # our bug, not the client's: this connection only
            log.exception("fork %s: connection handler failed", src.name)
            await ws.close(1011, "internal error")
