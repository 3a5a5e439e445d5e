"""`assist trunks test-call` on a forked trunk: one ordinary call per party, as the
trunk's PBX places them.  Both legs carry the trunk's pairing header (`call_header`)
with one fresh value, and its role header (`role_header`) with the value its
`role_values` map to that leg's party; the agent's leg names the agent id in
`agent_header`.  Both INVITEs go out at once, so the legs are up well inside
`pair_timeout`; each leg then plays its party's tone, and both hang up together.
"""

from __future__ import annotations

import argparse
import secrets
import string
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from assist.errors import UserError
from sip.loopback import Outcome, Uac, play
from sip.testcall import SECONDS, TONES, Target, connected, target
from sip.trunks import Trunk

DEFAULT_AGENT = "test-agent"


@dataclass
class ForkedPlan(Target):
    values: dict[str, str]  # role -> the role header value sent on that party's leg
    agent: str  # the agent id sent on the agent's leg
    key: str = field(default_factory=lambda: "assist-test-" + "".join(
        secrets.choice(string.ascii_lowercase) for _ in range(12)))  # no digits to mask

    def value_role(self, role: str) -> str | None:
        """The role this config's role_values give the value sent for `role`."""
        return self.trunk.role_of_value(self.values[role])


def role_values(trunk: Trunk, customer: str | None, agent: str | None) -> dict[str, str]:
    """The role header value for each party: the one given, else the first of the
    trunk's role_values that names that party."""
    out = {}
    for role, given in (("customer", customer), ("agent", agent)):
        value = given or next((v for v, r in trunk.role_values if r == role), None)
        if value is None:
            raise UserError(f"role_values of trunk {trunk.name} name no value for the "
                            f"{role}: give --{role}-value as your PBX sends it")  # fmt: skip
        if not value.strip() or any(c in value for c in "\r\n"):
            raise UserError(f"--{role}-value {value!r}: not a header value")
        out[role] = value.strip()
    return out


def leg_invite(plan: ForkedPlan, role: str) -> bytes:
    """One party's leg: plain SDP with one sendonly PCMU stream (ports filled in by
    the client), the pairing and role headers, the agent id on the agent's leg."""
    t = plan.trunk
    sdp = (f"v=0\no=- 1 1 IN IP4 {plan.source}\ns=assist test call\nc=IN IP4 {plan.source}\n"
           "t=0 0\nm=audio 1 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=sendonly\n")  # fmt: skip
    head = (f"INVITE sip:tap@{plan.host} SIP/2.0\n{t.call_header}: {plan.key}\n"
            f"{t.role_header}: {plan.values[role]}\n")  # fmt: skip
    if role == "agent":
        head += f"{t.agent_header}: {plan.agent}\n"
    return (head + "Content-Type: application/sdp\n\n" + sdp).encode()


def place_legs(plan: ForkedPlan, seconds: float = SECONDS) -> dict[str, Outcome]:
    """Each party's leg, offered together; the tones only when both are answered (a
    lone leg is hung up at once: the service would start it as a one-party call)."""
    with ExitStack() as stack:
        uacs: dict[str, Uac] = {r: stack.enter_context(connected(plan)) for r in TONES}
        with ThreadPoolExecutor(len(uacs)) as pool:
            offers = {r: pool.submit(u.offer, leg_invite(plan, r), 1) for r, u in uacs.items()}
            errors: list[BaseException] = []
            outcomes: dict[str, Outcome] = {}
            for role, offer in offers.items():
                try:
                    outcomes[role] = offer.result()
                except (ConnectionError, OSError) as exc:  # TimeoutError is an OSError
                    errors.append(exc)
        up = [r for r, o in outcomes.items() if o.final.status == 200]
        try:
            if len(up) == len(uacs):
                play([(uacs[r], [TONES[r]]) for r in up], seconds)
        finally:
            for role in up:
                try:
                    uacs[role].hang_up()
                except (ConnectionError, OSError) as exc:  # the other leg is still hung up
                    errors.append(exc)
        if errors:
            raise errors[0]  # `connected` says what it means
        return outcomes


def make_forked_plan(args: argparse.Namespace, cfg: Any) -> ForkedPlan:
    t = target(args, cfg)
    values = role_values(t.trunk, args.customer_value, args.agent_value)
    agent = (args.agent_id or DEFAULT_AGENT).strip()
    if not agent or any(c in agent for c in "\r\n"):
        raise UserError(f"--agent-id {args.agent_id!r}: not a header value")
    return ForkedPlan(t.trunk, t.host, t.port, t.transport, t.source, values, agent)
