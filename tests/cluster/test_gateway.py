"""The gateway role: panels on any gateway, fed by the Redis stream, isolated, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from stored import demo_wires

from assist.cluster.bus import EVENTS_STREAM, FEEDBACK_STREAM, RedisPublisher, event_fields
from tests.cluster import redisd
from tests.cluster.gatewayd import ROOT, Gateway, Panel
from tests.cluster.postgresd import pg_url, postgres_server  # noqa: F401
from tests.cluster.streamkit import Calls, entries, wait_for

redis_server = redisd.redis_server


class Bus:
    """Publishes wires as an analysis process would, and raw entries as a broken one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pub = RedisPublisher(url, maxlen=100_000)
        self.calls = Calls()
        self.sent: dict[str, list[dict[str, Any]]] = {}

    def send(self, *wires: dict[str, Any]) -> None:
        for w in wires:
            agent = self.calls.agents.get(w["call_id"])
            self.pub.publish(w, agent=agent, arrival=None)
            self.sent.setdefault(w["call_id"], []).append(w)
        assert self.pub.flush(30)

    def again(self, call_id: str, first_seq: int) -> None:
        """Entries already sent, added once more (a producer's batch resent)."""
        r = redis.Redis.from_url(self.url, decode_responses=True)
        for w in self.sent[call_id][first_seq - 1:]:
            r.xadd(EVENTS_STREAM, event_fields(w, self.calls.agents[call_id], None))  # type: ignore[arg-type]
        r.close()

    def finals(self, call_id: str, n: int) -> None:
        self.send(*[self.calls.final(call_id, f"第{i}句") for i in range(n)])

    def close(self) -> None:
        self.pub.close()


@pytest.fixture
def bus(redis_server: redisd.RedisD) -> Iterator[Bus]:
    b = Bus(redis_server.url)
    yield b
    b.close()


@pytest.fixture
def gateways(tmp_path: Path, redis_server: redisd.RedisD) -> Iterator[list[Gateway]]:
    made: list[Gateway] = []
    data = tmp_path / "data"  # shared: the gateways sign and check tokens with one secret

    def make(name: str) -> Gateway:
        gw = Gateway(tmp_path, redis_server.url, name, data_dir=data)
        made.append(gw)
        return gw

    yield [make("gw1"), make("gw2")]
    for gw in made:
        gw.stop()


def no_traceback(gw: Gateway) -> None:
    assert "Traceback" not in gw.log(), gw.log()[-3000:]


def test_an_agent_on_any_gateway_sees_only_their_own_calls_and_resumes_on_another(
        bus: Bus, gateways: list[Gateway]) -> None:
    gw1, gw2 = (gw.start() for gw in gateways)
    bus.send(bus.calls.started("ca", "1001"), bus.calls.started("cb", "1002"))
    bus.finals("ca", 3)
    bus.finals("cb", 3)

    a = Panel(gw2, gw2.token(agent="1001"))
    a.until_event("ca", 4)
    floor = Panel(gw1, gw1.token(role="supervisor"))
    floor.until(lambda p: {"ca", "cb"} <= {e["call_id"] for e in p.events
                                           if e["type"] == "call.started"},
                what="both calls on the floor")
    assert {c["call_id"] for c in floor.welcome["calls"]} == {"ca", "cb"}

    # B's events while A's panel is open, then one of A's: when it arrives, B's were routed.
    bus.finals("cb", 2)
    bus.finals("ca", 1)
    a.until_event("ca", 5)
    assert a.seqs("ca") == [1, 2, 3, 4, 5]
    assert {e["call_id"] for e in a.events} == {"ca"}
    assert [c["call_id"] for c in a.welcome["calls"]] == ["ca"]

    # A's panel on gateway 1 drops after seq 5; events go on; it resumes on gateway 2.
    a1 = Panel(gw1, gw1.token(agent="1001"))
    a1.until_event("ca", 5)
    a1.close()
    bus.finals("ca", 3)
    bus.again("ca", 4)  # at-least-once: seqs 4..8 delivered a second time
    bus.finals("ca", 1)
    back = Panel(gw2, gw2.token(agent="1001"), resume={"ca": 5})
    back.until_event("ca", 9)
    assert back.seqs("ca") == [6, 7, 8, 9]
    a.until_event("ca", 9)
    assert a.seqs("ca") == list(range(1, 10))  # the duplicates never reached a panel
    assert all(e["call_id"] == "ca" for e in a.events + back.events)

    # A call's end reaches the floor; a floor opened afterwards lists it as just ended.
    bus.send(bus.calls.ended("cb"))
    floor.until(lambda p: any(e["type"] == "call.ended" for e in p.events), what="cb's end")
    late = Panel(gw2, gw2.token(role="supervisor"))
    assert {(c["call_id"], c["active"]) for c in late.welcome["calls"]} == {("ca", True),
                                                                           ("cb", False)}
    for p in (a, back, floor, late):
        p.close()
    for gw in (gw1, gw2):
        no_traceback(gw)


def test_a_gateway_killed_and_restarted_rebuilds_and_serves_resume(
        bus: Bus, gateways: list[Gateway]) -> None:
    gw = gateways[0].start()
    bus.send(bus.calls.started("ca", "1001"))
    bus.finals("ca", 4)
    a = Panel(gw, gw.token())
    a.until_event("ca", 5)
    gw.kill()
    bus.finals("ca", 3)
    bus.send(bus.calls.started("cb", "1002"))  # a call that began while it was down
    gw.start()
    assert "rebuilt 2 call(s) from 9 entr(ies)" in gw.banner()
    back = Panel(gw, gw.token(), resume={"ca": 5})
    back.until_event("ca", 8)
    bus.finals("ca", 1)
    back.until_event("ca", 9)
    assert back.seqs("ca") == [6, 7, 8, 9]
    assert {e["call_id"] for e in back.events} == {"ca"}
    fresh = Panel(gw, gw.token(agent="1002"))
    fresh.until_event("cb", 1)
    for p in (a, back, fresh):
        p.close()


def test_feedback_goes_to_the_feedback_stream_only_from_the_calls_agent(
        bus: Bus, gateways: list[Gateway]) -> None:
    gw = gateways[0].start()
    bus.send(bus.calls.started("ca", "1001"), bus.calls.started("cb", "1002"))
    bus.send(bus.calls.event("ca", "suggestion", "agent", id="s1", title="t", text="x"))
    a = Panel(gw, gw.token(agent="1001"))
    a.until_event("ca", 2)
    b = Panel(gw, gw.token(agent="1002"))
    floor = Panel(gw, gw.token(role="supervisor"))

    def click(p: Panel, ref: str, **msg: Any) -> dict[str, Any]:
        p.send({"type": "feedback", "ref": ref, **msg})
        return p.reply(ref)

    card = {"call_id": "ca", "suggestion": "s1", "action": "used"}
    assert click(b, "b1", **card)["code"] == "not_found"  # another agent's call
    assert click(floor, "f1", **card)["code"] == "forbidden"
    assert click(a, "a0", **dict(card, suggestion="nope"))["code"] == "not_found"
    assert click(a, "a1", **card)["type"] == "ok"
    assert click(a, "a2", **dict(card, action="dismissed"))["type"] == "ok"
    got = wait_for(lambda: (e := entries(bus.url, FEEDBACK_STREAM)) and len(e) >= 2 and e,
                   what="feedback entries")
    assert got == [{"call": "ca", "suggestion": "s1", "action": "used", "agent": "1001"},
                   {"call": "ca", "suggestion": "s1", "action": "dismissed", "agent": "1001"}]
    bus.send(bus.calls.ended("ca"))
    a.until(lambda p: any(e["type"] == "call.ended" for e in p.events), what="the end")
    assert click(a, "a3", **card)["code"] == "not_found"  # the call is over
    for p in (a, b, floor):
        p.close()
    assert len(entries(bus.url, FEEDBACK_STREAM)) == 2


def test_redis_down_and_restarted_empty_panels_stay_and_nothing_repeats(
        redis_server: redisd.RedisD, bus: Bus, gateways: list[Gateway]) -> None:
    gw = gateways[0].start()
    bus.send(bus.calls.started("ca", "1001"))
    bus.finals("ca", 2)
    a = Panel(gw, gw.token())
    a.until_event("ca", 3)

    redis_server.kill()
    wait_for(lambda: "unreachable" in gw.log(), what="the outage in the log")
    a.send({"type": "ping", "ref": "p1"})
    assert a.reply("p1")["type"] == "ok"  # the panel is still served
    redis_server.start()  # empty: a new server on the same port
    # The producer resends what it had (seqs 2..3) and goes on.
    bus.again("ca", 2)
    bus.finals("ca", 2)
    bus.send(bus.calls.started("cb", "1001"))
    a.until_event("cb", 1)
    assert a.seqs("ca") == [1, 2, 3, 4, 5]
    wait_for(lambda: "reachable again" in gw.log(), what="the recovery in the log")
    log = gw.log()
    assert log.count("unreachable") == 1, log
    no_traceback(gw)
    a.close()


def test_broken_entries_are_skipped_and_logged(bus: Bus, gateways: list[Gateway]) -> None:
    gw = gateways[0].start()
    r = redis.Redis.from_url(bus.url, decode_responses=True)
    good = bus.calls.started("ca", "1001")
    for fields in ({"wire": "{not json"}, {"call": "ca", "seq": "x", "wire": "{}"},
                   {"call": "ca", "seq": "1", "wire": json.dumps(dict(good, call_id="cz"))},
                   {"call": "ca", "seq": "1", "wire": "[1]"}):
        r.xadd(EVENTS_STREAM, fields)  # type: ignore[arg-type]
    r.close()
    bus.send(good)
    a = Panel(gw, gw.token())
    a.until_event("ca", 1)
    wait_for(lambda: gw.log().count("is not an event") == 4, what="four skipped entries")
    no_traceback(gw)
    a.close()


def test_a_gateway_with_no_redis_says_so(tmp_path: Path) -> None:
    gw = Gateway(tmp_path, f"redis://127.0.0.1:{redisd.free_tcp_port()}/0", "gw")
    with pytest.raises(RuntimeError, match="cannot read assist:events"):
        gw.start()
    no_traceback(gw)


def http_json(url: str, token: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_an_ended_call_is_on_the_floor_and_its_review_comes_from_postgresql(
        tmp_path: Path, bus: Bus, redis_server: redisd.RedisD, pg_url: str) -> None:  # noqa: F811
    gw = Gateway(tmp_path, redis_server.url, "gw", cluster=f'postgres_url = "{pg_url}"').start()
    wcfg = tmp_path / "writer.toml"
    wcfg.write_text(f'data_dir = "{tmp_path / "wdata"}"\n[cluster]\nrole = "writer"\n'
                    f'name = "w1"\nredis_url = "{redis_server.url}"\n'
                    f'postgres_url = "{pg_url}"\n', encoding="utf-8")
    writer = subprocess.Popen([sys.executable, "-m", "assist", "--config", str(wcfg), "run"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        demo = demo_wires("gwdemo")
        bus.calls.agents["gwdemo"] = "agent-1001"  # as the demo call's evidence names it
        bus.send(*demo)
        floor = Panel(gw, gw.token(role="supervisor"))
        assert [(c["call_id"], c["active"]) for c in floor.welcome["calls"]] == [
            ("gwdemo", False)]
        floor.until(lambda p: any(e["type"] == "call.ended" for e in p.events),
                    what="the just-ended call on the floor")
        api = f"{gw.url}api/review/gwdemo"
        got = wait_for(lambda: (r := http_json(api, gw.token(agent="agent-1001")))[0] == 200 and
                       len(r[1]["events"]) == len(demo) and r, what="the stored call")
        assert [e["seq"] for e in got[1]["events"]] == [w["seq"] for w in demo]
        assert http_json(api, gw.token(agent="agent-1002"))[0] == 404
        floor.close()
    finally:
        writer.terminate()
        writer.wait(timeout=30)
        gw.stop()
    no_traceback(gw)
