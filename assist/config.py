"""The one TOML config file: loaded and validated once, at the edge.

Each section builds its part's own frozen parameters object, once, through
`assist.settings.build`: every key range-checked by the part's declaration,
unknown keys and sections refused (with a did-you-mean), and every error
naming the file, line and key ("assist.toml:12: pace.low: must be ...").
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assist.asr.config import AsrParams, models_from
from assist.audio.prosody import NucleiParams
from assist.audio.vad import VadParams
from assist.call.session import LoopParams
from assist.cluster.check import contradictions
from assist.cluster.kamailio import KamailioParams
from assist.cluster.params import ClusterParams
from assist.coach.coach import CoachParams
from assist.detectors.anger import AngerParams
from assist.detectors.interruption import InterruptionParams
from assist.detectors.pace import PaceParams
from assist.detectors.silence import SilenceParams
from assist.errors import ConfigError
from assist.panel.auth import DEFAULT_TTL
from assist.settings import (
    LANGUAGES,
    Source,
    build,
    check_fields,
    choice,
    flag,
    located,
    number,
    strings,
    text,
    unknown,
)
from assist.taps.fork.params import ForkParams, parse_fork
from sip.settings import SipSettings


def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class ServerParams:
    host: str = text("127.0.0.1", "an address such as 127.0.0.1 or 0.0.0.0", bool, ("",))
    port: int = number(8765, 0, 65535)
    tls_cert: str = text("", "a certificate file path, or \"\" for plain HTTP")
    tls_key: str = text("", "a key file path, or \"\" for plain HTTP")
    origins: tuple[str, ...] = strings()  # extra allowed websocket origins

    def __post_init__(self) -> None:
        check_fields(self, "server")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("server.tls_cert", "tls_cert and tls_key go together")


@dataclass(frozen=True, slots=True)
class CallParams:
    language: str = choice("zh-CN", LANGUAGES)
    agent: str = text("agent-1001", "a non-empty agent id", bool, ("",))  # for replayed calls
    # The floor's local time, for greetings by time of day.
    timezone: str = text("Asia/Shanghai", "an IANA time zone name such as Asia/Shanghai",
                         _zone_ok, ("Mars/Olympus",))

    def __post_init__(self) -> None:
        check_fields(self, "call")


@dataclass(frozen=True, slots=True)
class PromptsParams:
    dirs: tuple[str, ...] = strings()  # admins' own playbook folders, after the built-in one
    enabled: bool = flag(True)

    def __post_init__(self) -> None:
        check_fields(self, "prompts")


@dataclass(frozen=True, slots=True)
class AuthParams:
    """Panel tokens: how long the ones the service prints last, and where their key lives."""

    token_ttl: float = number(float(DEFAULT_TTL), 60.0, 30 * 86400.0, "s")
    secret_file: str = text("", 'a file path, or "" for DATA_DIR/panel-secret')

    def __post_init__(self) -> None:
        check_fields(self, "auth")


@dataclass(frozen=True, slots=True)
class Config:
    path: str = "<defaults>"
    data_dir: str = "data"
    server: ServerParams = field(default_factory=ServerParams)
    call: CallParams = field(default_factory=CallParams)
    prompts: PromptsParams = field(default_factory=PromptsParams)
    auth: AuthParams = field(default_factory=AuthParams)
    sip: SipSettings = field(default_factory=SipSettings)
    trunks: tuple[Any, ...] = ()  # sip.trunks.Trunk, checked at load
    fork: ForkParams = field(default_factory=ForkParams)
    loop: LoopParams = field(default_factory=LoopParams)
    coach: CoachParams = field(default_factory=CoachParams)
    asr: AsrParams = field(default_factory=AsrParams)
    cluster: ClusterParams = field(default_factory=ClusterParams)
    kamailio: KamailioParams = field(default_factory=KamailioParams)
    # Per-agent detector settings ([agents."ID".pace] ...), over the service's own.
    agents: Mapping[str, LoopParams] = field(default_factory=lambda: MappingProxyType({}))

    def loop_for(self, agent: str | None) -> LoopParams:
        """The detector settings for one agent's calls."""
        return self.agents.get(agent or "", self.loop)

    @property
    def store_path(self) -> Path:
        return Path(self.data_dir) / "assist.sqlite3"

    @property
    def secret_path(self) -> Path:
        return Path(self.auth.secret_file or Path(self.data_dir) / "panel-secret")


# Sections that are one parameters object each: name -> class.
SECTIONS: dict[str, type] = {
    "server": ServerParams,
    "call": CallParams,
    "prompts": PromptsParams,
    "auth": AuthParams,
    "sip": SipSettings,
    "vad": VadParams,
    "interruption": InterruptionParams,
    "pace": PaceParams,
    "anger": AngerParams,
    "nuclei": NucleiParams,
    "silence": SilenceParams,
    "coach": CoachParams,
    "asr": AsrParams,
    "fork": ForkParams,
    "cluster": ClusterParams,
    "kamailio": KamailioParams,
}
LOOP_SECTIONS = ("vad", "interruption", "pace", "anger", "nuclei", "silence")
# What may differ per agent: the flags about the agent's own behaviour, and how
# readily the customer's anger is flagged to them.  Hearing (vad, nuclei) is the line's.
AGENT_SECTIONS = ("interruption", "pace", "anger", "silence")
TOP_KEYS = ("data_dir", "trunks", "agents")


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), "no such config file; copy assist.example.toml and edit it"
                          ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(p), f"cannot read config file ({e})") from None


def load(path: str | Path | None) -> Config:
    """Defaults when `path` is None; otherwise the file, checked."""
    if path is None:
        return Config()
    p = Path(path)
    src = Source(str(p), _read(p))
    try:
        doc = tomllib.loads(src.text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(p), f"not valid TOML: {e}") from None
    parts: dict[str, Any] = {}
    top: dict[str, Any] = {}
    agents: Any = {}
    for name, value in doc.items():
        if name == "fork":  # its [[fork.sources]] are checked by the fork tap's own rules
            parts["fork"] = parse_fork(value, src)
        elif name in SECTIONS:
            if not isinstance(value, dict):
                raise src.error((name,), f"must be a table ([{name}])")
            # Model folders are relative to the config file, not to the working directory.
            given = ({"models": models_from(value["models"], src, p.parent)}
                     if name == "asr" and "models" in value else {})
            parts[name] = build(SECTIONS[name], value, src, name, given)
        elif name == "trunks":
            from sip.trunks import parse_trunks

            top["trunks"] = parse_trunks(src.text, src.name)
        elif name == "agents":
            agents = value
        elif name == "data_dir":
            if not isinstance(value, str) or not value:
                raise src.error((name,), "must be a non-empty path string")
            top["data_dir"] = value
        else:
            raise src.error((name,), unknown(name, [*SECTIONS, *TOP_KEYS], "section"))
    loop = LoopParams(**{k: parts.pop(k) for k in LOOP_SECTIONS if k in parts})
    cfg = Config(path=str(p), loop=loop, agents=_agents(agents, loop, src), **parts, **top)
    for err in contradictions(cfg):  # settings of several sections that cannot work together
        raise located(err, src)
    return cfg


def _agents(doc: Any, loop: LoopParams, src: Source) -> Mapping[str, LoopParams]:
    """[agents."ID".pace] and the like: each agent's tables over the service's values."""
    if not isinstance(doc, dict):
        raise src.error(("agents",), 'must be tables such as [agents."agent-1001".pace]')
    out: dict[str, LoopParams] = {}
    for agent, tables in doc.items():
        if not agent or not isinstance(tables, dict):
            raise src.error(("agents", agent), 'must be tables such as '
                            f'[agents."{agent or "agent-1001"}".pace]')
        parts: dict[str, Any] = {}
        for name, table in tables.items():
            if name not in AGENT_SECTIONS:
                raise src.error(("agents", agent, name),
                                unknown(name, AGENT_SECTIONS, "per-agent section"),
                                key=f"agents.{agent}.{name}")
            if not isinstance(table, dict):
                raise src.error(("agents", agent, name), "must be a table",
                                key=f"agents.{agent}.{name}")
            parts[name] = build(SECTIONS[name], table, src, name, base=getattr(loop, name),
                                prefix=("agents", agent))
        out[agent] = dataclasses.replace(loop, **parts)
    return MappingProxyType(out)


def load_coaching(cfg: Config) -> Any:
    """The playbooks the config names, checked; None when coaching is off."""
    from assist.coach.per_call import Coaching
    from assist.coach.playbook import DEFAULT_DIR, load_playbooks

    if not cfg.prompts.enabled:
        return None
    base = Path(cfg.path).parent if cfg.path != "<defaults>" else Path.cwd()
    dirs = [DEFAULT_DIR, *[(base / d) for d in cfg.prompts.dirs]]
    return Coaching(load_playbooks(dirs), cfg.call.timezone, cfg.coach)
