"""Fit the acoustic pace model (assist/detectors/pace_model.json) on read speech.

Data recipe: the usable FLEURS development clips (`fleurs_dev/manifest.csv`: file,
n_han_chars, rate_usable=1), each taken to 8 kHz, set to one speech level, trimmed to
its speech and made slower or faster by WSOLA at the training tempos 0.75, 0.85, 0.95,
1.05, 1.15 and 1.3 (none of them a tempo `bench/eval_calls.py` scores: 0.8, 1, 1.25).
At each tempo every ordered pair of two clips is one agent turn built as the
benchmark builds its turns (`eval_calls.pace_turn`: 0.3-0.7 s apart, on a line with
noise and hum), run through the live pipeline (vowel-band nuclei of the 2 s chunks)
and the pace detector with the identity model: its last reading is nuclei a minute
over its window of speaking time.  The target is characters a minute over the same
window (pauses under `turn_gap` kept).

The model is log(cpm / 300) = intercept + slope * log(nuclei / 300), least squares.
The vowel-band dip (`[nuclei] vowel_dip_db`) is chosen from DIPS by leave-one-clip-out
error on the training clips: every turn holding a clip is predicted by a model fitted
on the turns without it.

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
    files: tuple[str, str]  # the turn's two clips
    tempo: float
    nuclei_cpm: float  # the reading at the turn's end: nuclei a minute of its window
    cpm: float  # characters a minute over the same window of speaking time


def turn_reading(agent: np.ndarray, rate: int, loop: LoopParams,
                 identity: str) -> tuple[float, float]:
    """The last `pace` reading of an agent track (nuclei a minute, with the identity
    model) and the speaking time it covers, by the detector's rules."""
    pipe = PartyPipeline("agent", rate, samples_per_frame(rate), loop)
    det = PaceDetector("fit", replace(loop.pace, model=identity))
    n = samples_per_frame(rate)
    cpm, window = 0.0, 0.0
    steps = [pipe.feed(i / rate, agent[i:i + n]) for i in range(0, len(agent) - n + 1, n)]
    for step in [*steps, pipe.finish()]:
        for c in step.chunks:
            for e in det.feed(c.start, c.speech_end, c.vowel_nuclei, c.end):
                if e.type == "pace":
                    cpm = float(e.evidence["cpm"])  # type: ignore[attr-defined]
                    window = float(e.evidence["window"])  # type: ignore[attr-defined]
    return cpm, window


def training_points(data: Path, dips: Sequence[float] = DIPS,
                    tempos: Sequence[float] = TRAIN_TEMPOS, seed: int = 5
                    ) -> dict[float, list[Point]]:
    """Per dip, one point per training tempo and ordered pair of two usable clips: the
    pair read as one agent turn, as `bench/eval_calls.py` reads its turns."""
    from bench.eval_calls import RATE, clip_of, pace_turn, rate_over_last, stretch, to_8k

    folder = data / "fleurs_dev"
    rows = read_manifest(folder / "manifest.csv", ("file", "n_han_chars", "rate_usable"))
    usable = [r for r in rows if r["rate_usable"].strip() == "1"]
    if len(usable) < 2:
        raise DataError(f"{folder}: fewer than two clips with rate_usable=1")
    base = LoopParams()
    rng = np.random.default_rng(seed)
    out: dict[float, list[Point]] = {d: [] for d in dips}
    loops = {d: replace(base, nuclei=replace(base.nuclei, vowel_dip_db=d)) for d in dips}
    pcms = [read_wav(folder / r["file"]) for r in usable]
    with tempfile.TemporaryDirectory() as tmp:
        identity = str(Path(tmp) / "identity.json")
        Path(identity).write_text(PaceModel().to_json(), encoding="utf-8")
        for tempo in tempos:
            clips = [(clip_of(stretch(to_8k(equalise(pcm, rate), rate), tempo)
                              .astype(np.int16), RATE, False, runs=True), int(r["n_han_chars"]))
                     for r, (pcm, rate) in zip(usable, pcms, strict=True)]
            for i, first in enumerate(clips):
                for j, second in enumerate(clips):
                    if i == j:
                        continue
                    call, parts = pace_turn("fit", first, second, rng, base.pace.turn_gap)
                    files = (usable[i]["file"], usable[j]["file"])
                    for d in dips:
                        nuclei, window = turn_reading(call.agent, RATE, loops[d], identity)
                        if window > 0:
                            out[d].append(Point(files, tempo, nuclei,
                                                rate_over_last(parts, window)))
    return out


def fit(points: Sequence[Point]) -> PaceModel:
    """Least squares of log characters a minute on log nuclei a minute, over the turns."""
    x = np.log(np.array([p.nuclei_cpm for p in points]) / PIVOT)
    y = np.log(np.array([p.cpm for p in points]) / PIVOT)
    if len(points) < 3 or np.ptp(x) == 0:
        raise DataError("too few training points to fit the pace model")
    slope, intercept = np.polyfit(x, y, 1)
    return PaceModel(float(intercept), float(slope))


def held_out_error(points: Sequence[Point]) -> tuple[float, float]:
    """Leave-one-clip-out mean absolute percentage error, and the largest |bias| of a
    tempo (both as fractions)."""
    files = sorted({f for p in points for f in p.files})
    err: dict[float, list[float]] = {}
    for f in files:
        m = fit([p for p in points if f not in p.files])
        for p in points:
            if f in p.files:
                err.setdefault(p.tempo, []).append(m.cpm(p.nuclei_cpm) / p.cpm - 1.0)
    every = [e for v in err.values() for e in v]
    return (float(np.mean(np.abs(every))),
            max(abs(float(np.mean(v))) for v in err.values()))


def choose(by_dip: dict[float, list[Point]], train: set[str] | None = None,
           log: bool = False) -> tuple[float, PaceModel]:
    """The dip with the least held-out error on the training clips, and its model."""
    best: tuple[float, float] | None = None
    for d, pts in by_dip.items():
        pts = [p for p in pts if train is None or set(p.files) <= train]
        mape, bias = held_out_error(pts)
        if log:
            print(f"vowel_dip_db {d:g}: held-out MAPE {100 * mape:.1f}%, "
                  f"worst tempo bias {100 * bias:.1f}%", file=sys.stderr)
        if best is None or mape < best[1]:
            best = (d, mape)
    if best is None:
        raise DataError("no dip to choose from")
    d = best[0]
    return d, fit([p for p in by_dip[d] if train is None or set(p.files) <= train])


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
        train = {f for p in next(iter(by_dip.values())) for f in p.files} - held
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
