"""`[fork]`: the media-fork listener and who may send it audio.

One `[[fork.sources]]` table per platform, in the style of `[[trunks]]`: an
allow-list of addresses, the credentials that platform signs with, and how its
metadata names the agent.  Checked once, at load; errors name the file, the
key and, when it can be found, the line.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from assist.errors import ConfigError

KINDS = ("audio_fork", "audiohook", "twilio")
ROLES = ("customer", "agent")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_PATH = re.compile(r"^/[A-Za-z0-9_./-]{0,200}$")
# Where each protocol's agent id is found by default (a dotted path into its metadata).
AGENT_KEYS = {"audio_fork": "agent", "audiohook": "customConfig.agent",
              "twilio": "customParameters.agent"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ForkSource:
    name: str
    kind: str
    path: str
    sources: tuple[Network, ...] = ()
    language: str | None = None
    # audio_fork / jambonz: HTTP Basic credentials (mod_audio_fork and jambonz wsAuth send them).
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # AudioHook: the integration's API key and client secret (base64, as Genesys shows it).
    api_key: str | None = field(default=None, repr=False)
    client_secret: bytes | None = field(default=None, repr=False)
    # Twilio: the account's auth token, and the public wss:// base Twilio dials.
    auth_token: str | None = field(default=None, repr=False)
    public_url: str | None = None
    agent_key: str = ""  # "": the protocol's AGENT_KEYS default
    agent_pattern: re.Pattern[str] | None = None
    agents: tuple[tuple[str, str], ...] = ()
    channels: tuple[str, ...] = ("customer", "agent")  # audio_fork stereo channel order
    mono_role: str = "customer"  # audio_fork mono/mixed: whose audio the one channel is
    tracks: tuple[tuple[str, str], ...] = (("inbound", "customer"), ("outbound", "agent"))

    def allows(self, address: str | None) -> bool:
        if not self.sources:
            return True  # credentials alone guard this source
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.sources)

    def agent_of(self, meta: Any) -> str | None:
        """The agent id from a protocol's metadata: dotted path, pattern, then the table."""
        value: Any = meta
        for part in (self.agent_key or AGENT_KEYS[self.kind]).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, dict | list):
            return None
        text = str(value).strip()[:200]
        if self.agent_pattern is not None:
            m = self.agent_pattern.search(text)
            if m is None:
                return None
            groups = m.groupdict()
            text = groups.get("agent") or (m.group(1) if m.re.groups else m.group(0))
        text = dict(self.agents).get(text, text)
        return text[:64] if text and text.isprintable() else None

    def role_of_track(self, track: str) -> str | None:
        return dict(self.tracks).get(track)


@dataclass(frozen=True, slots=True)
class ForkParams:
    enabled: bool = False
    host: str = "0.0.0.0"  # sources' allow-lists and credentials decide who is heard
    port: int = 8766  # never the panel's port unless configured so
    tls_cert: str = ""
    tls_key: str = ""
    max_message: int = 64 * 1024  # bytes in one websocket message
    max_rate: float = 200.0  # messages a second per connection, averaged over a 2 s burst
    max_connections: int = 200
    open_timeout: float = 10.0  # seconds to the metadata / open / start message
    reconnect_grace: float = 10.0  # AudioHook: how long a call waits for its session to return
    sources: tuple[ForkSource, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("fork.port", f"must be 0..65535, got {self.port!r}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("fork.tls_cert", "tls_cert and tls_key go together")
        if not 1024 <= self.max_message <= 16 * 1024 * 1024:
            raise ConfigError("fork.max_message", f"must be 1024..16777216 bytes, got "
                              f"{self.max_message!r}")
        if not 10 <= self.max_rate <= 10000:
            raise ConfigError("fork.max_rate", f"must be 10..10000, got {self.max_rate!r}")
        if not 1 <= self.max_connections <= 10000:
            raise ConfigError("fork.max_connections", f"must be 1..10000, got "
                              f"{self.max_connections!r}")
        for key in ("open_timeout", "reconnect_grace"):
            v = getattr(self, key)
            if not 0 < v <= 300:
                raise ConfigError(f"fork.{key}", f"must be seconds in (0, 300], got {v!r}")
        if self.enabled and not self.sources:
            raise ConfigError("fork.sources", "enabled without sources: add [[fork.sources]]")

    def source_at(self, path: str) -> ForkSource | None:
        bare = path.split("?", 1)[0]
        return next((s for s in self.sources if s.path == bare), None)


_TOP = {"enabled", "host", "port", "tls_cert", "tls_key", "max_message", "max_rate",
        "max_connections", "open_timeout", "reconnect_grace", "sources"}
_KEYS = {"name", "kind", "path", "sources", "language", "username", "password", "api_key",
         "client_secret", "auth_token", "public_url", "agent_key", "agent_pattern", "agents",
         "channels", "mono_role", "tracks"}


def _line(text: str, header: str, index: int, key: str | None) -> int | None:
    """Line of `key` in the index-th table whose header matches (tomllib keeps no lines)."""
    lines = text.splitlines()
    hits = [n for n, ln in enumerate(lines) if re.match(r"\s*" + header + r"\s*(#.*)?$", ln)]
    if index >= len(hits):
        return None
    if key is None:
        return hits[index] + 1
    for n in range(hits[index] + 1, len(lines)):
        if re.match(r"\s*\[", lines[n]):
            break
        if re.match(r"\s*\"?" + re.escape(key) + r"\"?\s*=", lines[n]):
            return n + 1
    return hits[index] + 1


def parse_fork(table: Any, text: str, filename: str) -> ForkParams:
    def where(key: str, line: int | None) -> str:
        return f"{filename}: fork.{key}" + (f" (line {line})" if line else "")

    if not isinstance(table, dict):
        raise ConfigError(f"{filename}: fork", "must be a table ([fork])")
    top_hdr = r"\[\s*fork\s*\]"
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _TOP:
            raise ConfigError(where(key, _line(text, top_hdr, 0, key)),
                              f"unknown key; known keys: {', '.join(sorted(_TOP))}")
        if key == "sources":
            continue
        want: type = {"enabled": bool, "host": str, "tls_cert": str, "tls_key": str}.get(
            key, float if key in ("max_rate", "open_timeout", "reconnect_grace") else int)
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise ConfigError(where(key, _line(text, top_hdr, 0, key)),
                              f"must be {want.__name__}, got {value!r}")
        kwargs[key] = value
    raw = table.get("sources", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(where("sources", None), "must be [[fork.sources]] tables")
    src_hdr = r"\[\[\s*fork\.sources\s*\]\]"
    sources = tuple(_source(text, filename, src_hdr, i, dict(t)) for i, t in enumerate(raw))
    for attr in ("name", "path"):
        seen: set[str] = set()
        for i, s in enumerate(sources):
            if getattr(s, attr) in seen:
                raise ConfigError(f"{filename}: fork.sources[{i}].{attr}"
                                  f" (line {_line(text, src_hdr, i, attr)})", f"duplicate {attr}")
            seen.add(getattr(s, attr))
    try:
        return ForkParams(sources=sources, **kwargs)
    except ConfigError as e:
        key = e.where.split(".", 1)[1]
        raise ConfigError(where(key, _line(text, top_hdr, 0, key)),
                          str(e).split(": ", 1)[1]) from None


def _source(text: str, filename: str, header: str, index: int, t: dict[str, Any]) -> ForkSource:
    def err(key: str, message: str) -> ConfigError:
        line = _line(text, header, index, key)
        return ConfigError(f"{filename}: fork.sources[{index}].{key}"
                           + (f" (line {line})" if line else ""), message)

    for key in t:
        if key not in _KEYS:
            raise err(key, f"unknown key; known keys: {', '.join(sorted(_KEYS))}")

    def opt(key: str) -> str | None:
        v = t.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise err(key, "must be a non-empty string")
        return v

    name = opt("name")
    if name is None or not _NAME.match(name):
        raise err("name", "each source needs a name of 1-40 letters, digits, '_', '-' or '.'")
    kind = t.get("kind")
    if kind not in KINDS:
        raise err("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    path = opt("path") or f"/{kind}/{name}"
    if not _PATH.match(path):
        raise err("path", f"must be a URL path such as /fork/{name}, got {path!r}")
    nets: list[Network] = []
    srcs = t.get("sources", [])
    if not isinstance(srcs, list):
        raise err("sources", 'list allowed addresses, e.g. ["10.0.0.0/24"]')
    for item in srcs:
        try:
            nets.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise err("sources", f"{item!r} is not an IP address or CIDR") from None
    username, password = opt("username"), opt("password")
    if (username is None) != (password is None):
        raise err("username" if username is None else "password",
                  "give both username and password")
    if username is not None and ":" in username:
        raise err("username", "HTTP Basic user names cannot hold ':'")
    secret: bytes | None = None
    if opt("client_secret") is not None:
        try:
            secret = base64.b64decode(t["client_secret"], validate=True)
        except (binascii.Error, ValueError):
            raise err("client_secret", "must be base64, as Genesys shows it") from None
    api_key, token, public = opt("api_key"), opt("auth_token"), opt("public_url")
    needs = {"audio_fork": (), "audiohook": ("api_key", "client_secret"),
             "twilio": ("auth_token", "public_url")}[kind]
    for key in needs:
        if t.get(key) is None:
            raise err(key, f"a {kind} source needs {key}")
    for key, kinds in (("api_key", ("audiohook",)), ("client_secret", ("audiohook",)),
                       ("auth_token", ("twilio",)), ("public_url", ("twilio",)),
                       ("username", ("audio_fork",)), ("channels", ("audio_fork",)),
                       ("mono_role", ("audio_fork",)), ("tracks", ("twilio",))):
        if key in t and kind not in kinds:
            raise err(key, f"{key} is for {' or '.join(kinds)} sources, not {kind}")
    if kind == "audio_fork" and not nets and username is None:
        raise err("sources", "an audio_fork source needs an allow-list, username/password, "
                  "or both")
    if public is not None and not re.match(r"^wss?://[^\s/?#]+(/[^\s?#]*)?$", public):
        raise err("public_url", "must be the wss://host[/prefix] Twilio dials, no query")
    pattern = None
    if opt("agent_pattern") is not None:
        try:
            pattern = re.compile(t["agent_pattern"])
        except re.error as exc:
            raise err("agent_pattern", f"not a valid regular expression: {exc}") from None
    agents = t.get("agents", {})
    if not isinstance(agents, dict) or not all(isinstance(v, str) for v in agents.values()):
        raise err("agents", 'map metadata values to agent ids, e.g. { "8001" = "agent-1001" }')
    channels = t.get("channels", ["customer", "agent"])
    if not isinstance(channels, list) or sorted(channels) != ["agent", "customer"]:
        raise err("channels", 'stereo channel order, e.g. ["customer", "agent"]')
    mono_role = t.get("mono_role", "customer")
    if mono_role not in ROLES:
        raise err("mono_role", f"must be customer or agent, got {mono_role!r}")
    tracks = t.get("tracks", {"inbound": "customer", "outbound": "agent"})
    if (not isinstance(tracks, dict) or set(tracks) - {"inbound", "outbound"}
            or any(v not in ROLES for v in tracks.values())
            or len(set(tracks.values())) < len(tracks)):
        raise err("tracks", 'map Twilio tracks to roles: { inbound = "customer", '
                  'outbound = "agent" }')
    return ForkSource(
        name=name, kind=kind, path=path, sources=tuple(nets), language=opt("language"),
        username=username, password=password, api_key=api_key, client_secret=secret,
        auth_token=token, public_url=public.rstrip("/") if public else None,
        agent_key=opt("agent_key") or AGENT_KEYS[kind], agent_pattern=pattern,
        agents=tuple((str(k), v) for k, v in agents.items()), channels=tuple(channels),
        mono_role=mono_role, tracks=tuple(tracks.items()))
