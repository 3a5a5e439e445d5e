"""The demo call as the store keeps it: replayed through the real pipeline, then stored."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from assist.store.sqlite import Store

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assist" / "demo"


@functools.cache
def _demo_lines(call_id: str) -> tuple[str, ...]:
    out = subprocess.run(
        [sys.executable, "-m", "assist", "replay", str(DEMO / "demo_call.wav"), "--json",
         "--fast", "--start", "2026-01-01T09:00:00Z", "--call-id", call_id],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return tuple(line for line in out.stdout.splitlines() if line.strip())


def demo_wires(call_id: str = "demo1") -> list[dict[str, Any]]:
    """The demo call's events as wires (fresh dicts each time)."""
    return [json.loads(line) for line in _demo_lines(call_id)]


def store_calls(path: Path, calls: list[list[dict[str, Any]]]) -> None:
    store = Store(path)
    for wires in calls:
        for w in wires:
            store.publish(w, agent=None, arrival=None)
    store.close()


def demo_timeline() -> dict[str, Any]:
    return json.loads((DEMO / "demo_call.json").read_text(encoding="utf-8"))
