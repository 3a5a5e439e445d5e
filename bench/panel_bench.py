"""Panel bench: publish-to-page latency in Chromium, and panels one core serves.

`run()` returns a dict; `python bench/panel_bench.py` prints it as JSON and writes
build/panel_bench.json.  The capacity part runs the server alone on CPU 0 and the
clients on CPU 1; each client is an agent with its own live call publishing
about 8 events a second (5 partial transcripts, talk states, pace, metrics).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assist.panel.auth import issue_token  # noqa: E402
from assist.panel.demo import demo_script, wires  # noqa: E402
from assist.panel.server import AssistServer  # noqa: E402

SECRET = b"p" * 32
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
RATE = 8.0  # events per second per live call
P95_BUDGET_MS = 250.0


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def page_latency(n: int = 300) -> dict[str, float]:
    from playwright.async_api import async_playwright

    server = AssistServer("127.0.0.1", 0, secret=SECRET)
    await server.start()
    tok = issue_token(SECRET, role="agent", agent="1001", now=time.time())
    sent: dict[int, float] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        pg = await browser.new_page(viewport={"width": 400, "height": 1000})
        await pg.goto(f"{server.url}?token={tok}")
        await pg.wait_for_selector("#status[data-state=live]")
        script = wires(demo_script("lat", "1001", length=1e6))[:-1]  # no call.ended
        i = 0
        while len(sent) < n:
            w = dict(script[i % len(script)])
            w["seq"] = i + 1
            sent[w["seq"]] = time.time() * 1000
            server.publish(w, agent="1001", arrival=None)
            i += 1
            await asyncio.sleep(0.02)  # 50 events/s, busier than a real call
        await pg.wait_for_function(f"() => window.__assist.shown.some(s => s.seq === {n})")
        shown = await pg.evaluate("window.__assist.shown.map(s => [s.seq, s.at])")
        await browser.close()
    await server.stop()
    lat = [at - sent[seq] for seq, at in shown if seq in sent]
    return {"events": len(lat), "p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2),
            "max_ms": round(max(lat), 2)}


# -- capacity: server process -------------------------------------------------------


async def _serve_load(n_calls: int, port: int, seconds: float) -> None:
    server = AssistServer("127.0.0.1", port, secret=SECRET, keep_ended=10)
    await server.start()
    print("ready", flush=True)
    await asyncio.sleep(2.0)  # clients connect
    cpu0 = time.process_time()
    t0 = loop_t = time.perf_counter()
    seq = [0] * n_calls
    texts = ["我这边马上给您加急处理" * 2]
    tick = 1.0 / RATE
    lag = []
    while time.perf_counter() - t0 < seconds:
        now = time.perf_counter()
        lag.append(now - loop_t)
        for c in range(n_calls):
            seq[c] += 1
            typ = "transcript.partial" if seq[c] % 8 < 5 else "pace" if seq[c] % 8 == 5 else \
                "metrics"
            server.publish({"v": 1, "call_id": f"c{c}", "seq": seq[c], "t": seq[c] * tick,
                            "utc": "", "type": typ, "party": "agent",
                            "evidence": {"text": texts[0], "sent": time.time(), "cpm": 130}},
                           agent=f"a{c}", arrival=None)
        loop_t += tick
        await asyncio.sleep(max(0.0, loop_t - time.perf_counter()))
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - t0)
    print(json.dumps({"server_cpu": round(cpu, 3), "stats": server.stats}), flush=True)
    await asyncio.sleep(1.0)
    await server.stop()


async def _clients(n: int, port: int, seconds: float) -> list[float]:
    from websockets.asyncio.client import connect

    lat: list[float] = []

    async def one(i: int) -> None:
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=2**20) as ws:
            tok = issue_token(SECRET, role="agent", agent=f"a{i}", now=time.time())
            await ws.send(json.dumps({"type": "hello", "v": 1, "token": tok}))
            end = time.time() + seconds + 3
            while time.time() < end:
                try:
                    m = await asyncio.wait_for(ws.recv(), end - time.time())
                except (TimeoutError, Exception):
                    return
                if '"sent":' in m:
                    ev = json.loads(m)["event"]
                    lat.append(time.time() - ev["evidence"]["sent"])

    await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    return lat


def capacity_point(n: int, seconds: float = 6.0, port: int = 18877) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-load", str(n), str(port), str(seconds)],
        stdout=subprocess.PIPE, text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # ready
        os.sched_setaffinity(0, {1})
        lat = asyncio.run(_clients(n, port, seconds))
        out = json.loads(proc.stdout.readline() or "{}")
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        proc.wait(timeout=30)
    lat_ms = [x * 1000 for x in lat]
    expected = n * RATE * seconds
    return {"panels": n, "server_cpu": out.get("server_cpu"),
            "delivered_ratio": round(len(lat_ms) / expected, 3) if expected else 0,
            "p50_ms": round(pct(lat_ms, 50), 1) if lat_ms else None,
            "p95_ms": round(pct(lat_ms, 95), 1) if lat_ms else None}


async def stalled_publish(n: int = 6000) -> dict[str, float]:
    """What one publish costs while a panel has stopped reading (its outbox full)."""
    from websockets.asyncio.client import connect

    server = AssistServer("127.0.0.1", 0, secret=SECRET, queue_limit=32,
                          queue_hard_limit=100_000)
    await server.start()
    try:
        ws = await connect(f"ws://127.0.0.1:{server.port}/ws", max_queue=1)
        tok = issue_token(SECRET, role="agent", agent="1001", now=time.time())
        await ws.send(json.dumps({"type": "hello", "v": 1, "token": tok}))
        while not server._links:
            await asyncio.sleep(0.01)
        script = wires(demo_script("slow", "1001"))
        server.publish(script[0], agent="1001")
        base = dict(script[1], type="transcript.partial",
                    evidence={"text": "字" * 400, "start": 0.0, "end": 1.0})
        costs = []
        for i in range(n):
            w = dict(base, seq=i + 2)
            t0 = time.perf_counter()
            server.publish(w, agent="1001")
            costs.append((time.perf_counter() - t0) * 1000)
            if i % 500 == 0:
                await asyncio.sleep(0)
        await ws.close()
    finally:
        await server.stop()
    return {"publishes": n, "p50_ms": round(pct(costs, 50), 3),
            "p99_ms": round(pct(costs, 99), 3), "max_ms": round(max(costs), 3)}


def run(points: tuple[int, ...] = (100, 250, 500, 1000)) -> dict[str, object]:
    result: dict[str, object] = {"page_latency": asyncio.run(page_latency()),
                                 "stalled_publish": asyncio.run(stalled_publish())}
    curve = []
    for n in points:
        pt = capacity_point(n)
        curve.append(pt)
        if pt["p95_ms"] is None or pt["p95_ms"] > P95_BUDGET_MS or (pt["server_cpu"] or 0) > 0.95:
            break
    ok = [p["panels"] for p in curve if p["p95_ms"] is not None
          and p["p95_ms"] <= P95_BUDGET_MS and p["delivered_ratio"] >= 0.6]
    result["capacity"] = {"events_per_call_per_s": RATE, "p95_budget_ms": P95_BUDGET_MS,
                          "curve": curve, "panels_one_core": max(ok, default=0)}
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-load":
        asyncio.run(_serve_load(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
        raise SystemExit(0)
    res = run()
    Path("build").mkdir(exist_ok=True)
    Path("build/panel_bench.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
