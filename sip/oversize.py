"""SIP messages too large for the SIP stack on a stream (TCP) connection.

The wheel's pjsip reads a stream into a 4000-byte buffer (`PJSIP_MAX_PKT_LEN`).
A longer message never fits: pjsip drops the first 4000 bytes and reads the rest
as the start of the next message, so every later request on that connection is
lost.  `StreamGuard` sees the bytes before pjsip parses them, recognises a
message that cannot fit from its headers (or from headers that alone fill the
buffer), and says how many bytes to remove so the next message starts clean.

Pure: bytes in, counts out; `sip.tcphook` binds it to pjsip.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sip.message import MAX_PACKET, REASONS, parse_message

HEAD_LIMIT = 65536  # a header section past this is not SIP: the connection is closed
BODY_LIMIT = 1_000_000  # a Content-Length past this is not skipped: closed too
_CLEN = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?$")


@dataclass(frozen=True, slots=True)
class Dropped:
    """A message removed from the stream: its header section and whole size."""

    head: bytes
    size: int

    @property
    def method(self) -> str:
        m = re.match(rb"[A-Z]{1,16} ", self.head)
        return m.group(0).decode().strip() if m else "message"


class TooLarge(Exception):
    """Past `HEAD_LIMIT` or `BODY_LIMIT`: the stream cannot be resynchronised."""


class StreamGuard:
    """One connection's state: in the middle of an oversized message or not."""

    def __init__(self) -> None:
        self._head = b""  # header bytes taken so far, while they alone overflow
        self._skip = 0  # body bytes of a dropped message still to come

    @property
    def busy(self) -> bool:
        return bool(self._head) or self._skip > 0

    def take(self, data: bytes) -> tuple[int, Dropped | None]:
        """`data` is what pjsip is about to parse.  Returns how many bytes at its
        front to remove (0: let pjsip have it), and the message when its header
        section is complete (to answer it)."""
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            return n, None
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if not self._head and len(data) < MAX_PACKET:
                return 0, None  # an ordinary partial message: pjsip waits for more
            if len(head) > HEAD_LIMIT:
                raise TooLarge(f"header section over {HEAD_LIMIT} bytes")
            self._head = head
            return len(data), None
        m = _CLEN.search(head[:end + 2])
        body = int(m.group(1)) if m else 0
        size = end + 4 + body
        if not self._head and size <= MAX_PACKET:
            return 0, None  # fits: pjsip's own business
        if body > BODY_LIMIT:
            raise TooLarge(f"Content-Length {body}")
        mine = size - len(self._head)  # bytes of this message from the start of data
        self._head = b""
        n = min(len(data), mine)
        self._skip = mine - n
        return n, Dropped(head[:end], size)

    def dropped_by_pjsip(self, data: bytes) -> None:
        """pjsip removed these bytes itself (line ends before a message): they belong
        to the message being skipped, if any."""
        if self._skip:
            self._skip -= min(self._skip, len(data))
        elif self._head:
            self._head += data


def response(head: bytes, status: int, reason: str,
             headers: tuple[tuple[str, str], ...] = ()) -> bytes | None:  # fmt: skip
    """A final response to the request whose header section this is (RFC 3261
    §8.2.6), or None if it is not a request that gets one (a response, an ACK,
    or a request without the headers a response must copy)."""
    msg = parse_message(head + b"\r\n\r\n")
    method = msg.start.split(" ", 1)[0]
    if msg.start.startswith("SIP/") or method in ("ACK", ""):
        return None
    vias, frm, to = msg.all("via"), msg.header("from"), msg.header("to")
    cid, cseq = msg.header("call-id"), msg.header("cseq")
    if not (vias and frm and to and cid and cseq):
        return None
    if ";tag=" not in to.replace(" ", "").lower():
        to += ";tag=" + uuid.uuid4().hex[:12]
    lines = [f"SIP/2.0 {status} {REASONS.get(status, 'Refused')}"]
    lines += [f"Via: {v}" for v in vias]
    lines += [f"From: {frm}", f"To: {to}", f"Call-ID: {cid}", f"CSeq: {cseq}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("utf-8", "replace")
