"""The panel server against clients that mean harm: real websockets on loopback.

Each test is one thing an attacker tried.  Boundedness is asserted on what the
server itself reports holding for a connection (queued texts, characters,
catch-up cursors, opened calls) and on the Python heap, never on wall-clock
time.  Whatever a client sends, nothing it does may log a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
import tracemalloc
from datetime import UTC, datetime

import pytest
from helpers import make_event
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.events import to_wire
from assist.panel.auth import issue_token
from assist.panel.server import AssistServer

SECRET = b"h" * 32
START = datetime(2026, 1, 1, tzinfo=UTC)
MB = 1024 * 1024


def token(role="agent", agent="1001"):
    return issue_token(SECRET, role=role, agent=agent if role == "agent" else None, ttl=600,
                       now=time.time())


def run(coro, timeout: float = 120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(autouse=True)
def no_tracebacks(caplog):
    """No client input may log a traceback or an error."""
    caplog.set_level(logging.INFO)
    yield caplog
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


class Server:
    """A real AssistServer on a free port, with calls published as the loop would."""

    def __init__(self, **kw) -> None:
        self.server = AssistServer("127.0.0.1", 0, secret=SECRET, **kw)
        self.seq: dict[str, int] = {}

    async def __aenter__(self):
        await self.server.start()
        return self

    async def __aexit__(self, *exc):
        await self.server.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ws"

    def pub(self, call_id, typ, party=None, agent="1001", **evidence):
        seq = self.seq[call_id] = self.seq.get(call_id, 0) + 1
        wire = to_wire(make_event(typ, call_id, seq / 10, party, **evidence), seq, START)
        self.server.publish(wire, agent=agent, arrival=None)

    def call(self, call_id, agent="1001", lines=200, ended=False):
        """A call with `lines` transcript lines of about 60 characters each."""
        self.pub(call_id, "call.started", agent=agent, language="zh-CN", sample_rate=8000,
                 source="test")
        for i in range(lines):
            self.pub(call_id, "transcript.final", "customer", agent, text="我要投诉" * 15,
                     start=i, end=i + 1)
            if i % 20 == 0:
                self.pub(call_id, "anger", "customer", agent, level="tense", score=0.6)
        if ended:
            self.pub(call_id, "call.ended", agent=agent, duration=float(lines), reason="hangup")

    async def hello(self, tok, max_queue=16, **hello):
        ws = await connect(self.url, max_queue=max_queue)
        await ws.send(json.dumps({"type": "hello", "v": 1, "token": tok, **hello}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        return ws

    async def until(self, check) -> None:
        """Wait for the server to reach a state (the test's own timeout bounds it)."""
        while not check():
            await asyncio.sleep(0.01)

    def links(self) -> list[dict]:
        return self.server.link_stats()


def heap() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def discard(ws) -> int:
    """Read and forget every message (the client's own memory stays flat)."""
    n = 0
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            n += 1
    return n


async def until_closed(ws) -> list[dict]:
    out = []
    try:
        async for m in ws:
            out.append(json.loads(m))
    except ConnectionClosed:
        pass
    return out


# -- 1. what one connection can make the server hold ---------------------------

FLOOD = 3_000  # `make bench` sends 10,000 to a server of its own and reads its RSS
LOOSE = {"message_rate": 1e9, "message_burst": 10**9}  # the flood itself, unthrottled


@pytest.mark.parametrize("role, reads", [("agent", False), ("supervisor", True)])
def test_a_resume_flood_holds_one_cursor_per_call_and_is_released_on_close(role, reads):
    async def go():
        async with Server(**LOOSE) as s:
            for i in range(5):
                s.call(f"live{i}", lines=100)
            for i in range(20):
                s.call(f"old{i}", lines=100, ended=True)
            tracemalloc.start()
            try:
                before = heap()
                # Asking again and again for everything, reading all or nothing.
                ws = await s.hello(token(role), max_queue=1)
                reader = asyncio.create_task(discard(ws)) if reads else None
                resume = json.dumps({"type": "resume",
                                     "calls": {f"old{i}": 0 for i in range(20)}})
                peak = {"cursors": 0, "queued": 0, "chars": 0}
                for n in range(FLOOD):
                    await ws.send(resume)
                    for link in s.links() if n % 10 == 0 else ():
                        peak = {k: max(peak[k], link[k]) for k in peak}
                await s.until(lambda: s.server.stats["messages"] >= FLOOD or not s.links())
                held = heap() - before
                assert peak["cursors"] <= 25  # one per call at most, whatever was asked
                assert peak["queued"] <= 1024 and peak["chars"] <= 500_000
                assert held < 5 * MB, f"{held / MB:.1f} MB held for one connection"
                ws.transport.abort()
                if reader is not None:
                    await reader
                await s.until(lambda: not s.links())
                assert heap() - before < 1 * MB
            finally:
                tracemalloc.stop()

    run(go())


def test_a_subscribe_flood_to_ended_calls_is_capped_and_bounded() -> None:
    async def go():
        async with Server(max_opened=8, **LOOSE) as s:
            for i in range(60):
                s.call(f"old{i}", lines=100, ended=True)
            tracemalloc.start()
            try:
                before = heap()
                ws = await s.hello(token("supervisor"), max_queue=1)
                subscribes = [json.dumps({"type": "subscribe", "call_id": f"old{n}"})
                              for n in range(60)]
                for n in range(FLOOD):
                    await ws.send(subscribes[n % 60])
                await s.until(lambda: s.server.stats["messages"] >= FLOOD or not s.links())
                held = heap() - before
                for link in s.links():
                    assert link["opened"] <= 8 and link["cursors"] <= 60
                    assert link["queued"] <= 1024 and link["chars"] <= 500_000
                assert held < 5 * MB, f"{held / MB:.1f} MB held for one connection"
                ws.transport.abort()
                await s.until(lambda: not s.links())
                assert heap() - before < 1 * MB
            finally:
                tracemalloc.stop()

    run(go())


def test_too_many_opened_calls_get_a_clear_answer() -> None:
    async def go():
        async with Server(max_opened=2) as s:
            for i in range(3):
                s.call(f"c{i}", lines=1)
            ws = await s.hello(token("supervisor"))
            await asyncio.sleep(0)
            codes = []
            for i in range(3):
                await ws.send(json.dumps({"type": "subscribe", "call_id": f"c{i}", "ref": i}))
            while len(codes) < 3:
                m = json.loads(await ws.recv())
                if "ref" in m:
                    codes.append(m.get("code", m["type"]))
            assert codes == ["ok", "ok", "too_many"]
            await ws.close()

    run(go())


def test_control_messages_are_rate_limited_then_the_link_is_closed() -> None:
    frozen = time.time()

    async def go():
        async with Server(clock=lambda: frozen, message_burst=20) as s:
            ws = await s.hello(token())
            for i in range(200):
                await ws.send(json.dumps({"type": "ping", "ref": i}))
            got = await until_closed(ws)
            # 20 answered; the first over the limit is told, the 21st over it closes.
            assert s.server.stats["messages"] == 20 + 21
            assert ws.close_code == 1008 and ws.close_reason == "too many messages"
            oks = [m["ref"] for m in got if m["type"] == "ok"]
            assert oks == list(range(len(oks))) and len(oks) <= 20
            errors = [m for m in got if m["type"] == "error"]
            assert {m["code"] for m in errors} == {"rate_limited"}
            assert "too many messages" in [m["message"] for m in errors]

    run(go())


# -- 2. nested JSON before hello ----------------------------------------------


@pytest.mark.parametrize("depth", [1_500, 5_000])
def test_deeply_nested_json_is_refused_cleanly_before_and_after_hello(depth, caplog) -> None:
    nested = "[" * depth + "]" * depth
    as_hello = '{"type":"hello","v":1,"token":' + nested + "}"

    async def go():
        async with Server() as s:
            for raw in (nested, as_hello):
                async with connect(s.url) as ws:
                    await ws.send(raw)
                    got = await until_closed(ws)
                    assert [m["code"] for m in got] == ["bad_json"]
                    assert got[0]["message"] == "message nested too deeply"
                    assert ws.close_code == 1008
            ws = await s.hello(token())
            await ws.send(nested)
            reply = json.loads(await ws.recv())
            assert (reply["code"], reply["message"]) == ("bad_json", "message nested too deeply")
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv())["type"] == "ok"
            await ws.close()

    run(go())
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2 and all("nested too deeply" in r.getMessage() for r in refused)


# -- 3. headers and origins ----------------------------------------------------


async def raw_request(port: int, headers: list[tuple[str, str]]) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = ["GET /ws HTTP/1.1", *(f"{k}: {v}" for k, v in headers), "", ""]
    writer.write("\r\n".join(lines).encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n")
    writer.close()
    return head.decode().strip()


UPGRADE = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
           ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]


def test_duplicate_host_or_origin_headers_get_400_without_a_traceback() -> None:
    async def go():
        async with Server() as s:
            host = f"127.0.0.1:{s.server.port}"
            own = f"http://{host}"
            cases = [
                [("Host", host), ("Host", host), *UPGRADE],
                [("Host", host), ("Origin", own), ("Origin", own), *UPGRADE],
                [("Host", host), ("Origin", own), ("Origin", "http://evil.example"), *UPGRADE],
                [("Host", host), ("Host", "evil.example")],  # a page request, too
            ]
            for headers in cases:
                assert await raw_request(s.server.port, headers) == "HTTP/1.1 400 Bad Request"
            ok = [("Host", host), ("Origin", own), *UPGRADE]
            assert await raw_request(s.server.port, ok) == "HTTP/1.1 101 Switching Protocols"

    run(go())


def test_origin_is_checked_against_the_server_not_the_host_header() -> None:
    async def go():
        async with Server(origins=["https://crm.example.com"]) as s:
            port = s.server.port
            refused = [
                ("evil.example", "http://evil.example"),  # DNS rebinding: both the attacker's
                (f"evil.example:{port}", f"http://evil.example:{port}"),
                (f"127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"),  # another port
                (f"127.0.0.1:{port}", "null"),
                (f"127.0.0.1:{port}", f"http://127.0.0.1:{port}/x?y"),
                (f"127.0.0.1:{port}", "http://127.0.0.1:notaport"),
            ]
            for host, origin in refused:
                got = await raw_request(port, [("Host", host), ("Origin", origin), *UPGRADE])
                assert got == "HTTP/1.1 403 Forbidden", (host, origin)
            with pytest.raises(InvalidStatus):
                await connect(s.url, origin="http://evil.example")
            for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}",
                           "https://crm.example.com", "HTTPS://CRM.example.com/"):
                async with connect(s.url, origin=origin) as ws:
                    await ws.send(json.dumps({"type": "hello", "v": 1, "token": token()}))
                    assert json.loads(await ws.recv())["type"] == "welcome"

    run(go())


# -- 4. errors that used to be tracebacks ---------------------------------------


def test_feedback_for_a_card_that_does_not_exist_is_not_found() -> None:
    from assist.config import load, load_coaching

    async def go():
        server = AssistServer("127.0.0.1", 0, secret=SECRET)
        hub = CallHub(LoopParams(), [server], coaching=load_coaching(load(None)))
        server._on_feedback = hub.feedback  # the service wires it the same way
        async with server:
            hub.start_call("c1", agent="1001", rate=8000, start_utc=START)
            s = Server()
            s.server = server
            ws = await s.hello(token())
            for call_id, card in (("c1", "s-nope"), ("c1", "x" * 200)):
                await ws.send(json.dumps({"type": "feedback", "call_id": call_id,
                                          "suggestion": card, "action": "used", "ref": 1}))
                while (m := json.loads(await ws.recv()))["type"] != "error":
                    pass
                assert (m["code"], m["ref"]) == ("not_found", 1), m
            hub.end_call("c1", "hangup")
            await ws.send(json.dumps({"type": "feedback", "call_id": "c1",
                                      "suggestion": "s-1", "action": "used"}))
            while (m := json.loads(await ws.recv()))["type"] != "error":
                pass
            assert m["code"] == "not_found"
            await ws.close()

    run(go())


def test_a_client_leaving_during_a_pending_send_logs_no_traceback() -> None:
    async def go():
        async with Server() as s:
            s.call("c1", lines=0)
            ws = await s.hello(token(), max_queue=1)
            # Publish until the writer is stuck in send (its queue stops draining).
            while not s.links() or s.links()[0]["queued"] < 50:
                s.pub("c1", "phrase", "agent", rule="r", matched="不知道" * 300, instead="好")
                await asyncio.sleep(0)
            ws.transport.abort()
            await s.until(lambda: not s.links())
            ws2 = await s.hello(token(), resume={"c1": s.seq["c1"]})  # the server goes on
            await ws2.close()

    run(go())


# -- 5. nonsense in resume and subscribe ----------------------------------------


def test_absurd_resume_and_subscribe_requests_get_clear_errors() -> None:
    async def go():
        async with Server() as s:
            s.call("c1", lines=3)
            s.call("theirs", agent="1002", lines=3)
            last = s.seq["c1"]
            ws = await s.hello(token())
            cases = [
                ({"c1": 10**30}, "bad_message"),
                ({"c1": -1}, "bad_message"),
                ({"c1": "5"}, "bad_message"),
                ({"c1": 2.5}, "bad_message"),
                ({"c1": True}, "bad_message"),
                ({"c1": last + 1}, "bad_message"),
                ({"nope": 0}, "not_found"),
                ({"theirs": 0}, "not_found"),  # not yours: the same answer
                ({"c1": 0, "nope": 0}, "not_found"),  # nothing of a bad request is done
                ([1, 2], "bad_message"),
            ]
            for i, (calls, code) in enumerate(cases):
                await ws.send(json.dumps({"type": "resume", "calls": calls, "ref": i}))
                while (m := json.loads(await ws.recv())).get("ref") != i:
                    pass
                assert (m["type"], m.get("code")) == ("error", code), calls
            assert s.links()[0]["cursors"] == 0
            await ws.send(json.dumps({"type": "resume", "calls": {"c1": last}, "ref": "r"}))
            while (m := json.loads(await ws.recv())).get("ref") != "r":
                pass
            assert m == {"type": "ok", "for": "resume", "ref": "r"}
            await ws.close()
            sup = await s.hello(token("supervisor"))
            for after in (10**30, -1, last + 1):
                await sup.send(json.dumps({"type": "subscribe", "call_id": "c1",
                                           "after": after, "ref": "s"}))
                while (m := json.loads(await sup.recv())).get("ref") != "s":
                    pass
                assert m["code"] == "bad_message", after
            await sup.close()
            # In hello the same nonsense refuses the link.
            async with connect(s.url) as bad:
                await bad.send(json.dumps({"type": "hello", "v": 1, "token": token(),
                                           "resume": {"c1": 10**30}}))
                got = await until_closed(bad)
                assert [m["code"] for m in got] == ["bad_message"]

    run(go())


NASTY = [
    "", " ", "null", "0", '"hello"', "{}", '{"type":null}', '{"type":["hello"]}',
    '{"type":"ping","ref":{"a":1}}', '{"type":"subscribe","call_id":{"$ne":1}}',
    '{"type":"feedback","call_id":"c1","suggestion":["x"],"action":"used"}',
    '{"type":"resume","calls":{"c1":1e400}}', '{"type":"resume","calls":{"c1":NaN}}',
    '{"type":"resume","calls":{"c1":' + "9" * 5000 + "}}", '{"type":"unsubscribe","call_id":1}',
    '{"type":"ping"' + ',"x":1' * 2000 + "}", '{"type":"\\ud800"}',
    '{"type":"subscribe","call_id":"\\udfff","ref":"\\ud800"}',
]


def test_malformed_messages_never_crash_the_link() -> None:
    async def go():
        async with Server() as s:
            s.call("c1", lines=1)
            ws = await s.hello(token())
            for raw in NASTY:
                await ws.send(raw)
                await ws.send(json.dumps({"type": "ping", "ref": "after"}))
                while (m := json.loads(await ws.recv())).get("ref") != "after":
                    assert m["type"] in ("event", "error", "ok"), m
            await ws.close()
            assert s.server.stats["errors"] >= len(NASTY) - 3

    run(go())


def test_binary_and_oversized_hellos_are_refused_and_the_server_goes_on() -> None:
    async def go():
        async with Server() as s:
            for raw in (b"\x00" * 100, "x" * 20_000):
                async with connect(s.url) as ws:
                    await ws.send(raw)
                    got = await until_closed(ws)
                    assert [m["code"] for m in got] in (["bad_message"], ["too_big"])
            with pytest.raises(ConnectionClosed):
                async with connect(s.url) as ws:
                    await ws.send("y" * 100_000)
                    await ws.recv()
            ws = await s.hello(token())
            await ws.close()

    run(go())
