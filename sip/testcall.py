"""The SIP side of `assist trunks test-call`: a loopback call through the running
service, from this machine as the trunk's SBC or PBX would send it.  A siprec trunk
gets one SIPREC session here: metadata naming a customer and an agent whose AoRs
satisfy the trunk's role rules, one tone per stream.  A forked trunk gets one leg per
party (sip/testcall_forked.py).  Digest credentials are answered when the trunk has
them.  assist/cli/testcall.py reads what the service made of it from the store.

The tones sit inside the pitch tracker's range (70-420 Hz) and below twice its floor,
so a tone cannot be read as its own octave: the pitch of each party's speech pieces
names the tone it heard.

Errors in the config or the options are `UserError` (exit 2, as every command);
a call that cannot be placed is `TestCallError` (exit 1, like a failed test).
"""

from __future__ import annotations

import argparse
import base64
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from assist.errors import UserError
from sip.loopback import Outcome, Uac
from sip.siprec import agent_id
from sip.testcall_aor import sample_aor
from sip.trunks import Trunk

TONES = {"customer": 90.0, "agent": 130.0}  # Hz; customer on the first m= line
SECONDS = 8.0  # longer than the 5 s audio-health check
TOLERANCE = 0.06  # a piece's pitch within 6% of a tone counts as that tone
DEFAULT_CUSTOMER = "sip:+15550100@customer.invalid"
TESTABLE = ("siprec", "forked")  # trunk modes test-call can place a call for
SIPREC_ONLY = ("agent_aor", "customer_aor")  # options, as argparse names them
FORKED_ONLY = ("agent_value", "customer_value", "agent_id")


class TestCallError(Exception):
    """Why the test call could not be placed or read (exit 1, no report)."""


@dataclass
class Target:
    """Which trunk the call plays, and where it goes from where."""

    trunk: Trunk
    host: str
    port: int
    transport: str
    source: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.transport}"


@dataclass
class Plan(Target):
    aors: dict[str, str]  # role -> the AoR we send for that party
    session: str = field(default_factory=lambda: base64.b64encode(uuid.uuid4().bytes).decode())

    @property
    def agent(self) -> str | None:
        return agent_id(self.aors["agent"], self.trunk)


def pick_trunk(trunks: tuple[Trunk, ...], name: str | None) -> Trunk:
    if not trunks:
        raise UserError("the config has no [[trunks]]: nothing to test")
    if name is None:
        for t in trunks:
            if t.mode in TESTABLE:
                return t
        raise UserError(f"no trunk in the config is in a mode test-call can test "
                        f"({', '.join(TESTABLE)})")  # fmt: skip
    for t in trunks:
        if t.name == name:
            if t.mode not in TESTABLE:
                raise UserError(f"trunk {name} is in {t.mode} mode; test-call tests "
                                f"{' and '.join(TESTABLE)} trunks only")  # fmt: skip
            return t
    raise UserError(f"no trunk named {name!r} (trunks: {', '.join(t.name for t in trunks)})")


def local_ip(host: str) -> str:
    """The address this machine sends from towards `host` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, 9))
        except OSError as exc:
            # a --host or [sip] host this machine has no route to: fix the option
            raise UserError(f"cannot reach {host}: {exc.strerror or exc}") from None
        return str(s.getsockname()[0])


def role_aors(trunk: Trunk, agent: str | None, customer: str | None) -> dict[str, str]:
    """AoRs for the two parties that the trunk's rules should tell apart."""
    if agent is None:
        if trunk.agent_aor is None:
            raise UserError(f"trunk {trunk.name} has no agent_aor rule: give --agent-aor "
                            "as your SBC names the agent")  # fmt: skip
        agent = sample_aor(trunk.agent_aor)
        if agent is None:
            raise UserError(f"cannot make an AoR matching agent_aor "
                            f"{trunk.agent_aor.pattern!r}: give --agent-aor")  # fmt: skip
    if customer is None and trunk.customer_aor is None:
        customer = DEFAULT_CUSTOMER
    elif customer is None and trunk.customer_aor is not None:
        customer = sample_aor(trunk.customer_aor)
        if customer is None:
            raise UserError(f"cannot make an AoR matching customer_aor "
                            f"{trunk.customer_aor.pattern!r}: give --customer-aor")  # fmt: skip
    assert customer is not None
    return {"customer": customer, "agent": agent}


def invite(plan: Plan) -> bytes:
    """A SIPREC INVITE (RFC 7866): SDP with one sendonly stream per party, metadata
    binding each stream to its sender.  Ports are filled in by the client."""
    tp = plan.transport.upper()
    sdp = (f"v=0\no=- 1 1 IN IP4 {plan.source}\ns=assist test call\nc=IN IP4 {plan.source}\n"
           "t=0 0\n"
           "m=audio 1 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=label:1\na=sendonly\n"
           "m=audio 1 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=label:2\na=sendonly\n")  # fmt: skip
    c, a = plan.aors["customer"], plan.aors["agent"]
    meta = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<recording xmlns="urn:ietf:params:xml:ns:recording:1">\n'
            "<datamode>complete</datamode>\n"
            f'<session session_id="{plan.session}"></session>\n'
            f'<participant participant_id="cA=="><nameID aor="{_xml(c)}"/></participant>\n'
            f'<participant participant_id="cQ=="><nameID aor="{_xml(a)}"/></participant>\n'
            f'<stream stream_id="czE=" session_id="{plan.session}"><label>1</label></stream>\n'
            f'<stream stream_id="czI=" session_id="{plan.session}"><label>2</label></stream>\n'
            '<participantstreamassoc participant_id="cA=="><send>czE=</send>'
            "<recv>czI=</recv></participantstreamassoc>\n"
            '<participantstreamassoc participant_id="cQ=="><send>czI=</send>'
            "<recv>czE=</recv></participantstreamassoc>\n"
            "</recording>\n")  # fmt: skip
    body = (f"--tc\nContent-Type: application/sdp\n\n{sdp}\n--tc\n"
            "Content-Type: application/rs-metadata+xml\nContent-Disposition: recording-session"
            f"\n\n{meta}--tc--\n")  # fmt: skip
    head = (f"INVITE sip:srs@{plan.host} SIP/2.0\nVia: SIP/2.0/{tp} {plan.source}\n"
            "Require: siprec\nContent-Type: multipart/mixed;boundary=tc\n")  # fmt: skip
    return (head + "\n" + body).encode()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


@contextmanager
def connected(target: Target) -> Iterator[Uac]:
    """A client towards the service, closed afterwards; socket trouble and silence
    become `TestCallError`s that say what to check."""
    auth = None
    if target.trunk.auth:
        auth = (target.trunk.username or "", target.trunk.password or "")
    try:
        uac = Uac(target.port, target.transport, ip=target.source, host=target.host, auth=auth,
                  timeout=10.0)  # fmt: skip
    except ConnectionRefusedError:
        raise TestCallError(f"nothing listens on {target.where}: is the service running "
                            "(`python -m assist --config ... run`)?") from None
    except OSError as exc:
        raise TestCallError(f"cannot connect to {target.where}: {exc.strerror or exc}") from None
    try:
        yield uac
    except TimeoutError:
        raise TestCallError(f"no answer from {target.where} within 10 s: is the service "
                            "running, and listening there?") from None
    except (ConnectionError, OSError) as exc:
        raise TestCallError(f"the call to {target.where} broke off: {exc}") from None
    finally:
        uac.close()


def place(plan: Plan, seconds: float = SECONDS) -> Outcome:
    with connected(plan) as uac:
        return uac.call(invite(plan), [TONES["customer"], TONES["agent"]], seconds)


def target(args: argparse.Namespace, cfg: Any) -> Target:
    """The trunk and where to call, from the config and the options; options for the
    other mode are refused rather than ignored."""
    trunk = pick_trunk(cfg.trunks, args.trunk)
    other = FORKED_ONLY if trunk.mode == "siprec" else SIPREC_ONLY
    given = [f"--{o.replace('_', '-')}" for o in other if getattr(args, o, None) is not None]
    if given:
        mine = SIPREC_ONLY if trunk.mode == "siprec" else FORKED_ONLY
        raise UserError(f"{', '.join(given)}: not for trunk {trunk.name}, which is in "
                        f"{trunk.mode} mode (it takes "
                        f"{', '.join('--' + o.replace('_', '-') for o in mine)})")  # fmt: skip
    sip = cfg.sip
    transport = args.transport or (trunk.transport if trunk.transport != "any" else
                                   "udp" if sip.udp_port else "tcp")  # fmt: skip
    port = args.port or (sip.udp_port if transport == "udp" else sip.tcp_port)
    if not port:
        raise UserError(f"the service has no {transport.upper()} listener "
                        f"([sip] {transport}_port = 0): use --transport")  # fmt: skip
    host = args.host or (sip.host if sip.bound else "127.0.0.1")
    return Target(trunk, host, port, transport, local_ip(host))


def make_plan(args: argparse.Namespace, cfg: Any) -> Plan:
    t = target(args, cfg)
    aors = role_aors(t.trunk, args.agent_aor, args.customer_aor)
    return Plan(t.trunk, t.host, t.port, t.transport, t.source, aors)
