"""Twilio Media Streams: connected, start, media (base64 μ-law), mark, stop."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from forkkit import AGENT_HZ, CUSTOMER_HZ, dominant_hz, run, server, tone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from assist.taps.fork import ForkSource
from assist.taps.fork.framing import ulaw_encode
from assist.taps.fork.twilio import signature

TOKEN = "12345678901234567890123456789012"
PUBLIC = "wss://assist.example.com"
SRC = ForkSource(name="tw", kind="twilio", path="/twilio", auth_token=TOKEN, public_url=PUBLIC)
SID = "MZ18ad3ab5a668481ce02b83e7395059f0"


def signed(path: str, token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": signature(token, PUBLIC + path)}


def media(seq: int, track: str, chunk: int, pcm) -> str:
    return json.dumps({"event": "media", "sequenceNumber": str(seq), "streamSid": SID,
                       "media": {"track": track, "chunk": str(chunk),
                                 "timestamp": str((chunk - 1) * 20),
                                 "payload": base64.b64encode(ulaw_encode(pcm)).decode()}})


def start(tracks=("inbound", "outbound"), agent="agent-3") -> str:
    return json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": SID,
        "start": {"accountSid": "AC0001", "streamSid": SID, "callSid": "CA42",
                  "tracks": list(tracks),
                  "customParameters": {"agent": agent, "from": "+8613812345678"},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                  "channels": 1}}})


CONNECTED = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def test_both_tracks_each_party_gets_its_track():
    path = "/twilio?floor=3"
    async def go():
        srv, rec = await server(SRC)
        try:
            c, a = tone(CUSTOMER_HZ, 1.0, 8000), tone(AGENT_HZ, 1.0, 8000)
            async with connect(f"ws://127.0.0.1:{srv.port}{path}",
                               additional_headers=signed(path)) as ws:
                await ws.send(CONNECTED)
                await ws.send(start())
                seq = 1
                for i in range(50):
                    for track, pcm in (("inbound", c), ("outbound", a)):
                        seq += 1
                        await ws.send(media(seq, track, i + 1, pcm[i * 160:(i + 1) * 160]))
                seq += 1
                await ws.send(json.dumps({"event": "mark", "sequenceNumber": str(seq),
                                          "streamSid": SID, "mark": {"name": "greeting"}}))
                seq += 1
                await ws.send(json.dumps({"event": "stop", "sequenceNumber": str(seq),
                                          "streamSid": SID,
                                          "stop": {"accountSid": "AC0001", "callSid": "CA42"}}))
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1000
            assert await rec.wait_ended("tw-CA42") == "hangup"
            call = rec.calls["tw-CA42"]
            assert call["agent"] == "agent-3" and call["rate"] == 8000
            assert call["meta"]["from"] == "+*********5678"
            rec.assert_contiguous("tw-CA42")
            for party, hz in (("customer", CUSTOMER_HZ), ("agent", AGENT_HZ)):
                pcm = rec.pcm("tw-CA42", party)
                assert len(pcm) == 8000
                assert abs(dominant_hz(pcm, 8000) - hz) < 5
        finally:
            await srv.stop()
    run(go())


def test_a_track_that_skips_is_padded_to_the_other():
    async def go():
        srv, rec = await server(SRC)
        try:
            c, a = tone(CUSTOMER_HZ, 1.0, 8000), tone(AGENT_HZ, 1.0, 8000)
            async with connect(f"ws://127.0.0.1:{srv.port}/twilio",
                               additional_headers=signed("/twilio")) as ws:
                await ws.send(CONNECTED)
                await ws.send(start())
                seq = 1
                for i in range(50):
                    seq += 1
                    await ws.send(media(seq, "inbound", i + 1, c[i * 160:(i + 1) * 160]))
                    if i >= 25:  # the agent's track starts half a second late
                        seq += 1
                        await ws.send(media(seq, "outbound", i + 1, a[i * 160:(i + 1) * 160]))
            await rec.wait_ended("tw-CA42")
            agent = rec.pcm("tw-CA42", "agent")
            assert len(agent) == 8000  # 0.5 s of silence, then 0.5 s of the agent
            assert abs(agent[:3900]).max() == 0 and abs(agent[4100:]).max() > 1000
            rec.assert_contiguous("tw-CA42")
        finally:
            await srv.stop()
    run(go())


@pytest.mark.parametrize("headers, path", [
    ({}, "/twilio"),
    ({"X-Twilio-Signature": signature("wrong-token", PUBLIC + "/twilio")}, "/twilio"),
    ({"X-Twilio-Signature": signature(TOKEN, PUBLIC + "/twilio")}, "/twilio?x=1"),
])
def test_bad_signature_is_refused_before_upgrade(headers, path):
    async def go():
        srv, rec = await server(SRC)
        try:
            with pytest.raises(InvalidStatus) as e:
                async with connect(f"ws://127.0.0.1:{srv.port}{path}",
                                   additional_headers=headers):
                    pass
            assert e.value.response.status_code == 403
            assert not rec.calls
        finally:
            await srv.stop()
    run(go())


@pytest.mark.parametrize("messages, code, started", [
    ([start()], 1008, False),  # start before connected
    ([CONNECTED, "{oops"], 1007, False),
    ([CONNECTED, start().replace("audio/x-mulaw", "audio/l16")], 1003, False),
    ([CONNECTED, start(), media(3, "inbound", 1, tone(440, 0.02, 8000))], 1008, True),  # seq gap
    ([CONNECTED, start(tracks=("inbound",)), media(2, "outbound", 1, tone(440, 0.02, 8000))],
     1008, True),
    ([CONNECTED, start(), json.dumps({"event": "media", "sequenceNumber": "2",
                                      "streamSid": SID, "media": {"payload": "***"}})],
     1007, True),
    ([CONNECTED, start(), json.dumps({"event": "hello", "sequenceNumber": "2",
                                      "streamSid": SID})], 1008, True),
])
def test_bad_messages_close_with_a_code(messages, code, started, caplog):
    async def go():
        srv, rec = await server(SRC)
        try:
            async with connect(f"ws://127.0.0.1:{srv.port}/twilio",
                               additional_headers=signed("/twilio")) as ws:
                for m in messages:
                    await ws.send(m)
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == code
            if started:
                assert await rec.wait_ended("tw-CA42") == "protocol error"
            else:
                assert not rec.calls
        finally:
            await srv.stop()
    with caplog.at_level(logging.WARNING):
        run(go())
    assert "Traceback" not in caplog.text
