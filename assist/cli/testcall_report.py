"""What `trunks test-call` reads back in every mode: the stored calls the test made,
which tone each party's audio carried (the `metrics` events' pitch), each stream's
final audio health, and a refusal's status and reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sip.loopback import Reply
from sip.testcall import TOLERANCE, TONES

STORE_WAIT = 30.0  # seconds for the store to hold the call's end
Stored = tuple[str, list[dict[str, Any]]]  # call id, its events


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)

    def fail(self, why: str) -> None:
        self.problems.append(why)
        self.lines.append("  FAIL: " + why)


def find_calls(store: Any, ours: Callable[[dict[str, Any]], bool],
               enough: Callable[[list[Stored]], bool], wait: float = STORE_WAIT,
               settle: float = 0.0) -> list[Stored]:  # fmt: skip
    """The ended calls whose `call.started` tap evidence is `ours`, newest first, once
    they are `enough`, or `settle` seconds after the first was found, or at `wait`.
    Only each call's start is read until it is known to be ours."""
    deadline = time.monotonic() + wait
    others: set[str] = set()
    found: dict[str, Stored] = {}
    first_at: float | None = None
    while True:
        for c in reversed(store.calls()):
            if c["call_id"] in others or c["call_id"] in found or not c.get("ended_utc"):
                continue
            started = store.events(c["call_id"], types=("call.started",))
            tap = started[0]["evidence"].get("tap", {}) if started else {}
            if ours(tap):
                found[c["call_id"]] = (c["call_id"], store.events(c["call_id"]))
            else:
                others.add(c["call_id"])
        now = time.monotonic()
        if found and first_at is None:
            first_at = now
        calls = list(found.values())
        if calls and (enough(calls) or now - (first_at or now) >= settle):
            return calls
        if now > deadline:
            return calls
        time.sleep(0.5)


def tap_of(events: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored call's `call.started` evidence and the tap's part of it."""
    started = next((e for e in events if e["type"] == "call.started"), None)
    evidence = started["evidence"] if started else {}
    return evidence, evidence.get("tap", {})


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


def parties(v: Verdict, events: list[dict[str, Any]]) -> dict[str, str | None]:
    """A line per party (the tone it heard, its final audio health), a failure for
    each faulty stream and each party whose tone could not be told; the tones heard,
    for the mode's own judgement of crossed roles."""
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
    return got


def during(v: Verdict, events: list[dict[str, Any]]) -> None:
    """Audio faults the service raised while the call ran (they may have recovered)."""
    for e in events:
        ev = e["evidence"]
        if e["type"] == "audio.health" and not ev.get("final") and ev.get("problem") != "ok":
            v.say(f"  during the call: {ev.get('problem')}: {ev.get('detail')}")


def reason(final: Reply) -> tuple[str, str]:
    """A refusal's status line and the reason in its Warning header."""
    warning = final.header("warning") or ""
    why = warning.split('"', 1)[1].rstrip('"') if '"' in warning else warning
    first = final.head.split("\r\n", 1)[0].split(" ", 2)
    return f"{final.status} {first[2] if len(first) > 2 else ''}".rstrip(), why


def common_advice(status: int, why: str, source: str, trunk: str) -> str:
    """What to change for the refusals every mode can get."""
    if status == 403 and "not allowed by any trunk" in why:
        return (f" -- add \"{source}\" to sources of trunk {trunk} (and restart the "
                "service), or run test-call from an address it allows")  # fmt: skip
    if status in (401, 403) and "digest" in why.lower():
        return f" -- check username/password of trunk {trunk}"
    return ""


def finish(v: Verdict, t0: float, ok: str) -> int:
    """Print the verdict; 0 when nothing is wrong, else 1 and the reasons in one line."""
    print("\n".join(v.lines))
    took = time.monotonic() - t0
    if v.problems:
        print(f"FAILED ({len(v.problems)} problem(s), {took:.1f} s): " + "; ".join(v.problems))
        return 1
    print(f"OK: {ok} ({took:.1f} s)")
    return 0
