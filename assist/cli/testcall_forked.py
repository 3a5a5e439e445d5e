"""`trunks test-call` on a forked trunk: place one leg per party (sip/testcall_forked.py),
then judge from the store what the service made of them: both legs answered, paired
into one call, each party heard its own leg's tone, each stream had audio."""

from __future__ import annotations

import argparse
import time
from typing import Any

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
from sip.testcall import TONES, TestCallError
from sip.testcall_forked import ForkedPlan, make_forked_plan, place_legs

PAIR_SETTLE = 5.0  # seconds to wait for the other leg's call once one leg's is stored
OK = "both legs answered and paired, roles right, each party heard its own tone, audio ok"


def main(args: argparse.Namespace, cfg: Any) -> int:
    from assist.store import open_archive

    plan = make_forked_plan(args, cfg)  # UserError: exit 2
    t0 = time.monotonic()
    try:
        outcomes = place_legs(plan, args.seconds)
    except (TestCallError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    found: list[Stored] = []
    if all(o.final.status == 200 for o in outcomes.values()):
        pair = mask(plan.key)
        found = find_calls(open_archive(cfg),
                           lambda tap: tap.get("mode") == "forked" and tap.get("pair") == pair,
                           lambda calls: legs_of(calls) >= set(TONES), settle=PAIR_SETTLE)
    return finish(judge(plan, outcomes, found, args.seconds), t0, OK)


def legs_of(calls: list[Stored]) -> set[str]:
    return {leg for _, events in calls for leg in tap_of(events)[1].get("legs", [])}


def refusal_advice(plan: ForkedPlan, role: str, status: int, why: str) -> str:
    t = plan.trunk
    value = plan.values[role]
    if status == 400 and "not a known role value" in why:
        if plan.value_role(role) is None:
            known = ", ".join(repr(v) for v, _ in t.role_values)
            return (f" -- role_values of trunk {t.name} know {known}: add "
                    f"{value!r} = \"{role}\" if your PBX sends it (and restart the service)")
        return (" -- this config's role_values know it: is the service running with this "
                "config (restart it after a change)?")  # fmt: skip
    if status == 400 and "header to pair it" in why:
        return (f" -- the service pairs by another header than this config's call_header "
                f"{t.call_header}: is it running with this config (restart it after a change)?")
    return common_advice(status, why, plan.source, t.name)


def legs(plan: ForkedPlan, outcomes: dict[str, Outcome], v: Verdict) -> bool:
    """A line per leg (its answer, or its refusal and why); whether both were answered."""
    up = all(o.final.status == 200 for o in outcomes.values())
    if any(r.status == 401 for o in outcomes.values() for r in o.replies):
        v.say(f"digest: answered the 401s as user {plan.trunk.username}")
    for role, o in outcomes.items():
        if o.final.status == 200:
            v.say(f"INVITE for the {role}: 200 OK, ACKed; BYE sent " + ("after the tones" if up else
                  "at once, the other leg being refused"))  # fmt: skip
            continue
        status, why = reason(o.final)
        v.say(f"INVITE for the {role}: {status}")
        v.fail(f"the {role} leg was refused with {o.final.status}" + (f": {why}" if why else "")
               + refusal_advice(plan, role, o.final.status, why))  # fmt: skip
    return up


def swapped(plan: ForkedPlan) -> str:
    t, c, a = plan.trunk, plan.values["customer"], plan.values["agent"]
    why = (f"roles swapped: the service took the customer's leg ({t.role_header}: {c}) for "
           f"the agent and the agent's ({t.role_header}: {a}) for the customer")
    if plan.value_role("customer") == "agent" and plan.value_role("agent") == "customer":
        return why + (f" -- role_values of trunk {t.name} read {c!r} as agent and {a!r} as "
                      f"customer: if your PBX sends {c!r} on the customer's leg, swap the two "
                      "in role_values (and restart the service)")
    return why + (" -- this config's role_values read them the right way round: is the "
                  "service running with this config (restart it after a change)?")


def judge(plan: ForkedPlan, outcomes: dict[str, Outcome], found: list[Stored],
          seconds: float) -> Verdict:  # fmt: skip
    t = plan.trunk
    v = Verdict()
    v.say(f"test call on forked trunk {t.name}: {plan.source} -> {plan.where}, two legs "
          f"paired by {t.call_header}: {mask(plan.key)}")  # fmt: skip
    v.say(f"  sent customer {t.role_header}: {plan.values['customer']} with "
          f"{TONES['customer']:g} Hz, agent {t.role_header}: {plan.values['agent']} "
          f"({t.agent_header}: {plan.agent}) with {TONES['agent']:g} Hz, {seconds:g} s G.711")
    if not legs(plan, outcomes, v):
        return v
    if not found:
        v.fail(f"the store holds no ended call with this test's {t.call_header} after "
               f"{STORE_WAIT:g} s: is this the config the service runs with (same data_dir)?")
        return v
    if len(found) > 1:
        calls = ", ".join(f"{cid} with the {'/'.join(tap_of(ev)[1].get('legs', []))} leg"
                          for cid, ev in found)  # fmt: skip
        v.fail(f"legs not paired: the service made {len(found)} calls of them ({calls}) -- "
               f"both legs must reach the same tap process, within pair_timeout "
               f"({t.pair_timeout:g} s) of each other")  # fmt: skip
        return v
    call_id, events = found[0]
    started, tap = tap_of(events)
    v.say(f"stored as {call_id}")
    if tap.get("trunk") != t.name:
        v.fail(f"the service took the legs on trunk {tap.get('trunk')}, not {t.name} (the "
               f"first trunk whose sources allow {plan.source} takes them)")  # fmt: skip
    paired = sorted(tap.get("legs", []))
    if paired == sorted(TONES):
        v.say(f"  legs: paired into one call, agent id {started.get('agent')}")
    else:
        v.fail(f"only the {'/'.join(paired) or 'no'} leg was up when the call started: the "
               f"other came more than pair_timeout ({t.pair_timeout:g} s) later")  # fmt: skip
    if started.get("agent") != plan.agent:
        v.fail(f"agent id {started.get('agent')!r}, expected {plan.agent!r} from "
               f"{t.agent_header}: is the service running with this config's agent_header?")
    got = parties(v, events)
    if got == {"customer": "agent", "agent": "customer"}:
        v.fail(swapped(plan))
    else:
        for party, tone in got.items():
            if tone is not None and tone != party:
                v.fail(f"the {party} heard the {tone}'s tone: the legs' audio crossed")
    during(v, events)
    return v
