"""Twilio Media Streams: JSON `connected`, `start`, then `media` (base64 μ-law at
8 kHz), `mark`, `dtmf`, and `stop`, each after `connected` numbered by
`sequenceNumber` from "1".

- The upgrade is signed: X-Twilio-Signature is base64 HMAC-SHA1 of the URL Twilio
  dialled (the source's `public_url` plus the request path and query), keyed
  with the auth token.  A bad or missing signature gets HTTP 403 before upgrade.
- With `track="both_tracks"` each `media` names its track; `tracks` maps them to
  parties (inbound, the caller's audio, is the customer by default).
- `media.timestamp` (ms since the stream began) places each chunk: a party that
  skipped is padded with silence up to the other party, so both keep one clock.
- Twilio reads no replies on a unidirectional stream, so a broken message closes
  the socket: 1003 unsupported media format, 1007 malformed, 1008 out of order
  or over the rate limit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from assist.privacy import mask
from assist.taps.fork.framing import (
    CallBridge,
    ForkContext,
    ProtocolError,
    RateLimit,
    parse_json,
    receive,
    safe_id,
)
from assist.taps.fork.params import ForkSource


def signature(auth_token: str, url: str) -> str:
    mac = hmac.new(auth_token.encode(), url.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def check_signature(src: ForkSource, path: str, got: str | None) -> bool:
    if not got or src.auth_token is None or src.public_url is None:
        return False
    return hmac.compare_digest(signature(src.auth_token, src.public_url + path).encode(),
                               got.strip().encode())


def _seq(msg: dict[str, Any], want: int) -> None:
    got = msg.get("sequenceNumber")
    if not isinstance(got, str | int) or str(got) != str(want):
        raise ProtocolError(f"sequenceNumber {str(got)[:12]!r} where {want} was due", 1008)


def _start(src: ForkSource, ctx: ForkContext, msg: dict[str, Any]) -> tuple[CallBridge, str,
                                                                              dict[str, str]]:
    start = msg.get("start")
    if not isinstance(start, dict):
        raise ProtocolError("start message without a start object", 1007)
    fmt = start.get("mediaFormat") or {}
    if not isinstance(fmt, dict) or (fmt.get("encoding"), fmt.get("sampleRate"),
                                     fmt.get("channels", 1)) != ("audio/x-mulaw", 8000, 1):
        raise ProtocolError("mediaFormat must be audio/x-mulaw, 8000 Hz, 1 channel", 1003)
    sid = msg.get("streamSid") or start.get("streamSid")
    if not isinstance(sid, str) or not sid:
        raise ProtocolError("start without a streamSid", 1007)
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(tracks, list):
        raise ProtocolError("start.tracks must be a list", 1007)
    roles = {str(t): r for t in tracks if (r := src.role_of_track(str(t)))}
    if not roles:
        raise ProtocolError("none of the stream's tracks is mapped to a party", 1008)
    call_sid = start.get("callSid") or sid
    call_id = ctx.unique_id(f"{src.name}-{safe_id(call_sid)}", sid)
    custom = start.get("customParameters")
    meta: dict[str, Any] = {"protocol": "twilio", "source": src.name,
                            "stream": safe_id(sid), "tracks": sorted(roles)}
    if isinstance(custom, dict):
        for key in ("from", "to", "From", "To"):
            if isinstance(custom.get(key), str):
                meta[key.lower()] = mask(custom[key][:80])
    bridge = CallBridge(ctx.sink, call_id, rate=8000, agent=src.agent_of(start),
                        source=f"fork:{src.name}", language=src.language, meta=meta,
                        max_ahead=ctx.params.max_ahead)
    for role in roles.values():
        bridge.add_party(role, 8000)  # type: ignore[arg-type]
    bridge.watch()
    return bridge, sid, roles


async def serve_connection(ws: Any, src: ForkSource, ctx: ForkContext) -> None:
    limit = RateLimit(ctx.params.max_rate)
    first = parse_json(await receive(ws, limit, ctx.params.open_timeout), "the first message")
    if first.get("event") != "connected":
        raise ProtocolError("the first message must be the connected event", 1008)
    msg = parse_json(await receive(ws, limit, ctx.params.open_timeout), "the start message")
    if msg.get("event") != "start":
        raise ProtocolError("the connected event must be followed by start", 1008)
    _seq(msg, 1)
    bridge, sid, roles = _start(src, ctx, msg)
    ctx.live.add(bridge.call_id)
    seq, reason = 1, "hangup"
    chunks: dict[str, int] = {}  # track -> its last media chunk number
    try:
        while True:
            msg = parse_json(await receive(ws, limit), "a message")
            seq += 1
            _seq(msg, seq)
            if msg.get("streamSid") != sid:
                raise ProtocolError("streamSid differs from the start message's", 1008)
            event = msg.get("event")
            if event == "media":
                _media(bridge, roles, msg.get("media"), chunks)
            elif event in ("mark", "dtmf"):
                continue  # mark echoes our own labels; DTMF digits are not analysed
            elif event == "stop":
                reason = "hangup"
                await ws.close(1000, "stop")
                return
            else:
                raise ProtocolError(f"unknown event {str(event)[:24]!r}", 1008)
    except ProtocolError:
        reason = "protocol error"
        raise
    finally:
        if reason == "hangup" and ws.close_code not in (None, 1000, 1001):
            reason = f"disconnect ({ws.close_code})"
        ctx.live.discard(bridge.call_id)
        bridge.end(reason)


def _media(bridge: CallBridge, roles: dict[str, str], media: Any,
           chunks: dict[str, int]) -> None:
    from assist.taps.fork.framing import ulaw_decode

    if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
        raise ProtocolError("media message without a payload", 1007)
    track = str(media.get("track", "inbound"))
    role = roles.get(track)
    if role is None:
        raise ProtocolError(f"media on track {track[:16]!r} that start did not announce", 1008)
    try:
        data = base64.b64decode(media["payload"], validate=True)
        at = int(media.get("timestamp", 0)) / 1000
    except (binascii.Error, ValueError):
        raise ProtocolError("media payload is not base64 or timestamp not a number", 1007
                            ) from None
    chunk = str(media.get("chunk", ""))
    if chunk.isascii() and chunk.isdigit() and len(chunk) < 12:
        # Each track numbers its chunks from 1: a gap is media Twilio never sent us.
        n, last = int(chunk), chunks.get(track, 0)
        if n > last:
            bridge.lose(role, n - last - 1)
            chunks[track] = n
    lead = max(f.t for f in bridge.framers.values())  # never pad past the other party
    bridge.push(role, ulaw_decode(data), at=min(at, lead) if at > 0 else None)  # type: ignore[arg-type]
