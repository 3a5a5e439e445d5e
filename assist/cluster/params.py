"""The [cluster] section: this process's role and the engines it talks to."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from assist.errors import ConfigError
from assist.settings import Rule, check_fields, choice, number, rule, text

ROLES = ("embedded", "tap", "analysis", "gateway", "writer")


def _ip(v: object) -> bool:
    try:
        ipaddress.ip_address(str(v))
    except ValueError:
        return False
    return isinstance(v, str)


_IPS = Rule(tuple, "a list of IP addresses such as [\"10.0.0.5\"]",
            lambda v: all(_ip(x) for x in v), (("10.0.0.0/8",), ("kamailio",)))


def _url(schemes: tuple[str, ...]) -> object:
    return lambda v: v == "" or v.split("://", 1)[0] in schemes and "://" in v


@dataclass(frozen=True, slots=True)
class ClusterParams:
    role: str = choice("embedded", ROLES)
    # Unique per process: in logs, in Redis consumer names, and in the reason a
    # call ends with when its process dies.  "" means HOST-ROLE.
    name: str = text("", "a process name such as tap1, or \"\" for HOST-ROLE")
    redis_url: str = text("redis://127.0.0.1:6379/0", "a redis:// or unix:// address",
                          _url(("redis", "rediss", "unix")), ("http://x",))  # type: ignore[arg-type]
    # "" keeps calls in SQLite under data_dir (the embedded default).
    postgres_url: str = text("", "a postgresql:// address, or \"\" for SQLite",
                             _url(("postgresql", "postgres")), ("mysql://x",))  # type: ignore[arg-type]
    # Where a machine's tap processes hand frames to its analysis process;
    # "" means DATA_DIR/analysis.sock.
    analysis_socket: str = text("", "a Unix socket path, or \"\" for DATA_DIR/analysis.sock")
    # Entries the whole event stream keeps in Redis (all calls together): what
    # panels can resume from and a gateway rebuilds at start.
    stream_maxlen: int = number(20_000, 100, 10_000_000)
    # Addresses of the SIP proxies (Kamailio) in front of the taps: INVITEs from
    # these are judged by the source the proxy vouches for, not the proxy's own.
    proxies: tuple[str, ...] = rule((), _IPS)

    def __post_init__(self) -> None:
        check_fields(self, "cluster")
        if self.role in ("gateway", "writer", "analysis") and not self.redis_url:
            raise ConfigError("cluster.redis_url", f"a {self.role} process needs Redis")
        if self.role == "writer" and not self.postgres_url:
            raise ConfigError("cluster.postgres_url", "the writer keeps calls in PostgreSQL; "
                              "set postgresql://user@host/db")

    @property
    def clustered(self) -> bool:
        return self.role != "embedded"
