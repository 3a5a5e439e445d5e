"""PostgreSQL store: the writer's rate from the Redis stream, and `qa report` over 100 calls.

Real redis-server and PostgreSQL 15 (fsync off, as in the tests: the figure is the
writer's own cost, not the disk's), started here on loopback.  The stream is filled
with 100 demo calls first, then one writer drains it; the QA figure is the same
work as bench/qa_bench.py, read from PostgreSQL and from SQLite side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from assist.cluster.writer import GROUP, STREAM, StreamWriter  # noqa: E402
from assist.qa.period import collect  # noqa: E402
from assist.qa.rules import load_rules  # noqa: E402
from assist.store.postgres import PostgresArchive  # noqa: E402
from assist.store.sqlite import Archive, Store  # noqa: E402
from bench.qa_bench import _demo  # noqa: E402
from tests.cluster.postgresd import free_port, running  # noqa: E402

CALLS = 100


def _redis(folder: str) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", folder],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redis.Redis(port=port, decode_responses=True)
    for _ in range(200):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, r


def _qa(archive: Any) -> tuple[float, float]:
    rules = load_rules()
    times, cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        period = collect(archive, rules, "agent-1001", "2026-01-01")
        period.summary()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if len(period.cards) != CALLS:
        raise RuntimeError(f"{len(period.cards)} scorecards, expected {CALLS}")
    return sorted(times)[2] * 100 / CALLS, sorted(cpu)[2] * 100 / CALLS


def run() -> dict[str, Any]:
    demo = _demo()
    wires = [dict(w, call_id=f"c{i:03}") for i in range(CALLS) for w in demo]
    with tempfile.TemporaryDirectory() as tmp, running() as pg:
        proc, r = _redis(tmp)
        try:
            url = pg.new_database()
            w = StreamWriter(r, url, "bench")
            w.setup()
            pipe = r.pipeline(transaction=False)
            for x in wires:
                pipe.xadd(STREAM, {"call": x["call_id"], "seq": str(x["seq"]), "agent": "",
                                   "arrival": "", "wire": json.dumps(x, ensure_ascii=False)})
            pipe.execute()
            t0, c0 = time.perf_counter(), time.process_time()
            while w.written < len(wires) and w.step():
                pass
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if w.written != len(wires) or r.xpending(STREAM, GROUP)["pending"]:
                raise RuntimeError(f"wrote {w.written} of {len(wires)}")
            w.close()
            pg_qa, pg_qa_cpu = _qa(PostgresArchive(url))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        path = Path(tmp) / "s.sqlite3"
        store = Store(path)
        for x in wires:
            store.publish(x, agent=None, arrival=None)
        store.close()
        lite_qa, lite_qa_cpu = _qa(Archive(path))
    return {"calls": CALLS, "events": len(wires),
            "writer_events_per_s": round(len(wires) / wall),
            "writer_cpu_ms_per_1000_events": round(cpu * 1e6 / len(wires), 1),
            "qa_report_s_per_100_calls_postgres": round(pg_qa, 3),
            "qa_report_cpu_s_per_100_calls_postgres": round(pg_qa_cpu, 3),
            "qa_report_s_per_100_calls_sqlite": round(lite_qa, 3)}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
