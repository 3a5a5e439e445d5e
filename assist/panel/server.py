"""The panel service: static pages and the event websocket on one port.

`AssistServer.publish()` is the loop's Publisher: it runs on the event loop,
queues text for each allowed connection and returns at once.  Each connection
has a writer task draining its own bounded outbox, so a stalled browser only
ever hurts itself.  The protocol is in docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from assist.errors import UserError
from assist.events import dumps
from assist.evidence import FEEDBACK_ACTIONS
from assist.panel.auth import Claims, TokenError, verify_token
from assist.panel.fanout import Fanout, Link
from assist.panel.guards import OriginPolicy, RateLimit, duplicated_header, own_host_names
from assist.panel.outbox import Outbox

PROTOCOL_VERSION = 1
WS_PATH = "/ws"
WEB_ROOT = Path(__file__).parent / "web"
CLIENT_TYPES = ("hello", "subscribe", "unsubscribe", "resume", "feedback", "ping")
MAX_SEQ = 2**53  # the largest integer a browser's JSON keeps exact

log = logging.getLogger("assist.panel.server")

FeedbackCallback = Callable[[str, str, str, str | None], None]
# Extra HTTP routes (assist/panel/review.py): a response, or None for the static files.
Routes = Callable[[Request], Awaitable[Response] | None]


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def ssl_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server TLS context for wss/https from PEM certificate and key paths."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class AssistServer:
    """Serves assist/panel/web/ over HTTP(S) and events over ws(s)://host:port/ws."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        secret: bytes,
        on_feedback: FeedbackCallback | None = None,
        routes: Routes | None = None,
        origins: Iterable[str] = (),
        ssl_context: ssl.SSLContext | None = None,
        web_root: Path = WEB_ROOT,
        queue_limit: int = 256,
        queue_hard_limit: int = 1024,
        queue_max_chars: int = 500_000,
        keep_ended: int = 200,
        max_opened: int = 32,
        max_message: int = 16 * 1024,
        message_rate: float = 20.0,
        message_burst: int = 100,
        hello_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self.host, self.port = host, port
        self._secret = secret
        self._on_feedback = on_feedback
        self._routes = routes
        self._origins = tuple(origins)
        self._origin_policy = OriginPolicy(self._origins, (), port)
        self._ssl = ssl_context
        self._web_root = web_root.resolve()
        self._queue = (queue_limit, queue_hard_limit, queue_max_chars)
        self._max_message = max_message
        self._rate = (message_rate, message_burst)
        self._hello_timeout = hello_timeout
        self._clock = clock
        self.fanout = Fanout(keep_ended=keep_ended, max_opened=max_opened)
        self._links: dict[Link, ServerConnection] = {}
        self._server: Server | None = None
        self.stats = {"published": 0, "refused": 0, "errors": 0, "overflow_closes": 0,
                      "messages": 0}

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            ssl=self._ssl,
            # Above our own limit so a too-big message gets a JSON error first;
            # beyond this the library closes with 1009.
            max_size=self._max_message * 4,
            # Without compression a read of the socket holds only what it says: a
            # 256 KiB read of deflated frames could inflate to megabytes first.
            compression=None,
            server_header=None,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        hosts = await asyncio.to_thread(own_host_names, self.host)
        self._origin_policy = OriginPolicy(self._origins, hosts, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> AssistServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}/"

    # -- Publisher --------------------------------------------------------
    def publish(
        self, wire: dict[str, Any], *, agent: str | None = None, arrival: float | None = None,
        text: str | None = None,
    ) -> None:
        """Hand one serialised event to every allowed connection.  Never blocks.

        `text` is the event's message (fanout.event_text) when the caller has it already.
        """
        self.stats["published"] += 1
        self.fanout.publish(wire, agent, text)
        self._close_overflowed()

    def _close_overflowed(self) -> None:
        while self.fanout.overflowed:
            link = self.fanout.overflowed.pop()
            self.fanout.remove(link)
            self.stats["overflow_closes"] += 1
            ws = self._links.get(link)
            if ws is not None:
                # The writer sees the overflow and closes with 1013; the page resumes.
                log.warning("panel too slow, closing it so it resumes: %s", ws.remote_address)

    # -- HTTP -------------------------------------------------------------
    def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | Awaitable[Response] | None:
        path = urlsplit(request.path).path
        twice = duplicated_header(request.headers)
        if twice is not None:
            self.stats["refused"] += 1
            return connection.respond(HTTPStatus.BAD_REQUEST, f"more than one {twice} header\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if path != WS_PATH:
                return connection.respond(HTTPStatus.NOT_FOUND, "no websocket here\n")
            if not self._origin_policy.allows(request.headers.get("Origin")):
                self.stats["refused"] += 1
                return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
            return None
        if self._routes is not None and (routed := self._routes(request)) is not None:
            return routed
        return self._static(path)

    def _static(self, path: str) -> Response:
        rel = "index.html" if path in ("/", "") else path.lstrip("/")
        target = (self._web_root / rel).resolve()
        if not target.is_relative_to(self._web_root) or not target.is_file():
            return _response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        return _response(HTTPStatus.OK, target.read_bytes(), ctype)

    # -- websocket --------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        try:
            link = await self._greet(ws)
        except (ConnectionClosed, TimeoutError):
            return
        if link is None:
            return
        writer = asyncio.create_task(self._write(ws, link))
        expiry = asyncio.get_running_loop().call_later(
            max(0.0, link.claims.exp - self._clock()), self._expire, ws
        )
        limit = RateLimit(*self._rate, now=self._clock())
        strikes = 0
        try:
            async for message in ws:
                self.stats["messages"] += 1
                if limit.allow(self._clock()):
                    strikes = 0
                    self._on_message(link, message)
                else:
                    strikes += 1
                    if strikes > limit.burst:  # it did not slow down when told
                        await self._send_error_close(ws, "rate_limited", "too many messages",
                                                     1008)
                        break
                    if strikes == 1:
                        self._reply_error(link, "rate_limited",
                                          f"more than {limit.rate:g} messages a second")
                if writer.done() or link.outbox.overflowed:
                    break
        except ConnectionClosed:
            pass
        finally:
            expiry.cancel()
            self.fanout.remove(link)
            self._links.pop(link, None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if link.outbox.overflowed:  # a writer stuck in send never got to say so
                with contextlib.suppress(ConnectionClosed):
                    await ws.close(1013, "panel too slow; reconnect and resume")

    def _expire(self, ws: ServerConnection) -> None:
        asyncio.ensure_future(self._send_error_close(ws, "auth", "token expired", 1008))

    async def _greet(self, ws: ServerConnection) -> Link | None:
        """Nothing about any call is sent until a valid hello arrives."""
        raw = await asyncio.wait_for(ws.recv(), self._hello_timeout)
        try:
            msg = _parse(raw, self._max_message)
            if msg["type"] != "hello":
                raise ProtocolError("auth", "send hello with a token first")
            if msg.get("v") != PROTOCOL_VERSION:
                raise ProtocolError("version", f"this server speaks protocol v{PROTOCOL_VERSION}")
            try:
                claims = verify_token(self._secret, msg.get("token"), now=self._clock())
            except TokenError as exc:
                raise ProtocolError("auth", str(exc)) from None
            resume = _seq_map(msg.get("resume", {}))
            opened = _str_list(msg.get("open", []))
        except ProtocolError as exc:
            self.stats["refused"] += 1
            log.info("panel link from %s refused: %s (%s)", _peer(ws), exc, exc.code)
            await self._send_error_close(ws, exc.code, str(exc), 1008)
            return None
        link = Link(claims, Outbox(*self._queue))
        self._links[link] = ws
        calls = [c.summary() for c in self.fanout.visible(link)]
        link.outbox.put(dumps({"type": "welcome", "v": PROTOCOL_VERSION, "role": claims.role,
                               "agent": claims.agent, "exp": claims.exp, "calls": calls}))
        # Registration and catch-up in one synchronous step: no event can fall between.
        self.fanout.add(link)
        self.fanout.resume(link, resume, opened)
        self._close_overflowed()
        return link

    async def _write(self, ws: ServerConnection, link: Link) -> None:
        # The reader notices a closed link too; the writer just stops.
        with contextlib.suppress(ConnectionClosed):
            while True:
                text = await link.outbox.get()
                if text is None:
                    await ws.close(1013, "panel too slow; reconnect and resume")
                    return
                await ws.send(text)

    def _on_message(self, link: Link, raw: str | bytes) -> None:
        msg: dict[str, Any] | None = None
        try:
            msg = _parse(raw, self._max_message)
            reply = self._dispatch(link, msg)
        except ProtocolError as exc:
            ref = msg.get("ref") if msg is not None else None
            self._reply_error(link, exc.code, str(exc), ref)
            return
        if reply is not None:
            self._put(link, dumps(reply))
        self._close_overflowed()

    def _put(self, link: Link, text: str) -> None:
        if not link.outbox.put(text) and link not in self.fanout.overflowed:
            self.fanout.overflowed.append(link)

    def _reply_error(self, link: Link, code: str, text: str, ref: object = None) -> None:
        self.stats["errors"] += 1
        reply: dict[str, Any] = {"type": "error", "code": code, "message": text}
        if isinstance(ref, (str, int)):
            reply["ref"] = ref
        self._put(link, dumps(reply))
        self._close_overflowed()

    def link_stats(self) -> list[dict[str, Any]]:
        """What each connection makes the server hold: queued texts, characters,
        catch-up cursors and opened calls."""
        return [{"role": link.claims.role, "agent": link.claims.agent,
                 "queued": len(link.outbox), "chars": link.outbox.chars,
                 "cursors": len(link.outbox.cursors), "opened": len(link.opened),
                 "dropped": link.outbox.dropped} for link in self._links]

    def _dispatch(self, link: Link, msg: dict[str, Any]) -> dict[str, Any] | None:
        typ, ref = msg["type"], msg.get("ref")
        ok: dict[str, Any] = {"type": "ok", "for": typ}
        if isinstance(ref, (str, int)):
            ok["ref"] = ref
        if typ == "hello":
            raise ProtocolError("bad_message", "already said hello")
        if typ == "ping":
            return ok
        if typ == "resume":
            self.fanout.resume(link, self._known_seqs(link, _seq_map(msg.get("calls", {}))), [])
            return ok
        call_id = msg.get("call_id")
        if not isinstance(call_id, str):
            raise ProtocolError("bad_message", f"{typ} needs a call_id string")
        call = self.fanout.calls.get(call_id)
        if call is None or not link.claims.may_see(call.agent):
            raise ProtocolError("not_found", "no such call")  # same answer: no probing
        if typ == "subscribe":
            if link.claims.role != "supervisor":
                return ok  # an agent already sees its calls in full
            after = msg.get("after", 0)
            if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                raise ProtocolError("bad_message", "after must be a non-negative integer")
            if after > call.last_seq:
                raise ProtocolError("bad_message", f"after {after} is past the call's last "
                                                   f"event ({call.last_seq})")
            if not self.fanout.open(link, call_id, after):
                raise ProtocolError("too_many", f"{self.fanout.max_opened} calls open at once "
                                                "at most; unsubscribe from one first")
            return ok
        if typ == "unsubscribe":
            self.fanout.close_call_view(link, call_id)
            return ok
        # feedback
        if link.claims.role != "agent":
            raise ProtocolError("forbidden", "only the call's agent gives feedback")
        suggestion, action = msg.get("suggestion"), msg.get("action")
        if not isinstance(suggestion, str) or not suggestion or len(suggestion) > 200:
            raise ProtocolError("bad_message", "feedback needs a suggestion id string")
        if action not in FEEDBACK_ACTIONS:
            raise ProtocolError("bad_message", f"action must be one of {FEEDBACK_ACTIONS}")
        if self._on_feedback is not None:
            try:
                self._on_feedback(call_id, suggestion, action, link.claims.agent)
            except UserError as exc:  # the card or the live call is not there
                raise ProtocolError("not_found", str(exc)) from None
            except Exception:  # a bad callback must not drop the panel
                log.exception("feedback callback failed")
                raise ProtocolError("internal", "feedback not recorded") from None
        return ok

    def _known_seqs(self, link: Link, seqs: dict[str, int]) -> dict[str, int]:
        """`seqs` if each names a call `link` may see, at or before its last event."""
        for call_id, seq in seqs.items():
            call = self.fanout.calls.get(call_id)
            if call is None or not link.claims.may_see(call.agent):
                raise ProtocolError("not_found", f"no such call {call_id[:40]!r}")
            if seq > call.last_seq:
                raise ProtocolError("bad_message", f"seq {seq} is past the last event "
                                                   f"({call.last_seq}) of {call_id[:40]!r}")
        return seqs

    async def _send_error_close(self, ws: ServerConnection, code: str, text: str, close: int):
        with contextlib.suppress(ConnectionClosed):
            await ws.send(dumps({"type": "error", "code": code, "message": text}))
            closing = asyncio.ensure_future(ws.close(close, text[:100]))
            # Read on, discarding, so the peer's close frame behind its unread
            # messages is seen and the link ends now rather than at the timeout.
            async for _ in ws:
                pass
            await closing


def _response(status: HTTPStatus, body: bytes, ctype: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy",
             "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:"),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def _parse(raw: str | bytes, max_message: int) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise ProtocolError("bad_message", "send JSON text frames, not binary")
    if len(raw) > max_message:
        raise ProtocolError("too_big", f"message over {max_message} characters")
    try:
        msg = json.loads(raw)
    except ValueError:
        raise ProtocolError("bad_json", "message is not valid JSON") from None
    except RecursionError:  # the C parser recurses per level of nesting
        raise ProtocolError("bad_json", "message nested too deeply") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("bad_message", "message must be a JSON object with a type")
    try:  # "\ud800" escapes decode to text no reply could carry
        dumps(msg).encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError("bad_message", "strings must be valid Unicode") from None
    if msg["type"] not in CLIENT_TYPES:
        raise ProtocolError("unknown_type", f"unknown message type {msg['type'][:40]!r}")
    return msg


def _peer(ws: ServerConnection) -> str:
    addr = ws.remote_address
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)


def _seq_map(value: object) -> dict[str, int]:
    if not isinstance(value, dict) or len(value) > 10_000:
        raise ProtocolError("bad_message", "resume must map call ids to last seq numbers")
    out: dict[str, int] = {}
    for key, seq in value.items():
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
            raise ProtocolError("bad_message",
                                f"resume seq for {key[:40]!r} must be an integer 0..2^53")
        out[key] = seq
    return out


def _str_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError("bad_message", "open must be a list of call ids")
    return value


__all__ = ["AssistServer", "Claims", "PROTOCOL_VERSION", "ssl_context"]
