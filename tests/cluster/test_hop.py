"""The hop in one process: a HopSink and a HopServer over a real Unix socket.

A call sent through the hop gives the events the same call gives fed straight
to a CallHub; bytes that are not the protocol close their connection only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import Collect

from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.cluster import wire
from assist.cluster.analysis import HopServer
from assist.cluster.hop import HopSink
from assist.frames import Frame
from assist.taps.wav import Recording, read_call

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assist" / "demo" / "demo_call.wav"
START = datetime(2026, 1, 1, 9, tzinfo=UTC)


@pytest.fixture
def sock() -> Iterator[str]:
    # Unix socket paths are short (108 bytes): not under pytest's deep tmp_path.
    with tempfile.TemporaryDirectory(prefix="hop-") as d:
        yield str(Path(d) / "a.sock")


def sync(fn):
    """Run an async test on a fresh loop (the suite has no asyncio plugin)."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


def hub(pub: Collect) -> CallHub:
    return CallHub(LoopParams(), [pub], clock=lambda: START)


def feed(sink: HopSink | CallHub, rec: Recording, call_id: str, seconds: float = 1e9):
    for t, customer, agent in rec.frames():
        if t >= seconds:
            return
        sink.feed(call_id, Frame("customer", customer, rec.rate, t, 1.0))
        sink.feed(call_id, Frame("agent", agent, rec.rate, t, 1.0))


def direct(rec: Recording) -> list[dict]:
    pub = Collect()
    h = hub(pub)
    h.start_call("c1", agent="1001", rate=rec.rate, language="zh-CN", source="replay")
    feed(h, rec, "c1")
    h.end_call("c1", "end of recording")
    return pub.wires


async def until(pred, timeout: float = 60.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.02)


async def through_hop(rec: Recording, path: str) -> tuple[list[dict], HopSink]:
    pub = Collect()
    server = HopServer(path, hub(pub))
    await server.start()
    sink = HopSink(path, "tap-test", limit=1 << 30)  # nothing dropped: this is about sameness
    try:
        assert await sink.start(10.0)
        sink.start_call("c1", agent="1001", rate=rec.rate, language="zh-CN", source="replay")
        for i, (t, customer, agent) in enumerate(rec.frames()):
            sink.feed("c1", Frame("customer", customer, rec.rate, t, 1.0))
            sink.feed("c1", Frame("agent", agent, rec.rate, t, 1.0))
            if i % 50 == 0:
                await asyncio.sleep(0)
        sink.end_call("c1", "end of recording")
        await until(lambda: any(w["type"] == "call.ended" for w in pub.wires))
    finally:
        await sink.stop()
        await server.stop()
    return pub.wires, sink


def shape(wires: list[dict]) -> list[tuple]:
    return [(w["seq"], w["type"], w.get("party"), w["t"],
             None if w["type"] == "call.started" else w.get("evidence")) for w in wires]


@sync
async def test_the_demo_call_through_the_hop_gives_the_events_it_gives_direct(sock):
    rec = read_call(DEMO)
    want = direct(rec)
    got, sink = await through_hop(rec, sock)
    assert sink.dropped == 0 and sink.sent == 2 * len(list(rec.frames()))
    assert len(want) > 30  # the demo call flags interruptions, pace and anger
    assert shape(got) == shape(want)
    started = got[0]["evidence"]
    assert started["tap"] == {"tap_process": "tap-test"} and started["agent"] == "1001"


def health_events(wires: list[dict]) -> list[tuple]:
    return [(w["party"] if "party" in w else None, w["evidence"]) for w in wires
            if w["type"] == "audio.health"]  # fmt: skip


@sync
async def test_a_taps_audio_health_reports_reach_the_analysis_side(sock, caplog):
    """What sip/taps.py raises for a stream without RTP, then each stream's end figures."""
    from sip.health import CHECK_AFTER, CallHealth

    rec = read_call(DEMO)
    health = CallHealth("c1", rec.rate, ("customer", "agent"))
    for t, customer, _agent in rec.frames():
        if t >= CHECK_AFTER + 1:
            break
        health.add("customer", customer)  # the agent's stream gets nothing
    health.counts({"customer": (300, 0), "agent": (0, 0)})
    reports = health.check() + health.final()
    assert [r.problem for r in reports] == ["no_rtp", "ok", "no_rtp"]

    async def run(sink: HopSink | CallHub) -> None:
        sink.start_call("c1", agent="1001", rate=rec.rate, source="sip")
        feed(sink, rec, "c1", 1.0)
        for r in reports:
            sink.audio_health("c1", r.party, r.evidence())
        sink.audio_health("c1", "agent", {"problem": "loud"})  # a peer's bad report: dropped
        sink.end_call("c1", "hangup")

    pub_direct = Collect()
    await run(hub(pub_direct))
    pub = Collect()
    server = HopServer(sock, hub(pub))
    await server.start()
    sink = HopSink(sock, "tap1")
    try:
        assert await sink.start(10.0)
        await run(sink)
        await until(lambda: any(w["type"] == "call.ended" for w in pub.wires))
    finally:
        await sink.stop()
        await server.stop()
    got = health_events(pub.wires)
    assert got == health_events(pub_direct.wires)
    assert [(p, e["problem"], e["final"]) for p, e in got] == [
        ("agent", "no_rtp", False), ("customer", "ok", True), ("agent", "no_rtp", True)]
    assert got[1][1]["packets"] == 300 and got[2][1]["level_db"] is None
    dropped = [r for r in caplog.records if "bad audio report dropped" in r.getMessage()]
    assert len(dropped) == 2 and not any(r.exc_info for r in caplog.records)  # direct, hop


@sync
async def test_a_dead_tap_ends_its_calls_and_not_the_others(sock):
    rec = read_call(DEMO)
    pub = Collect()
    server = HopServer(sock, hub(pub))
    await server.start()
    one, two = HopSink(sock, "tap1"), HopSink(sock, "tap2")
    try:
        assert await one.start(10.0) and await two.start(10.0)
        one.start_call("a", agent="1001", rate=rec.rate)
        two.start_call("b", agent="1002", rate=rec.rate)
        feed(one, rec, "a", 2.0)
        feed(two, rec, "b", 2.0)
        await until(lambda: server.frames >= 4 * 100)
        assert one._writer is not None
        one._writer.transport.abort()  # what the analysis side sees of a kill -9
        await until(lambda: "a" not in server.hub.sessions)
        assert "b" in server.hub.sessions
        ended = [w for w in pub.wires if w["type"] == "call.ended"]
        assert [(w["call_id"], w["evidence"]["reason"]) for w in ended] == \
            [("a", "tap process tap1 lost")]
        await until(lambda: one.refusal() is None)  # it reconnects by itself
        two.end_call("b")
        await until(lambda: "b" not in server.hub.sessions)
        ended = [w for w in pub.wires if w["type"] == "call.ended"]
        assert ended[-1]["call_id"] == "b" and ended[-1]["evidence"]["reason"] == "hangup"
    finally:
        await one.stop()
        await two.stop()
        await server.stop()


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00\x00\x00\x09\x01" + b'{"v":1,"t',  # a HELLO cut short, then garbage
    wire.hello("evil") + b"\xff" * 64,
    wire.hello("evil") + wire.frame(3, Frame("agent", __import__("numpy").zeros(160, "int16"),
                                             8000, 0.0)) + wire._message(7, b"x"),
    wire.hello("evil") + wire.health(1, "supervisor", {"problem": "ok"}),
    wire.hello("evil") + wire.health(1, None, {}).replace(b'{}', b'[]'),
])
@sync
async def test_garbage_on_the_socket_closes_that_connection_only(sock, junk, caplog):
    caplog.set_level(logging.INFO)
    rec = read_call(DEMO)
    pub = Collect()
    server = HopServer(sock, hub(pub))
    await server.start()
    tap = HopSink(sock, "tap1")
    try:
        assert await tap.start(10.0)
        tap.start_call("good", agent="1001", rate=rec.rate)
        feed(tap, rec, "good", 1.0)
        reader, writer = await asyncio.open_unix_connection(sock)
        writer.write(junk)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        writer.close()
        await until(lambda: server.bad_streams == 1)
        feed(tap, rec, "good", 2.0)
        await until(lambda: server.frames >= 200)
        assert "good" in server.hub.sessions
        line = next(r for r in caplog.records if "not the hop protocol" in r.getMessage())
        assert line.levelno == logging.WARNING and line.exc_info is None
        assert not any(r.exc_info for r in caplog.records)
    finally:
        await tap.stop()
        await server.stop()


@sync
async def test_a_tap_refuses_while_no_analysis_process_listens_and_recovers(sock):
    tap = HopSink(sock, "tap1")
    try:
        assert not await tap.start(0.3)
        assert f"no analysis process at {sock}" in (tap.refusal() or "")
        tap.start_call("x", agent=None, rate=8000)  # a call admitted just before: not sent
        pub = Collect()
        server = HopServer(sock, hub(pub))
        await server.start()
        try:
            await until(lambda: tap.refusal() is None, 10)
            await until(lambda: server.taps == ["tap1"], 10)
        finally:
            await server.stop()
        await until(lambda: tap.refusal() is not None, 10)
        assert sock in (tap.refusal() or "")
    finally:
        await tap.stop()


@sync
async def test_a_second_analysis_process_on_the_same_socket_is_refused(sock):
    from assist.errors import UserError

    server = HopServer(sock, hub(Collect()))
    await server.start()
    try:
        with pytest.raises(UserError, match="another analysis process listens"):
            await HopServer(sock, hub(Collect())).start()
    finally:
        await server.stop()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock)  # a file left by a process that died
    stale.close()
    again = HopServer(sock, hub(Collect()))
    await again.start()
    await again.stop()
