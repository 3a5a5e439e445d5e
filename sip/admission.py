"""Admission: an INVITE's text and source become a tap plan, or a refusal.

Pure: no pjsua2, no sockets; the clock and the number of calls in progress are
arguments.  Rules, in order:
0. An INVITE from a SIP proxy in front of the taps (Kamailio) is judged by the
   source the proxy vouches for in `X-Assist-Source`, never by the proxy's own
   address; from anyone else that header is ignored.  The proxy removes any copy
   the sender put in, so a peer cannot choose its own source.
1. The source address (and transport, from the top Via) must match a trunk: else 403.
2. A trunk with credentials checks digest authentication: 401/403/400.
3. A process at its call limit refuses with 486.
4. SIPREC trunks: `siprec.plan` decides each stream's role; forked trunks: the
   leg's headers name the pairing key and the role.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sip import digest
from sip.forked import Leg, leg_from
from sip.message import Refusal, SipMessage, parse_message, parse_sdp, split_multipart
from sip.siprec import TapPlan, mask, plan
from sip.trunks import TRANSPORTS, Trunk, match_trunk

SOURCE_HEADER = "X-Assist-Source"  # "ADDRESS;transport=udp|tcp", set by the proxy


@dataclass(frozen=True, slots=True)
class Admission:
    """What to answer and how to tap it."""

    trunk: Trunk
    roles: tuple[tuple[int, str], ...]  # (media index, party)
    audio: int  # m=audio lines to answer (every offered one)
    plan: TapPlan | None = None  # siprec
    leg: Leg | None = None  # forked

    def describe(self) -> str:
        if self.plan is not None:
            streams = ", ".join(f"m{s.index}={s.role} {mask(s.aor) or ''}".rstrip()
                                for s in self.plan.streams)  # fmt: skip
            return f"{self.plan.basis}: {streams}, agent {self.plan.agent}"
        if self.leg is not None:
            return f"leg {self.leg.role} of {self.leg.key}, agent {self.leg.agent}"
        return "-"


class Gate:
    def __init__(self, trunks: tuple[Trunk, ...], nonce_key: bytes, max_calls: int,
                 proxies: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.trunks = trunks
        # Random per process unless the taps behind one proxy share it, so that a
        # nonce one tap issued is good on the tap the retried INVITE reaches.
        self.nonce_key = nonce_key
        self.max_calls = max_calls
        self.proxies = frozenset(ipaddress.ip_address(p) for p in proxies)

    def admit(self, raw: bytes | str, src: str, active: int, now: float) -> Admission:
        """Decide, or raise `Refusal` (its `trunk` names the trunk once one matched)."""
        msg = parse_message(raw)
        host, trunk = self.trunk_of(msg, src)
        try:
            return self._admit(msg, raw, trunk, host, active, now)
        except Refusal as r:
            r.trunk = trunk.name
            raise

    def trunk_of(self, msg: SipMessage, src: str) -> tuple[str, Trunk]:
        """The sender's address and its trunk, or the 403 refusal."""
        host, transport = self.source(msg, src)
        trunk = match_trunk(self.trunks, host, transport)
        if trunk is None:
            raise Refusal(403, f"source {host} ({transport}) is not allowed by any trunk")
        return host, trunk

    def source(self, msg: SipMessage, src: str) -> tuple[str, str]:
        """The address and transport the INVITE is judged by."""
        host = src.rsplit(":", 1)[0].strip("[]")
        if not self._is_proxy(host):
            via = (msg.header("via") or "").upper()
            return host, "tcp" if "/TCP" in via else "udp"
        vouched = msg.all(SOURCE_HEADER)
        if len(vouched) != 1:
            raise Refusal(403, f"INVITE from proxy {host} with {len(vouched)} {SOURCE_HEADER} "
                          "headers: the proxy must put in exactly one, naming the sender")
        address, _, params = vouched[0].partition(";")
        transport = "udp"
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "transport":
                transport = value.strip().lower()
        try:
            ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            raise Refusal(403, f"proxy {host}: {SOURCE_HEADER} {address.strip()!r} is not "
                          "an IP address") from None
        if transport not in TRANSPORTS or transport == "any":
            raise Refusal(403, f"proxy {host}: {SOURCE_HEADER} transport {transport!r} is "
                          "not udp or tcp")
        return address.strip().strip("[]"), transport

    def who(self, raw: bytes | str, src: str) -> str:
        """The sender for the log: through a proxy, the address it vouches for."""
        if not self._is_proxy(src.rsplit(":", 1)[0].strip("[]")):
            return src
        vouched = parse_message(raw).all(SOURCE_HEADER)
        first = vouched[0].partition(";")[0].strip() if vouched else "?"
        return f"{first[:64]} via proxy {src}"

    def _is_proxy(self, host: str) -> bool:
        try:
            return bool(self.proxies) and ipaddress.ip_address(host) in self.proxies
        except ValueError:
            return False

    def _admit(self, msg: SipMessage, raw: bytes | str, trunk: Trunk, host: str, active: int,
               now: float) -> Admission:  # fmt: skip
        unknown = [t for t in _tags(msg.all("require")) if t.lower() not in SUPPORTED]
        if unknown:  # pjsip's own 420 says nothing in the log or a Warning
            raise Refusal(420, f"Require: {', '.join(unknown)} not supported (this tap "
                               f"supports {', '.join(sorted(SUPPORTED))})",
                          (("Unsupported", ", ".join(unknown)),))  # fmt: skip
        if trunk.username is not None and trunk.password is not None:
            self._authenticate(msg, trunk, host, now)
        if active >= self.max_calls:
            raise Refusal(486, f"tap capacity reached ({self.max_calls} calls)")
        if trunk.mode == "siprec":
            size = len(raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw)
            tap = plan(msg, trunk, size)
            roles = tuple((s.index, s.role) for s in tap.streams)
            plain_ipv4_rtp(msg, roles)
            return Admission(trunk, roles, max(len(roles), offered_audio(msg)), plan=tap)
        leg = leg_from(msg, trunk)
        roles = ((first_audio(msg), leg.role),)
        plain_ipv4_rtp(msg, roles)
        return Admission(trunk, roles, max(1, offered_audio(msg)), leg=leg)

    def _authenticate(self, msg: SipMessage, trunk: Trunk, host: str, now: float) -> None:
        """Let the INVITE through, or raise the 401/403/400 to answer it with."""
        if trunk.username is None or trunk.password is None:
            raise ValueError(f"trunk {trunk.name} has no credentials to check")
        method, _, rest = msg.start.partition(" ")
        verdict = digest.authenticate(
            msg.all("authorization"), method=method, request_uri=rest.rsplit(" ", 1)[0],
            username=trunk.username, password=trunk.password, realm=trunk.realm,
            secret=self.nonce_key, now=now, scope=host)  # fmt: skip
        if not verdict.ok:
            extra: tuple[tuple[str, str], ...] = ()
            if verdict.www_authenticate:
                extra = (("WWW-Authenticate", verdict.www_authenticate),)
            raise Refusal(verdict.status, verdict.reason, extra)


# The option tags pjsip (with siprec added) puts in Supported.
SUPPORTED = frozenset({"100rel", "norefersub", "replaces", "siprec", "timer"})


def _tags(values: list[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def sdp_of(msg: SipMessage) -> bytes:
    ctype = msg.header("content-type") or ""
    if ctype.lower().startswith("multipart/"):
        for headers, content in split_multipart(ctype, msg.body):
            if headers.get("content-type", "").lower().startswith("application/sdp"):
                return content
        return b""
    return msg.body


def offered_audio(msg: SipMessage) -> int:
    """Every offered m=audio is answered (pjsua's default of 1 refuses SIPREC's second)."""
    return sum(1 for m in parse_sdp(sdp_of(msg)) if m.kind == "audio")


def plain_ipv4_rtp(msg: SipMessage, roles: tuple[tuple[int, str], ...]) -> None:
    """Refuse a tapped stream on IPv6 or SRTP: the tap's media transport is plain RTP
    over IPv4, and pjsua answers such an offer with a bare 488 that says nothing."""
    offered = {m.index: m for m in parse_sdp(sdp_of(msg))}
    for index, role in roles:
        m = offered.get(index)
        if m is None:
            continue
        if m.family != "IP4":
            offer = "IPv6 media (c=IN IP6)" if m.family == "IP6" else f"a c= type {m.family!r}"
            raise Refusal(488, f"the {role} stream (m={index}) offers {offer}: this tap takes "
                               "IPv4 RTP only; offer IPv4 (c=IN IP4)")  # fmt: skip
        if "SAVP" in m.profile.upper():
            raise Refusal(488, f"the {role} stream (m={index}) offers SRTP ({m.profile}): this "
                               "tap takes plain RTP (RTP/AVP) only; send the recording leg "
                               "unencrypted on a trusted network")  # fmt: skip


def first_audio(msg: SipMessage) -> int:
    audio = [m for m in parse_sdp(sdp_of(msg)) if m.kind == "audio" and m.port]
    if not audio:
        raise Refusal(488, "no audio stream in the offer")
    return audio[0].index
