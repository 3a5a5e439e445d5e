"""SIP messages as text: start line and headers, multipart bodies, SDP media lines.

Pure and lenient: each parser copes with what real equipment sends (compact
header names, folded lines, LF line ends, multipart bodies without a close
delimiter or with a wrong boundary parameter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REASONS = {400: "Bad Request", 403: "Forbidden", 486: "Busy Here", 488: "Not Acceptable Here",
           401: "Unauthorized", 513: "Message Too Large", 503: "Service Unavailable",
           420: "Bad Extension", 500: "Server Internal Error"}  # fmt: skip
MAX_PACKET = 4000  # PJSIP_MAX_PKT_LEN in the PyPI wheel
_COMPACT = {"c": "content-type", "l": "content-length", "i": "call-id", "f": "from", "t": "to",
            "v": "via", "m": "contact"}  # fmt: skip


class Refusal(Exception):
    """An offer we will not tap: `status` and `reason` go back to the sender."""

    def __init__(self, status: int, reason: str,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:  # fmt: skip
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers  # extra response headers, e.g. WWW-Authenticate
        self.trunk: str | None = None  # the trunk it came in on, once one matched


@dataclass(frozen=True, slots=True)
class SipMessage:
    start: str
    headers: tuple[tuple[str, str], ...]  # lower-case names, in order
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name.lower()]


@dataclass(frozen=True, slots=True)
class Media:
    index: int  # m= line position: pjsua's call media index
    kind: str
    port: int
    label: str | None
    direction: str
    family: str = "IP4"  # c= address type (media level, else session level)
    profile: str = "RTP/AVP"  # the m= line's transport


def parse_message(raw: bytes | str) -> SipMessage:
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = data.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers.append((_COMPACT.get(name, name), value.strip()))
    return SipMessage(lines[0].strip(), tuple(headers), body)


def check_complete(msg: SipMessage, packet_len: int) -> None:
    """Refuse a message the transport cut short (Content-Length says more came)."""
    declared = msg.header("content-length")
    if declared is not None and declared.strip().isdigit() and len(msg.body) < int(declared):
        raise Refusal(
            513,
            f"message truncated: body {len(msg.body)} of {int(declared)} bytes "
            f"(packet {packet_len} bytes, limit {MAX_PACKET}); send smaller metadata",
        )


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Body parts as (headers, content); tolerant of a missing close delimiter."""
    m = re.search(r'boundary\s*=\s*"?([^";]+)"?', content_type, re.IGNORECASE)
    boundary = m.group(1).strip().encode() if m else b""
    if not boundary or b"--" + boundary not in body:
        found = re.search(rb"(?m)^--([^\r\n]+?)\s*$", body)  # a wrong boundary parameter
        if not found:
            return []
        boundary = found.group(1).rstrip(b"-")
    pieces = re.split(rb"(?m)^--" + re.escape(boundary) + rb"(?:--)?[ \t]*\r?$", body)
    parts = []
    for piece in pieces[1:]:
        piece = piece.lstrip(b"\r").removeprefix(b"\n")
        head, sep, content = piece.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = piece.partition(b"\n\n")
        if not sep and not head.strip():
            continue
        headers = {}
        for line in head.decode("utf-8", "replace").splitlines():
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        parts.append((headers, content.strip(b"\r\n")))
    return parts


def parse_sdp(sdp: bytes | str) -> list[Media]:
    text = sdp.decode("utf-8", "replace") if isinstance(sdp, bytes) else sdp
    session_dir, session_family = "sendrecv", "IP4"
    media: list[Media] = []
    cur: _MediaDraft | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("m="):
            if cur is not None:
                media.append(_media(cur, len(media), session_dir, session_family))
            fields = line[2:].split()
            port = int(fields[1]) if len(fields) > 1 and fields[1].split("/")[0].isdigit() else 0
            cur = _MediaDraft(fields[0] if fields else "", port,
                              fields[2] if len(fields) > 2 else "")  # fmt: skip
        elif line in ("a=sendonly", "a=recvonly", "a=sendrecv", "a=inactive"):
            if cur is None:
                session_dir = line[2:]
            else:
                cur.direction = line[2:]
        elif line.startswith("a=label:") and cur is not None:
            cur.label = line[8:].strip()
        elif line.startswith("c="):
            fields = line[2:].split()
            family = fields[1].upper() if len(fields) > 1 else "?"
            if cur is None:
                session_family = family
            else:
                cur.family = family
    if cur is not None:
        media.append(_media(cur, len(media), session_dir, session_family))
    return media


_STATIC = {"0": "PCMU", "3": "GSM", "4": "G723", "8": "PCMA", "9": "G722", "18": "G729"}


def offered_codecs(sdp: bytes | str) -> list[str]:
    """The audio codecs an offer names, by rtpmap or static payload type: 'G729', ..."""
    text = sdp.decode("utf-8", "replace") if isinstance(sdp, bytes) else sdp
    names = dict(_STATIC)
    names.update(re.findall(r"(?m)^a=rtpmap:(\d+)\s+([^/\s]+)", text))
    out: list[str] = []
    for line in re.findall(r"(?m)^m=audio\s+\S+\s+\S+((?:\s+\d+)*)", text):
        for pt in line.split():
            name = names.get(pt, f"payload {pt}")
            if name not in out and name.lower() != "telephone-event":
                out.append(name)
    return out


@dataclass(slots=True)
class _MediaDraft:
    """One m= section while its attribute lines are still being read."""

    kind: str
    port: int
    profile: str
    label: str | None = None
    direction: str | None = None
    family: str | None = None


def _media(cur: _MediaDraft, index: int, session_dir: str, session_family: str) -> Media:
    direction = cur.direction if cur.direction is not None else session_dir
    family = cur.family if cur.family is not None else session_family
    return Media(index, cur.kind, cur.port, cur.label, direction, family, cur.profile)


def boundary_of(content_type: str) -> bytes | None:
    m = re.search(r'boundary\s*=\s*"?([^";]+)"?', content_type, re.IGNORECASE)
    return m.group(1).strip().encode() if m else None


def canonical_multipart(content_type: str, body: bytes) -> bytes | None:
    """The body re-written as strict RFC 2046 multipart under the Content-Type's own
    boundary (CRLF, a close delimiter), or None if it has no parts to rewrite.

    pjsip's own multipart parser finds no SDP in bodies without the close
    delimiter (Cisco CUBE, Sonus, SEMS) or with a wrong boundary parameter; the
    tap hands it this form instead, parsed by our lenient splitter.
    """
    boundary = boundary_of(content_type)
    parts = split_multipart(content_type, body)
    if not boundary or not parts:
        return None
    out = []
    for headers, content in parts:
        head = "".join(f"{k.title()}: {v}\r\n" for k, v in headers.items()).encode()
        out.append(b"--" + boundary + b"\r\n" + head + b"\r\n" + content + b"\r\n")
    return b"".join(out) + b"--" + boundary + b"--\r\n"
