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
from assist.settings import (
    LANGUAGES,
    Rule,
    Source,
    build,
    check_fields,
    flag,
    number,
    rule,
    text,
    unknown,
)

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


def _sources_ok(v: tuple[object, ...]) -> bool:
    return all(isinstance(x, ForkSource) for x in v)


@dataclass(frozen=True, slots=True)
class ForkParams:
    enabled: bool = flag(False)
    # sources' allow-lists and credentials decide who is heard
    host: str = text("0.0.0.0", "an address to listen on", bool, ("",))
    port: int = number(8766, 0, 65535)  # never the panel's port unless configured so
    tls_cert: str = text("", 'a certificate file path, or "" for plain ws')
    tls_key: str = text("", 'a key file path, or "" for plain ws')
    max_message: int = number(64 * 1024, 1024, 16 * 1024 * 1024, "bytes")  # one message
    # messages a second per connection, averaged over a 2 s burst
    max_rate: float = number(200.0, 10.0, 10000.0, "messages a second")
    max_connections: int = number(200, 1, 10000)
    # seconds to the metadata / open / start message
    open_timeout: float = number(10.0, 0.0, 300.0, "s", lo_open=True)
    # AudioHook: how long a call waits for its session to return
    reconnect_grace: float = number(10.0, 0.0, 300.0, "s", lo_open=True)
    # seconds of audio a connection may send ahead of real time
    max_ahead: float = number(5.0, 0.0, 300.0, "s", lo_open=True)
    sources: tuple[ForkSource, ...] = rule((), Rule(tuple, "[[fork.sources]] tables",
                                                    _sources_ok))

    def __post_init__(self) -> None:
        check_fields(self, "fork")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("fork.tls_cert", "tls_cert and tls_key go together")
        if self.enabled and not self.sources:
            raise ConfigError("fork.sources", "enabled without sources: add [[fork.sources]]")

    def source_at(self, path: str) -> ForkSource | None:
        bare = path.split("?", 1)[0]
        return next((s for s in self.sources if s.path == bare), None)


_KEYS = {"name", "kind", "path", "sources", "language", "username", "password", "api_key",
         "client_secret", "auth_token", "public_url", "agent_key", "agent_pattern", "agents",
         "channels", "mono_role", "tracks"}


def parse_fork(table: Any, src: Source) -> ForkParams:
    if not isinstance(table, dict):
        raise src.error(("fork",), "must be a table ([fork])")
    raw = table.get("sources", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise src.error(("fork", "sources"), "must be [[fork.sources]] tables",
                        key="fork.sources")
    sources = tuple(_source(src, i, dict(t)) for i, t in enumerate(raw))
    for attr in ("name", "path"):
        seen: set[str] = set()
        for i, s in enumerate(sources):
            if getattr(s, attr) in seen:
                raise src.error(("fork", "sources", i, attr), f"duplicate {attr}",
                                key=f"fork.sources[{i}].{attr}")
            seen.add(getattr(s, attr))
    params: ForkParams = build(ForkParams, table, src, "fork", {"sources": sources})
    return params


def _source(src: Source, index: int, t: dict[str, Any]) -> ForkSource:
    def err(key: str, message: str) -> ConfigError:
        return src.error(("fork", "sources", index, key), message,
                         key=f"fork.sources[{index}].{key}")

    for key in t:
        if key not in _KEYS:
            raise err(key, unknown(key, _KEYS))

    def opt(key: str) -> str | None:
        v = t.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise err(key, "must be a non-empty string")
        return v

    name = opt("name")
    if name is None or not _NAME.match(name):
        raise err("name", "each source needs a name of 1-40 letters, digits, '_', '-' or '.'")
    language = t.get("language")
    if language is not None and language not in LANGUAGES:
        raise err("language", f"must be one of {', '.join(LANGUAGES)}, got {language!r}")
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
        name=name, kind=kind, path=path, sources=tuple(nets), language=language,
        username=username, password=password, api_key=api_key, client_secret=secret,
        auth_token=token, public_url=public.rstrip("/") if public else None,
        agent_key=opt("agent_key") or AGENT_KEYS[kind], agent_pattern=pattern,
        agents=tuple((str(k), v) for k, v in agents.items()), channels=tuple(channels),
        mono_role=mono_role, tracks=tuple(tracks.items()))
