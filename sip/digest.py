"""SIP digest authentication of callers (RFC 3261 §22, RFC 2617/7616 MD5), sans I/O.

Nonces are stateless: the issue time in hex, then an HMAC of it (and of the sender's
address) under a per-process secret, so no table of outstanding challenges is kept.
A nonce is good for `lifetime` seconds after issue; an older one with otherwise right
credentials gets a fresh challenge with `stale=true`, so the sender retries without
asking anyone for a password.  Time is an argument: callers pass `time.time()`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

NONCE_LIFETIME = 300.0  # seconds
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)')


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def response(*, username: str, realm: str, password: str, method: str, uri: str, nonce: str,
             qop: str | None = None, nc: str | None = None,
             cnonce: str | None = None) -> str:  # fmt: skip
    """The `response` value a client computes (MD5; qop absent or "auth")."""
    ha1 = md5_hex(f"{username}:{realm}:{password}")
    ha2 = md5_hex(f"{method}:{uri}")
    if qop:
        return md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5_hex(f"{ha1}:{nonce}:{ha2}")


def parse_digest(value: str) -> dict[str, str] | None:
    """`Digest k=v, k="v"` -> {k: v} with lower-case keys; None if not a Digest credential."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None or m.end() == pos:
            return None
        raw = m.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[m.group(1).lower()] = raw
        pos = m.end()
    return params


def make_nonce(secret: bytes, now: float, scope: str = "") -> str:
    stamp = f"{int(now):x}"
    return f"{stamp}.{_mac(secret, stamp, scope)}"


def nonce_age(secret: bytes, nonce: str, now: float, scope: str = "") -> float | None:
    """Seconds since this nonce was issued; None if it was not issued here (or for scope)."""
    stamp, dot, mac = nonce.partition(".")
    if not dot or not re.fullmatch(r"[0-9a-f]{1,12}", stamp):
        return None
    if not hmac.compare_digest(mac, _mac(secret, stamp, scope)):
        return None
    return now - int(stamp, 16)


def _mac(secret: bytes, stamp: str, scope: str) -> str:
    return hmac.new(secret, f"{stamp}|{scope}".encode(), hashlib.sha256).hexdigest()[:32]


def same_target(uri: str, request_uri: str) -> bool:
    """The digest `uri` names the Request-URI: equal, or the same scheme and host:port
    (sipp and some SBCs send `sip:HOST:PORT` without the user part or parameters)."""
    return uri == request_uri or _target(uri) == _target(request_uri) != ("", "")


def _target(uri: str) -> tuple[str, str]:
    scheme, colon, rest = uri.strip().partition(":")
    if not colon or scheme.lower() not in ("sip", "sips"):
        return ("", "")
    hostport = re.split(r"[;?]", rest.rsplit("@", 1)[-1], maxsplit=1)[0]
    return (scheme.lower(), hostport.lower())


def challenge(realm: str, nonce: str, stale: bool = False) -> str:
    """A `WWW-Authenticate` value."""
    return (f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'
            + (", stale=true" if stale else ""))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    """0: let the request through; else the status to answer, with why (safe to log:
    never the password or the response hash) and, for 401, the challenge to send."""

    status: int
    reason: str
    user: str | None = None
    www_authenticate: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 0


def authenticate(authorizations: list[str], *, method: str, request_uri: str, username: str,
                 password: str, realm: str, secret: bytes, now: float, scope: str = "",
                 lifetime: float = NONCE_LIFETIME) -> Verdict:  # fmt: skip
    """Check a request's `Authorization` header values against one set of credentials."""

    def again(why: str, stale: bool = False, user: str | None = None) -> Verdict:
        nonce = make_nonce(secret, now, scope)
        return Verdict(401, why, user, challenge(realm, nonce, stale))

    creds = [p for p in map(parse_digest, authorizations) if p is not None]
    ours = [p for p in creds if p.get("realm") == realm]
    if not ours:
        if creds:
            return again(f"credentials for realm {creds[0].get('realm', '')!r}, not {realm!r}")
        return again("authentication required")
    p = ours[0]
    user = p.get("username")
    if any(not p.get(k) for k in ("username", "nonce", "uri", "response")):
        return Verdict(400, "digest credentials lack username, nonce, uri or response", user)
    if p.get("algorithm", "MD5").upper() != "MD5":
        return again(f"algorithm {p['algorithm']} not supported (MD5 only)", user=user)
    qop = p.get("qop")
    if qop is not None and (qop.lower() != "auth" or not p.get("nc") or not p.get("cnonce")):
        return Verdict(400, "digest qop must be auth, with nc and cnonce", user)
    if not same_target(p["uri"], request_uri):
        return Verdict(400, f"digest uri {p['uri']!r} does not name the request URI", user)
    expected = response(username=username, realm=realm, password=password, method=method,
                        uri=p["uri"], nonce=p["nonce"], qop=qop, nc=p.get("nc"),
                        cnonce=p.get("cnonce"))  # fmt: skip
    right = hmac.compare_digest(p["response"].lower(), expected) and hmac.compare_digest(
        p["username"].encode(), username.encode()
    )
    if not right:
        return Verdict(403, f"wrong digest credentials for user {user!r}", user)
    age = nonce_age(secret, p["nonce"], now, scope)
    if age is None:  # e.g. issued before a restart: credentials are right, ask again
        return again("nonce not issued here", stale=True, user=user)
    if not -5.0 <= age <= lifetime:
        return again(f"nonce expired ({age:.0f} s old)", stale=True, user=user)
    return Verdict(0, "ok", user)
