"""Score speech-rate and anger estimators on the development recordings.

Not part of the test suite: it needs the development folder (FLEURS and CASIA clips),
which a fresh clone does not have.  Layout expected under --data:

    fleurs_dev/manifest.csv   file, n_han_chars, rate_usable, ...   (16 kHz mono WAVs)
    casia_dev/manifest.csv    file, speaker, emotion, text_id, label_angry

Rate: for each clip with rate_usable=1 the reference is n_han_chars over the span from the
first to the last speech (pauses inside kept, found with webrtcvad), per minute; the score
is the mean absolute percentage error of `estimate_rate(pcm, rate) -> chars/min`.

Anger: per speaker, the first `baseline_n` neutral clips (by text id) are that speaker's
calm reference and are not scored; `anger_scores(baseline, clips, rate)` scores the rest,
and the score is the ROC AUC of angry against everything else, pooled over speakers.  It is
computed twice: on the raw clips, and with every clip (baseline too) set to the same
speech level, because phones and SBCs apply automatic gain control and acted anger is
louder than a real caller's.

    python -m bench.eval_shared --data ../shared/data \
        --rate-fn assist.pace:estimate_rate --anger-fn assist.anger:anger_scores
    python -m bench.eval_shared --data ../shared/data --placeholder   # harness check only
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import webrtcvad

RateFn = Callable[[np.ndarray, int], float]
AngerFn = Callable[[list[np.ndarray], list[np.ndarray], int], list[float]]

EQUAL_LEVEL_DBFS = -26.0
VAD_FRAME_MS = 30
MIN_RUN = 4  # speech frames in a row that count (120 ms): a click or breath does not
MAX_GAP = 2  # frames (60 ms) of non-speech bridged inside a run
GATE_DB = 30.0  # frames this far under the clip's loudest are never speech


class DataError(Exception):
    """The development folder is missing or not laid out as expected."""


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(path)) as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise DataError(f"{path}: expected 16-bit mono WAV")
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    except (OSError, wave.Error) as e:
        raise DataError(f"{path}: cannot read WAV ({e})") from e
    return pcm.copy(), rate


def read_manifest(path: Path, needed: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path} not found: pass --data pointing at the development folder")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in needed if rows and c not in rows[0]]
    if not rows or missing:
        raise DataError(f"{path}: empty or missing columns {missing}")
    return rows


def speech_frames(pcm: np.ndarray, rate: int, aggressiveness: int = 2) -> np.ndarray:
    """Per 30 ms frame: webrtcvad says speech AND the frame is within GATE_DB of the
    clip's loudest frame.  The gate is needed: after digital silence webrtcvad calls
    low-level room noise speech for seconds (FLEURS clip 009: 2.7 s of -65 dBFS hiss)."""
    vad = webrtcvad.Vad(aggressiveness)
    n = rate * VAD_FRAME_MS // 1000
    frames = [pcm[i : i + n] for i in range(0, len(pcm) - n + 1, n)]
    if not frames:
        return np.zeros(0, dtype=bool)
    voiced = np.array([vad.is_speech(f.tobytes(), rate) for f in frames])
    db = np.array([10 * np.log10(np.mean(f.astype(np.float64) ** 2) + 1e-3) for f in frames])
    return voiced & (db > db.max() - GATE_DB)


def speech_runs(pcm: np.ndarray, rate: int, aggressiveness: int = 2) -> np.ndarray:
    """Per 30 ms frame: part of a run of speech.  Gaps of up to MAX_GAP frames inside
    speech are bridged, then only runs of MIN_RUN frames or more count: a lone click or
    breath is not speech."""
    speech = speech_frames(pcm, rate, aggressiveness).copy()
    if len(speech) < MIN_RUN:
        return np.zeros(len(speech), dtype=bool)
    idx = np.flatnonzero(speech)
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if 1 < b - a <= MAX_GAP + 1:
            speech[a:b] = True
    full = np.convolve(speech.astype(int), np.ones(MIN_RUN, dtype=int), "valid") == MIN_RUN
    # a frame is in a long run when some MIN_RUN window holding it is all speech
    return np.convolve(full.astype(int), np.ones(MIN_RUN, dtype=int), "full") > 0


def speech_span(pcm: np.ndarray, rate: int, aggressiveness: int = 2) -> float:
    """Seconds from the first to the last speech in the clip, pauses inside kept."""
    idx = np.flatnonzero(speech_runs(pcm, rate, aggressiveness))
    if len(idx) == 0:
        return 0.0
    return (idx[-1] - idx[0] + 1) * VAD_FRAME_MS / 1000


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve via Mann-Whitney U: P(score of a positive > a negative),
    ties counted half."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs at least one positive and one negative")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def equalise(pcm: np.ndarray, rate: int, level_dbfs: float = EQUAL_LEVEL_DBFS) -> np.ndarray:
    """Scale a clip so its speech frames (webrtcvad) sit at `level_dbfs` RMS."""
    n = rate * VAD_FRAME_MS // 1000
    frames = [pcm[i : i + n] for i in range(0, len(pcm) - n + 1, n)]
    speech = [f for f, s in zip(frames, speech_frames(pcm, rate), strict=True) if s] or frames
    x = np.concatenate(speech).astype(np.float64)
    rms = np.sqrt(np.mean(x**2)) or 1.0
    gain = 32768 * 10 ** (level_dbfs / 20) / rms
    return np.clip(np.rint(pcm * gain), -32768, 32767).astype(np.int16)


def eval_rate(data: Path, estimate_rate: RateFn) -> dict:
    folder = data / "fleurs_dev"
    rows = read_manifest(folder / "manifest.csv", ("file", "n_han_chars", "rate_usable"))
    clips = []
    for row in rows:
        if row["rate_usable"].strip() != "1":
            continue
        pcm, rate = read_wav(folder / row["file"])
        span = speech_span(pcm, rate)
        if span <= 0:
            raise DataError(f"{row['file']}: no speech found")
        ref = int(row["n_han_chars"]) / span * 60
        est = float(estimate_rate(pcm, rate))
        err = abs(est - ref) / ref
        clips.append(
            {
                "file": row["file"],
                "span_s": round(span, 2),
                "ref_cpm": round(ref, 1),
                "est_cpm": round(est, 1),
                "ape": round(err, 4),
            }
        )
    if not clips:
        raise DataError(f"{folder}: no clip with rate_usable=1")
    return {"n": len(clips), "mape": float(np.mean([c["ape"] for c in clips])), "clips": clips}


def eval_anger(data: Path, anger_scores: AngerFn, baseline_n: int = 3) -> dict:
    folder = data / "casia_dev"
    needed = ("file", "speaker", "emotion", "text_id", "label_angry")
    rows = read_manifest(folder / "manifest.csv", needed)
    speakers = sorted({r["speaker"] for r in rows})
    out: dict = {"baseline_n": baseline_n, "n_pos": 0, "n_neg": 0}
    for mode in ("raw", "equalised"):
        scores: list[float] = []
        labels: list[int] = []
        emotions: list[str] = []
        per_speaker = {}
        for spk in speakers:
            mine = sorted(
                (r for r in rows if r["speaker"] == spk),
                key=lambda r: (r["emotion"], int(r["text_id"])),
            )
            neutral = [r for r in mine if r["emotion"] == "neutral"]
            if len(neutral) <= baseline_n:
                raise DataError(f"{spk}: needs more than {baseline_n} neutral clips")
            base_rows = neutral[:baseline_n]
            test_rows = [r for r in mine if r not in base_rows]
            rate = 0
            base, test = [], []
            for group, rs in ((base, base_rows), (test, test_rows)):
                for r in rs:
                    pcm, rate = read_wav(folder / r["file"])
                    group.append(equalise(pcm, rate) if mode == "equalised" else pcm)
            s = [float(v) for v in anger_scores(base, test, rate)]
            if len(s) != len(test):
                raise ValueError(f"anger_scores returned {len(s)} scores for {len(test)} clips")
            y = [int(r["label_angry"]) for r in test_rows]
            per_speaker[spk] = roc_auc(s, y)
            scores += s
            labels += y
            emotions += [r["emotion"] for r in test_rows]
        # Angry against neutral only: the same sentences, calm against angry.
        pairs = [(sc, lab) for sc, lab, emo in zip(scores, labels, emotions, strict=True)
                 if lab == 1 or emo == "neutral"]
        out[mode] = {"auc": roc_auc(scores, labels), "per_speaker": per_speaker,
                     "auc_vs_neutral": roc_auc([a for a, _ in pairs], [b for _, b in pairs])}
        out["n_pos"], out["n_neg"] = sum(labels), len(labels) - sum(labels)
    return out


def evaluate(data: Path, estimate_rate: RateFn, anger_scores: AngerFn, baseline_n: int = 3) -> dict:
    """Run both evaluations, print a table, return the numbers."""
    rate = eval_rate(data, estimate_rate)
    anger = eval_anger(data, anger_scores, baseline_n)
    print(f"{'clip':<22}{'span s':>8}{'ref cpm':>9}{'est cpm':>9}{'err %':>8}")
    for c in rate["clips"]:
        print(
            f"{c['file']:<22}{c['span_s']:>8.2f}{c['ref_cpm']:>9.1f}{c['est_cpm']:>9.1f}"
            f"{100 * c['ape']:>8.1f}"
        )
    print(f"rate MAPE over {rate['n']} clips: {100 * rate['mape']:.1f}%\n")
    print(
        f"anger ROC AUC ({anger['n_pos']} angry vs {anger['n_neg']} other, "
        f"{anger['baseline_n']} neutral clips per speaker held out as baseline)"
    )
    print(f"{'speaker':<16}{'raw':>8}{'equalised':>11}")
    for spk, auc in anger["raw"]["per_speaker"].items():
        print(f"{spk:<16}{auc:>8.3f}{anger['equalised']['per_speaker'][spk]:>11.3f}")
    print(f"{'all':<16}{anger['raw']['auc']:>8.3f}{anger['equalised']['auc']:>11.3f}")
    print(f"{'vs neutral':<16}{anger['raw']['auc_vs_neutral']:>8.3f}"
          f"{anger['equalised']['auc_vs_neutral']:>11.3f}")
    return {"rate": rate, "anger": anger}


# --- placeholder estimators: check the harness only; they measure nothing useful -------


def placeholder_rate(pcm: np.ndarray, rate: int) -> float:
    """PLACEHOLDER: a constant 270 characters per minute, whatever the audio."""
    return 270.0


def placeholder_anger(
    baseline: list[np.ndarray], clips: list[np.ndarray], rate: int
) -> list[float]:
    """PLACEHOLDER: loudness over the speaker's baseline, in dB (fails once levels are equal)."""

    def db(x: np.ndarray) -> float:
        return 10 * float(np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9))

    ref = float(np.mean([db(b) for b in baseline]))
    return [db(c) - ref for c in clips]


def load(spec: str) -> Callable:
    """'package.module:function' -> the function."""
    mod, _, name = spec.partition(":")
    if not name:
        raise DataError(f"{spec!r}: expected module:function")
    try:
        return getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as e:
        raise DataError(f"{spec!r}: {e}") from e


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.eval_shared", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--rate-fn", help="module:function estimating chars per minute")
    ap.add_argument("--anger-fn", help="module:function scoring anger against a baseline")
    ap.add_argument("--baseline-n", type=int, default=3)
    ap.add_argument(
        "--placeholder",
        action="store_true",
        help="use trivial placeholder estimators (checks the harness, nothing more)",
    )
    args = ap.parse_args(argv)
    try:
        if args.placeholder:
            print("PLACEHOLDER ESTIMATORS: numbers below say nothing about the product\n")
            rate_fn, anger_fn = placeholder_rate, placeholder_anger
        elif args.rate_fn and args.anger_fn:
            rate_fn, anger_fn = load(args.rate_fn), load(args.anger_fn)
        else:
            ap.error("give --rate-fn and --anger-fn (or --placeholder to check the harness)")
        evaluate(args.data, rate_fn, anger_fn, args.baseline_n)
    except DataError as e:
        print(f"eval_shared: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

