"""`python -m assist --config FILE trunks test-call`: place a loopback SIPREC call
through the running service (sip/testcall.py), then read from its store what the
service made of it: answered, which party is which, each stream's audio health, and
which tone each party's audio carried (the `metrics` events' pitch)."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

from assist.errors import UserError
from sip.loopback import Outcome
from sip.siprec import mask
from sip.testcall import SECONDS, TOLERANCE, TONES, Plan, TestCallError, make_plan, place

STORE_WAIT = 30.0  # seconds for the store to hold the call's end


def find_call(store: Any, session: str, wait: float = STORE_WAIT
              ) -> tuple[str, list[dict[str, Any]]] | None:  # fmt: skip
    """Our call (its recording session id in call.started) once its end is stored;
    newest first, and only each call's start is read until ours is found."""
    deadline = time.monotonic() + wait
    others: set[str] = set()
    while True:
        for c in reversed(store.calls()):
            if c["call_id"] in others or not c.get("ended_utc"):
                continue
            started = store.events(c["call_id"], types=("call.started",))
            tap = started[0]["evidence"].get("tap", {}) if started else {}
            if tap.get("recording_session") == session:
                return c["call_id"], store.events(c["call_id"])
            others.add(c["call_id"])
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
