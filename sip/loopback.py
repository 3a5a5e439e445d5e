"""A loopback SIP client: sends an INVITE as an SBC or PBX would (a SIPREC session,
or one leg of a forked call; UDP, or TCP on one connection per client), answers a
digest challenge, ACKs the answer, plays one tone per offered m= line from the port
that line names, and hangs up.  `play` paces several dialogs' tones together (the
legs of a forked call).  Used by `assist trunks test-call` and the integration tests."""

from __future__ import annotations

import re
import socket
import struct
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from sip.digest import parse_digest, response

RATE = 8000
PTIME_SAMPLES = 160  # 20 ms at 8 kHz
_OWN = ("via", "from", "to", "call-id", "cseq", "contact", "content-length", "max-forwards", "l",
        "i", "f", "t", "v", "m")  # fmt: skip


def tone(freq: float, seconds: float, amp: float = 8000.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def ulaw(pcm: np.ndarray) -> bytes:
    """G.711 u-law encoding (the standard segment/mantissa table)."""
    x = pcm.astype(np.int32)
    sign = (x < 0).astype(np.int32)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exp = np.floor(np.log2(mag)).astype(np.int32) - 7
    exp = np.clip(exp, 0, 7)
    mant = (mag >> (exp + 3)) & 0x0F
    return (~((sign << 7) | (exp << 4) | mant) & 0xFF).astype(np.uint8).tobytes()


def dominant_hz(pcm: np.ndarray, rate: int = RATE) -> float:
    x = pcm.astype(np.float64)
    x = x - x.mean()
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spec))])


def alaw(pcm: np.ndarray) -> bytes:
    """G.711 A-law encoding."""
    x = pcm.astype(np.int32) >> 3
    sign = np.where(x >= 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 4095)
    exp = np.clip(np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4, 0, 7)
    mant = np.where(exp == 0, mag >> 1, mag >> exp) & 0x0F
    return ((sign | (exp << 4) | mant) ^ 0x55).astype(np.uint8).tobytes()


@dataclass
class Reply:
    status: int
    head: str
    body: bytes

    def header(self, name: str) -> str | None:
        m = re.search(rf"(?im)^{name}\s*:\s*(.*)$", self.head)
        return m.group(1).strip() if m else None


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    answered: dict[int, int] = field(default_factory=dict)  # m= index -> our RTP port

    @property
    def final(self) -> Reply:
        return next(r for r in reversed(self.replies) if r.status >= 200)


class Uac:
    def __init__(self, tap_port: int, transport: str = "udp", ip: str = "127.0.0.1",
                 host: str = "127.0.0.1", auth: tuple[str, str] | None = None,
                 timeout: float = 15.0) -> None:  # fmt: skip
        self.tap = (host, tap_port)
        self.transport = transport
        self.ip = ip
        self.auth = auth  # (username, password) for a digest challenge
        if transport == "tcp":
            self.sock = socket.create_connection(self.tap, timeout=timeout,
                                                 source_address=(ip, 0))  # fmt: skip
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((ip, 0))
            self.sock.settimeout(timeout)
        self.port = self.sock.getsockname()[1]
        self._buf = b""
        self.rtp: list[socket.socket] = []  # one per m= line of the dialog `offer` set up
        self.payload, self.ptime_ms = 0, 20  # the answer's payload type, the offer's ptime
        self.answered: dict[int, int] = {}
        self._dialog: dict[str, str] = {}
        self._cseq = 1

    def close(self) -> None:
        self.sock.close()

    # --- messages ------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        if self.transport == "tcp":
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, self.tap)

    def _recv(self) -> Reply:
        if self.transport == "udp":
            data = self.sock.recv(65535)
        else:
            while b"\r\n\r\n" not in self._buf:
                self._buf += self._read()
            head, _, rest = self._buf.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            n = int(length.group(1)) if length else 0
            while len(rest) < n:
                rest += self._read()
            data, self._buf = head + b"\r\n\r\n" + rest[:n], rest[n:]
        head, _, body = data.partition(b"\r\n\r\n")
        text = head.decode("utf-8", "replace")
        parts = text.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionError(f"not a SIP response: {text[:60]!r}")
        return Reply(int(parts[1]), text, body)

    def _read(self) -> bytes:
        chunk = self.sock.recv(65535)
        if not chunk:
            raise ConnectionError("the tap closed the connection")
        return chunk

    def _request(self, method: str, cseq: int, dialog: dict[str, str], extra: str = "",
                 body: bytes = b"") -> bytes:  # fmt: skip
        tp = self.transport.upper()
        branch = dialog.get("branch") or "z9hG4bK" + uuid.uuid4().hex
        head = (f"{method} {self.uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/{tp} {self.ip}:{self.port};rport;branch={branch}\r\n"
                f"From: <sip:src@{self.ip}>;tag={dialog['tag']}\r\n"
                f"To: <sip:srs@{self.tap[0]}>{dialog.get('to_tag', '')}\r\n"
                f"Call-ID: {dialog['call_id']}\r\nCSeq: {cseq} {method}\r\n"
                f"Contact: <sip:src@{self.ip}:{self.port};transport={self.transport}>\r\n"
                f"Max-Forwards: 70\r\n{extra}Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
        return head.encode() + body

    @property
    def uri(self) -> str:
        return f"sip:srs@{self.tap[0]}:{self.tap[1]}"

    def invite_only(self, message: bytes) -> Reply:
        """INVITE and wait for the final answer; never ACK it (a client that died)."""
        text = message.replace(b"\r\n", b"\n")
        head, _, body = text.partition(b"\n\n")
        extra = "".join(ln + "\r\n" for ln in head.decode().split("\n")[1:]
                        if ln.split(":", 1)[0].strip().lower() not in _OWN)  # fmt: skip
        dialog = {"tag": uuid.uuid4().hex[:8], "call_id": uuid.uuid4().hex + "@uac"}
        self._send(self._request("INVITE", 1, dialog, extra, body.replace(b"\n", b"\r\n")))
        while (reply := self._recv()).status < 200:
            pass
        return reply

    # --- a whole call --------------------------------------------------------------
    def call(self, message: bytes, tones: list[float], seconds: float = 1.6,
             pad: int = 0, mute: frozenset[int] = frozenset()) -> Outcome:  # fmt: skip
        """`offer`, then on 200 a tone per m= line from that line's port, and `hang_up`."""
        out = self.offer(message, len(tones), pad)
        if out.final.status != 200:
            return out
        try:
            play([(self, tones)], seconds, mute)
        finally:
            self.hang_up()
        return out

    def offer(self, message: bytes, streams: int, pad: int = 0) -> Outcome:
        """INVITE with the message's headers and body (SDP pointed at one RTP port of
        ours per m= line), a 401 answered once with `auth` when given, the final answer
        ACKed.  On 200 the dialog stays up for `play` and `hang_up`."""
        text = message.replace(b"\r\n", b"\n")
        head, _, body = text.partition(b"\n\n")
        extra = "".join(ln + "\r\n" for ln in head.decode().split("\n")[1:]
                        if ln.split(":", 1)[0].strip().lower() not in _OWN)  # fmt: skip
        self._close_rtp()
        self.rtp = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(streams)]
        for s in self.rtp:
            s.bind((self.ip, 0))
        ports = iter(s.getsockname()[1] for s in self.rtp)
        body = re.sub(rb"(?m)^m=audio \d+", lambda m: b"m=audio %d" % next(ports), body)
        body = re.sub(rb"(?m)^c=IN IP4 \S+", b"c=IN IP4 " + self.ip.encode(), body)
        ptime = re.search(rb"(?m)^a=ptime:(\d+)", body)  # an SBC sends what it offered
        self.ptime_ms = int(ptime.group(1)) if ptime else 20
        body = body.replace(b"\n", b"\r\n")
        if pad:
            body = body.replace(b"</recording>", b"<!-- " + b"x" * pad + b" --></recording>")
        self._dialog = {"tag": uuid.uuid4().hex[:8], "call_id": uuid.uuid4().hex + "@uac"}
        self._cseq = 1
        out = Outcome()
        try:
            self._invite(out, self._dialog, self._cseq, extra, body)
            if out.final.status == 401 and self.auth is not None:
                self._cseq = 2
                self._invite(out, self._dialog, self._cseq,
                             extra + self._authorization(out.final), body)  # fmt: skip
        finally:
            if not any(r.status == 200 for r in out.replies):
                self._close_rtp()
        if out.final.status == 200:
            out.answered = dict(enumerate(_audio_ports(out.final.body)))
        self.answered = out.answered
        self.payload = _payload(out.final.body)
        return out

    def hang_up(self) -> None:
        """BYE the dialog `offer` set up, and wait for its answer."""
        try:
            self._send(self._request("BYE", self._cseq + 1, self._dialog))
            while self._recv().status < 200:
                pass
        finally:
            self._close_rtp()

    def _close_rtp(self) -> None:
        for s in self.rtp:
            s.close()
        self.rtp = []

    def _invite(self, out: Outcome, dialog: dict[str, str], cseq: int, extra: str,
                body: bytes) -> None:  # fmt: skip
        """One INVITE transaction: its replies into `out`, the final one ACKed."""
        dialog.pop("to_tag", None)
        dialog["branch"] = "z9hG4bK" + uuid.uuid4().hex
        self._send(self._request("INVITE", cseq, dialog, extra, body))
        while True:
            reply = self._recv()
            out.replies.append(reply)
            if reply.status >= 200:
                break
        tag = re.search(r";tag=[^;\s]+", out.final.header("to") or "")
        dialog["to_tag"] = tag.group(0) if tag else ""
        if out.final.status == 200:  # a 2xx ACK is a new transaction; others reuse the branch
            dialog.pop("branch")
        self._send(self._request("ACK", cseq, dialog))
        dialog.pop("branch", None)

    def _authorization(self, challenge: Reply) -> str:
        assert self.auth is not None
        params = parse_digest(challenge.header("www-authenticate") or "") or {}
        user, password = self.auth
        realm, nonce = params.get("realm", ""), params.get("nonce", "")
        qop = "auth" if "auth" in params.get("qop", "").split(",") else None
        nc, cnonce = ("00000001", uuid.uuid4().hex[:16]) if qop else (None, None)
        digest = response(username=user, realm=realm, password=password, method="INVITE",
                          uri=self.uri, nonce=nonce, qop=qop, nc=nc, cnonce=cnonce)  # fmt: skip
        value = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                 f'uri="{self.uri}", response="{digest}", algorithm=MD5')
        if qop:
            value += f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
        return f"Authorization: {value}\r\n"


def _audio_ports(sdp: bytes) -> list[int]:
    return [int(p) for p in re.findall(rb"(?m)^m=audio (\d+)", sdp)]


def _payload(sdp: bytes) -> int:
    m = re.search(rb"(?m)^m=audio \d+ RTP/AVP (\d+)", sdp)
    return int(m.group(1)) if m else 0


def play(legs: list[tuple[Uac, list[float]]], seconds: float,
         mute: frozenset[int] = frozenset()) -> None:  # fmt: skip
    """Each answered dialog's tones, one per m= line from that line's own port, each
    paced at its offer's ptime, all together; a stream answered with port 0 (or muted,
    by m= index within its dialog) gets nothing."""
    streams: list[tuple[socket.socket, tuple[str, int], int, int, bytes]] = []
    for uac, tones in legs:
        encode = alaw if uac.payload == 8 else ulaw
        for i, (sock, hz) in enumerate(zip(uac.rtp, tones, strict=False)):
            port = 0 if i in mute else uac.answered.get(i, 0)
            if port:
                streams.append((sock, (uac.tap[0], port), uac.payload, uac.ptime_ms,
                                encode(tone(hz, seconds))))  # fmt: skip
    # Every packet of every stream in the order it is due: (seconds, stream, number).
    due = sorted((j * ms / 1000, k, j) for k, (_, _, _, ms, audio) in enumerate(streams)
                 for j in range(len(audio) // (RATE * ms // 1000)))  # fmt: skip
    t0 = time.monotonic()
    for at, k, j in due:
        delay = t0 + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock, where, pt, ms, audio = streams[k]
        size = RATE * ms // 1000
        hdr = struct.pack("!BBHII", 0x80, pt | (0x80 if j == 0 else 0), j & 0xFFFF, j * size,
                          0x5000 + k)  # fmt: skip
        sock.sendto(hdr + audio[j * size : (j + 1) * size], where)
