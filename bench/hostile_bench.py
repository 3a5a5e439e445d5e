"""Memory a hostile panel connection costs the server, read from the server's RSS.

`run()` starts a panel server in a process of its own holding 10 live and 100
ended calls (300 transcript lines each), then connects hostile clients that
flood it with 10,000 `resume` messages naming every ended call and 10,000
supervisor `subscribe`s to ended calls, reading nothing or reading everything.
It reports the server's resident memory before, at its peak during the
floods, and after the clients leave, per hostile connection.  Run twice: with
the server's default message rate limit, and with the limit off, which shows
the bound the outbox and catch-up cursors keep by themselves.

`python bench/hostile_bench.py` prints the figures as JSON.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECRET = b"b" * 32
FLOOD = 10_000
CLIENTS = 5
MB = 1024 * 1024


async def _serve(loose: bool) -> None:
    from assist.events import Event, to_wire
    from assist.panel.server import AssistServer

    kw: dict[str, Any] = {"message_rate": 1e9, "message_burst": 10**9} if loose else {}
    server = AssistServer("127.0.0.1", 0, secret=SECRET, **kw)
    await server.start()
    from datetime import UTC, datetime

    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = [Event("call.started", "c", 0.0, None,
                    {"agent": "1001", "language": "zh-CN", "sample_rate": 8000,
                     "source": "bench"})]
    for i in range(300):
        events.append(Event("transcript.final", "c", i + 1.0, "customer",
                            {"text": "我要投诉你们的服务" * 6, "start": float(i),
                             "end": i + 1.0, "words": []}))
    ended = Event("call.ended", "c", 301.0, None,
                  {"agent": "1001", "duration": 301.0, "reason": "hangup"})
    template = [to_wire(e, seq, start) for seq, e in enumerate(events, 1)]
    last = to_wire(ended, len(events) + 1, start)
    for n in range(110):  # calls 0-9 live, the rest ended
        for w in template + ([last] if n >= 10 else []):
            server.publish({**w, "call_id": f"call{n}"}, agent="1001", arrival=None)
    print(server.port, flush=True)
    await asyncio.Event().wait()


def _rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _hostile(port: int, kind: str, reads: bool) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.protocol import State

    from assist.panel.auth import issue_token

    tok = issue_token(SECRET, role="supervisor", now=time.time())
    ended = [f"call{n}" for n in range(10, 110)]
    if kind == "resume":
        msgs = [json.dumps({"type": "resume", "calls": {c: 0 for c in ended}})]
    else:
        msgs = [json.dumps({"type": "subscribe", "call_id": c}) for c in ended]
    try:
        async with connect(f"ws://127.0.0.1:{port}/ws", max_queue=1 if not reads else 16,
                           compression=None) as ws:
            await ws.send(json.dumps({"type": "hello", "v": 1, "token": tok}))
            reader = asyncio.create_task(_discard(ws)) if reads else None
            for i in range(FLOOD):
                if ws.state is not State.OPEN:  # closed for flooding: the defence working
                    break
                await ws.send(msgs[i % len(msgs)])
            await asyncio.sleep(2.0)  # the server works through what it has read
            if reader is not None:
                reader.cancel()
    except ConnectionClosed:  # closed for flooding: that is the defence working
        pass


async def _discard(ws: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


async def _measure(pid: int, port: int, kind: str, reads: bool) -> dict[str, float]:
    before = _rss(pid)
    peak = before
    clients = asyncio.gather(*(_hostile(port, kind, reads) for _ in range(CLIENTS)))
    while not clients.done():
        peak = max(peak, _rss(pid))
        await asyncio.sleep(0.05)
    await clients
    await asyncio.sleep(1.0)
    after = _rss(pid)
    return {"rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1),
            "rss_after_mb": round(after, 1),
            "per_connection_mb": round((peak - before) / CLIENTS, 2)}


def run(loose_too: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"clients": CLIENTS, "messages_each": FLOOD,
                           "calls_held": "10 live + 100 ended, 300 lines each"}
    for loose in (False, True) if loose_too else (False,):
        proc = subprocess.Popen([sys.executable, __file__, "--serve"]
                                + (["--loose"] if loose else []),
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            part: dict[str, Any] = {}
            for kind in ("resume", "subscribe"):
                for reads in (False, True):
                    part[f"{kind}_{'reading' if reads else 'not_reading'}"] = asyncio.run(
                        _measure(proc.pid, port, kind, reads))
            out["rate_limit_off" if loose else "default_limits"] = part
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return out


if __name__ == "__main__":
    if "--serve" in sys.argv:
        asyncio.run(_serve("--loose" in sys.argv))
    else:
        print(json.dumps(run(), indent=2))
