"""The development-set harness: its ROC AUC, speech span and wiring, on the bundled demo
call (the real development recordings are not in the repository)."""

from __future__ import annotations

import csv
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from bench.eval_shared import (
    DataError,
    evaluate,
    placeholder_anger,
    read_manifest,
    roc_auc,
    speech_span,
)

DEMO = Path(__file__).resolve().parent.parent / "assist" / "demo"
RATE = 8000


def brute_auc(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_roc_auc_matches_pairwise_counting_with_ties() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        s = rng.integers(0, 6, 40).astype(float)  # many ties
        y = rng.integers(0, 2, 40)
        y[:2] = [0, 1]
        assert roc_auc(s, y) == pytest.approx(brute_auc(s, y))
    assert roc_auc([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1]) == 0.0
    with pytest.raises(ValueError):
        roc_auc([1.0, 2.0], [1, 1])


@pytest.fixture(scope="module")
def demo() -> tuple[np.ndarray, dict]:
    with wave.open(str(DEMO / "demo_call.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return pcm[:, 0].copy(), json.loads((DEMO / "demo_call.json").read_text("utf-8"))


def customer(tl: dict) -> list[dict]:
    return [u for u in tl["utterances"] if u["party"] == "customer"]


def test_speech_span_finds_one_turn_inside_padding(demo) -> None:
    cust, tl = demo
    u = customer(tl)[0]
    clip = cust[round((u["start"] - 0.6) * RATE) : round((u["end"] + 0.6) * RATE)].copy()
    turn = u["end"] - u["start"]
    assert speech_span(clip, RATE) == pytest.approx(turn, abs=0.15)
    # a 90 ms click of speech-like sound well before the turn is not the turn's start
    click = round(0.6 * RATE) + round(2.0 * RATE)
    clip[round(0.09 * RATE) : round(0.18 * RATE)] = clip[click : click + round(0.09 * RATE)]
    assert speech_span(clip, RATE) == pytest.approx(turn, abs=0.15)
    assert speech_span(np.zeros(RATE, dtype=np.int16), RATE) == 0.0


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.astype("<i2").tobytes())


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)


def test_evaluate_end_to_end_on_a_folder_built_from_the_demo(demo, tmp_path: Path) -> None:
    cust, tl = demo
    utts = customer(tl)
    (tmp_path / "fleurs_dev").mkdir()
    (tmp_path / "casia_dev").mkdir()
    fleurs, casia = [], []
    for i, u in enumerate(utts):
        clip = cust[round((u["start"] - 0.3) * RATE) : round((u["end"] + 0.3) * RATE)]
        name = f"{u['id']}.wav"
        write_wav(tmp_path / "fleurs_dev" / name, clip)
        write_wav(tmp_path / "casia_dev" / name, clip)
        fleurs.append({"file": name, "n_han_chars": u["n_han"], "rate_usable": 1})
        angry = int(u["style"] == "angry")
        emotion = "angry" if angry else "neutral"
        casia.append(
            {
                "file": name,
                "speaker": "demo",
                "emotion": emotion,
                "text_id": i,
                "label_angry": angry,
            }
        )
    fleurs[-1]["rate_usable"] = 0  # skipped
    write_csv(tmp_path / "fleurs_dev" / "manifest.csv", fleurs)
    write_csv(tmp_path / "casia_dev" / "manifest.csv", casia)

    seen: list[int] = []

    def true_rate(pcm: np.ndarray, rate: int) -> float:
        seen.append(rate)
        u = next(u for u in utts if abs(len(pcm) / rate - (u["end"] - u["start"] + 0.6)) < 0.01)
        return u["cpm"]

    got = evaluate(tmp_path, true_rate, placeholder_anger, baseline_n=3)
    assert got["rate"]["n"] == len(utts) - 1 and seen == [RATE] * (len(utts) - 1)
    # the reference span comes from the VAD, the estimate from the timeline: close, not equal
    assert got["rate"]["mape"] < 0.05
    # the angry turns are 9 dB louder: loudness alone ranks them perfectly on raw audio
    assert got["anger"]["raw"]["auc"] == 1.0
    assert got["anger"]["n_pos"] == 2 and got["anger"]["n_neg"] == len(utts) - 3 - 2


def test_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="manifest.csv not found"):
        read_manifest(tmp_path / "fleurs_dev" / "manifest.csv", ("file",))
