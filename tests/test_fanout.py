"""The fan-out and outboxes without sockets: who gets what, catch-up, and what a link holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from helpers import make_event

from assist.events import FLOOR_TYPES, to_wire
from assist.panel.auth import Claims
from assist.panel.fanout import Fanout, Link
from assist.panel.outbox import Outbox

START = datetime(2026, 1, 1, tzinfo=UTC)
AGENT = Claims("agent", "1001", 1e12)
SUPERVISOR = Claims("supervisor", None, 1e12)


class Floor:
    def __init__(self, **kw) -> None:
        self.fanout = Fanout(**kw)
        self.seq: dict[str, int] = {}

    def pub(self, call_id: str, typ: str, party=None, agent="1001", **evidence) -> int:
        seq = self.seq[call_id] = self.seq.get(call_id, 0) + 1
        wire = to_wire(make_event(typ, call_id, seq / 10, party, **evidence), seq, START)
        self.fanout.publish(wire, agent)
        return seq

    def call(self, call_id: str, agent: str = "1001", events: int = 3, ended: bool = False):
        self.pub(call_id, "call.started", agent=agent, language="zh-CN", sample_rate=8000,
                 source="test")
        for i in range(events):
            self.pub(call_id, "transcript.final", "customer", agent, text=f"第{i}句", start=i,
                     end=i + 1)
        if ended:
            self.pub(call_id, "call.ended", agent=agent, duration=9.0, reason="hangup")

    def link(self, claims: Claims = AGENT, **outbox) -> Link:
        link = Link(claims, Outbox(**outbox))
        self.fanout.add(link)
        return link


def sent(link: Link) -> list[dict]:
    """Everything the writer would send now, in order."""
    out = []
    while (text := link.outbox.next_text()) is not None:
        out.append(json.loads(text))
    return out


def seqs(msgs: list[dict]) -> list[tuple[str, int]]:
    return [(m["event"]["call_id"], m["event"]["seq"]) for m in msgs if m["type"] == "event"]


def test_agents_get_their_own_calls_and_supervisors_the_floor_until_they_open_one() -> None:
    f = Floor()
    agent, other, sup = f.link(), f.link(Claims("agent", "1002", 1e12)), f.link(SUPERVISOR)
    f.call("mine", "1001", events=2)
    f.pub("mine", "interruption", "agent", onset=1.0, overlap=0.7, min_overlap=0.6)
    assert seqs(sent(agent)) == [("mine", 1), ("mine", 2), ("mine", 3), ("mine", 4)]
    assert sent(other) == []
    floor = [m["event"] for m in sent(sup)]
    assert [e["type"] for e in floor] == ["call.started", "interruption"]
    assert all(e["type"] in FLOOR_TYPES for e in floor)
    assert f.fanout.open(sup, "mine", 0)
    got = sent(sup)
    assert got[0] == {"type": "opened", "call_id": "mine", "after": 0}
    assert seqs(got) == [("mine", s) for s in (1, 2, 3, 4)]
    f.pub("mine", "talk.start", "customer", onset=2.0)
    assert [m["event"]["type"] for m in sent(sup)] == ["talk.start"]
    f.fanout.close_call_view(sup, "mine")
    f.pub("mine", "talk.end", "customer", start=2.0, duration=1.0)
    assert sent(sup) == []


def test_resume_sends_what_was_missed_whole_active_calls_and_named_ended_ones() -> None:
    f = Floor()
    f.call("live", events=4)
    f.call("old", events=2, ended=True)
    f.call("older", events=2, ended=True)
    link = f.link()
    f.fanout.resume(link, {"live": 3, "old": 0}, [])
    assert seqs(sent(link)) == [("live", 4), ("live", 5)] + [("old", s) for s in (1, 2, 3, 4)]


def test_only_the_newest_partial_is_caught_up_and_a_final_supersedes_it() -> None:
    f = Floor()
    f.call("c", events=1)
    for i in range(5):
        f.pub("c", "transcript.partial", "agent", text="您" * i, start=2, end=3)
    link = f.link()
    f.fanout.resume(link, {}, [])
    got = [m["event"] for m in sent(link)]
    assert [(e["seq"], e["type"]) for e in got][-1] == (7, "transcript.partial")
    assert sum(e["type"] == "transcript.partial" for e in got) == 1
    f.pub("c", "transcript.final", "agent", text="您好", start=2, end=3)
    f.fanout.resume(link, {}, [])
    assert [m["event"]["type"] for m in sent(link)][-1] == "transcript.final"
    assert all(m["event"]["type"] != "transcript.partial" for m in sent(link))


def test_events_published_during_catch_up_come_once_and_in_order() -> None:
    f = Floor()
    f.call("c", events=10)
    link = f.link()
    f.fanout.resume(link, {"c": 2}, [])
    got = []
    for i in range(30):  # the writer sends one text for each event published
        f.pub("c", "talk.start", "customer", onset=float(i))
        got += [json.loads(t) for t in [link.outbox.next_text()] if t is not None]
    got += sent(link)
    assert [s for _, s in seqs(got)] == list(range(3, f.seq["c"] + 1))
    assert not link.outbox.cursors  # caught up: live again
    f.pub("c", "talk.end", "customer", start=0.0, duration=1.0)
    assert len(link.outbox) == 1


def test_a_flood_of_resumes_and_subscribes_holds_one_cursor_per_call() -> None:
    f = Floor(max_opened=4)
    for i in range(20):
        f.call(f"c{i}", events=50, ended=i % 2 == 0)
    agent, sup = f.link(), f.link(SUPERVISOR)
    for _ in range(10_000):
        f.fanout.resume(agent, {"c0": 0}, [])
        f.fanout.open(sup, "c3", 0)
    assert len(agent.outbox.cursors) == 11  # 10 live calls and the one ended call named
    assert len(agent.outbox) == 0 and agent.outbox.chars == 0
    assert len(sup.outbox.cursors) == 1 and len(sup.outbox) == 0
    # The flood sends each call's history once, as the last request asked.
    got = sent(sup)
    assert [m["type"] for m in got].count("opened") == 1
    assert seqs(got) == [("c3", s) for s in range(1, 52)]


def test_a_supervisor_opens_only_so_many_calls() -> None:
    f = Floor(max_opened=3)
    for i in range(5):
        f.call(f"c{i}")
    sup = f.link(SUPERVISOR)
    assert [f.fanout.open(sup, f"c{i}", 0) for i in range(5)] == [True] * 3 + [False] * 2
    assert f.fanout.open(sup, "c1", 0)  # one already open may be asked again
    f.fanout.close_call_view(sup, "c0")
    assert f.fanout.open(sup, "c4", 0)
    hello = f.link(SUPERVISOR)
    f.fanout.resume(hello, {}, [f"c{i}" for i in range(5)])
    assert len(hello.opened) == 3


def test_forgotten_calls_leave_every_cursor_and_opened_set() -> None:
    f = Floor(keep_ended=2)
    f.call("a", events=5, ended=True)
    sup = f.link(SUPERVISOR, limit=1, hard_limit=1000)
    f.fanout.open(sup, "a", 0)
    assert "a" in sup.outbox.cursors
    for name in ("b", "c"):
        f.call(name, ended=True)
    assert "a" not in f.fanout.calls
    assert "a" not in sup.outbox.cursors and "a" not in sup.opened


def test_a_stalled_link_overflows_on_count_or_characters_and_keeps_flags() -> None:
    f = Floor()
    f.call("c", events=0)
    link = f.link(limit=4, hard_limit=8, max_chars=100_000)
    sent(link)
    for i in range(6):
        f.pub("c", "transcript.partial", "customer", text="字" * i, start=0, end=1)
        f.pub("c", "interruption", "agent", onset=i, overlap=0.7, min_overlap=0.6)
    assert link.outbox.dropped > 0 and not f.fanout.overflowed
    kinds = [m["event"]["type"] for m in sent(link)]
    assert kinds.count("interruption") == 6
    for i in range(9):
        f.pub("c", "interruption", "agent", onset=i, overlap=0.7, min_overlap=0.6)
    assert f.fanout.overflowed == [link]
    big = f.link(limit=100, hard_limit=1000, max_chars=5_000)
    for _ in range(10):
        f.pub("c", "phrase", "agent", rule="r", matched="不知道" * 200, instead="我帮您确认")
    assert big in f.fanout.overflowed and big.outbox.chars <= 5_000


def test_a_removed_link_gets_nothing_more() -> None:
    f = Floor()
    f.call("c")
    link = f.link()
    f.fanout.resume(link, {}, [])
    f.fanout.remove(link)
    assert not link.outbox.cursors
    f.pub("c", "talk.start", "customer", onset=1.0)
    assert len(link.outbox) == 0


def test_a_floor_opened_after_a_call_ended_still_lists_it() -> None:
    f = Floor()
    f.call("done", events=2)
    f.pub("done", "interruption", "agent", onset=1.0, overlap=1.2, min_overlap=1.0)
    f.pub("done", "call.ended", agent="1001", duration=9.0, reason="hangup")
    sup, agent = f.link(SUPERVISOR), f.link()
    f.fanout.resume(sup, {}, [])
    f.fanout.resume(agent, {}, [])
    floor = [m["event"] for m in sent(sup)]
    assert [e["type"] for e in floor] == ["call.started", "interruption", "call.ended"]
    assert sent(agent) == []  # an agent's panel opens on their live call, not old ones
