"""HTTP Message Signatures as AudioHook uses them: HMAC-SHA256 over the listed request
components, keyed with the integration's client secret, `keyid` equal to X-API-KEY.

Only the structured-field subset those headers use is parsed (RFC 8941 dictionaries
of an inner list of strings or a byte sequence, with string/integer parameters).
The signature base is rebuilt from the parsed values, so a sloppy signer fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable

REQUIRED = ("@request-target", "@authority", "audiohook-organization-id",
            "audiohook-session-id", "audiohook-correlation-id", "x-api-key")
MAX_AGE = 10.0  # seconds a signature stays good after `created`
SKEW = 3.0
_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_TOKEN_INT = re.compile(r"-?\d{1,15}")

Value = str | int | bytes | list[str]
Params = list[tuple[str, str | int]]


class SignatureError(Exception):
    pass


class _Cursor:
    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def key(self) -> str:
        m = _KEY.match(self.s, self.i)
        if not m:
            raise SignatureError("bad structured-field key")
        self.i = m.end()
        return m.group()

    def string(self) -> str:
        if self.peek() != '"':
            raise SignatureError("expected a string")
        self.i += 1
        out = []
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == "\\":
                if self.peek() not in ('"', "\\"):
                    raise SignatureError("bad escape in string")
                out.append(self.s[self.i])
                self.i += 1
            elif c == '"':
                return "".join(out)
            elif not " " <= c <= "~":
                raise SignatureError("bad character in string")
            else:
                out.append(c)
        raise SignatureError("unterminated string")

    def bare(self) -> str | int | bytes:
        c = self.peek()
        if c == '"':
            return self.string()
        if c == ":":
            end = self.s.find(":", self.i + 1)
            if end < 0:
                raise SignatureError("unterminated byte sequence")
            raw, self.i = self.s[self.i + 1:end], end + 1
            try:
                return base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise SignatureError("bad base64 in byte sequence") from None
        m = _TOKEN_INT.match(self.s, self.i)
        if m:
            self.i = m.end()
            return int(m.group())
        raise SignatureError("unsupported structured-field value")

    def params(self) -> Params:
        out: Params = []
        while self.peek() == ";":
            self.i += 1
            self.ws()
            k = self.key()
            v: str | int | bytes = 1
            if self.peek() == "=":
                self.i += 1
                v = self.bare()
            if isinstance(v, bytes):
                raise SignatureError("byte-sequence parameters are not used here")
            out.append((k, v))
        return out


def parse_dictionary(text: str) -> dict[str, tuple[Value, Params]]:
    cur, out = _Cursor(text), {}
    cur.ws()
    while cur.peek():
        k = cur.key()
        if cur.peek() != "=":
            raise SignatureError(f"member {k!r} has no value")
        cur.i += 1
        value: Value
        if cur.peek() == "(":
            cur.i += 1
            items: list[str] = []
            while True:
                cur.ws()
                if cur.peek() == ")":
                    cur.i += 1
                    break
                items.append(cur.string())
                if cur.params():
                    raise SignatureError("component parameters are not supported")
            value = items
        else:
            value = cur.bare()
        out[k] = (value, cur.params())
        cur.ws()
        if cur.peek() == ",":
            cur.i += 1
            cur.ws()
        elif cur.peek():
            raise SignatureError("junk after a dictionary member")
    return out


def _encode(v: str | int) -> str:
    if isinstance(v, int):
        return str(v)
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def signature_base(components: list[str], params: Params,
                   lookup: Callable[[str], str | None]) -> str:
    lines = []
    for name in components:
        value = lookup(name)
        if value is None:
            raise SignatureError(f"cannot resolve signed component {name!r}")
        lines.append(f"{_encode(name)}: {value}")
    inner = "(" + " ".join(_encode(c) for c in components) + ")"
    inner += "".join(f";{k}={_encode(v)}" for k, v in params)
    lines.append(f'"@signature-params": {inner}')
    return "\n".join(lines)


def verify(headers: Callable[[str], str | None], *, target: str, api_key: str, secret: bytes,
           now: float) -> None:
    """Raise SignatureError unless the request is signed by the holder of `secret`."""
    got_key = headers("x-api-key")
    if got_key is None or not hmac.compare_digest(got_key.encode(), api_key.encode()):
        raise SignatureError("unknown X-API-KEY")
    raw_input, raw_sig = headers("signature-input"), headers("signature")
    if not raw_input or not raw_sig:
        raise SignatureError("request not signed (Signature and Signature-Input)")
    inputs, sigs = parse_dictionary(raw_input), parse_dictionary(raw_sig)
    label = next(iter(inputs), None)
    if label is None or label not in sigs:
        raise SignatureError("Signature has no label matching Signature-Input")
    components, params = inputs[label]
    signature = sigs[label][0]
    if not isinstance(components, list) or not isinstance(signature, bytes):
        raise SignatureError("malformed Signature-Input or Signature")
    p = dict(params)
    if set(p) - {"alg", "created", "expires", "keyid", "nonce"}:
        raise SignatureError("unknown signature parameter")
    if p.get("alg", "hmac-sha256") != "hmac-sha256":
        raise SignatureError("signature algorithm must be hmac-sha256")
    if p.get("keyid") != got_key:
        raise SignatureError("signature keyid does not match X-API-KEY")
    nonce = p.get("nonce")
    if not isinstance(nonce, str) or len(nonce) < 22:
        raise SignatureError("missing or short nonce")
    created, expires = p.get("created"), p.get("expires")
    if not isinstance(created, int):
        raise SignatureError("no created time")
    if created > now + SKEW or now - created > MAX_AGE + SKEW:
        raise SignatureError("signature too old or from the future")
    if expires is not None and (not isinstance(expires, int) or expires < now - SKEW):
        raise SignatureError("signature expired")
    missing = set(REQUIRED) - set(components)
    if missing or len(set(components)) != len(components):
        raise SignatureError(f"signature does not cover {', '.join(sorted(missing))}")

    def lookup(name: str) -> str | None:
        if name == "@request-target":
            return target
        if name == "@authority":
            return headers("host")
        if name.startswith("@"):
            return None
        return headers(name)

    base = signature_base(components, params, lookup)
    want = hmac.new(secret, base.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, signature):
        raise SignatureError("signature does not match")


def sign(headers: dict[str, str], *, target: str, api_key: str, secret: bytes, now: int,
         nonce: str) -> dict[str, str]:
    """The two headers a Genesys client adds (used by tests and the bench to play Genesys)."""
    params: Params = [("keyid", api_key), ("nonce", nonce), ("alg", "hmac-sha256"),
                      ("created", now), ("expires", now + 10)]
    low = {k.lower(): v for k, v in headers.items()}
    base = signature_base(list(REQUIRED), params,
                          lambda n: target if n == "@request-target" else low.get(
                              "host" if n == "@authority" else n))
    mac = hmac.new(secret, base.encode(), hashlib.sha256).digest()
    inner = "(" + " ".join(_encode(c) for c in REQUIRED) + ")" + "".join(
        f";{k}={_encode(v)}" for k, v in params)
    return {"Signature-Input": f"sig1={inner}",
            "Signature": f"sig1=:{base64.b64encode(mac).decode()}:"}
