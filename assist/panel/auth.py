"""Signed access tokens: who may see which calls.

A token is `base64url(payload JSON) . base64url(HMAC-SHA256(secret, payload))`.
The payload names the role (`agent` sees only calls where they are the agent,
`supervisor` sees every call), the agent id and an expiry in Unix seconds.
Time is an argument so expiry is testable without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["agent", "supervisor"]
ROLES: tuple[Role, Role] = ("agent", "supervisor")
DEFAULT_TTL = 12 * 3600  # one working shift
SECRET_BYTES = 32


class TokenError(Exception):
    """A token that must be refused; the message says why (never echoes the secret)."""


@dataclass(frozen=True, slots=True)
class Claims:
    role: Role
    agent: str | None
    exp: float

    def may_see(self, call_agent: str | None) -> bool:
        return self.role == "supervisor" or (call_agent is not None and call_agent == self.agent)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def issue_token(
    secret: bytes, *, role: Role, agent: str | None = None, ttl: float = DEFAULT_TTL, now: float
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if role == "agent" and not agent:
        raise ValueError("an agent token needs an agent id")
    if ttl <= 0:
        raise ValueError(f"ttl must be positive seconds, got {ttl}")
    if len(secret) < 16:
        raise ValueError("the signing secret must be at least 16 bytes")
    payload = {"role": role, "agent": agent or None, "exp": int(now + ttl)}
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    sig = hmac.new(secret, body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(sig)}"


def verify_token(secret: bytes, token: object, *, now: float) -> Claims:
    """The claims of a valid token; TokenError for a missing, forged or expired one."""
    if not isinstance(token, str) or not token:
        raise TokenError("missing token")
    if len(token) > 2048 or token.count(".") != 1:
        raise TokenError("malformed token")
    body_b64, sig_b64 = token.split(".")
    try:
        body, sig = _unb64(body_b64), _unb64(sig_b64)
    except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
        raise TokenError("malformed token") from exc
    if not hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).digest(), sig):
        raise TokenError("bad token signature")
    try:
        payload = json.loads(body)
        role, agent, exp = payload["role"], payload.get("agent"), float(payload["exp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("malformed token payload") from exc
    if role not in ROLES or (role == "agent" and not isinstance(agent, str)):
        raise TokenError("malformed token payload")
    if now >= exp:
        raise TokenError("token expired")
    return Claims(role=role, agent=agent, exp=exp)


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret kept in `path`; created (mode 0600) on first use."""
    try:
        data = path.read_bytes().strip()
    except FileNotFoundError:
        data = b""
    if data:
        try:
            secret = bytes.fromhex(data.decode("ascii"))
        except ValueError as exc:
            raise ValueError(f"{path}: not a hex secret; delete it to make a new one") from exc
        if len(secret) < 16:
            raise ValueError(f"{path}: secret shorter than 16 bytes; delete it to make a new one")
        return secret
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_bytes(SECRET_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex() + "\n")
    return secret
