"""Audio health of media forks: what the SIP tap reports per stream, from the media a
websocket brings (Twilio tracks, AudioHook's stereo channels), through real clients.

The looks come every 5 s of wall time from the fork's open, so each test plays its
media at about real time and waits for the report it expects."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
from forkkit import AGENT_HZ, CUSTOMER_HZ, Recorder, server, tone
from test_fork_audiohook import CALL as GC_CALL
from test_fork_audiohook import SRC as GC_SRC
from test_fork_audiohook import Client
from test_fork_twilio import CONNECTED, SID, signed, start
from test_fork_twilio import SRC as TW_SRC
from test_fork_twilio import media as tw_media
from websockets.asyncio.client import connect

from assist.taps.fork.framing import CallBridge, ulaw_encode
from assist.taps.fork.health import FORK
from sip.health import CallHealth

TW_CALL = "tw-CA42"
TICK = 0.02  # one 20 ms message per track per tick, at about real time


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 240))  # a hang guard, not a speed check


class Twilio:
    """Plays a Twilio Media Stream with both tracks, a message a track each 20 ms."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.seq, self.ticks = ws, 1, 0
        self.sent = {"inbound": 0, "outbound": 0}
        self.pcm = {"inbound": tone(CUSTOMER_HZ, 1.0, 8000), "outbound": tone(AGENT_HZ, 1.0, 8000)}

    async def tick(self, *tracks: str) -> None:
        """This 20 ms of each track named; a track left out skips its chunk."""
        for track in tracks:
            self.seq += 1
            i = self.ticks % 50 * 160
            # chunk and timestamp count the stream's 20 ms steps, sent or not
            await self.ws.send(tw_media(self.seq, track, self.ticks + 1,
                                        self.pcm[track][i:i + 160]))
            self.sent[track] += 1
        self.ticks += 1
        await asyncio.sleep(TICK)

    async def stop(self) -> None:
        self.seq += 1
        await self.ws.send(json.dumps({"event": "stop", "sequenceNumber": str(self.seq),
                                       "streamSid": SID, "stop": {"callSid": "CA42"}}))


async def twilio(port: int) -> Any:
    path = "/twilio"
    ws = await connect(f"ws://127.0.0.1:{port}{path}", additional_headers=signed(path))
    await ws.send(CONNECTED)
    await ws.send(start())
    return ws


def found(rec: Recorder, call: str, party: str | None, problem: str) -> bool:
    return any(p == party and pr == problem for p, pr, _ in rec.health(call))


def finals(rec: Recorder, call: str) -> dict[str, dict[str, Any]]:
    return {p: e for p, _, e in rec.health(call, final=True)}


def faults(rec: Recorder, call: str) -> list[tuple[str | None, str]]:
    return [(p, pr) for p, pr, _ in rec.health(call, final=False)]


def test_a_party_that_sends_no_media_is_no_audio_and_summed_up_at_the_end():
    async def go():
        srv, rec = await server(TW_SRC)
        try:
            async with await twilio(srv.port) as ws:
                tw = Twilio(ws)
                while not found(rec, TW_CALL, "agent", "no_audio"):
                    await tw.tick("inbound")  # the customer only: the agent's track is dead
                await tw.stop()
            assert await rec.wait_ended(TW_CALL) == "hangup"
            assert faults(rec, TW_CALL) == [("agent", "no_audio")]
            ev = await rec.wait_health(TW_CALL, "agent", "no_audio")
            assert ev["detail"] == ("no audio from the agent stream 5 s after the fork opened "
                                    "(no media for it reached the fork)")
            end = finals(rec, TW_CALL)
            assert set(end) == {"customer", "agent"}
            assert end["agent"]["problem"] == "no_audio"
            assert (end["agent"]["packets"], end["agent"]["seconds"]) == (0, 0.0)
            assert end["agent"]["level_db"] is None
            c = end["customer"]
            assert c["problem"] == "ok" and c["packets"] == tw.sent["inbound"] and c["loss"] == 0
            assert c["seconds"] == round(tw.sent["inbound"] * 0.02, 2)
            assert -17 < c["level_db"] < -14  # a sine of amplitude 8000 is -15 dBFS
            assert c["detail"].startswith(f"customer {c['seconds']:.1f} s in ")
            assert c["detail"].endswith(f"{c['packets']} media messages, 0 lost")
        finally:
            await srv.stop()
    run(go())


def test_a_healthy_call_has_no_fault_and_counts_the_chunks_twilio_skipped():
    async def go():
        srv, rec = await server(TW_SRC)
        try:
            async with await twilio(srv.port) as ws:
                tw = Twilio(ws)
                # Over 5 s of sleeps on the server's own loop: its first look has run.
                for i in range(300):
                    # Twilio never sent the agent's chunks 101 and 102
                    await tw.tick("inbound", *(() if i in (100, 101) else ("outbound",)))
                await tw.stop()
            assert await rec.wait_ended(TW_CALL) == "hangup"
            assert faults(rec, TW_CALL) == []
            end = finals(rec, TW_CALL)
            assert {p: e["problem"] for p, e in end.items()} == {"customer": "ok", "agent": "ok"}
            assert (end["customer"]["packets"], end["customer"]["loss"]) == (300, 0)
            assert (end["agent"]["packets"], end["agent"]["loss"]) == (298, 2)
            for e in end.values():
                assert 5.9 < e["seconds"] < 6.1 and -17 < e["level_db"] < -14
        finally:
            await srv.stop()
    run(go())


def test_a_party_that_stops_mid_call_is_reported_and_then_recovered():
    async def go():
        srv, rec = await server(TW_SRC)
        try:
            async with await twilio(srv.port) as ws:
                tw = Twilio(ws)
                for _ in range(50):
                    await tw.tick("inbound", "outbound")
                while not found(rec, TW_CALL, "customer", "no_audio"):
                    await tw.tick("outbound")  # the customer's track goes quiet after 1 s
                while not found(rec, TW_CALL, "customer", "recovered"):
                    await tw.tick("inbound", "outbound")
                await tw.stop()
            assert await rec.wait_ended(TW_CALL) == "hangup"
            assert faults(rec, TW_CALL) == [("customer", "no_audio"), ("customer", "recovered")]
            stop = await rec.wait_health(TW_CALL, "customer", "no_audio")
            assert stop["detail"] == ("the customer stream stopped at 1 s: no audio for 5 s "
                                      "(no media for it reached the fork)")
            back = await rec.wait_health(TW_CALL, "customer", "recovered")
            assert back["detail"] == "the customer stream has audio now (was no audio)"
            end = finals(rec, TW_CALL)
            assert {p: e["problem"] for p, e in end.items()} == {"customer": "ok", "agent": "ok"}
            assert end["agent"]["packets"] == tw.ticks and end["agent"]["loss"] == 0
        finally:
            await srv.stop()
    run(go())


async def audiohook(gc: Client, customer: np.ndarray, agent: np.ndarray) -> None:
    """20 ms of both channels, interleaved as AudioHook's stereo PCMU."""
    await gc.ws.send(ulaw_encode(np.stack([customer, agent], axis=1).reshape(-1)))
    gc.samples += len(customer)
    await asyncio.sleep(TICK)


def test_the_same_audio_on_both_audiohook_channels_is_identical():
    async def go():
        srv, rec = await server(GC_SRC)
        try:
            async with Client(srv.port) as gc:
                await gc.open()
                same = tone(CUSTOMER_HZ, 1.0, 8000)
                n = 0
                while not found(rec, GC_CALL, None, "identical"):
                    piece = same[n % 50 * 160:][:160]
                    await audiohook(gc, piece, piece)  # one leg on both channels
                    n += 1
                await gc.close()
            await rec.wait_ended(GC_CALL)
            assert faults(rec, GC_CALL) == [(None, "identical")]
            ev = await rec.wait_health(GC_CALL, None, "identical")
            assert ev["detail"] == "both streams carry the same audio (one leg sent twice?)"
            end = finals(rec, GC_CALL)
            assert end["customer"]["packets"] == end["agent"]["packets"] == n
        finally:
            await srv.stop()
    run(go())


def test_a_silent_audiohook_channel_is_no_audio_for_its_party_and_discards_are_loss():
    async def go():
        srv, rec = await server(GC_SRC)
        try:
            async with Client(srv.port) as gc:
                await gc.open()
                voice, nothing = tone(CUSTOMER_HZ, 1.0, 8000), np.zeros(160, np.int16)
                n = 0
                while not found(rec, GC_CALL, "agent", "no_audio"):
                    await audiohook(gc, voice[n % 50 * 160:][:160], nothing)
                    n += 1
                await gc.send("discarded", {"start": "PT1S", "discarded": "PT0.2S"})
                await gc.close()
            await rec.wait_ended(GC_CALL)
            assert faults(rec, GC_CALL) == [("agent", "no_audio")]
            ev = await rec.wait_health(GC_CALL, "agent", "no_audio")
            assert ev["detail"] == ("no audio from the agent stream 5 s after the fork opened "
                                    "(only digital silence on its channel)")
            end = finals(rec, GC_CALL)
            assert end["agent"]["problem"] == "no_audio" and end["agent"]["level_db"] is None
            assert end["customer"]["problem"] == "ok"
            for e in end.values():  # one stereo stream: both parties counted alike
                assert (e["packets"], e["loss"]) == (n, 10)  # 0.2 s is ten 20 ms frames
                assert e["seconds"] == round(n * 0.02, 2)
        finally:
            await srv.stop()
    run(go())


def stereo(h: CallHealth, customer: np.ndarray, agent: np.ndarray) -> None:
    """Messages of 20 ms of both channels, as a stereo fork counts them."""
    for i in range(0, len(customer) - 159, 160):
        h.add("customer", customer[i:i + 160])
        h.add("agent", agent[i:i + 160])
        n = h.streams["customer"].packets or 0
        h.counts({"customer": (n + 1, 0), "agent": (n + 1, 0)})


def test_a_stereo_channel_that_goes_to_zeros_mid_call_stops_and_comes_back():
    h = CallHealth("c1", 8000, ("customer", "agent"), FORK, shared=True)
    h.counts({"customer": (0, 0), "agent": (0, 0)})
    stereo(h, tone(CUSTOMER_HZ, 5.0, 8000), tone(AGENT_HZ, 5.0, 8000))
    assert h.check() == []
    stereo(h, tone(CUSTOMER_HZ, 5.0, 8000), np.zeros(40000, np.int16))
    (stop,) = h.check()
    assert (stop.party, stop.problem) == ("agent", "no_audio")
    assert stop.detail == ("the agent stream stopped at 5 s: no audio for 5 s "
                           "(only digital silence on its channel)")
    stereo(h, tone(CUSTOMER_HZ, 5.0, 8000), tone(AGENT_HZ, 5.0, 8000))
    (back,) = h.check()
    assert (back.party, back.problem, back.packets) == ("agent", "recovered", 750)


def test_a_pause_is_not_a_stop_and_a_silence_without_one_is():
    async def go():
        rec = Recorder()
        bridge = CallBridge(rec, "c1", rate=8000, agent=None, source="fork:gc", language=None,
                            meta={})
        bridge.add_party("customer", 8000)
        bridge.add_party("agent", 8000)
        bridge.watch(shared=True)
        assert bridge.health is not None

        def talk(seconds: float) -> None:
            c, a = tone(CUSTOMER_HZ, seconds, 8000), tone(AGENT_HZ, seconds, 8000)
            for i in range(0, len(c), 160):
                bridge.push("customer", c[i:i + 160])
                bridge.push("agent", a[i:i + 160])

        talk(1.0)
        bridge.health.look()
        bridge.paused = True  # AudioHook `paused`: no audio, on purpose
        bridge.health.look()
        bridge.paused = False
        bridge.health.look()  # the stretch held a pause: passed over too
        talk(0.1)
        bridge.health.look()
        assert rec.calls["c1"].get("health") is None
        bridge.health.look()  # nothing came, and no pause: a stop
        bridge.end("hangup")
        assert [(p, pr) for p, pr, _ in rec.health("c1", final=False)] == [
            ("customer", "no_audio"), ("agent", "no_audio")]
    asyncio.run(go())
