"""Calls an analysis process left open when it died, found on a real Redis stream and
ended with a reason that says so."""

from __future__ import annotations

from datetime import datetime

import pytest

from assist.cluster import orphans
from assist.cluster.bus import RedisPublisher
from assist.cluster.orphans import ending, orphan_endings
from tests.cluster import redisd
from tests.cluster.redisd import RedisD
from tests.cluster.streamkit import Calls, wires

redis_server = redisd.redis_server  # the fixture


def publish_all(url: str, by: str, events: list[dict], calls: Calls) -> None:
    pub = RedisPublisher(url, maxlen=100_000, by=by)
    try:
        for w in events:
            pub.publish(w, agent=calls.agents.get(w["call_id"]), arrival=None)
        assert pub.flush()
    finally:
        pub.close()


def test_only_its_own_calls_without_an_end_are_found(redis_server: RedisD) -> None:
    calls = Calls()
    mine = [calls.started("done", "a1"), calls.started("open", "a2"), calls.final("done"),
            calls.final("open"), calls.ended("done"), calls.final("open", "还在说")]
    theirs = [calls.started("other", "a3"), calls.final("other")]
    publish_all(redis_server.url, "an1", mine, calls)
    publish_all(redis_server.url, "an2", theirs, calls)
    found = orphan_endings(redis_server.url, "an1")
    assert [(c.call_id, c.seq, c.agent) for c in found] == [("open", 3, "a2")]
    assert [c.call_id for c in orphan_endings(redis_server.url, "an2")] == ["other"]
    assert orphan_endings(redis_server.url, "an3") == []


def test_the_ending_continues_the_calls_numbering_and_clock(redis_server: RedisD) -> None:
    calls = Calls()
    events = [calls.started("c1", "a1"), calls.final("c1"), calls.final("c1")]
    publish_all(redis_server.url, "an1", events, calls)
    (found,) = orphan_endings(redis_server.url, "an1")
    end = ending(found, "analysis process an1 lost")
    last = events[-1]
    assert (end["type"], end["seq"], end["t"]) == ("call.ended", last["seq"] + 1, last["t"])
    assert end["evidence"] == {"agent": "a1", "duration": last["t"],
                               "reason": "analysis process an1 lost"}
    assert datetime.fromisoformat(end["utc"]) == datetime.fromisoformat(last["utc"])
    # Published, the call is no longer open.
    publish_all(redis_server.url, "an1", [end], calls)
    assert orphan_endings(redis_server.url, "an1") == []
    assert wires(redis_server.url)[-1] == end


def test_a_long_stream_is_read_in_pages(redis_server: RedisD, monkeypatch) -> None:
    monkeypatch.setattr(orphans, "PAGE", 7)
    calls = Calls()
    events = [calls.started(f"c{i}", f"a{i}") for i in range(20)]
    events += [calls.ended(f"c{i}") for i in range(0, 20, 2)]
    publish_all(redis_server.url, "an1", events, calls)
    assert sorted(c.call_id for c in orphan_endings(redis_server.url, "an1")) == \
        sorted(f"c{i}" for i in range(1, 20, 2))


def test_an_unreachable_stream_is_logged_and_nothing_is_ended(caplog) -> None:
    port = redisd.free_tcp_port()
    assert orphan_endings(f"redis://127.0.0.1:{port}/0", "an1") == []
    assert "could not look for calls a previous an1 left open" in caplog.text


@pytest.mark.parametrize("by", ["", "an1"])
def test_entries_name_their_publisher_when_it_has_a_name(redis_server: RedisD, by) -> None:
    calls = Calls()
    publish_all(redis_server.url, by, [calls.started("c1", "a1")], calls)
    from tests.cluster.streamkit import entries

    (entry,) = entries(redis_server.url)
    assert entry.get("by") == (by or None)
