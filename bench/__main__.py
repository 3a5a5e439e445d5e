"""Run every benchmark, write build/bench.json, print a table."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _flatten(prefix: str, obj: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append((prefix, str(obj)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--only", help="comma-separated parts to run (default: all)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                    help="folder with fleurs_dev/ and casia_dev/ for the accuracy figures")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench.json"))
    args = ap.parse_args(argv)
    from bench import frame_cpu, loop_bench

    parts: dict[str, Any] = {
        "loop.frame_cost": loop_bench.frame_cost,
        "loop.frame_cpu": frame_cpu.frame_cpu,
        "loop.latency": loop_bench.latency,
        "loop.push_latency": loop_bench.push_latency,
    }
    from bench import eval_calls

    # Accuracy on real speech needs the development folder; without it the parts say
    # so in the results instead of vanishing from the table.
    data = Path(args.data)
    parts["calls"] = lambda: eval_calls.run(data)
    for name in ("asr_bench", "sip_bench", "sip_spray", "panel_bench", "fork_bench", "qa_bench",
                 "hostile_bench", "pg_bench", "cluster_bench", "gateway_bench",
                 "hop_bench"):
        try:
            mod = __import__(f"bench.{name}", fromlist=["run"])
            parts[name.removesuffix("_bench")] = mod.run
        except ImportError:
            continue
    if "asr" in parts:  # the most calls recognition keeps up with, product alone
        from bench import asr_bench

        parts["asr.most"] = asr_bench.most
    only = set(args.only.split(",")) if args.only else None
    results: dict[str, Any] = {"machine": {"python": platform.python_version(),
                                           "processor": platform.machine()},
                               "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for name, fn in parts.items():
        if only and not any(name.startswith(o) for o in only):
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as e:  # one failing part must not lose the others' figures
            results[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    rows: list[tuple[str, str]] = []
    _flatten("", results, rows)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
