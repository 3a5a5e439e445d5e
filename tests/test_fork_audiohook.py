"""Genesys AudioHook v2: signed upgrade, open/opened, ping/pong, paused/resumed,
update, close/closed, disconnect on bad messages, and reconnection."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid

import numpy as np
import pytest
from forkkit import AGENT_HZ, CUSTOMER_HZ, dominant_hz, run, server, tone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from assist.taps.fork import ForkSource
from assist.taps.fork.framing import ulaw_encode
from assist.taps.fork.httpsig import sign

KEY, SECRET = "api-key-0001", base64.b64decode("VGhpc0lzQVNlY3JldEtleTEyMzQ=")
ORG = "d7934305-0972-4844-938e-9060eef73d05"
SRC = ForkSource(name="gc", kind="audiohook", path="/audiohook", api_key=KEY,
                 client_secret=SECRET, agent_key="customConfig.agent")


class Client:
    """Plays Genesys Cloud: the messages its AudioHook client sends, in its order."""

    def __init__(self, port: int, *, session: str | None = None, key: str = KEY,
                 secret: bytes = SECRET, skew: int = 0, drop: str | None = None) -> None:
        self.session = session or str(uuid.uuid4())
        self.url = f"ws://127.0.0.1:{port}/audiohook"
        headers = {"Host": f"127.0.0.1:{port}", "Audiohook-Organization-Id": ORG,
                   "Audiohook-Correlation-Id": str(uuid.uuid4()),
                   "Audiohook-Session-Id": self.session, "X-API-KEY": key}
        headers.update(sign(headers, target="/audiohook", api_key=key, secret=secret,
                            now=int(time.time()) + skew, nonce=uuid.uuid4().hex))
        headers.pop("Host")  # the websocket client sends this one itself
        if drop:
            headers.pop(drop)
        self.headers = headers
        self.seq = self.serverseq = 0
        self.samples = 0

    async def __aenter__(self) -> Client:
        self.ws = await connect(self.url, additional_headers=self.headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, type_: str, parameters: dict, **extra) -> None:
        self.seq += 1
        await self.ws.send(json.dumps({
            "version": "2", "id": self.session, "type": type_, "seq": self.seq,
            "serverseq": self.serverseq, "position": f"PT{self.samples / 8000:g}S",
            "parameters": parameters, **extra}))

    async def expect(self, type_: str, clientseq: int | None = None) -> dict:
        msg = json.loads(await self.ws.recv())
        assert msg["type"] == type_, msg
        assert msg["version"] == "2" and msg["id"] == self.session
        assert msg["seq"] == self.serverseq + 1
        assert msg["clientseq"] == (self.seq if clientseq is None else clientseq)
        self.serverseq = msg["seq"]
        return msg["parameters"]

    async def open(self, conversation: str = "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
                   channels=("external", "internal"), continued=()) -> dict:
        params = {
            "organizationId": ORG, "conversationId": conversation,
            "participant": {"id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0",
                            "ani": "+13175550000", "aniName": "John Doe", "dnis": "+13175550111"},
            "media": [{"type": "audio", "format": "PCMU", "channels": list(channels),
                       "rate": 8000},
                      {"type": "audio", "format": "PCMU", "channels": ["external"],
                       "rate": 8000}],
            "language": "en-US", "customConfig": {"agent": "agent-42"}}
        if continued:
            params["continuedSessions"] = [{"id": s, "serverseq": 3, "clientseq": 4}
                                           for s in continued]
        await self.send("open", params)
        return await self.expect("opened")

    async def audio(self, seconds: float, external_hz: float, internal_hz: float) -> None:
        n = int(seconds * 8000)
        ext = tone(external_hz, n / 8000, 8000)
        inn = tone(internal_hz, n / 8000, 8000)
        stereo = np.stack([ext, inn], axis=1).reshape(-1)
        data = ulaw_encode(stereo)
        for i in range(0, len(data), 320):  # 20 ms of two channels
            await self.ws.send(data[i:i + 320])
        self.samples += n

    async def close(self, reason: str = "end") -> None:
        await self.send("close", {"reason": reason})
        await self.expect("closed")
        await self.ws.close()


CALL = "gc-090eaa2f-72fa-480a-83e0-8667ff89c0ec"


def test_a_whole_session_message_for_message():
    async def go():
        srv, rec = await server(SRC)
        try:
            async with Client(srv.port) as gc:
                opened = await gc.open()
                assert opened["media"] == [{"type": "audio", "format": "PCMU",
                                            "channels": ["external", "internal"], "rate": 8000}]
                assert opened["startPaused"] is False
                await gc.audio(0.6, CUSTOMER_HZ, AGENT_HZ)
                await gc.send("ping", {"rtt": "PT0.02S"})
                await gc.expect("pong")
                await gc.send("paused", {})
                await gc.send("resumed", {"start": "PT0.6S", "discarded": "PT3.2S"})
                await gc.audio(0.4, CUSTOMER_HZ, AGENT_HZ)
                await gc.send("update", {"language": "es-ES"})
                await gc.send("ping", {})
                await gc.expect("pong")  # the pong also shows all before it was read
                await gc.close()
            assert await rec.wait_ended(CALL) == "hangup"
            call = rec.calls[CALL]
            assert call["agent"] == "agent-42" and call["rate"] == 8000
            assert call["meta"]["ani"] == "+*******0000"
            rec.assert_contiguous(CALL)  # the hold took no call time
            for party, hz in (("customer", CUSTOMER_HZ), ("agent", AGENT_HZ)):
                pcm = rec.pcm(CALL, party)
                assert len(pcm) == 8000
                assert abs(dominant_hz(pcm, 8000) - hz) < 5
        finally:
            await srv.stop()
    run(go())


def test_mono_offer_is_the_customer_only():
    async def go():
        srv, rec = await server(SRC)
        try:
            async with Client(srv.port) as gc:
                opened = await gc.open(channels=("external",))
                assert opened["media"][0]["channels"] == ["external"]
                data = ulaw_encode(tone(CUSTOMER_HZ, 0.2, 8000))
                for i in range(0, len(data), 160):
                    await gc.ws.send(data[i:i + 160])
                await gc.close()
            await rec.wait_ended(CALL)
            assert len(rec.pcm(CALL, "customer")) == 1600 and len(rec.pcm(CALL, "agent")) == 0
        finally:
            await srv.stop()
    run(go())


def test_reconnect_resumes_the_same_call():
    async def go():
        srv, rec = await server(SRC)
        try:
            async with Client(srv.port) as first:
                await first.open()
                await first.audio(0.4, CUSTOMER_HZ, AGENT_HZ)
                await first.close("reconnect")
            async with Client(srv.port) as second:
                await second.open(continued=[first.session])
                await second.audio(0.4, CUSTOMER_HZ, AGENT_HZ)
                await second.close()
            assert await rec.wait_ended(CALL) == "hangup"
            assert list(rec.calls) == [CALL]  # one call, not two
            rec.assert_contiguous(CALL)
            assert len(rec.pcm(CALL, "agent")) == 6400
        finally:
            await srv.stop()
    run(go())


def test_a_session_that_never_returns_ends_its_call():
    async def go():
        srv, rec = await server(SRC, reconnect_grace=0.2)
        try:
            async with Client(srv.port) as gc:
                await gc.open()
                await gc.audio(0.1, CUSTOMER_HZ, AGENT_HZ)
                await gc.close("reconnect")
            assert await rec.wait_ended(CALL) == "disconnect (no reconnect)"
        finally:
            await srv.stop()
    run(go())


@pytest.mark.parametrize("kw", [
    {"key": "someone-else"},
    {"secret": b"not the secret"},
    {"skew": -120},  # an old signature replayed
    {"drop": "Signature"},
    {"drop": "Audiohook-Session-Id"},  # a covered component missing
])
def test_bad_key_or_signature_is_refused_before_upgrade(kw, caplog):
    async def go():
        srv, rec = await server(SRC)
        try:
            with pytest.raises(InvalidStatus) as e:
                async with Client(srv.port, **kw):
                    pass
            assert e.value.response.status_code == 401
            assert not rec.calls
        finally:
            await srv.stop()
    with caplog.at_level(logging.WARNING):
        run(go())
    assert "Traceback" not in caplog.text and "AudioHook authentication failed" in caplog.text


async def _error_then_close(gc: Client, info: str, clientseq: int | None = None) -> None:
    disconnect = await gc.expect("disconnect", clientseq)
    assert disconnect == {"reason": "error", "info": f"Client Error: {info}"}
    await gc.close("disconnect")


@pytest.mark.parametrize("bad, info", [
    ("not json", "Text message not valid JSON"),
    (json.dumps({"type": "open"}), "Message not a well-formed client message"),
    ("SEQ", "Invalid seq value (not monotonically increasing)"),
    ("ID", "Session identifier mismatch"),
    ("TYPE", "Invalid Message: 'dance' is not a supported client message"),
])
def test_bad_messages_get_disconnect_with_the_reference_wording(bad, info, caplog):
    async def go():
        srv, rec = await server(SRC)
        try:
            async with Client(srv.port) as gc:
                await gc.open()
                if bad == "SEQ":
                    gc.seq += 1
                    await gc.send("ping", {})
                elif bad == "ID":
                    await gc.send("ping", {}, id=str(uuid.uuid4()))
                elif bad == "TYPE":
                    await gc.send("dance", {})
                else:
                    await gc.ws.send(bad)
                # A skipped seq is not taken as seen: the server still has the open's.
                await _error_then_close(gc, info, 1 if bad == "SEQ" else None)
            assert await rec.wait_ended(CALL) == "disconnect"
        finally:
            await srv.stop()
    with caplog.at_level(logging.WARNING):
        run(go())
    assert "Traceback" not in caplog.text


def test_audio_before_opened_and_wrong_org_are_errors():
    async def go():
        srv, rec = await server(SRC)
        try:
            async with Client(srv.port) as gc:
                await gc.ws.send(b"\xff" * 320)
                await _error_then_close(gc, "Received audio in state PREPARING")
            async with Client(srv.port) as gc:
                gc.headers = {}
                await gc.send("open", {"organizationId": str(uuid.uuid4()),
                                       "conversationId": "c", "participant": {},
                                       "media": []})
                await _error_then_close(gc, 'Mismatch between "organizationId" open parameter '
                                        'and "audiohook-organization-id" header field')
            assert not rec.calls
        finally:
            await srv.stop()
    run(go())


def test_a_client_that_ignores_disconnect_is_closed():
    async def go():
        srv, rec = await server(SRC)
        try:
            async with Client(srv.port) as gc:
                await gc.ws.send("garbage")
                await gc.expect("disconnect")
                await gc.ws.send("more garbage")
                with pytest.raises(ConnectionClosed):
                    await gc.ws.recv()
                assert gc.ws.close_code == 1008
        finally:
            await srv.stop()
    run(go())


def test_a_dropped_session_that_reopens_carries_on_its_call():
    async def go():
        srv, rec = await server(SRC)
        try:
            first = Client(srv.port)
            async with first:
                await first.open()
                await first.audio(0.2, CUSTOMER_HZ, AGENT_HZ)
                await first.send("ping", {})
                await first.expect("pong")  # the audio before it has been read
                first.ws.transport.abort()  # the network drops: no close transaction
            while not srv.ctx.parked:  # the server has seen the drop
                await asyncio.sleep(0.01)
            assert CALL not in rec.ended
            async with Client(srv.port) as second:
                await second.open(continued=[first.session])
                await second.audio(0.2, CUSTOMER_HZ, AGENT_HZ)
                await second.close()
            assert await rec.wait_ended(CALL) == "hangup"
            assert list(rec.calls) == [CALL]
            rec.assert_contiguous(CALL)
            assert len(rec.pcm(CALL, "customer")) == 3200
        finally:
            await srv.stop()
    run(go())


def test_what_a_client_sends_cannot_forge_log_lines(caplog):
    async def go():
        srv, rec = await server(SRC)
        try:
            async with Client(srv.port) as gc:
                await gc.open()
                await gc.send("x\nERROR forged", {})
                info = (await gc.expect("disconnect"))["info"]
                assert "x\nERROR forged" in info  # the client is told what it sent
                await gc.close("disconnect")
        finally:
            await srv.stop()
    with caplog.at_level(logging.INFO):
        run(go())
    assert "forged" in caplog.text
    assert not [r for r in caplog.records if "\n" in r.getMessage()]
