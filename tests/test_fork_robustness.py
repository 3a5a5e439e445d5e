"""Whatever a client sends, the listener logs no traceback, keeps other calls going,
and keeps serving; connections are capped."""

from __future__ import annotations

import base64
import json
import logging
import random

import pytest
from forkkit import CUSTOMER_HZ, dominant_hz, run, server, tone
from test_fork_audio_fork import AUTH, SRC, play
from test_fork_audiohook import SRC as GC
from test_fork_audiohook import Client
from test_fork_twilio import SRC as TW
from test_fork_twilio import signed
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


def junk(rng: random.Random) -> str | bytes:
    pick = rng.randrange(6)
    if pick == 0:
        return rng.randbytes(rng.randrange(1, 2000))
    if pick == 1:
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 200)))
    doc = {"event": rng.choice(["connected", "start", "media", "stop", None, 7]),
           "type": rng.choice(["open", "ping", "close", "paused", [], None]),
           "version": rng.choice(["2", 2, None]), "seq": rng.choice([1, 2, "1", -1, 1e9]),
           "serverseq": rng.choice([0, 5, None]), "id": rng.choice(["x", None]),
           "position": rng.choice(["PT0S", "PTxS", None]),
           "parameters": rng.choice([{}, [], None, {"media": "x", "organizationId": 1}]),
           "mixType": rng.choice(["stereo", "mono", 3]),
           "sampleRate": rng.choice([8000, "16k", -1, 1e20, None]),
           "sequenceNumber": rng.choice(["1", "2", 3, None]),
           "start": rng.choice([None, {}, {"mediaFormat": []}]),
           "media": rng.choice([None, {"payload": "AAAA", "timestamp": "x"}])}
    return json.dumps({k: v for k, v in doc.items() if rng.random() < 0.6})


async def _junk_session(url: str, headers: dict, rng: random.Random) -> None:
    try:
        async with connect(url, additional_headers=headers, open_timeout=5) as ws:
            for _ in range(rng.randrange(1, 8)):
                await ws.send(junk(rng))
            # Leave as a platform would, or drop: either way the server must cope.
            if rng.random() < 0.5:
                await ws.close()
            else:
                ws.transport.abort()
    except (ConnectionClosed, InvalidStatus):
        pass


def test_junk_on_every_listener_hurts_no_one(caplog):
    async def go():
        srv, rec = await server(SRC, GC, TW, open_timeout=1.0)
        try:
            # A good call is going on all through.
            async with connect(f"ws://127.0.0.1:{srv.port}/fork/fs",
                               additional_headers=AUTH) as good:
                await good.send(json.dumps({"callSid": "good"}))
                rng = random.Random(17)
                steady = tone(CUSTOMER_HZ, 60 * 0.02, 8000).astype("<i2").tobytes()
                for i in range(60):
                    kind = i % 3
                    if kind == 0:
                        url, headers = f"ws://127.0.0.1:{srv.port}/fork/fs", AUTH
                    elif kind == 1:
                        client = Client(srv.port)
                        url, headers = client.url, client.headers
                    else:
                        url, headers = f"ws://127.0.0.1:{srv.port}/twilio", signed("/twilio")
                    await _junk_session(url, headers, rng)
                    await good.send(steady[i * 320:(i + 1) * 320])
            await rec.wait_ended("fs-good")
            assert rec.ended["fs-good"] == "hangup"
            pcm = rec.pcm("fs-good", "customer")
            assert len(pcm) == 60 * 160 and abs(dominant_hz(pcm, 8000) - CUSTOMER_HZ) < 5
            # Every call the junk started has ended.
            await rec.wait(lambda: set(rec.ended) == set(rec.calls))
            # And the listener still serves.
            await play(srv.port, {"callSid": "after"}, tone(CUSTOMER_HZ, 0.2, 8000))
            await rec.wait_ended("fs-after")
        finally:
            await srv.stop()
    with caplog.at_level(logging.INFO):
        run(go())
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if "\n" in r.getMessage()]  # no forged log lines


def test_connections_past_the_cap_get_503():
    async def go():
        srv, rec = await server(SRC, max_connections=2)
        try:
            url = f"ws://127.0.0.1:{srv.port}/fork/fs"
            a = await connect(url, additional_headers=AUTH)
            b = await connect(url, additional_headers=AUTH)
            for ws, sid in ((a, "a"), (b, "b")):
                await ws.send(json.dumps({"callSid": sid}))
            await rec.wait(lambda: len(rec.calls) == 2)
            with pytest.raises(InvalidStatus) as e:
                await connect(url, additional_headers=AUTH)
            assert e.value.response.status_code == 503
            await a.close()
            await rec.wait_ended("fs-a")
            c = await connect(url, additional_headers=AUTH)  # a place is free again
            await c.close()
            await b.close()
        finally:
            await srv.stop()
    run(go())


def test_basic_credentials_that_are_not_base64_are_refused():
    async def go():
        srv, rec = await server(SRC)
        try:
            for value in ("Basic ***", "Basic " + base64.b64encode(b"\xff\xfe").decode(),
                          "Basic " + base64.b64encode(b"nocolon").decode()):
                with pytest.raises(InvalidStatus) as e:
                    await connect(f"ws://127.0.0.1:{srv.port}/fork/fs",
                                  additional_headers={"Authorization": value})
                assert e.value.response.status_code == 401
        finally:
            await srv.stop()
    run(go())
