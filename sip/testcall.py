"""The SIP side of `assist trunks test-call`: a loopback SIPREC call through the
running service, from this machine as the trunk's SBC would send it: metadata naming
a customer and an agent whose AoRs satisfy the trunk's role rules, one tone per
stream, digest credentials when the trunk has them.  assist/cli/testcall.py reads
what the service made of it from the store.

The tones sit inside the pitch tracker's range (70-420 Hz) and below twice its floor,
so a tone cannot be read as its own octave: the pitch of each party's speech pieces
names the tone it heard.
"""

from __future__ import annotations

import argparse
import base64
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from sip.loopback import Outcome, Uac
from sip.siprec import agent_id
from sip.testcall_aor import sample_aor
from sip.trunks import Trunk

TONES = {"customer": 90.0, "agent": 130.0}  # Hz; customer on the first m= line
SECONDS = 8.0  # longer than the 5 s audio-health check
TOLERANCE = 0.06  # a piece's pitch within 6% of a tone counts as that tone
DEFAULT_CUSTOMER = "sip:+15550100@customer.invalid"


class TestCallError(Exception):
    """Why the test call could not be placed or read (exit 1, no report)."""


@dataclass
class Plan:
    trunk: Trunk
    host: str
    port: int
    transport: str
    source: str
    aors: dict[str, str]  # role -> the AoR we send for that party
    session: str = field(default_factory=lambda: base64.b64encode(uuid.uuid4().bytes).decode())

    @property
    def agent(self) -> str | None:
        return agent_id(self.aors["agent"], self.trunk)


def pick_trunk(trunks: tuple[Trunk, ...], name: str | None) -> Trunk:
    if not trunks:
        raise TestCallError("the config has no [[trunks]]: nothing to test")
    if name is not None:
        for t in trunks:
            if t.name == name:
                if t.mode != "siprec":
                    raise TestCallError(f"trunk {name} is in {t.mode} mode; test-call sends "
                                        "SIPREC and tests siprec trunks only")  # fmt: skip
                return t
        raise TestCallError(f"no trunk named {name!r} (trunks: "
                            f"{', '.join(t.name for t in trunks)})")  # fmt: skip
    for t in trunks:
        if t.mode == "siprec":
            return t
    raise TestCallError("no siprec trunk in the config (test-call sends SIPREC)")


def local_ip(host: str) -> str:
    """The address this machine sends from towards `host` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, 9))
        except OSError as exc:
            raise TestCallError(f"cannot reach {host}: {exc.strerror or exc}") from None
        return str(s.getsockname()[0])


def role_aors(trunk: Trunk, agent: str | None, customer: str | None) -> dict[str, str]:
    """AoRs for the two parties that the trunk's rules should tell apart."""
    if agent is None:
        if trunk.agent_aor is None:
            raise TestCallError(f"trunk {trunk.name} has no agent_aor rule: give --agent-aor "
                                "as your SBC names the agent")  # fmt: skip
        agent = sample_aor(trunk.agent_aor)
        if agent is None:
            raise TestCallError(f"cannot make an AoR matching agent_aor "
                                f"{trunk.agent_aor.pattern!r}: give --agent-aor")  # fmt: skip
    if customer is None and trunk.customer_aor is None:
        customer = DEFAULT_CUSTOMER
    elif customer is None and trunk.customer_aor is not None:
        customer = sample_aor(trunk.customer_aor)
        if customer is None:
            raise TestCallError(f"cannot make an AoR matching customer_aor "
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


def place(plan: Plan, seconds: float = SECONDS) -> Outcome:
    auth = None
    if plan.trunk.auth:
        auth = (plan.trunk.username or "", plan.trunk.password or "")
    where = f"{plan.host}:{plan.port}/{plan.transport}"
    try:
        uac = Uac(plan.port, plan.transport, ip=plan.source, host=plan.host, auth=auth,
                  timeout=10.0)  # fmt: skip
    except ConnectionRefusedError:
        raise TestCallError(f"nothing listens on {where}: is the service running "
                            "(`python -m assist --config ... run`)?") from None
    except OSError as exc:
        raise TestCallError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    try:
        return uac.call(invite(plan), [TONES["customer"], TONES["agent"]], seconds)
    except TimeoutError:
        raise TestCallError(f"no answer from {where} within 10 s: is the service running, "
                            "and listening there?") from None
    except (ConnectionError, OSError) as exc:
        raise TestCallError(f"the call to {where} broke off: {exc}") from None
    finally:
        uac.close()


def make_plan(args: argparse.Namespace, cfg: Any) -> Plan:
    trunk = pick_trunk(cfg.trunks, args.trunk)
    sip = cfg.sip
    transport = args.transport or (trunk.transport if trunk.transport != "any" else
                                   "udp" if sip.udp_port else "tcp")  # fmt: skip
    port = args.port or (sip.udp_port if transport == "udp" else sip.tcp_port)
    if not port:
        raise TestCallError(f"the service has no {transport.upper()} listener "
                            f"([sip] {transport}_port = 0): use --transport")  # fmt: skip
    host = args.host or (sip.host if sip.bound else "127.0.0.1")
    aors = role_aors(trunk, args.agent_aor, args.customer_aor)
    return Plan(trunk, host, port, transport, local_ip(host), aors)
