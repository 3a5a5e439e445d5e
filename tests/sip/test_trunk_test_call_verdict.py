"""The forked test call's verdict on what the store holds, for the cases a running
single tap cannot produce on demand: legs that became two calls (behind a proxy that
sent them to different taps) and a leg that joined after pair_timeout."""

from __future__ import annotations

from assist.cli.testcall_forked import judge
from sip.loopback import Outcome, Reply
from sip.siprec import mask
from sip.testcall_forked import ForkedPlan
from sip.trunks import parse_trunks

(PBX,) = parse_trunks('[[trunks]]\nname = "pbx"\nmode = "forked"\nsources = ["127.0.0.1"]\n'
                      "pair_timeout = 2.0\n")  # fmt: skip


def plan() -> ForkedPlan:
    return ForkedPlan(PBX, "127.0.0.1", 5060, "udp", "127.0.0.1",
                      {"customer": "customer", "agent": "agent"}, "8107")  # fmt: skip


def answered() -> dict[str, Outcome]:
    return {r: Outcome([Reply(200, "SIP/2.0 200 OK", b"")]) for r in ("customer", "agent")}


def stored(call_id: str, p: ForkedPlan, legs: list[str], pitch: dict[str, float]):
    tap = {"trunk": "pbx", "mode": "forked", "pair": mask(p.key), "legs": legs}
    events = [{"type": "call.started", "party": None, "evidence": {"agent": "8107", "tap": tap}}]
    for party, hz in pitch.items():
        events += [{"type": "metrics", "party": party, "evidence": {"pitch_hz": hz}}] * 3
        events.append({"type": "audio.health", "party": party,
                       "evidence": {"final": True, "problem": "ok", "packets": 390, "loss": 0,
                                    "level_db": -15.0}})  # fmt: skip
    return call_id, events


def test_legs_that_became_two_calls_are_not_paired():
    p = plan()
    found = [stored("sip-a", p, ["customer"], {"customer": 90.0}),
             stored("sip-b", p, ["agent"], {"agent": 130.0})]  # fmt: skip
    v = judge(p, answered(), found, 8.0)
    assert v.problems == [
        "legs not paired: the service made 2 calls of them (sip-a with the customer leg, "
        "sip-b with the agent leg) -- both legs must reach the same tap process, within "
        "pair_timeout (2 s) of each other"]


def test_a_leg_that_joined_late_is_named():
    p = plan()
    found = [stored("sip-a", p, ["customer"], {"customer": 90.0, "agent": 130.0})]
    v = judge(p, answered(), found, 8.0)
    assert v.problems == ["only the customer leg was up when the call started: the other "
                          "came more than pair_timeout (2 s) later"]  # fmt: skip


def test_one_call_with_both_legs_and_tones_is_right():
    p = plan()
    found = [stored("sip-a", p, ["agent", "customer"], {"customer": 90.0, "agent": 130.0})]
    v = judge(p, answered(), found, 8.0)
    assert v.problems == []
    assert "  legs: paired into one call, agent id 8107" in v.lines
