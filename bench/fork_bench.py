"""Media-fork bench: concurrent calls per protocol from a client process in real time.

The client (a child process, so this process's CPU time is the listener's and the
sessions' alone) plays the platform: mod_audio_fork stereo L16, AudioHook stereo
PCMU, Twilio both_tracks μ-law, each 20 ms of the demo call per message on a
schedule from a CLOCK_MONOTONIC start both processes share.  Latency is the
message's scheduled send to the frame it completed being done in the session
(`send`), and the handler reading it to the same point (`arrival`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assist" / "demo" / "demo_call.wav"
CALLS, SECONDS, LEAD = 4, 10.0, 2.0
KEY, SECRET, TOKEN = "bench-key", b"bench-secret-0123456789", "bench-token"
PUBLIC = "ws://127.0.0.1"
ORG = "d7934305-0972-4844-938e-9060eef73d05"


def _sources() -> tuple[Any, ...]:
    from assist.taps.fork import ForkSource

    return (ForkSource(name="fs", kind="audio_fork", path="/fs", username="u", password="p"),
            ForkSource(name="gc", kind="audiohook", path="/gc", api_key=KEY,
                       client_secret=SECRET),
            ForkSource(name="tw", kind="twilio", path="/tw", auth_token=TOKEN,
                       public_url=PUBLIC))


def _demo() -> np.ndarray:
    with wave.open(str(DEMO)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)


# -- the client process ----------------------------------------------------------
async def _call(proto: str, port: int, n: int, t0: float, pcm: np.ndarray) -> None:
    from websockets.asyncio.client import connect

    from assist.taps.fork.framing import ulaw_encode
    from assist.taps.fork.httpsig import sign
    from assist.taps.fork.twilio import signature

    url = f"ws://127.0.0.1:{port}"
    steps = int(SECONDS / 0.02)
    if proto == "audio_fork":
        auth = {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}
        ws = await connect(url + "/fs", additional_headers=auth)
        await ws.send(json.dumps({"callSid": f"b{n}", "mixType": "stereo", "agent": "a"}))
        msgs = [[pcm[k * 160:(k + 1) * 160].astype("<i2").tobytes()] for k in range(steps)]
    elif proto == "audiohook":
        sid = str(uuid.uuid4())
        h = {"Audiohook-Organization-Id": ORG, "Audiohook-Correlation-Id": str(uuid.uuid4()),
             "Audiohook-Session-Id": sid, "X-API-KEY": KEY}
        h.update(sign({**h, "Host": f"127.0.0.1:{port}"}, target="/gc", api_key=KEY,
                      secret=SECRET, now=int(time.time()), nonce=uuid.uuid4().hex))
        ws = await connect(url + "/gc", additional_headers=h)
        await ws.send(json.dumps({"version": "2", "id": sid, "type": "open", "seq": 1,
                                  "serverseq": 0, "position": "PT0S", "parameters": {
                                      "organizationId": ORG, "conversationId": f"c{n}",
                                      "participant": {}, "media": [{
                                          "type": "audio", "format": "PCMU", "rate": 8000,
                                          "channels": ["external", "internal"]}]}}))
        await ws.recv()  # opened
        codes = ulaw_encode(pcm[:steps * 160].reshape(-1))
        msgs = [[codes[k * 320:(k + 1) * 320]] for k in range(steps)]
    else:
        path = "/tw"
        ws = await connect(url + path,
                           additional_headers={"X-Twilio-Signature": signature(TOKEN,
                                                                               PUBLIC + path)})
        sid = f"MZ{n}"
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid,
                                  "start": {"streamSid": sid, "callSid": f"CA{n}",
                                            "tracks": ["inbound", "outbound"],
                                            "mediaFormat": {"encoding": "audio/x-mulaw",
                                                            "sampleRate": 8000,
                                                            "channels": 1}}}))
        seq, msgs = 1, []
        for k in range(steps):
            step = []
            for track, ch in (("inbound", 0), ("outbound", 1)):
                seq += 1
                payload = base64.b64encode(ulaw_encode(pcm[k * 160:(k + 1) * 160, ch])).decode()
                step.append(json.dumps({"event": "media", "sequenceNumber": str(seq),
                                        "streamSid": sid, "media": {
                                            "track": track, "chunk": str(k + 1),
                                            "timestamp": str(k * 20), "payload": payload}}))
            msgs.append(step)
    for k, step in enumerate(msgs):
        delay = t0 + k * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        for m in step:
            await ws.send(m)
    await ws.close()


async def _client(proto: str, port: int, t0: float) -> None:
    demo = _demo()
    per = int(SECONDS * 8000)
    await asyncio.gather(*(_call(proto, port, n, t0, demo[n * per:(n + 1) * per])
                           for n in range(CALLS)))


# -- the listener side -----------------------------------------------------------
class _Timed:
    """The hub, timing each frame to the moment the session is done with it."""

    def __init__(self, hub: Any, t0: float) -> None:
        self.hub, self.t0 = hub, t0
        self.send: list[float] = []
        self.arrival: list[float] = []
        self.ended = 0

    def start_call(self, call_id: str, **kw: Any) -> None:
        self.hub.start_call(call_id, **kw)

    def feed(self, call_id: str, frame: Any) -> None:
        self.hub.feed(call_id, frame)
        now = time.monotonic()
        # The message completing the frame at call time t was due at t0 + t.
        self.send.append(now - (self.t0 + frame.t))
        self.arrival.append(now - frame.arrival)

    def audio_health(self, call_id: str, party: str | None, evidence: dict[str, Any]) -> None:
        self.hub.audio_health(call_id, party, evidence)

    def end_call(self, call_id: str, reason: str = "hangup") -> None:
        self.ended += 1
        self.hub.end_call(call_id, reason)


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.array(xs) * 1000
    return {f"p{p}": round(float(np.percentile(a, p)), 2) for p in (50, 95, 99)} | {
        "max": round(float(a.max()), 2)}


async def _one(proto: str) -> dict[str, Any]:
    from assist.call.hub import CallHub
    from assist.call.session import LoopParams
    from assist.taps.fork import ForkParams, ForkServer

    t0 = time.monotonic() + LEAD
    timed = _Timed(CallHub(LoopParams(), []), t0)
    srv = ForkServer(ForkParams(enabled=True, host="127.0.0.1", port=0, sources=_sources()),
                     timed)
    await srv.start()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fork_bench", "client", proto, str(srv.port), repr(t0),
        cwd=ROOT)
    await asyncio.sleep(max(0.0, t0 - time.monotonic()))
    cpu0, wall0 = time.process_time(), time.monotonic()
    await child.wait()
    while timed.ended < CALLS:
        await asyncio.sleep(0.01)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    await srv.stop()
    return {"calls": CALLS, "seconds": SECONDS, "frames": len(timed.send),
            "frames_expected": int(CALLS * 2 * SECONDS / 0.02),
            "cpu_per_call_pct": round(100 * cpu / wall / CALLS, 2),
            "send_to_session_ms": _pct(timed.send),
            "arrival_to_session_ms": _pct(timed.arrival)}


def run() -> dict[str, Any]:
    return {p: asyncio.run(_one(p)) for p in ("audio_fork", "audiohook", "twilio")}


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "client":
        asyncio.run(_client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
    else:
        json.dump(run(), sys.stdout, indent=2)
        print()
