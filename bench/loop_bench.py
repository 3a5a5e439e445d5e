"""Cost of the real-time loop per 20 ms frame, parties per core, and event latency.

Replays the bundled demo call through a CallHub twice: flat out, timing every
`feed` (VAD, talk state, features, detectors, serialisation), and at 20x real
time with a publisher that stamps when each event leaves the loop, to get
latency from the arrival of the frame that completed its evidence.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.frames import FRAME_MS, Frame
from assist.taps.replay import replay
from assist.taps.wav import read_call

DEMO = Path(__file__).resolve().parents[1] / "assist" / "demo" / "demo_call.wav"


class _Latency:
    def __init__(self) -> None:
        self.by_type: dict[str, list[float]] = {}

    def publish(self, wire: dict[str, Any], *, agent: str | None, arrival: float | None) -> None:
        if arrival is not None:
            self.by_type.setdefault(wire["type"], []).append(time.monotonic() - arrival)


def _pct(xs: list[float] | np.ndarray, qs: tuple[int, ...]) -> dict[str, float]:
    a = np.asarray(xs)
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in qs}


def frame_cost(path: Path = DEMO, repeats: int = 3) -> dict[str, Any]:
    rec = read_call(path)

    class _Null:
        def publish(self, wire: dict[str, Any], *, agent: str | None,
                    arrival: float | None) -> None:
            pass

    costs: list[float] = []
    for k in range(repeats):
        hub = CallHub(LoopParams(), [_Null()])
        hub.start_call(f"b{k}", agent="a", rate=rec.rate)
        for t, c, a in rec.frames():
            for party, pcm in (("customer", c), ("agent", a)):
                f = Frame(party, pcm, rec.rate, t)  # type: ignore[arg-type]
                t0 = time.perf_counter_ns()
                hub.feed(f"b{k}", f)
                costs.append((time.perf_counter_ns() - t0) / 1000.0)
        hub.end_call(f"b{k}")
    mean_us = float(np.mean(costs))
    return {
        "frames": len(costs),
        "rate_hz": rec.rate,
        "frame_us": _pct(costs, (50, 99)) | {"mean": round(mean_us, 1)},
        # One core spends mean_us per party per 20 ms frame.
        "parties_per_core": int(FRAME_MS * 1000 / mean_us),
    }


def latency(path: Path = DEMO, speed: float = 20.0) -> dict[str, Any]:
    rec = read_call(path)
    lat = _Latency()
    hub = CallHub(LoopParams(), [lat])
    asyncio.run(replay(rec, hub, "lat", speed=speed, agent="a"))
    flags = [x for k in ("interruption", "pace.drift", "anger") for x in lat.by_type.get(k, [])]
    every = [x for xs in lat.by_type.values() for x in xs]
    out: dict[str, Any] = {"speed": speed, "events": len(every),
                           "all_ms": _pct(np.array(every) * 1000, (50, 95, 99))}
    if flags:
        out["flags_ms"] = _pct(np.array(flags) * 1000, (50, 95, 99))
    return out


def push_latency(path: Path = DEMO, speed: float = 20.0) -> dict[str, Any]:
    """Arrival of the completing frame to the event reaching a websocket client.

    The real panel server and the agent's panel client on loopback: what a browser
    would get, before it draws.
    """
    import json
    import secrets as _secrets

    from websockets.asyncio.client import connect

    from assist.panel.auth import issue_token
    from assist.panel.server import PROTOCOL_VERSION, AssistServer

    rec = read_call(path)
    arrivals: dict[tuple[str, int], tuple[str, float]] = {}
    received: dict[tuple[str, int], float] = {}

    class _Stamp:
        def publish(self, wire: dict[str, Any], *, agent: str | None,
                    arrival: float | None) -> None:
            if arrival is not None:
                arrivals[(wire["call_id"], wire["seq"])] = (wire["type"], arrival)

    async def go() -> None:
        secret = _secrets.token_bytes(32)
        server = AssistServer("127.0.0.1", 0, secret=secret)
        await server.start()
        token = issue_token(secret, role="agent", agent="a", now=time.time())
        hub = CallHub(LoopParams(), [_Stamp(), server])
        async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            await ws.send(json.dumps({"type": "hello", "v": PROTOCOL_VERSION, "token": token}))

            async def read() -> None:
                async for raw in ws:
                    now = time.monotonic()
                    msg = json.loads(raw)
                    ev = msg.get("event", msg)
                    if isinstance(ev, dict) and "seq" in ev and "call_id" in ev:
                        received[(ev["call_id"], ev["seq"])] = now

            reader = asyncio.create_task(read())
            await asyncio.sleep(0.2)
            await replay(rec, hub, "push", speed=speed, agent="a")
            await asyncio.sleep(0.5)
            reader.cancel()
        await server.stop()

    asyncio.run(go())
    lat: dict[str, list[float]] = {}
    for key, (kind, arrival) in arrivals.items():
        if key in received:
            lat.setdefault(kind, []).append((received[key] - arrival) * 1000)
    every = [x for xs in lat.values() for x in xs]
    flags = [x for k in ("interruption", "pace.drift", "anger", "suggestion")
             for x in lat.get(k, [])]
    out: dict[str, Any] = {"speed": speed, "events": len(every), "lost": len(arrivals) - len(every)}
    if every:
        out["all_ms"] = _pct(every, (50, 95, 99))
    if flags:
        out["flags_ms"] = _pct(flags, (50, 95, 99))
    return out
