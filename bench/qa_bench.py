"""QA report speed: `qa report` work (read, score, summarise) over 100 stored demo calls."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assist.qa.period import collect
from assist.qa.rules import load_rules
from assist.store.sqlite import Archive, Store

ROOT = Path(__file__).resolve().parents[1]
CALLS = 100


def _demo() -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "assist", "replay", str(ROOT / "assist/demo/demo_call.wav"),
         "--json", "--fast", "--start", "2026-01-01T09:00:00Z", "--call-id", "demo"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=300)
    return [json.loads(x) for x in out.stdout.splitlines() if x.strip()]


def run() -> dict[str, Any]:
    demo = _demo()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite3"
        store = Store(path)
        for i in range(CALLS):
            for w in demo:
                store.publish(dict(w, call_id=f"c{i:03}"), agent=None, arrival=None)
        store.close()
        rules = load_rules()
        times, cpu = [], []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            period = collect(Archive(path), rules, "agent-1001", "2026-01-01")
            period.summary()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        assert len(period.cards) == CALLS
    times.sort()
    cpu.sort()
    return {"calls": CALLS, "events_per_call": len(demo),
            "report_s_per_100_calls_median": round(times[2] * 100 / CALLS, 3),
            "report_s_per_100_calls_max": round(times[-1] * 100 / CALLS, 3),
            # CPU time: what the report costs, whatever else the machine is doing.
            "report_cpu_s_per_100_calls_median": round(cpu[2] * 100 / CALLS, 3)}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
