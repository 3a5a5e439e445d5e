"""Trunks: who may send us calls, and how to tell the customer from the agent.

One TOML section per trunk, either `[[trunks]]` with a `name` key or
`[trunks.NAME]`.  Everything is checked here, once; errors name the file, the
key and, when it can be found, the line.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assist.errors import ConfigError
from assist.settings import LANGUAGES, Source, unknown

ROLES = ("customer", "agent")
MODES = ("siprec", "forked")
TRANSPORTS = ("udp", "tcp", "any")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    sources: tuple[Network, ...]
    mode: str = "siprec"
    transport: str = "any"
    language: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    realm: str = "assist"
    # SIPREC: a participant whose AoR matches `agent_aor` is the agent; the agent id
    # is its named group `agent`, else group 1, else the AoR's user part.
    agent_aor: re.Pattern[str] | None = None
    customer_aor: re.Pattern[str] | None = None
    # Acme-style metadata flags the calling party; in an inbound centre that is the customer.
    caller_role: str | None = None
    # Fallbacks when an INVITE carries no metadata: by a=label, then by m= order.
    labels: tuple[tuple[str, str], ...] = ()
    order: tuple[str, ...] = ()
    # Forked mode: headers pairing one call per party into one assisted call.
    call_header: str = "X-Call-ID"
    role_header: str = "X-Role"
    agent_header: str = "X-Agent-ID"
    role_values: tuple[tuple[str, str], ...] = (("customer", "customer"), ("agent", "agent"))
    pair_timeout: float = 3.0

    def allows(self, address: str, transport: str) -> bool:
        if self.transport != "any" and transport.lower() != self.transport:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.sources)

    def label_role(self, label: str) -> str | None:
        return dict(self.labels).get(label)

    def role_of_value(self, value: str) -> str | None:
        return {k.lower(): v for k, v in self.role_values}.get(value.strip().lower())

    @property
    def auth(self) -> bool:
        return self.username is not None


def match_trunk(trunks: tuple[Trunk, ...], address: str, transport: str) -> Trunk | None:
    """The first trunk that allows this source address and transport."""
    for trunk in trunks:
        if trunk.allows(address, transport):
            return trunk
    return None


def load_trunks(path: str | Path) -> tuple[Trunk, ...]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the file ({exc.strerror})") from None
    return parse_trunks(text, str(path))


def parse_trunks(text: str, filename: str = "<config>") -> tuple[Trunk, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(filename, f"not valid TOML: {exc}") from None
    raw = data.get("trunks")
    if raw is None:
        raise ConfigError(filename, "no trunks: add a [[trunks]] or [trunks.NAME] section")
    src = Source(filename, text)
    sections: list[tuple[str, tuple[str | int, ...], dict[str, Any]]] = []  # name, path, table
    if isinstance(raw, list):
        for i, table in enumerate(raw):
            name = table.get("name") if isinstance(table, dict) else None
            if not isinstance(name, str):
                raise src.error(("trunks", i), 'each [[trunks]] needs name = "..."',
                                key=f"trunks[{i}]")
            sections.append((name, ("trunks", i), table))
    elif isinstance(raw, dict):
        for name, table in raw.items():
            if not isinstance(table, dict):
                raise src.error(("trunks", name), "must be a table [trunks.NAME]")
            sections.append((name, ("trunks", name), {**table, "name": name}))
    else:
        raise src.error(("trunks",), "must be [[trunks]] or [trunks.NAME] tables")
    trunks = tuple(_trunk(src, name, path, table) for name, path, table in sections)
    seen: set[str] = set()
    for (_, path, _), t in zip(sections, trunks, strict=True):
        if t.name in seen:
            raise src.error(path, "duplicate trunk name", key=f"trunks.{t.name}")
        seen.add(t.name)
    return trunks


_KEYS = {
    "name", "sources", "mode", "transport", "language", "username", "password", "realm",
    "agent_aor", "customer_aor", "caller_role", "labels", "order", "call_header",
    "role_header", "agent_header", "role_values", "pair_timeout",
}  # fmt: skip


def _trunk(src: Source, name: str, path: tuple[str | int, ...], table: dict[str, Any]) -> Trunk:
    def err(key: str, message: str) -> ConfigError:
        return src.error((*path, key), message, key=f"trunks.{name}.{key}")

    if not _NAME.match(name):
        raise err("name", "use 1-40 letters, digits, '_', '-' or '.'")
    for key in table:
        if key not in _KEYS:
            raise err(key, unknown(key, _KEYS))

    def opt_str(key: str) -> str | None:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise err(key, "must be a non-empty string")
        return value

    def choice(key: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        value = table.get(key, default)
        if value is not None and value not in allowed:
            raise err(key, f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def regex(key: str) -> re.Pattern[str] | None:
        value = opt_str(key)
        if value is None:
            return None
        try:
            return re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise err(key, f"not a valid regular expression: {exc}") from None

    sources_raw = table.get("sources")
    if not isinstance(sources_raw, list) or not sources_raw:
        raise err("sources", 'list the addresses allowed to send calls, e.g. ["10.0.0.0/24"]')
    sources: list[Network] = []
    for item in sources_raw:
        try:
            sources.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise err("sources", f"{item!r} is not an IP address or CIDR") from None

    mode = choice("mode", MODES, "siprec")
    language = choice("language", LANGUAGES, None)
    username, password = opt_str("username"), opt_str("password")
    if (username is None) != (password is None):
        raise err("username" if username else "password", "give both username and password")
    realm = opt_str("realm")
    if realm is not None and username is None:
        raise err("realm", "realm is for digest authentication: add username and password")
    for key, value in (("username", username), ("realm", realm)):  # they go inside quotes
        if value is not None and (_UNQUOTABLE.search(value) or value != value.strip()):
            raise err(key, "no quotes, backslashes, control characters or outer blanks")

    labels_raw = table.get("labels", {})
    if not isinstance(labels_raw, dict):
        raise err("labels", 'must be a table, e.g. labels = { "1" = "customer", "2" = "agent" }')
    for label, role in labels_raw.items():
        if role not in ROLES:
            raise err("labels", f"label {label!r}: role must be customer or agent, got {role!r}")
    order = table.get("order", [])
    if (
        not isinstance(order, list)
        or any(r not in ROLES for r in order)
        or len(set(order)) < len(order)
    ):
        raise err("order", 'must list distinct roles by m= order, e.g. ["customer", "agent"]')

    role_values = table.get("role_values", {"customer": "customer", "agent": "agent"})
    if not isinstance(role_values, dict) or any(r not in ROLES for r in role_values.values()):
        raise err("role_values", 'map header values to roles, e.g. { caller = "customer" }')
    timeout = table.get("pair_timeout", 3.0)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 60:
        raise err("pair_timeout", f"must be seconds in (0, 60], got {timeout!r}")

    agent_aor = regex("agent_aor")
    customer_aor = regex("customer_aor")
    caller_role = choice("caller_role", ROLES, None)
    if (
        mode == "siprec"
        and agent_aor is None
        and customer_aor is None
        and not (labels_raw or order or caller_role)
    ):
        raise err("agent_aor", "a siprec trunk needs agent_aor, customer_aor, labels or order")
    for key in ("call_header", "role_header", "agent_header"):
        value = opt_str(key)
        if value is not None and not re.match(r"^[A-Za-z0-9-]+$", value):
            raise err(key, f"{value!r} is not a SIP header name")

    return Trunk(
        name=name,
        sources=tuple(sources),
        mode=mode or "siprec",
        transport=choice("transport", TRANSPORTS, "any") or "any",
        language=language,
        username=username,
        password=password,
        realm=realm or "assist",
        agent_aor=agent_aor,
        customer_aor=customer_aor,
        caller_role=caller_role,
        labels=tuple((str(k), v) for k, v in labels_raw.items()),
        order=tuple(order),
        call_header=opt_str("call_header") or "X-Call-ID",
        role_header=opt_str("role_header") or "X-Role",
        agent_header=opt_str("agent_header") or "X-Agent-ID",
        role_values=tuple((str(k), v) for k, v in role_values.items()),
        pair_timeout=float(timeout),
    )
