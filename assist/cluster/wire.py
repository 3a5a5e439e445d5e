"""The hop's wire format: a tap's calls and frames over one byte stream (sans-I/O).

Each message is `length (u32, big-endian) | type (u8) | payload`, `length`
counting the type byte and the payload, at most MAX_MESSAGE.  A connection
opens with HELLO; a tap numbers its calls (a `slot`, u32) so frames need not
carry the call id:

- HELLO  `{"v": 1, "tap": NAME}` as JSON
- START  slot (u32) | JSON `{"call_id", "agent", "rate", "language", "source", "meta"}`
- FRAME  slot (u32) | party (u8: 0 customer, 1 agent) | t (f64) | arrival (f64) | PCM
         (int16 in the machine's byte order, the samples of one FRAME_MS frame)
- END    slot (u32) | reason (UTF-8)
- HEALTH slot (u32) | JSON `{"party", "evidence"}`: a stream's audio-health report
         (party "customer", "agent" or null for both streams)

`t` and `arrival` are sent as they are, so the far side rebuilds the very Frame
the tap made (time.monotonic() is one clock for every process of a machine).
`Decoder.feed()` raises WireError on anything else; after that the stream is
lost, since message boundaries can no longer be trusted.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from assist.frames import PARTIES, SUPPORTED_RATES, Frame, Party, samples_per_frame

VERSION = 1
MAX_MESSAGE = 64 * 1024
HELLO, START, FRAME, END, HEALTH = 1, 2, 3, 4, 5
_HEAD = struct.Struct(">IB")
_SLOT = struct.Struct(">I")
_FRAME = struct.Struct(">IBdd")
_PARTY = {p: i for i, p in enumerate(PARTIES)}


class WireError(ValueError):
    """Bytes that are not the hop's protocol; the connection cannot go on."""


@dataclass(frozen=True, slots=True)
class Hello:
    tap: str


@dataclass(frozen=True, slots=True)
class Start:
    slot: int
    call_id: str
    agent: str | None
    rate: int
    language: str | None
    source: str
    meta: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class FrameIn:
    slot: int
    party: Party
    t: float
    arrival: float
    pcm: bytes

    def frame(self, rate: int) -> Frame:
        return Frame(party=self.party, pcm=np.frombuffer(self.pcm, dtype=np.int16), rate=rate,
                     t=self.t, arrival=self.arrival)


@dataclass(frozen=True, slots=True)
class End:
    slot: int
    reason: str


@dataclass(frozen=True, slots=True)
class Health:
    slot: int
    party: Party | None
    evidence: dict[str, Any]


Message = Hello | Start | FrameIn | End | Health


def _message(kind: int, payload: bytes) -> bytes:
    if len(payload) + 1 > MAX_MESSAGE:
        raise ValueError(f"hop message of {len(payload) + 1} bytes (at most {MAX_MESSAGE})")
    return _HEAD.pack(len(payload) + 1, kind) + payload


def hello(tap: str) -> bytes:
    return _message(HELLO, json.dumps({"v": VERSION, "tap": tap}).encode())


def start(slot: int, call_id: str, *, agent: str | None, rate: int, language: str | None,
          source: str, meta: dict[str, Any] | None) -> bytes:
    body = {"call_id": call_id, "agent": agent, "rate": rate, "language": language,
            "source": source, "meta": meta}
    return _message(START, _SLOT.pack(slot) + json.dumps(body, ensure_ascii=False,
                                                            default=str).encode())


def frame(slot: int, f: Frame) -> bytes:
    pcm = f.pcm.tobytes()
    return _HEAD.pack(_FRAME.size + len(pcm) + 1, FRAME) + _FRAME.pack(
        slot, _PARTY[f.party], f.t, f.arrival) + pcm


def health(slot: int, party: str | None, evidence: dict[str, Any]) -> bytes:
    body = {"party": party, "evidence": evidence}
    return _message(HEALTH, _SLOT.pack(slot) + json.dumps(body, ensure_ascii=False,
                                                             default=str).encode())


def end(slot: int, reason: str) -> bytes:
    return _message(END, _SLOT.pack(slot) + reason.encode("utf-8", "replace")[:1000])


class Decoder:
    """Bytes in (`feed`), messages out; the first message must be HELLO."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.greeted = False

    def feed(self, data: bytes) -> list[Message]:
        buf = self._buf
        buf += data
        out: list[Message] = []
        at = 0
        try:
            while len(buf) - at >= _HEAD.size:
                length, kind = _HEAD.unpack_from(buf, at)
                if not 1 <= length <= MAX_MESSAGE:
                    raise WireError(f"a message length of {length} bytes (1 to {MAX_MESSAGE})")
                if len(buf) - at < 4 + length:
                    break
                payload = bytes(buf[at + _HEAD.size:at + 4 + length])
                at += 4 + length
                out.append(self._parse(kind, payload))
        finally:
            del buf[:at]  # once per chunk, not once per message
        return out

    def _parse(self, kind: int, payload: bytes) -> Message:
        if not self.greeted:
            if kind != HELLO:
                raise WireError(f"message type {kind} before HELLO: not a tap speaking")
            self.greeted = True
            return _hello(payload)
        if kind == FRAME:
            return _frame(payload)
        if kind == START:
            return _start(payload)
        if kind == END:
            slot = _slot(payload)
            return End(slot, payload[_SLOT.size:].decode("utf-8", "replace"))
        if kind == HEALTH:
            return _health(payload)
        raise WireError(f"unknown message type {kind}")


def _json(payload: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise WireError(f"{what}: not JSON ({e})") from None
    if not isinstance(body, dict):
        raise WireError(f"{what}: a JSON object was expected")
    return body


def _hello(payload: bytes) -> Hello:
    body = _json(payload, "HELLO")
    if body.get("v") != VERSION:
        raise WireError(f"HELLO of protocol version {body.get('v')!r}; this side speaks "
                        f"{VERSION}")
    tap = body.get("tap")
    if not isinstance(tap, str) or not 0 < len(tap) <= 200:
        raise WireError("HELLO without a tap name")
    return Hello(tap)


def _slot(payload: bytes) -> int:
    if len(payload) < _SLOT.size:
        raise WireError(f"a message of {len(payload)} bytes has no call slot")
    return int(_SLOT.unpack_from(payload)[0])


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    v = body.get(key)
    if v is not None and not isinstance(v, str):
        raise WireError(f"START: {key} must be text or null")
    return v


def _start(payload: bytes) -> Start:
    slot = _slot(payload)
    body = _json(payload[_SLOT.size:], "START")
    call_id, rate, source, meta = (body.get(k) for k in ("call_id", "rate", "source", "meta"))
    if not isinstance(call_id, str) or not 0 < len(call_id) <= 200:
        raise WireError("START without a call id")
    if rate not in SUPPORTED_RATES:
        raise WireError(f"START of call {call_id[:40]!r} at {rate!r} Hz "
                        f"(one of {SUPPORTED_RATES})")
    if not isinstance(source, str) or (meta is not None and not isinstance(meta, dict)):
        raise WireError(f"START of call {call_id[:40]!r}: source must be text, meta an object")
    return Start(slot, call_id, _opt_str(body, "agent"), int(rate), _opt_str(body, "language"),
                 source, meta)


def _health(payload: bytes) -> Health:
    slot = _slot(payload)
    body = _json(payload[_SLOT.size:], "HEALTH")
    party, evidence = body.get("party"), body.get("evidence")
    if party is not None and party not in PARTIES:
        raise WireError(f"HEALTH for party {str(party)[:40]!r} (customer, agent or null)")
    if not isinstance(evidence, dict):
        raise WireError("HEALTH: evidence must be an object")
    return Health(slot, party, evidence)


def _frame(payload: bytes) -> FrameIn:
    if len(payload) < _FRAME.size:
        raise WireError(f"a FRAME of {len(payload)} bytes")
    slot, party, t, arrival = _FRAME.unpack_from(payload)
    pcm = payload[_FRAME.size:]
    if party >= len(PARTIES):
        raise WireError(f"a FRAME for party {party} (0 customer, 1 agent)")
    if len(pcm) not in {2 * samples_per_frame(r) for r in SUPPORTED_RATES}:
        raise WireError(f"a FRAME of {len(pcm)} PCM bytes (one frame at 8 or 16 kHz)")
    if not t >= 0.0 or t == float("inf"):
        raise WireError(f"a FRAME at call time {t}")
    return FrameIn(slot, PARTIES[party], t, arrival, pcm)
