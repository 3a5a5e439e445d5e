"""Fit the acoustic pace model (assist/detectors/pace_model.json) on read speech.

Data recipe: the usable FLEURS development clips (`fleurs_dev/manifest.csv`: file,
n_han_chars, rate_usable=1), each taken to 8 kHz, set to one speech level, trimmed to
its speech and made slower or faster by WSOLA at the training tempos 0.75, 0.85, 0.95,
1.05, 1.15 and 1.3 (none of them a tempo `bench/eval_calls.py` scores: 0.8, 1, 1.25),
laid on a line with noise
and hum as the benchmark's calls are.  Each clip runs through the live pipeline
(vowel-band nuclei of the 2 s chunks) and the pace detector with the identity model:
nuclei a minute of speaking time.  The target is characters a minute over the same
speaking time (pauses under `turn_gap` kept).

The model is log(cpm / 300) = intercept + slope * log(nuclei / 300), least squares.
The vowel-band dip (`[nuclei] vowel_dip_db`) is chosen from DIPS by leave-one-clip-out
error on the training clips: every clip is predicted by a model fitted without it.

    python -m bench.fit_pace --data ../shared/data               # writes the shipped model
    python -m bench.fit_pace --data ../shared/data --hold-out fleurs_zh_001.wav --out m.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assist.audio.prosody import NucleiParams
from assist.call.pipeline import LoopParams, PartyPipeline
from assist.detectors.pace import PaceDetector
from assist.detectors.pace_model import DEFAULT_MODEL, PIVOT, PaceModel
from assist.frames import samples_per_frame
from bench.eval_shared import DataError, equalise, read_manifest, read_wav

TRAIN_TEMPOS = (0.75, 0.85, 0.95, 1.05, 1.15, 1.3)
DIPS = (1.0, 1.5, 2.0, 2.5, 3.0)


@dataclass(frozen=True, slots=True)
class Point:
    file: str
    tempo: float
    nuclei_cpm: float  # counted, over the detector's speaking time
    cpm: float  # characters a minute over the same speaking time


def nuclei_rate(agent: np.ndarray, rate: int, loop: LoopParams, identity: str) -> float:
    """Nuclei a minute of one agent turn, by the detector's rules (all of the turn)."""
    pipe = PartyPipeline("agent", rate, samples_per_frame(rate), loop)
    det = PaceDetector("fit", replace(loop.pace, window=300.0, min_speech=1.0, model=identity))
    n = samples_per_frame(rate)
    cpm = 0.0
    steps = [pipe.feed(i / rate, agent[i:i + n]) for i in range(0, len(agent) - n + 1, n)]
    for step in [*steps, pipe.finish()]:
        for c in step.chunks:
            for e in det.feed(c.start, c.end, c.vowel_nuclei, c.end):
                if e.type == "pace":
                    cpm = float(e.evidence["cpm"])  # type: ignore[attr-defined]
    return cpm


def training_points(data: Path, dips: Sequence[float] = DIPS,
                    tempos: Sequence[float] = TRAIN_TEMPOS, seed: int = 5
                    ) -> dict[float, list[Point]]:
    """Per dip, one point per usable clip and training tempo."""
    from bench.eval_calls import RATE, Builder, clip_of, speaking_parts, stretch, to_8k

    folder = data / "fleurs_dev"
    rows = read_manifest(folder / "manifest.csv", ("file", "n_han_chars", "rate_usable"))
    usable = [r for r in rows if r["rate_usable"].strip() == "1"]
    if not usable:
        raise DataError(f"{folder}: no clip with rate_usable=1")
    base = LoopParams()
    rng = np.random.default_rng(seed)
    out: dict[float, list[Point]] = {d: [] for d in dips}
    with tempfile.TemporaryDirectory() as tmp:
        identity = str(Path(tmp) / "identity.json")
        Path(identity).write_text(PaceModel().to_json(), encoding="utf-8")
        for r in usable:
            pcm, rate = read_wav(folder / r["file"])
            for tempo in tempos:
                clip = clip_of(stretch(to_8k(equalise(pcm, rate), rate), tempo).astype(np.int16),
                               RATE, False, runs=True)
                b = Builder(rng)
                b.put(b.agent, 0.5 - clip.speech[0], clip.pcm)
                b.put(b.cust, 0.1, np.zeros(10))
                agent = b.render("fit", "fleurs").agent
                parts = speaking_parts(clip, 0.0, int(r["n_han_chars"]), base.pace.turn_gap)
                cpm = 60.0 * sum(n for _, _, n in parts) / sum(b1 - a for a, b1, _ in parts)
                for d in dips:
                    loop = replace(base, nuclei=replace(base.nuclei, vowel_dip_db=d))
                    out[d].append(Point(r["file"], tempo,
                                        nuclei_rate(agent, RATE, loop, identity), cpm))
    return out


def fit(points: Sequence[Point]) -> PaceModel:
    x = np.log(np.array([p.nuclei_cpm for p in points]) / PIVOT)
    y = np.log(np.array([p.cpm for p in points]) / PIVOT)
    if len(points) < 3 or np.ptp(x) == 0:
        raise DataError("too few training points to fit the pace model")
    slope, intercept = np.polyfit(x, y, 1)
    return PaceModel(float(intercept), float(slope))


def held_out_error(points: Sequence[Point]) -> tuple[float, float]:
    """Leave-one-clip-out mean absolute percentage error, and the largest |bias| of a
    tempo (both as fractions)."""
    files = sorted({p.file for p in points})
    err: dict[float, list[float]] = {}
    for f in files:
        m = fit([p for p in points if p.file != f])
        for p in points:
            if p.file == f:
                err.setdefault(p.tempo, []).append(m.cpm(p.nuclei_cpm) / p.cpm - 1.0)
    every = [e for v in err.values() for e in v]
    return (float(np.mean(np.abs(every))),
            max(abs(float(np.mean(v))) for v in err.values()))


def choose(by_dip: dict[float, list[Point]], train: set[str] | None = None,
           log: bool = False) -> tuple[float, PaceModel]:
    """The dip with the least held-out error on the training clips, and its model."""
    best: tuple[float, float] | None = None
    for d, pts in by_dip.items():
        pts = [p for p in pts if train is None or p.file in train]
        mape, bias = held_out_error(pts)
        if log:
            print(f"vowel_dip_db {d:g}: held-out MAPE {100 * mape:.1f}%, "
                  f"worst tempo bias {100 * bias:.1f}%", file=sys.stderr)
        if best is None or mape < best[1]:
            best = (d, mape)
    if best is None:
        raise DataError("no dip to choose from")
    d = best[0]
    return d, fit([p for p in by_dip[d] if train is None or p.file in train])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fit_pace",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--hold-out", default="", help="comma-separated clip files to leave out")
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    args = ap.parse_args(argv)
    try:
        by_dip = training_points(args.data)
        held = set(filter(None, args.hold_out.split(",")))
        train = {p.file for p in next(iter(by_dip.values()))} - held
        dip, model = choose(by_dip, train, log=True)
    except DataError as e:
        print(f"fit_pace: {e}", file=sys.stderr)
        return 2
    about = {"vowel_dip_db": dip, "tempos": list(TRAIN_TEMPOS), "clips": sorted(train)}
    args.out.write_text(model.to_json(**about), encoding="utf-8")
    print(json.dumps({"vowel_dip_db": dip, "intercept": round(model.intercept, 4),
                      "slope": round(model.slope, 4),
                      "cpm at 120 / 300 nuclei": [round(model.cpm(120), 1),
                                                  round(model.cpm(300), 1)]}))
    default = NucleiParams().vowel_dip_db
    if not math.isclose(dip, default):
        print(f"note: [nuclei] vowel_dip_db defaults to {default:g}; this fit chose {dip:g}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
