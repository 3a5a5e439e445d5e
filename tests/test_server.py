"""The panel service through real websocket clients on a real port."""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from helpers import make_event
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from assist.events import to_wire
from assist.panel.auth import issue_token
from assist.panel.server import AssistServer

SECRET = b"k" * 32
START = datetime(2025, 1, 1, tzinfo=UTC)


def token(role="agent", agent="1001", ttl=600.0):
    return issue_token(SECRET, role=role, agent=agent, ttl=ttl, now=time.time())


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def wire(call_id, seq, typ, t=None, party=None, **evidence):
    event = make_event(typ, call_id, seq / 10 if t is None else t, party, **evidence)
    return to_wire(event, seq, START)


class Floor:
    """A server plus helpers to publish a call's events with increasing seq."""

    def __init__(self, **kw):
        self.server = AssistServer("127.0.0.1", 0, secret=SECRET, **kw)
        self.seq: dict[str, int] = {}
        self.agents: dict[str, str] = {}

    async def __aenter__(self):
        await self.server.start()
        return self

    async def __aexit__(self, *exc):
        await self.server.stop()

    def pub(self, call_id, typ, party=None, **evidence):
        seq = self.seq[call_id] = self.seq.get(call_id, 0) + 1
        w = wire(call_id, seq, typ, party=party, **evidence)
        self.server.publish(w, agent=self.agents.get(call_id), arrival=None)
        return w

    def start_call(self, call_id, agent):
        self.agents[call_id] = agent
        self.pub(call_id, "call.started", agent=agent, language="zh-CN", sample_rate=8000,
                 source="test")

    async def linked(self, n):
        """The server's links once `n` panels have said hello (the state, not a guess)."""
        while len(self.server._links) < n:
            await asyncio.sleep(0.01)
        return list(self.server._links)

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.server.port}/ws"

    async def join(self, tok, **hello):
        ws = await connect(self.ws_url)
        await ws.send(json.dumps({"type": "hello", "v": 1, "token": tok, **hello}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        return ws, welcome


async def drain(ws):
    """Every message the server queued for this link so far.

    A ping's reply goes through the same ordered outbox as events, so once it is
    back everything queued before it has arrived: no guessing from quiet time.
    """
    ref = f"drain-{next(_REFS)}"
    await ws.send(json.dumps({"type": "ping", "ref": ref}))
    out = []
    while (msg := json.loads(await ws.recv())) != {"type": "ok", "for": "ping", "ref": ref}:
        out.append(msg)
    return out


_REFS = itertools.count()


async def until_closed(ws):
    out = []
    try:
        async for m in ws:
            out.append(json.loads(m))
    except ConnectionClosed:
        pass
    return out


def events(msgs):
    return [m["event"] for m in msgs if m["type"] == "event"]


# -- who sees what -------------------------------------------------------------


@pytest.mark.parametrize(
    "tok, reason",
    [
        (None, "missing token"),
        ("garbage", "malformed token"),
        (issue_token(b"w" * 32, role="supervisor", now=time.time()), "bad token signature"),
        (issue_token(SECRET, role="supervisor", ttl=1, now=time.time() - 10), "token expired"),
    ],
)
def test_bad_tokens_are_refused_before_any_call_data(tok, reason):
    async def go():
        async with Floor() as f:
            f.start_call("c1", "1001")
            f.pub("c1", "anger", "customer", level="angry", score=0.9, previous="tense")
            async with connect(f.ws_url) as ws:
                await ws.send(json.dumps({"type": "hello", "v": 1, "token": tok}))
                got = await until_closed(ws)
                assert got == [{"type": "error", "code": "auth", "message": reason}]
                assert ws.close_code == 1008
            assert f.server.stats["refused"] == 1

    run(go())


def test_first_message_must_be_hello_and_version_must_match():
    async def go():
        async with Floor() as f:
            f.start_call("c1", "1001")
            async with connect(f.ws_url) as ws:
                await ws.send(json.dumps({"type": "resume", "calls": {"c1": 0}}))
                got = await until_closed(ws)
                assert [m["code"] for m in got] == ["auth"]
            async with connect(f.ws_url) as ws:
                await ws.send(json.dumps({"type": "hello", "v": 99, "token": token()}))
                got = await until_closed(ws)
                assert [m["code"] for m in got] == ["version"]

    run(go())


def test_foreign_origin_is_refused_at_the_handshake():
    async def go():
        async with Floor(origins=["https://crm.example.com"]) as f:
            with pytest.raises(InvalidStatus) as err:
                await connect(f.ws_url, origin="http://evil.example.com")
            assert err.value.response.status_code == 403
            for origin in (f"http://127.0.0.1:{f.server.port}", "https://crm.example.com"):
                async with connect(f.ws_url, origin=origin) as ws:
                    await ws.send(json.dumps({"type": "hello", "v": 1, "token": token()}))
                    assert json.loads(await ws.recv())["type"] == "welcome"

    run(go())


def test_agent_sees_only_own_calls_supervisor_sees_floor_then_opens_one():
    async def go():
        async with Floor() as f:
            f.start_call("mine", "1001")
            f.start_call("theirs", "1002")
            a, welcome = await f.join(token(agent="1001"))
            assert [c["call_id"] for c in welcome["calls"]] == ["mine"]
            sup, swelcome = await f.join(token(role="supervisor", agent=None))
            assert {c["call_id"] for c in swelcome["calls"]} == {"mine", "theirs"}
            for call in ("mine", "theirs"):
                f.pub(call, "talk.start", "customer", onset=1.0)
                f.pub(call, "transcript.final", "customer", text="我要投诉", start=1, end=2)
                f.pub(call, "interruption", "agent", onset=1.5, overlap=0.7, min_overlap=0.6)
            got = events(await drain(a))
            assert {e["call_id"] for e in got} == {"mine"}
            assert [e["type"] for e in got] == [
                "call.started", "talk.start", "transcript.final", "interruption"]
            # Probing another agent's call gets the same answer as a call that does not exist.
            for msg in ({"type": "subscribe", "call_id": "theirs"},
                        {"type": "feedback", "call_id": "theirs", "suggestion": "s1",
                         "action": "used"}):
                await a.send(json.dumps(msg))
                assert json.loads(await a.recv())["code"] == "not_found"
            floor = events(await drain(sup))
            assert sorted((e["call_id"], e["type"]) for e in floor) == sorted(
                [(c, t) for c in ("mine", "theirs") for t in ("call.started", "interruption")])
            await sup.send(json.dumps({"type": "subscribe", "call_id": "theirs", "after": 0}))
            msgs = []  # the opened call's history may follow the reply: read up to its end
            while not any(m.get("event", {}).get("seq") == 4 for m in msgs):
                msgs.append(json.loads(await sup.recv()))
            assert msgs[0] == {"type": "opened", "call_id": "theirs", "after": 0}
            assert [e["seq"] for e in events(msgs)] == [1, 2, 3, 4]
            f.pub("theirs", "talk.end", "customer", start=1.0, duration=1.0)
            f.pub("mine", "talk.end", "customer", start=1.0, duration=1.0)
            assert [(e["call_id"], e["type"]) for e in events(await drain(sup))] == [
                ("theirs", "talk.end")]
            await a.close()
            await sup.close()

    run(go())


# -- bad messages ----------------------------------------------------------------


def test_malformed_oversized_and_unknown_messages_get_errors_and_the_link_survives():
    async def go():
        async with Floor(max_message=1000) as f:
            f.start_call("c1", "1001")
            ws, _ = await f.join(token())
            await drain(ws)
            cases = [
                ("{not json", "bad_json"),
                ("[1, 2]", "bad_message"),
                (json.dumps({"type": "dance", "ref": 7}), "unknown_type"),
                (json.dumps({"type": "feedback", "call_id": "c1", "suggestion": "s1",
                             "action": "loved"}), "bad_message"),
                (json.dumps({"type": "subscribe"}), "bad_message"),
                (json.dumps({"type": "resume", "calls": {"c1": "x"}}), "bad_message"),
                (json.dumps({"type": "hello", "v": 1, "token": token()}), "bad_message"),
                ("x" * 2000, "too_big"),
                (b"\x00\x01", "bad_message"),
            ]
            for raw, code in cases:
                await ws.send(raw)
                reply = json.loads(await ws.recv())
                assert (reply["type"], reply["code"]) == ("error", code), raw[:40]
            await ws.send(json.dumps({"type": "ping", "ref": "p1"}))
            assert json.loads(await ws.recv()) == {"type": "ok", "for": "ping", "ref": "p1"}
            # Far over the limit: the library closes this link (1009); the server goes on.
            await ws.send("y" * 10_000)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1009
            again, welcome = await f.join(token())
            assert welcome["calls"][0]["call_id"] == "c1"
            await again.close()

    run(go())


def test_feedback_reaches_the_callback_with_the_agent_and_bad_callbacks_are_contained():
    got = []

    def on_feedback(call_id, suggestion, action, agent):
        if suggestion == "boom":
            raise RuntimeError("store down")
        got.append((call_id, suggestion, action, agent))

    async def go():
        async with Floor(on_feedback=on_feedback) as f:
            f.start_call("c1", "1001")
            ws, _ = await f.join(token())
            sup, _ = await f.join(token(role="supervisor", agent=None))
            await drain(ws)
            await drain(sup)
            for sid, action in (("s1", "used"), ("s2", "dismissed")):
                await ws.send(json.dumps({"type": "feedback", "call_id": "c1",
                                          "suggestion": sid, "action": action, "ref": sid}))
                assert json.loads(await ws.recv()) == {"type": "ok", "for": "feedback",
                                                       "ref": sid}
            await ws.send(json.dumps({"type": "feedback", "call_id": "c1",
                                      "suggestion": "boom", "action": "used"}))
            assert json.loads(await ws.recv())["code"] == "internal"
            await sup.send(json.dumps({"type": "feedback", "call_id": "c1",
                                       "suggestion": "s3", "action": "used"}))
            assert json.loads(await sup.recv())["code"] == "forbidden"
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv())["type"] == "ok"

    run(go())
    assert got == [("c1", "s1", "used", "1001"), ("c1", "s2", "dismissed", "1001")]


# -- resilience ------------------------------------------------------------------


def test_resume_after_a_dropped_link_loses_nothing_and_repeats_nothing():
    async def go():
        async with Floor() as f:
            f.start_call("c1", "1001")
            ws, _ = await f.join(token())
            for i in range(5):
                f.pub("c1", "transcript.final", "customer", text=f"第{i}句", start=i, end=i + 1)
            first = events(await drain(ws))
            last = first[-1]["seq"]
            ws.transport.abort()  # the network drops; no close handshake
            for i in range(5, 9):
                f.pub("c1", "transcript.partial", "agent", text="您" * i, start=i, end=i + 1)
            f.pub("c1", "transcript.final", "agent", text="您好", start=5, end=9)
            f.pub("c1", "interruption", "agent", onset=8.0, overlap=0.8, min_overlap=0.6)
            f.pub("c1", "transcript.partial", "customer", text="我", start=9, end=9.2)
            # A new call started while the panel was away comes in full.
            f.start_call("c2", "1001")
            ws2, welcome = await f.join(token(), resume={"c1": last})
            assert {c["call_id"]: c["last_seq"] for c in welcome["calls"]} == {"c1": 13, "c2": 1}
            second = events(await drain(ws2))
            # Superseded partials are stale by design; everything else arrives once.
            assert [(e["call_id"], e["seq"]) for e in second] == [
                ("c1", 11), ("c1", 12), ("c1", 13), ("c2", 1)]
            seen = [e["seq"] for e in first + second if e["call_id"] == "c1"]
            assert seen == sorted(set(seen))
            # The only seqs never delivered are the agent partials the final replaced.
            assert set(range(1, 14)) - set(seen) == {7, 8, 9, 10}
            await ws2.close()

    run(go())


def test_slow_panel_loses_partials_never_flags_and_never_slows_publish():
    async def go():
        async with Floor(queue_limit=32, queue_hard_limit=100_000) as f:
            f.start_call("c1", "1001")
            # A panel that stops reading: the kernel buffers fill, then its outbox.
            ws = await connect(f.ws_url, max_queue=1)
            await ws.send(json.dumps({"type": "hello", "v": 1, "token": token()}))
            await f.linked(1)
            # publish() is synchronous: it cannot wait for a panel.  What it must not do
            # is hold texts without bound; the outbox reports what it holds.
            flags, most = [], 0
            for i in range(6000):
                if i % 20 == 0:
                    flags.append(f.pub("c1", "interruption", "agent", onset=i, overlap=0.7,
                                       min_overlap=0.6)["seq"])
                else:
                    f.pub("c1", "transcript.partial", "customer", text="字" * 400, start=i,
                          end=i + 1)
                most = max(most, *(link["queued"] for link in f.server.link_stats()))
                if i % 500 == 0:
                    await asyncio.sleep(0)  # let the writer run as the loop would
            assert most <= 32 + len(flags)  # partials beyond the limit were dropped
            msgs = await drain(ws)
            got = events(msgs)
            assert [e["seq"] for e in got if e["type"] == "interruption"] == flags
            partials = [e for e in got if e["type"] == "transcript.partial"]
            assert 0 < len(partials) < 6000 - len(flags)
            assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)
            await ws.close()

    run(go())


def test_a_stalled_panel_past_the_hard_limit_is_closed_and_resumes_everything():
    async def go():
        async with Floor(queue_limit=8, queue_hard_limit=16) as f:
            f.start_call("c1", "1001")
            ws = await connect(f.ws_url, max_queue=1)
            await ws.send(json.dumps({"type": "hello", "v": 1, "token": token()}))
            await f.linked(1)
            for i in range(3000):
                f.pub("c1", "phrase", "agent", rule="r", matched="不知道" * 100,
                      instead="我帮您确认")
                if i % 100 == 0:
                    await asyncio.sleep(0)
            assert f.server.stats["overflow_closes"] == 1
            got = await until_closed(ws)
            assert ws.close_code == 1013
            last = max([e["seq"] for e in events(got)], default=0)
            ws2, _ = await f.join(token(), resume={"c1": last})
            rest = events(await drain(ws2))
            assert [e["seq"] for e in rest] == list(range(last + 1, 3002))
            await ws2.close()

    run(go())


def test_expired_token_closes_a_live_link():
    async def go():
        async with Floor() as f:
            ws, _ = await f.join(token(ttl=1.5))  # exp is whole seconds
            msgs = await until_closed(ws)
            assert msgs == [{"type": "error", "code": "auth", "message": "token expired"}]
            assert ws.close_code == 1008

    run(go())


# -- pages -----------------------------------------------------------------------


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def test_pages_are_served_from_the_same_port_and_nothing_else():
    async def go():
        async with Floor() as f:
            base = f"http://127.0.0.1:{f.server.port}"
            status, ctype, body = await asyncio.to_thread(_get, base + "/")
            assert status == 200 and ctype.startswith("text/html") and b"<html" in body
            status, ctype, _ = await asyncio.to_thread(_get, base + "/app.js")
            assert status == 200 and "javascript" in ctype
            for path in ("/../auth.py", "/%2e%2e/auth.py", "/nope.js", "/ws/../../server.py"):
                status, _, body = await asyncio.to_thread(_get, base + path)
                assert status == 404, path
                assert b"import" not in body

    run(go())


def test_wss_when_a_certificate_is_configured(tmp_path):
    from assist.panel.server import ssl_context

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )

    async def go():
        async with Floor(ssl_context=ssl_context(cert, key)) as f:
            assert f.server.url.startswith("https://")
            client = ssl.create_default_context(cafile=str(cert))
            url = f"wss://127.0.0.1:{f.server.port}/ws"
            async with connect(url, ssl=client) as ws:
                await ws.send(json.dumps({"type": "hello", "v": 1, "token": token()}))
                assert json.loads(await ws.recv())["type"] == "welcome"

    run(go())
