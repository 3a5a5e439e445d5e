"""Why a talk-over flag came late: its overlap frame by frame against the clean sources.

A debugging aid for `bench/eval_calls.py` (which lists the flags more than 50 ms after
their decision point): the calls of one seed are built as the benchmark builds them
(raw levels), the named calls run through a `CallSession`, and for each late flag the
frames from the clean onset to the flagged one (and up to the flag, with --all) are
printed: voiced on the clean track, the clean track's energy in the envelope's bands
(100-3800 Hz) and under 100 Hz, each leg's level, webrtcvad on the leg, whether the
bleed gate took the frame for bleed, and the agent frame's excess over its predicted
bleed (dB over the noise floor, where the gate judged it).

    python -m bench.talkover_trace --seed 13 ZhaoZuoxiang-calm-2 zhaoquanyin-calm-0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench import eval_calls as ec


def band_db(y: np.ndarray, k: int, lo: float, hi: float) -> float:
    """dBFS of frame k's energy between lo and hi Hz (a plain 20 ms transform)."""
    n = int(ec.FRAME * ec.RATE)
    x = y[k * n:(k + 1) * n]
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(n, 1 / ec.RATE)
    e = float(power[(f >= lo) & (f < hi)].sum()) * 2 / n / n
    return 10 * float(np.log10(e / 32768**2 + 1e-20))


def build(data: Path, seed: int, names: set[str]) -> list[Any]:
    """The raw-level calls of `seed` named in `names`, each with its clean tracks."""
    render = ec.Builder.render

    def keep_clean(self: ec.Builder, name: str, speaker: str) -> ec.Call:
        call = render(self, name, speaker)
        call.clean = list(self.clean())  # type: ignore[attr-defined]
        return call

    ec.Builder.render = keep_clean  # type: ignore[method-assign]
    try:
        fleurs = ec.agent_clips(ec.load_fleurs(data))
        casia = ec.load_casia(data, level=False)
        rng = np.random.default_rng(seed)  # consumed as evaluate() consumes it
        calls = [c for spk in sorted(casia) for c in ec.anger_calls(spk, casia[spk], fleurs, rng)]
    finally:
        ec.Builder.render = render  # type: ignore[method-assign]
    return [c for c in calls if c.name in names]


def trace(call: Any, show_all: bool = False) -> None:
    from assist.audio import bleed

    seen: dict[tuple[str, float], tuple[float, bool, bool, float | None]] = {}
    judge = bleed.BleedGate.is_bleed

    def recorded(self: Any, party: str, t: float, frame: Any, voiced: bool = True) -> bool:
        out = judge(self, party, t, frame, voiced)
        seen[(party, round(t, 2))] = (frame.level_db, voiced, out, self.excess_db())
        return out

    bleed.BleedGate.is_bleed = recorded  # type: ignore[method-assign]
    try:
        events = ec.run_call(call, ec.default_loop([], Path(".")))
    finally:
        bleed.BleedGate.is_bleed = judge  # type: ignore[method-assign]
    res = ec.score_talkover(call, events)
    if not res["late_flags"]:
        print(f"{call.name}: no flag over {ec.LATE * 1000:.0f} ms late")
    for _, onset, flagged, ms in res["late_flags"]:
        a0 = next(a for a, _ in call.overlaps if abs(call.onset(a) - onset) < 1e-6)
        flag = next(e for e in events if e["type"] == "interruption"
                    and abs(e["evidence"]["onset"] - flagged) < 1e-6)
        print(f"{call.name}: clean onset {onset:.2f}, flagged onset {flagged:.2f}, decision "
              f"{call.decision(a0):.2f}, flag {flag['t']:.2f} ({ms} ms late); "
              f"{flag['evidence']}")
        print("     t  clean A C | agent clean in-band / <100 Hz | leg dBFS vad gated excess"
              " | customer clean in-band / <100 Hz | leg dBFS vad gated")
        last = flag["t"] if show_all else flagged + 0.04
        for k in range(int(round((onset - 0.06) / ec.FRAME)), int(round(last / ec.FRAME))):
            t = round(k * ec.FRAME, 2)
            a, c = seen[("agent", t)], seen[("customer", t)]
            ex = "-" if a[3] is None else f"{a[3]:.1f}"
            print(f"  {t:6.2f}  {int(call.voiced['agent'][k])} {int(call.voiced['customer'][k])} | "
                  f"{band_db(call.clean[1], k, 100, 3800):6.1f} / "
                  f"{band_db(call.clean[1], k, 0, 100):6.1f} | "
                  f"{a[0]:6.1f} {int(a[1])} {int(a[2])} {ex:>5} | "
                  f"{band_db(call.clean[0], k, 100, 3800):6.1f} / "
                  f"{band_db(call.clean[0], k, 0, 100):6.1f} | {c[0]:6.1f} {int(c[1])} {int(c[2])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.talkover_trace",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("calls", nargs="+", help="call names, as eval_calls lists the late flags")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--all", action="store_true", help="every frame up to the flag")
    args = ap.parse_args(argv)
    try:
        calls = build(args.data, args.seed, set(args.calls))
    except ec.DataError as e:
        print(f"talkover_trace: {e}", file=sys.stderr)
        return 2
    missing = set(args.calls) - {c.name for c in calls}
    if missing:
        print(f"talkover_trace: no such call with seed {args.seed}: {sorted(missing)}",
              file=sys.stderr)
        return 2
    for call in calls:
        trace(call, args.all)
    return 0


if __name__ == "__main__":
    sys.exit(main())
