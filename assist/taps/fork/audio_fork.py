"""FreeSWITCH mod_audio_fork and jambonz `listen`: one JSON metadata text frame, then
binary L16 (signed 16-bit little-endian) frames.

- `mixType` mono or mixed: one channel, the source's `mono_role`; stereo: two
  interleaved channels in the source's `channels` order (caller first by default).
- `sampleRate` from the metadata (jambonz sends it), else `?rate=` on the URL,
  else 8000; `mixType` likewise (`?mix=`).  mod_audio_fork takes both on its
  command line, so its URL carries them.
- Text frames after the metadata (jambonz DTMF) are read and ignored.
- Close codes (RFC 6455): 1003 unsupported mix or rate, 1007 malformed data,
  1008 rate limit or no metadata in time; 1009 is the library's for oversize.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import numpy as np

from assist.frames import Party
from assist.privacy import mask
from assist.taps.fork.framing import (
    CallBridge,
    ForkContext,
    ProtocolError,
    RateLimit,
    output_rate,
    parse_json,
    receive,
    safe_id,
)
from assist.taps.fork.params import ForkSource

log = logging.getLogger(__name__)
SUBPROTOCOLS = ("audiostream.drachtio.org", "audio.jambonz.org")
MIX_TYPES = ("mono", "mixed", "stereo")


def _settings(meta: dict[str, Any], path: str) -> tuple[str, int]:
    query = {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}
    mix = meta.get("mixType", query.get("mix", "mono"))
    rate: Any = meta.get("sampleRate", query.get("rate", 8000))
    if mix not in MIX_TYPES:
        raise ProtocolError(f"mixType must be mono, mixed or stereo, got {str(mix)[:20]!r}", 1003)
    try:
        rate = int(str(rate).lower().removesuffix("k")) * (1000 if str(rate).endswith("k")
                                                           else 1)
    except ValueError:
        raise ProtocolError("sampleRate is not a number", 1003) from None
    if output_rate(rate) is None:
        raise ProtocolError(f"sampleRate {rate} is not supported", 1003)
    return str(mix), rate


def call_meta(src: ForkSource, meta: dict[str, Any], mix: str) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": "audio_fork", "source": src.name, "mix": mix}
    for key in ("from", "to", "direction", "callId"):
        if isinstance(meta.get(key), str):
            out[key] = mask(meta[key][:80])
    return out


async def serve_connection(ws: Any, src: ForkSource, ctx: ForkContext) -> None:
    limit = RateLimit(ctx.params.max_rate)
    meta = parse_json(await receive(ws, limit, ctx.params.open_timeout), "the metadata frame")
    mix, rate = _settings(meta, ws.request.path)
    key = next((meta[k] for k in ("callSid", "uuid", "callId", "call_sid")
                if isinstance(meta.get(k), str | int)), None) or uuid.uuid4().hex
    call_id = ctx.unique_id(f"{src.name}-{safe_id(key)}", uuid.uuid4().hex)
    names = src.channels if mix == "stereo" else (src.mono_role,)
    parties = tuple(cast(Party, n) for n in names)
    bridge = CallBridge(ctx.sink, call_id, rate=output_rate(rate) or rate,
                        agent=src.agent_of(meta), source=f"fork:{src.name}",
                        language=src.language, meta=call_meta(src, meta, mix),
                        max_ahead=ctx.params.max_ahead)
    ctx.live.add(call_id)
    for party in parties:
        bridge.add_party(party, rate)
    bridge.watch(shared=len(parties) > 1)
    width = 2 * len(parties)
    reason = "hangup"
    try:
        while True:
            msg = await receive(ws, limit)
            if isinstance(msg, str):
                parse_json(msg, "a text frame")  # DTMF and the like: checked, not used
                continue
            if len(msg) % width:
                raise ProtocolError(f"binary frame of {len(msg)} bytes is not whole "
                                    f"{len(parties)}-channel 16-bit samples", 1007)
            pcm = np.frombuffer(msg, dtype="<i2").astype(np.int16)
            if len(parties) == 1:
                bridge.push(parties[0], pcm)
            else:
                frames = pcm.reshape(-1, 2)
                for ch, party in enumerate(parties):
                    bridge.push(party, frames[:, ch])
    except ProtocolError as e:
        reason = "protocol error"
        raise e
    finally:
        if reason == "hangup" and ws.close_code not in (None, 1000, 1001):
            reason = f"disconnect ({ws.close_code})"
        ctx.live.discard(call_id)
        bridge.end(reason)
