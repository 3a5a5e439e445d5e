"""CPU per party-frame on the hub's frame path, steady enough to compare changes.

`frame_cpu` feeds the demo call (both parties) through a `CallHub` and divides the
process CPU time by the party-frames fed.  Run as a script (`python -m bench.frame_cpu
[seconds]`) it does the same on a fixed amount of audio, for an instruction count that
machine load does not move:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python -m bench.frame_cpu 20        # minus the same run with 0 seconds
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from assist.call.hub import CallHub
from assist.call.pipeline import LoopParams
from assist.frames import Frame
from assist.taps.wav import read_call

DEMO = Path(__file__).resolve().parents[1] / "assist" / "demo" / "demo_call.wav"


class _Null:
    def publish(self, wire: dict[str, Any], *, agent: str | None,
                arrival: float | None) -> None:
        pass


def feed_call(seconds: float, path: Path = DEMO) -> int:
    """Feed `seconds` of the call's audio (looped) through one hub; party-frames fed."""
    rec = read_call(path)
    frames = list(rec.frames())
    hub = CallHub(LoopParams(), [_Null()])
    hub.start_call("bench", agent="a", rate=rec.rate)
    fed = 0
    t_step = frames[1][0] - frames[0][0] if len(frames) > 1 else 0.02
    n = int(round(seconds / t_step)) if frames else 0
    for i in range(n):
        _, c, a = frames[i % len(frames)]
        t = i * t_step
        for party, pcm in (("customer", c), ("agent", a)):
            hub.feed("bench", Frame(party, pcm, rec.rate, t))  # type: ignore[arg-type]
            fed += 1
    hub.end_call("bench")
    return fed


def frame_cpu(seconds: float = 120.0) -> dict[str, Any]:
    feed_call(2.0)  # warm caches and imports
    # Library thread pools started by those imports spin for about 0.1 s of CPU before
    # they sleep (OpenBLAS): a process's start-up, not a frame's cost.
    time.sleep(0.5)
    t0 = time.process_time()
    fed = feed_call(seconds)
    cpu = time.process_time() - t0
    us = cpu / fed * 1e6 if fed else 0.0
    return {"party_frames": fed, "cpu_us_per_frame": round(us, 1),
            # party-frames a second one core can analyse (50 a second per party)
            "parties_per_core": int(1e6 / us / 50) if us else 0}


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    print(feed_call(secs))
