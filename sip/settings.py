"""[sip]: where the SIP tap listens and how its endpoint runs.

Pure (no pjsua2), so the config loader checks it without starting anything.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from assist.errors import ConfigError
from assist.settings import Rule, check_fields, choice, number, rule, text

WHEEL_MAX_CALLS = 4  # PJSUA_MAX_CALLS compiled into the PyPI wheel


def _ipv4(v: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(v), ipaddress.IPv4Address)
    except ValueError:
        return False


def _jitter_ok(v: tuple[object, ...]) -> bool:
    return v == () or (len(v) == 2 and all(type(x) is int for x in v)
                       and 0 <= v[0] <= v[1] <= 2000)  # type: ignore[operator]


_JITTER = Rule(tuple, "[] (pjsua's default) or [min, max] milliseconds, 0 <= min <= max"
               " <= 2000", _jitter_ok, ((300, 100), (1, 2, 3)))


@dataclass(frozen=True, slots=True)
class SipSettings:
    """The SIP tap starts only when trunks are configured."""

    host: str = text("0.0.0.0", "an IPv4 address to listen on (0.0.0.0: all; SIP and RTP are"
                     " IPv4 only)", _ipv4, ("", "::1", "localhost"))  # trunks decide who
    udp_port: int = number(5060, 0, 65535)  # 0: no UDP listener
    tcp_port: int = number(5060, 0, 65535)  # 0: no TCP listener
    rtp_port: int = number(4000, 0, 65535)  # 0: any free port (no firewall rule can name it)
    # RTP and RTCP use rtp_port .. rtp_port + rtp_port_range - 1 and wrap around inside,
    # so a firewall can name them; pjsua on its own walks upwards forever, into the
    # kernel's ephemeral ports and other processes' ranges.  Two ports a stream: 1000
    # serves 500 streams at once, far above what max_calls admits.
    rtp_port_range: int = number(1000, 16, 65535)
    max_calls: int = number(WHEEL_MAX_CALLS, 1, WHEEL_MAX_CALLS, "(the pjsua2 wheel's limit)")
    clock_rate: int = choice(8000, (8000, 16000))  # G.711 decodes bit-exact at 8 kHz
    log_level: int = number(1, 0, 6)  # pjsip's own log verbosity on stderr
    answer_delay: float = number(0.0, 0.0, 10.0, "s")  # 180 to 200; a CANCEL inside it wins
    jitter_ms: tuple[int, ...] = rule((), _JITTER)  # jitter buffer prefetch bounds

    def __post_init__(self) -> None:
        check_fields(self, "sip")
        if self.udp_port == 0 and self.tcp_port == 0:
            raise ConfigError("sip.udp_port", "enable at least one of udp_port, tcp_port")
        if self.rtp_port and self.rtp_port + self.rtp_port_range > 65536:
            raise ConfigError("sip.rtp_port_range", f"rtp_port {self.rtp_port} + "
                              f"rtp_port_range {self.rtp_port_range} goes past port 65535")

    @property
    def bound(self) -> str | None:
        """The address to bind, or None for all."""
        return None if self.host in ("", "0.0.0.0") else self.host
