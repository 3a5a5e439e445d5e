"""`python -m assist --config FILE trunks test-call`: place a loopback call through
the running service as the trunk's SBC or PBX would (a SIPREC session on a siprec
trunk, one leg per party on a forked one), then read from its store what the
service made of it: answered, which party is which, each stream's audio health, and
which tone each party's audio carried (the `metrics` events' pitch).

The calls are placed by sip/testcall.py and sip/testcall_forked.py; the forked
verdict is assist/cli/testcall_forked.py, what both read back testcall_report.py."""

from __future__ import annotations

import argparse
import time
from typing import Any

from assist.cli import testcall_forked
from assist.cli.testcall_report import (
    STORE_WAIT,
    Stored,
    Verdict,
    common_advice,
    during,
    find_calls,
    finish,
    parties,
    reason,
    tap_of,
)
from sip.loopback import Outcome
from sip.siprec import mask
from sip.testcall import SECONDS, TONES, Plan, TestCallError, make_plan, pick_trunk, place


def refused(plan: Plan, outcome: Outcome, v: Verdict) -> None:
    status, why = reason(outcome.final)
    v.say(f"INVITE: {status}")
    advice = common_advice(outcome.final.status, why, plan.source, plan.trunk.name)
    if outcome.final.status == 488 and "role rules" in why:
        advice = " -- the trunk's agent_aor/customer_aor rules match neither AoR sent"
    v.fail(f"refused with {outcome.final.status}" + (f": {why}" if why else "") + advice)


def judge(plan: Plan, outcome: Outcome, found: list[Stored], seconds: float) -> Verdict:
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
    if not found:
        v.fail(f"the store holds no ended call with this test's recording session after "
               f"{STORE_WAIT:g} s: is this the config the service runs with (same data_dir)?")
        return v
    call_id, events = found[0]
    v.say(f"stored as {call_id}")
    started, tap = tap_of(events)
    if tap.get("trunk") != plan.trunk.name:
        v.fail(f"the service took the call on trunk {tap.get('trunk')}, not "
               f"{plan.trunk.name} (the first trunk whose sources allow {plan.source} "
               "takes it)")  # fmt: skip
    seen = tap.get("parties", {})
    want = {r: mask(a) for r, a in plan.aors.items()}
    swapped = seen == {"customer": want["agent"], "agent": want["customer"]}
    if seen == want:
        v.say(f"  roles: right (by {tap.get('basis')}), agent id {started.get('agent')}")
        if plan.agent is not None and started.get("agent") != plan.agent:
            v.fail(f"agent id {started.get('agent')!r}, expected {plan.agent!r}")
    elif swapped:
        v.fail(f"roles swapped: the service took {want['agent']} as the customer and "
               f"{want['customer']} as the agent -- check agent_aor/customer_aor of trunk "
               f"{plan.trunk.name}")  # fmt: skip
    else:
        v.fail(f"roles wrong: the service saw {seen}, expected {want}")
    for party, tone in parties(v, events).items():
        if tone is not None and tone != party:
            v.fail(f"the {party} heard the {tone}'s tone"
                   + (" (the swapped roles)" if swapped else ": streams crossed"))
    during(v, events)
    return v


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m assist --config FILE trunks test-call",
                                 description=__doc__.split("\n\n")[0])  # fmt: skip
    ap.add_argument("--trunk", metavar="NAME", help="the trunk (default: the first one)")
    ap.add_argument("--host", help="the service's SIP address (default: [sip] host, or "
                    "127.0.0.1 when it listens on all)")  # fmt: skip
    ap.add_argument("--port", type=int, help="SIP port (default: [sip] udp_port/tcp_port)")
    ap.add_argument("--transport", choices=("udp", "tcp"),
                    help="default: the trunk's, else udp when the service listens on it")
    ap.add_argument("--seconds", type=float, default=SECONDS,
                    help=f"how long the tones play (default {SECONDS:g}; the health check "
                    "looks at 5 s)")  # fmt: skip
    siprec = ap.add_argument_group("siprec trunks")
    siprec.add_argument("--agent-aor", help="the agent's AoR to send (default: one made "
                        "from the trunk's agent_aor)")  # fmt: skip
    siprec.add_argument("--customer-aor", help="the customer's AoR to send (default: one "
                        "made from customer_aor, else a number no rule should take for an "
                        "agent)")  # fmt: skip
    forked = ap.add_argument_group("forked trunks")
    forked.add_argument("--customer-value", metavar="VALUE", help="the role header value "
                        "to send on the customer's leg (default: the trunk's role_values "
                        "entry for customer)")  # fmt: skip
    forked.add_argument("--agent-value", metavar="VALUE", help="the role header value to "
                        "send on the agent's leg (default: its role_values entry)")
    forked.add_argument("--agent-id", metavar="ID", help="the agent id to send in "
                        "agent_header (default: test-agent)")  # fmt: skip
    args = ap.parse_args(argv)
    if not 1.0 <= args.seconds <= 120.0:
        ap.error(f"--seconds must be 1..120, got {args.seconds:g}")
    return args


def main(argv: list[str], cfg: Any) -> int:
    """0: the call came out right; 1: it did not, or could not be placed; a config
    or option error is a UserError (exit 2, as every command)."""
    args = parse(argv)
    if pick_trunk(cfg.trunks, args.trunk).mode == "forked":
        return testcall_forked.main(args, cfg)
    from assist.store import open_archive

    plan = make_plan(args, cfg)  # UserError: exit 2
    t0 = time.monotonic()
    try:
        outcome = place(plan, args.seconds)
    except (TestCallError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    found: list[Stored] = []
    if outcome.final.status == 200:
        session = plan.session
        found = find_calls(open_archive(cfg), lambda tap: tap.get("recording_session") == session,
                           bool)  # fmt: skip
    return finish(judge(plan, outcome, found, args.seconds), t0,
                  "answered, roles right, each party heard its own tone, audio ok")
