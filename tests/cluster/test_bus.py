"""RedisPublisher against a real redis-server: entries, order, MAXLEN, outages."""

from __future__ import annotations

import json
import logging

import redis

from assist.cluster.bus import EVENTS_STREAM, RedisPublisher
from tests.cluster import redisd
from tests.cluster.redisd import RedisD, free_tcp_port
from tests.cluster.streamkit import Calls, entries, wait_for, wires

redis_server = redisd.redis_server  # the fixture
BUS_LOG = "assist.cluster.bus"


def test_entries_carry_the_agreed_fields_in_each_calls_order(redis_server: RedisD) -> None:
    calls = Calls()
    pub = RedisPublisher(redis_server.url, maxlen=10_000)
    sent = []
    try:
        for w in (calls.started("c1", "agent-1"), calls.started("c2", "agent-2")):
            pub.publish(w, agent=calls.agents[w["call_id"]], arrival=12.5)
            sent.append(w)
        for i in range(300):  # interleaved, as two live calls are
            for call_id in ("c1", "c2"):
                w = calls.final(call_id, f"第{i}句")
                pub.publish(w, agent=calls.agents[call_id], arrival=None)
                sent.append(w)
        assert pub.flush()
    finally:
        pub.close()
    got = entries(redis_server.url)
    assert [json.loads(f["wire"]) for f in got] == sent
    first = got[0]
    assert set(first) == {"call", "seq", "agent", "arrival", "wire"}
    assert (first["call"], first["seq"], first["agent"], first["arrival"]) == (
        "c1", "1", "agent-1", "12.5")
    assert got[-1]["arrival"] == ""
    for call_id in ("c1", "c2"):
        seqs = [int(f["seq"]) for f in got if f["call"] == call_id]
        assert seqs == list(range(1, 302))


def test_the_stream_is_capped_near_maxlen(redis_server: RedisD) -> None:
    calls = Calls()
    pub = RedisPublisher(redis_server.url, maxlen=200)
    try:
        for _ in range(3000):
            pub.publish(calls.final("c1"), agent="a", arrival=None)
        assert pub.flush()
    finally:
        pub.close()
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    n = r.xlen(EVENTS_STREAM)
    newest = r.xrevrange(EVENTS_STREAM, count=1)[0][1]
    r.close()
    # "~" trims whole radix-tree nodes (100 entries by default): near, never under.
    assert 200 <= n <= 400
    assert newest["seq"] == "3000"


def test_redis_restarting_mid_call_loses_nothing_published_meanwhile(
        redis_server: RedisD, caplog) -> None:
    calls = Calls()
    caplog.set_level(logging.INFO, logger=BUS_LOG)
    pub = RedisPublisher(redis_server.url, maxlen=10_000)
    try:
        pub.publish(calls.started("c1", "a"), agent="a", arrival=None)
        assert pub.flush()
        redis_server.stop()
        during = []
        for i in range(200):  # publish() returns at once while Redis is gone
            w = calls.final("c1", str(i))
            pub.publish(w, agent="a", arrival=None)
            during.append(w)
        wait_for(lambda: pub.sender.down_since is not None, what="the outage to be noticed")
        redis_server.start()  # empty: no persistence
        assert pub.flush(timeout=60)
        end = calls.ended("c1")
        pub.publish(end, agent="a", arrival=None)
        assert pub.flush()
    finally:
        pub.close()
    assert wires(redis_server.url) == [*during, end]
    errors = [r for r in caplog.records if r.name == BUS_LOG and r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "unreachable" in errors[0].getMessage()
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert pub.sender.dropped == 0


def test_without_redis_the_backlog_stays_bounded_and_partials_go_first(
        tmp_path) -> None:
    calls = Calls()
    server = RedisD(tmp_path / "redis", free_tcp_port())  # not started yet
    pub = RedisPublisher(server.url, maxlen=10_000, backlog=50)
    try:
        finals, published = [], []
        for i in range(100):
            p = calls.partial("c1", str(i))
            pub.publish(p, agent="a", arrival=None)
            w = calls.final("c1", str(i))
            pub.publish(w, agent="a", arrival=None)
            finals.append(w)
            published += [p, w]
            assert len(pub.sender) <= 50
        wait_for(lambda: pub.sender.down_since is not None, what="the outage to be noticed")
        server.start()
        assert pub.flush(timeout=60)
        got = wires(server.url)
    finally:
        pub.close()
        server.stop()
    # Redis came only after the outage.  How many partials slipped in depends on when
    # the sender last tried to reconnect; what holds whatever the timing: at most the
    # backlog, in order, the finals kept are the newest ones, the rest counted dropped.
    assert 0 < len(got) <= 50
    assert got == [w for w in published if w in got]
    kept = [w for w in got if w["type"] == "transcript.final"]
    assert kept and kept == finals[-len(kept):]
    assert pub.sender.dropped == 200 - len(got)


def test_a_publisher_never_reached_still_closes(tmp_path) -> None:
    pub = RedisPublisher(f"redis://127.0.0.1:{free_tcp_port()}/0", maxlen=1000)
    calls = Calls()
    pub.publish(calls.started("c1", "a"), agent="a", arrival=None)
    assert not pub.flush(timeout=0.5)
    pub.close(timeout=1)
    assert len(pub.sender) == 1
