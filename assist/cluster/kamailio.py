"""[kamailio]: the SIP proxy in front of the tap processes, and its rendered config.

Kamailio owns the public SIP port; its dispatcher module spreads new INVITEs
over the taps by call load and probes them with OPTIONS.  The config is a
template (`kamailio.cfg.tmpl`) filled from this section, so the tap list, the
ports and the probing interval live in assist.toml with everything else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from assist.errors import ConfigError
from assist.settings import Rule, check_fields, flag, number, rule, text
from sip.settings import WHEEL_MAX_CALLS

TEMPLATE = Path(__file__).with_name("kamailio.cfg.tmpl")


def split_hostport(value: str) -> tuple[str, int] | None:
    """"10.0.0.5:5071" or "[2001:db8::5]:5071" -> (address, port); None if not one."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, int(port)


def _ip(v: str) -> bool:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True


_TAPS = Rule(tuple, 'a list of tap addresses "IP:PORT", e.g. ["10.0.0.5:5071"]',
             lambda v: all(isinstance(x, str) and split_hostport(x) for x in v) and
             len(set(v)) == len(v), (("10.0.0.5",), ("tap1:5071",)))  # fmt: skip


@dataclass(frozen=True, slots=True)
class KamailioParams:
    # The address SBCs send to; it goes into Record-Route, so not 0.0.0.0.
    host: str = text("127.0.0.1", "an IP address SBCs reach (not 0.0.0.0)",
                     lambda v: _ip(v) and not ipaddress.ip_address(v).is_unspecified,
                     ("0.0.0.0", "sbc.example"))  # fmt: skip
    port: int = number(5060, 1, 65535)
    tcp: bool = flag(True)  # listen on TCP as well as UDP
    # The tap processes (their [sip] host and udp_port), one dispatcher set.
    taps: tuple[str, ...] = rule((), _TAPS)
    # Most calls Kamailio sends one tap at a time (the pjsua2 wheel takes 4).
    tap_calls: int = number(WHEEL_MAX_CALLS, 1, WHEEL_MAX_CALLS)
    # Seconds between OPTIONS probes of every tap.
    probe_interval: int = number(2, 1, 60, "s")
    # A tap that sends nothing back to an INVITE or probe in this time is down.
    tap_timeout: float = number(2.0, 0.5, 30.0, "s")
    children: int = number(4, 1, 64)  # Kamailio worker processes per transport
    log_prefix: str = text("assist-proxy", "a short word for the log lines", bool, ("",))

    def __post_init__(self) -> None:
        check_fields(self, "kamailio")


def dispatcher_list(p: KamailioParams) -> str:
    """Set 1: every tap, each with its own call-load id and limit."""
    if not p.taps:
        raise ConfigError("kamailio.taps", 'list the tap processes, e.g. taps = '
                          '["127.0.0.1:5071", "127.0.0.1:5072"]')
    lines = ["# setid destination flags priority attributes (rendered; do not edit)"]
    for i, tap in enumerate(p.taps, 1):
        host, port = split_hostport(tap) or ("", 0)
        uri_host = f"[{host}]" if ":" in host else host
        lines.append(f"1 sip:{uri_host}:{port};transport=udp 0 0 "
                     f"duid=tap{i};maxload={p.tap_calls}")
    return "\n".join(lines) + "\n"


def render(p: KamailioParams, list_path: Path, source: str) -> str:
    """kamailio.cfg for these params, reading its taps from `list_path`."""
    host = f"[{p.host}]" if ":" in p.host else p.host
    listen = [f"listen=udp:{host}:{p.port}"] + ([f"listen=tcp:{host}:{p.port}"] if p.tcp else [])
    values = {
        "source": source,
        "listen": "\n".join(listen),
        "children": str(p.children),
        "probe_interval": str(p.probe_interval),
        "tap_timeout_ms": str(round(p.tap_timeout * 1000)),
        "tap_count": str(max(1, len(p.taps))),
        "dispatcher_list": str(list_path),
        "log_prefix": p.log_prefix.replace('"', ""),
    }
    out = TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        out = out.replace("{{" + key + "}}", value)
    if "{{" in out:
        raise RuntimeError(f"{TEMPLATE.name}: a placeholder was left unfilled")
    return out


def write(p: KamailioParams, out_dir: Path, source: str) -> tuple[Path, Path]:
    """Write kamailio.cfg and dispatcher.list into `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lst = out_dir / "dispatcher.list"
    cfg = out_dir / "kamailio.cfg"
    lst.write_text(dispatcher_list(p), encoding="utf-8")
    cfg.write_text(render(p, lst.resolve(), source), encoding="utf-8")
    return cfg, lst
