"""`assist trunks test-call`: a loopback SIPREC call through the running service.

The call comes from this machine as the trunk's SBC would send it: metadata naming a
customer and an agent whose AoRs satisfy the trunk's role rules, one tone per stream,
digest credentials when the trunk has them.  Then the service's own store says what
it made of it: answered, which party is which, each stream's audio health, and which
tone each party's audio carried (the `metrics` events' pitch).

The tones sit inside the pitch tracker's range (70-420 Hz) and below twice its floor,
so a tone cannot be read as its own octave: the pitch of each party's speech pieces
names the tone it heard.
"""

from __future__ import annotations

import argparse
import base64
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from assist.errors import UserError
from sip.loopback import Outcome, Uac
from sip.siprec import agent_id, mask
from sip.testcall_aor import sample_aor
from sip.trunks import Trunk

TONES = {"customer": 90.0, "agent": 130.0}  # Hz; customer on the first m= line
SECONDS = 8.0  # longer than the 5 s audio-health check
TOLERANCE = 0.06  # a piece's pitch within 6% of a tone counts as that tone
DEFAULT_CUSTOMER = "sip:+15550100@customer.invalid"
STORE_WAIT = 30.0  # seconds for the store to hold the call's end


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


# --- reading the outcome from the store ---------------------------------------------
def find_call(store: Any, session: str, wait: float = STORE_WAIT
              ) -> tuple[str, list[dict[str, Any]]] | None:  # fmt: skip
    """Our call (its recording session id in call.started) once its end is stored."""
    deadline = time.monotonic() + wait
    while True:
        for c in store.calls():
            if not c.get("ended_utc"):
                continue
            events = store.events(c["call_id"])
            started = next((e for e in events if e["type"] == "call.started"), None)
            tap = (started or {}).get("evidence", {}).get("tap", {})
            if tap.get("recording_session") == session:
                return c["call_id"], events
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def heard(events: list[dict[str, Any]]) -> dict[str, str | None]:
    """Per party, the role whose tone its speech pieces carried (None: no piece, or
    a pitch near neither tone)."""
    votes: dict[str, dict[str, int]] = {}
    for e in events:
        if e["type"] != "metrics" or not e.get("party"):
            continue
        hz = e["evidence"].get("pitch_hz") or 0.0
        for role, tone in TONES.items():
            if abs(hz - tone) <= TOLERANCE * tone:
                party = votes.setdefault(e["party"], {})
                party[role] = party.get(role, 0) + 1
    return {p: max(v, key=lambda r: v[r]) if v else None
            for p, v in ((p, votes.get(p, {})) for p in TONES)}  # fmt: skip


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)

    def fail(self, why: str) -> None:
        self.problems.append(why)
        self.lines.append("  FAIL: " + why)


def refused(plan: Plan, outcome: Outcome, v: Verdict) -> None:
    final = outcome.final
    warning = final.header("warning") or ""
    why = warning.split('"', 1)[1].rstrip('"') if '"' in warning else warning
    first = final.head.split("\r\n", 1)[0].split(" ", 2)
    v.say(f"INVITE: {final.status} {first[2] if len(first) > 2 else ''}".rstrip())
    advice = ""
    if final.status == 403 and "not allowed by any trunk" in why:
        advice = (f" -- add \"{plan.source}\" to sources of trunk {plan.trunk.name} (and "
                  "restart the service), or run test-call from an address it allows")  # fmt: skip
    elif final.status in (401, 403) and "digest" in why.lower():
        advice = f" -- check username/password of trunk {plan.trunk.name}"
    elif final.status == 488 and "role rules" in why:
        advice = " -- the trunk's agent_aor/customer_aor rules match neither AoR sent"
    v.fail(f"refused with {final.status}" + (f": {why}" if why else "") + advice)


def judge(plan: Plan, outcome: Outcome, found: tuple[str, list[dict[str, Any]]] | None,
          seconds: float) -> Verdict:  # fmt: skip
    v = Verdict()
    v.say(f"test call on trunk {plan.trunk.name}: {plan.source} -> "
          f"{plan.host}:{plan.port}/{plan.transport}")  # fmt: skip
    v.say(f"  sent customer {mask(plan.aors['customer'])} with {TONES['customer']:g} Hz, "
          f"agent {mask(plan.aors['agent'])} with {TONES['agent']:g} Hz, "
          f"{seconds:g} s G.711")  # fmt: skip
    if outcome.final.status != 200:
        refused(plan, outcome, v)
        return v
    if any(r.status == 401 for r in outcome.replies):
        v.say(f"digest: answered the 401 as user {plan.trunk.username}")
    v.say("INVITE: 200 OK, ACKed; BYE sent after the tones")
    if found is None:
        v.fail(f"the store holds no ended call with this test's recording session after "
               f"{STORE_WAIT:g} s: is this the config the service runs with (same data_dir)?")
        return v
    call_id, events = found
    v.say(f"stored as {call_id}")
    started = next(e for e in events if e["type"] == "call.started")["evidence"]
    tap = started.get("tap", {})
    if tap.get("trunk") != plan.trunk.name:
        v.fail(f"the service took the call on trunk {tap.get('trunk')}, not "
               f"{plan.trunk.name} (the first trunk whose sources allow {plan.source} "
               "takes it)")  # fmt: skip
    parties = tap.get("parties", {})
    want = {r: mask(a) for r, a in plan.aors.items()}
    swapped = parties == {"customer": want["agent"], "agent": want["customer"]}
    if parties == want:
        v.say(f"  roles: right (by {tap.get('basis')}), agent id {started.get('agent')}")
        if plan.agent is not None and started.get("agent") != plan.agent:
            v.fail(f"agent id {started.get('agent')!r}, expected {plan.agent!r}")
    elif swapped:
        v.fail(f"roles swapped: the service took {want['agent']} as the customer and "
               f"{want['customer']} as the agent -- check agent_aor/customer_aor of trunk "
               f"{plan.trunk.name}")  # fmt: skip
    else:
        v.fail(f"roles wrong: the service saw {parties}, expected {want}")
    got = heard(events)
    health = {e.get("party"): e["evidence"] for e in events
              if e["type"] == "audio.health" and e["evidence"].get("final")}  # fmt: skip
    for party in TONES:
        h = health.get(party)
        figures = "no audio-health report"
        if h is not None:
            level = "-inf" if h.get("level_db") is None else f"{h['level_db']:.0f}"
            figures = (f"packets {h.get('packets')}  loss {h.get('loss')}  level {level} dBFS  "
                       f"{h.get('problem')}")  # fmt: skip
        tone = got.get(party)
        hears = (f"heard the {tone}'s tone ({TONES[tone]:g} Hz)" if tone
                 else "no tone recognised")  # fmt: skip
        v.say(f"  {party:8} {hears}; {figures}")
        if h is None:
            v.fail(f"no final audio.health for the {party} stream")
        elif h.get("problem") != "ok":
            v.fail(f"{party} stream: {h.get('problem')} ({h.get('detail')})")
        if tone is None:
            v.fail(f"could not tell which tone reached the {party}: no speech piece near "
                   f"{TONES['customer']:g} or {TONES['agent']:g} Hz")  # fmt: skip
        elif tone != party and not swapped:
            v.fail(f"the {party} heard the {tone}'s tone: streams crossed")
        elif tone != party:
            v.fail(f"the {party} heard the {tone}'s tone (the swapped roles)")
    for e in events:
        ev = e["evidence"]
        if e["type"] == "audio.health" and not ev.get("final") and ev.get("problem") != "ok":
            v.say(f"  during the call: {ev.get('problem')}: {ev.get('detail')}")
    return v


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m assist --config FILE trunks test-call",
                                 description=__doc__.split("\n\n")[0])  # fmt: skip
    ap.add_argument("--trunk", metavar="NAME", help="the trunk (default: the first siprec one)")
    ap.add_argument("--host", help="the service's SIP address (default: [sip] host, or "
                    "127.0.0.1 when it listens on all)")  # fmt: skip
    ap.add_argument("--port", type=int, help="SIP port (default: [sip] udp_port/tcp_port)")
    ap.add_argument("--transport", choices=("udp", "tcp"),
                    help="default: the trunk's, else udp when the service listens on it")
    ap.add_argument("--agent-aor", help="the agent's AoR to send (default: one made from "
                    "the trunk's agent_aor)")  # fmt: skip
    ap.add_argument("--customer-aor", help="the customer's AoR to send (default: one made "
                    "from customer_aor, else a number no rule should take for an agent)")
    ap.add_argument("--seconds", type=float, default=SECONDS,
                    help=f"how long the tones play (default {SECONDS:g}; the health check "
                    "looks at 5 s)")  # fmt: skip
    return ap.parse_args(argv)


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


def main(argv: list[str], cfg: Any) -> int:
    from assist.store import open_archive

    args = parse(argv)
    try:
        plan = make_plan(args, cfg)
        t0 = time.monotonic()
        outcome = place(plan, args.seconds)
        found = None
        if outcome.final.status == 200:
            found = find_call(open_archive(cfg), plan.session)
    except (TestCallError, UserError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    verdict = judge(plan, outcome, found, args.seconds)
    print("\n".join(verdict.lines))
    took = time.monotonic() - t0
    if verdict.problems:
        print(f"FAILED ({len(verdict.problems)} problem(s), {took:.1f} s): "
              + "; ".join(verdict.problems))  # fmt: skip
        return 1
    print(f"OK: answered, roles right, each party heard its own tone, audio ok ({took:.1f} s)")
    return 0
