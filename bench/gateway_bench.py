"""The gateway role: publish → panel latency through Redis and a gateway, and start time.

Real redis-server on loopback, a real gateway process (`python -m assist run`,
role "gateway"), a publisher process (RedisPublisher, as an analysis process
uses it) and agent panels as real websocket clients in this process.

- Latency: the publisher stamps each event with time.monotonic() when it calls
  `publish()` (in the evidence; CLOCK_MONOTONIC is one clock for every process on
  the machine), and a panel subtracts that from when the event's text arrives.
  CALLS calls, one agent each, one panel per agent; `transcript.final` events
  spread over the calls at RATE events a second for SECONDS seconds.  Lost = sent
  and never seen by the call's panel; repeated = seen twice.
- Start: the stream filled with the demo call's events copied under new call ids
  up to ENTRIES entries, then a gateway started: wall time from process start to
  listening (Python start and imports included) and the rebuild alone (as the
  gateway prints it), and its resident memory after.

    python -m bench.gateway_bench [RATE,RATE ...]
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assist.cluster.bus import EVENTS_STREAM, event_fields  # noqa: E402
from bench.qa_bench import _demo  # noqa: E402
from tests.cluster.gatewayd import Gateway  # noqa: E402
from tests.cluster.redisd import RedisD  # noqa: E402

CALLS = 100
SECONDS = 10.0
RATES = (1000, 3000)
ENTRIES = 40_000
WARMUP = 1.0  # seconds of each run left out of the figures

PUBLISHER = r"""
import sys, time
from assist.cluster.bus import RedisPublisher
from tests.cluster.streamkit import Calls
url, prefix = sys.argv[1], sys.argv[5]
rate, seconds, calls = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
pub = RedisPublisher(url, maxlen=1_000_000)
kit = Calls()
ids = [f"{prefix}{i:03}" for i in range(calls)]
for i, c in enumerate(ids):
    pub.publish(kit.started(c, f"a{i:03}"), agent=f"a{i:03}", arrival=None)
pub.flush(30)
print("ready", flush=True)
sys.stdin.readline()
t0 = time.monotonic()
n = 0
while (now := time.monotonic()) - t0 < seconds:
    due = int((now - t0) * rate)
    while n < due:
        c = ids[n % calls]
        w = kit.event(c, "transcript.final", "customer", text=repr(time.monotonic()))
        pub.publish(w, agent=f"a{n % calls:03}", arrival=None)
        n += 1
    time.sleep(0.002)
for c in ids:
    pub.publish(kit.ended(c), agent=None, arrival=None)
pub.flush(60)
pub.close()
print(n, flush=True)
"""


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _panel(gw: Gateway, agent: str, prefix: str, seen: dict[tuple[str, int], float],
                 repeated: list[int], ready: asyncio.Event, count: list[int],
                 stop: asyncio.Event) -> None:
    async with connect(gw.ws_url, max_size=None, open_timeout=60) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "token": gw.token(agent=agent)}))
        count[0] += 1
        if count[0] == CALLS:
            ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            got = time.monotonic()
            msg = json.loads(raw)
            if msg["type"] != "event" or msg["event"]["type"] != "transcript.final":
                continue
            ev = msg["event"]
            key = (ev["call_id"], ev["seq"])
            if not key[0].startswith(prefix):
                continue
            if key in seen:
                repeated[0] += 1
            seen[key] = got - float(ev["evidence"]["text"])


async def _latency_run(gw: Gateway, url: str, rate: int, prefix: str) -> dict[str, Any]:
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, url, str(rate), str(SECONDS),
                            str(CALLS), prefix], cwd=ROOT, text=True, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    assert pub.stdout is not None and pub.stdin is not None
    if pub.stdout.readline().strip() != "ready":
        raise RuntimeError("the publisher did not start")
    seen: dict[tuple[str, int], float] = {}
    repeated, count = [0], [0]
    ready, stop = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(_panel(gw, f"a{i:03}", prefix, seen, repeated, ready, count,
                                        stop)) for i in range(CALLS)]
    await asyncio.wait_for(ready.wait(), 120)
    await asyncio.sleep(1.0)  # welcomes and call.started catch-up done
    assert gw.proc is not None
    c0, p0 = _cpu(gw.proc.pid), time.process_time()
    pub.stdin.write("go\n")
    pub.stdin.flush()
    sent = int((await asyncio.to_thread(pub.stdout.readline)).strip())
    end = time.monotonic() + 30
    while len(seen) < sent and time.monotonic() < end:
        await asyncio.sleep(0.1)
    # Until the last event reached its panel: a gateway behind keeps working after.
    cpu, panels_cpu = _cpu(gw.proc.pid) - c0, time.process_time() - p0
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    pub.wait(timeout=30)
    warm = int(WARMUP * rate / CALLS)  # events per call in the warm-up second
    lat = [v * 1000 for (_, seq), v in seen.items() if seq > warm + 1]
    return {"events_per_s": rate, "sent": sent, "lost": sent - len(seen),
            "repeated": repeated[0], "p50_ms": round(_pct(lat, 0.5), 1),
            "p95_ms": round(_pct(lat, 0.95), 1), "max_ms": round(max(lat), 1),
            "gateway_cpu_us_per_event": round(cpu * 1e6 / sent),
            "panels_cpu_us_per_event": round(panels_cpu * 1e6 / sent),
            "load_average": round(os.getloadavg()[0], 1)}


def _fill(url: str, entries: int) -> int:
    demo = _demo()
    r = redis.Redis.from_url(url, decode_responses=True)
    pipe = r.pipeline(transaction=False)
    n = 0
    while n < entries:
        call = f"s{n // len(demo):04}"
        for w in demo[: entries - n]:
            pipe.xadd(EVENTS_STREAM, event_fields(dict(w, call_id=call), f"a{n % 50:02}", None))  # type: ignore[arg-type]
            n += 1
        pipe.execute()
    got = int(r.xlen(EVENTS_STREAM))
    r.close()
    return got


def _start(gw: Gateway) -> dict[str, Any]:
    t0 = time.monotonic()
    gw.start()
    wall = time.monotonic() - t0
    found = re.findall(r"rebuilt (\d+) call\(s\) from (\d+) entr\(ies\) in ([\d.]+) s",
                       gw.banner())
    assert found and gw.proc is not None
    m = ("", *found[-1])
    return {"entries": int(m[2]), "calls": int(m[1]), "rebuild_s": float(m[3]),
            "start_to_listening_s": round(wall, 2), "rss_mb": round(_rss_mb(gw.proc.pid)),
            "load_average": round(os.getloadavg()[0], 1)}


def run(rates: tuple[int, ...] = RATES) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rd = RedisD(folder / "redis").start()
        try:
            gw = Gateway(folder, rd.url, "gwbench", extra="")
            gw.config.write_text(gw.config.read_text() + f"stream_maxlen = {ENTRIES * 2}\n")
            gw.start()
            try:
                for rate in rates:
                    out[f"latency_{rate}"] = asyncio.run(_latency_run(gw, rd.url, rate,
                                                                      f"r{rate}-"))
            finally:
                gw.stop()
            r = redis.Redis.from_url(rd.url)
            r.delete(EVENTS_STREAM)
            r.close()
            _fill(rd.url, ENTRIES)
            out["start"] = _start(gw)
            gw.stop()
        finally:
            rd.stop()
    out["note"] = ("redis, gateway, publisher and panels on one shared 2-core machine; "
                   f"{CALLS} agent panels, {SECONDS:.0f} s per rate")
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(run(tuple(int(x) for x in args[0].split(",")) if args else RATES),
                     indent=1))
