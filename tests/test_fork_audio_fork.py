"""mod_audio_fork / jambonz listen: metadata text frame, then binary L16 frames."""

from __future__ import annotations

import base64
import json
import logging

import numpy as np
import pytest
from forkkit import AGENT_HZ, CUSTOMER_HZ, dominant_hz, run, server, tone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from assist.taps.fork import ForkSource

SRC = ForkSource(name="fs", kind="audio_fork", path="/fork/fs", username="fs",
                 password="s3cret-pass", agent_key="agentId")
AUTH = {"Authorization": "Basic " + base64.b64encode(b"fs:s3cret-pass").decode()}


async def play(port: int, meta: dict, pcm: np.ndarray, *, path: str = "/fork/fs",
               chunk: int = 320, headers: dict | None = None,
               subprotocol: str = "audio.jambonz.org") -> None:
    async with connect(f"ws://127.0.0.1:{port}{path}",
                       additional_headers=AUTH if headers is None else headers,
                       subprotocols=[subprotocol]) as ws:
        assert ws.subprotocol == subprotocol
        await ws.send(json.dumps(meta))
        raw = pcm.astype("<i2").tobytes()
        for i in range(0, len(raw), chunk):
            await ws.send(raw[i:i + chunk])


@pytest.mark.parametrize("rate", [8000, 16000])
def test_stereo_gives_each_party_its_own_channel(rate):
    async def go():
        srv, rec = await server(SRC)
        try:
            c, a = tone(CUSTOMER_HZ, 1.0, rate), tone(AGENT_HZ, 1.0, rate)
            stereo = np.stack([c, a], axis=1).reshape(-1)
            meta = {"callSid": "abc-1", "from": "13812345678", "to": "4001",
                    "sampleRate": rate, "mixType": "stereo", "agentId": "agent-7"}
            await play(srv.port, meta, stereo, chunk=rate // 50 * 4)
            assert await rec.wait_ended("fs-abc-1") == "hangup"
            call = rec.calls["fs-abc-1"]
            assert call["agent"] == "agent-7" and call["rate"] == rate
            assert call["source"] == "fork:fs"
            assert call["meta"]["from"] == "*******5678"  # masked before it is stored
            rec.assert_contiguous("fs-abc-1")
            for party, hz in (("customer", CUSTOMER_HZ), ("agent", AGENT_HZ)):
                pcm = rec.pcm("fs-abc-1", party)
                assert len(pcm) == rate  # one second each
                assert abs(dominant_hz(pcm, rate) - hz) < 5
        finally:
            await srv.stop()
    run(go())


def test_mono_is_the_configured_party_and_24k_is_taken_to_8k():
    src = ForkSource(name="jb", kind="audio_fork", path="/jb", username="fs",
                     password="s3cret-pass", mono_role="agent",
                     agent_key="customerData.agent", agents=(("8001", "agent-1001"),))
    async def go():
        srv, rec = await server(src)
        try:
            meta = {"callSid": "m1", "sampleRate": 24000, "mixType": "mono",
                    "customerData": {"agent": "8001"}}
            await play(srv.port, meta, tone(AGENT_HZ, 1.0, 24000), path="/jb", chunk=960)
            await rec.wait_ended("jb-m1")
            call = rec.calls["jb-m1"]
            assert call["agent"] == "agent-1001" and call["rate"] == 8000
            assert len(rec.pcm("jb-m1", "customer")) == 0
            pcm = rec.pcm("jb-m1", "agent")
            assert abs(len(pcm) - 8000) <= 160
            assert abs(dominant_hz(pcm[400:], 8000) - AGENT_HZ) < 10
        finally:
            await srv.stop()
    run(go())


def test_mod_audio_fork_takes_mix_and_rate_from_the_url():
    async def go():
        srv, rec = await server(SRC)
        try:
            c, a = tone(CUSTOMER_HZ, 0.4, 16000), tone(AGENT_HZ, 0.4, 16000)
            stereo = np.stack([c, a], axis=1).reshape(-1)
            await play(srv.port, {"uuid": "u-9", "agentId": "a9"}, stereo,
                       path="/fork/fs?mix=stereo&rate=16k", subprotocol="audiostream.drachtio.org")
            await rec.wait_ended("fs-u-9")
            assert rec.calls["fs-u-9"]["rate"] == 16000
            assert abs(dominant_hz(rec.pcm("fs-u-9", "agent"), 16000) - AGENT_HZ) < 5
        finally:
            await srv.stop()
    run(go())


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic " + base64.b64encode(b"fs:wrong").decode()},
    {"Authorization": "Bearer s3cret-pass"},
])
def test_bad_credentials_are_refused_before_upgrade(headers, caplog):
    async def go():
        srv, rec = await server(SRC)
        try:
            with pytest.raises(InvalidStatus) as e:
                await play(srv.port, {"callSid": "x"}, tone(440, 0.1, 8000), headers=headers)
            assert e.value.response.status_code == 401
            assert not rec.calls
        finally:
            await srv.stop()
    with caplog.at_level(logging.WARNING):
        run(go())
    assert "Traceback" not in caplog.text and "refused" in caplog.text


def test_allow_list_and_unknown_path():
    src = ForkSource(name="lan", kind="audio_fork", path="/lan",
                     sources=(__import__("ipaddress").ip_network("10.0.0.0/8"),))
    async def go():
        srv, rec = await server(src)
        try:
            for path, status in (("/lan", 403), ("/nope", 404)):
                with pytest.raises(InvalidStatus) as e:
                    await play(srv.port, {}, tone(440, 0.1, 8000), path=path, headers={})
                assert e.value.response.status_code == status
            assert not rec.calls
        finally:
            await srv.stop()
    run(go())


@pytest.mark.parametrize("first, code", [
    (b"\x00\x01", 1003),  # audio before metadata
    ("not json", 1007),
    (json.dumps({"mixType": "quad"}), 1003),
    (json.dumps({"sampleRate": 11025}), 1003),
])
def test_bad_metadata_gets_a_close_code(first, code, caplog):
    async def go():
        srv, rec = await server(SRC)
        try:
            async with connect(f"ws://127.0.0.1:{srv.port}/fork/fs",
                               additional_headers=AUTH) as ws:
                await ws.send(first)
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == code
            assert not rec.calls
        finally:
            await srv.stop()
    with caplog.at_level(logging.WARNING):
        run(go())
    assert "Traceback" not in caplog.text


def test_torn_samples_end_the_call_with_a_reason():
    async def go():
        srv, rec = await server(SRC)
        try:
            async with connect(f"ws://127.0.0.1:{srv.port}/fork/fs",
                               additional_headers=AUTH) as ws:
                await ws.send(json.dumps({"callSid": "t1", "mixType": "stereo"}))
                await ws.send(b"\x00" * 6)  # 1.5 stereo samples
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1007
            assert await rec.wait_ended("fs-t1") == "protocol error"
        finally:
            await srv.stop()
    run(go())


def test_flooding_and_oversize_messages_are_cut_off():
    async def go():
        srv, rec = await server(SRC, max_rate=20.0, max_message=4096)
        try:
            async with connect(f"ws://127.0.0.1:{srv.port}/fork/fs",
                               additional_headers=AUTH) as ws:
                await ws.send(json.dumps({"callSid": "f1"}))
                with pytest.raises(ConnectionClosed):
                    for _ in range(200):
                        await ws.send(b"\x00" * 320)
                    await ws.recv()
            assert ws.close_code == 1008
            assert await rec.wait_ended("fs-f1") == "protocol error"
            async with connect(f"ws://127.0.0.1:{srv.port}/fork/fs",
                               additional_headers=AUTH) as ws:
                await ws.send(json.dumps({"callSid": "f2"}))
                await ws.send(b"\x00" * 8192)
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            assert ws.close_code == 1009
            assert (await rec.wait_ended("fs-f2")).startswith("disconnect")
        finally:
            await srv.stop()
    run(go())


def test_audio_faster_than_real_time_is_cut_off():
    async def go():
        srv, rec = await server(SRC, max_ahead=1.0, max_rate=10000.0)
        try:
            async with connect(f"ws://127.0.0.1:{srv.port}/fork/fs",
                               additional_headers=AUTH) as ws:
                await ws.send(json.dumps({"callSid": "fast"}))
                with pytest.raises(ConnectionClosed):
                    for _ in range(50):  # 20 s of audio at once
                        await ws.send(b"\x00" * 6400)
                    await ws.recv()
            assert ws.close_code == 1008
            assert await rec.wait_ended("fs-fast") == "protocol error"
            assert len(rec.pcm("fs-fast", "customer")) <= 8000 * 1.5
        finally:
            await srv.stop()
    run(go())
