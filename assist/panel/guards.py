"""What the panel server checks before it believes a client: headers, origins, rates.

Rules:
- A request with two `Host`, `Origin`, `Upgrade` or `Connection` headers is
  malformed: refused with 400 before anything reads them.
- A browser's `Origin` must be one configured in `[server] origins`, or name this
  server itself: one of its own host names or addresses, on its own port.  The
  `Host` header is never trusted for this: a DNS-rebinding page sends `Host: evil`
  and `Origin: http://evil`, and both are the attacker's.
- After `hello` a connection may send `burst` messages at once and `rate` a second
  after that; time is an argument, so the limit is testable without sleeping.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from websockets.datastructures import Headers

SINGLE_HEADERS = ("Host", "Origin", "Upgrade", "Connection")
WILDCARDS = ("", "0.0.0.0", "::")
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def duplicated_header(headers: Headers) -> str | None:
    """The first header of SINGLE_HEADERS that appears more than once, if any."""
    for name in SINGLE_HEADERS:
        if len(headers.get_all(name)) > 1:
            return name
    return None


def own_host_names(bind_host: str) -> frozenset[str]:
    """The names and addresses a page served by this machine may carry in its Origin.

    Bound to one address, that address (and loopback); bound to every address, the
    machine's own host names and the addresses they resolve to.
    """
    names = set(LOOPBACK)
    if bind_host not in WILDCARDS:
        names.add(bind_host.lower().strip("[]"))
        return frozenset(names)
    try:
        host = socket.gethostname()
        names |= {host.lower(), socket.getfqdn().lower()}
        for *_, addr in socket.getaddrinfo(host, None):
            names.add(str(addr[0]).lower())
    except OSError:  # no resolver: loopback and configured origins still work
        pass
    return frozenset(names)


class OriginPolicy:
    """Decides whether a browser page at `Origin` may open the event websocket."""

    def __init__(self, origins: Iterable[str], hosts: Iterable[str], port: int) -> None:
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.hosts = frozenset(h.lower() for h in hosts)
        self.port = port

    def allows(self, origin: str | None) -> bool:
        if origin is None:  # not a browser; the token still decides
            return True
        origin = origin.strip().rstrip("/").lower()
        if origin in self.origins:
            return True
        try:
            parts = urlsplit(origin)
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:  # a port that is not a number
            return False
        if parts.scheme not in ("http", "https") or parts.path or parts.query:
            return False
        return parts.hostname in self.hosts and port == self.port


class RateLimit:
    """Token bucket: `burst` messages at once, then `rate` a second."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._last = now

    def allow(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
