"""The bundled demo call: what `make run` replays on first start and what other tests use.

Checks what a user would: the file is a telephone-format stereo WAV, the timeline in
demo_call.json matches the audio, each flag the demo is meant to raise is really in the
signal, and the committed audio is what the script makes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
WAV = ROOT / "assist" / "demo" / "demo_call.wav"
TIMELINE = ROOT / "assist" / "demo" / "demo_call.json"
SCRIPT = ROOT / "scripts" / "make_demo_call.py"
RATE = 8000
FRAME = RATE // 50  # 20 ms
SILENT_DBFS = -45.0  # line noise is -55 dBFS; speech sits near -27 dBFS
CH = {"customer": 0, "agent": 1}


def read_wav(path: Path) -> tuple[np.ndarray, wave._wave_params]:
    with wave.open(str(path)) as w:
        params = w.getparams()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.reshape(-1, params.nchannels), params


@pytest.fixture(scope="module")
def call() -> tuple[np.ndarray, dict]:
    pcm, _ = read_wav(WAV)
    return pcm.astype(np.float64) / 32768.0, json.loads(TIMELINE.read_text("utf-8"))


def frame_dbfs(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    n = len(x) // frame
    p = (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    return 10 * np.log10(p + 1e-12)


def seg(x: np.ndarray, start: float, end: float) -> np.ndarray:
    return x[round(start * RATE) : round(end * RATE)]


def intervals(tl: dict, party: str) -> list[tuple[float, float]]:
    return [(u["start"], u["end"]) for u in tl["utterances"] if u["party"] == party]


def only(tl: dict, party: str, margin: float = 0.05) -> list[tuple[float, float]]:
    """Stretches where `party` talks and the other party does not, shrunk by a margin."""
    other = intervals(tl, "agent" if party == "customer" else "customer")
    out = []
    for s, e in intervals(tl, party):
        cuts = sorted((max(s, os_), min(e, oe)) for os_, oe in other if os_ < e and oe > s)
        t = s
        for cs, ce in cuts:
            out.append((t, cs))
            t = max(t, ce)
        out.append((t, e))
    return [(s + margin, e - margin) for s, e in out if e - s > 2 * margin + 0.1]


def active_level(x: np.ndarray) -> float:
    """Mean power of the frames that hold speech, in dBFS."""
    db = frame_dbfs(x)
    voiced = db[db > SILENT_DBFS]
    return float(10 * np.log10(np.mean(10 ** (voiced / 10))))


def test_wav_is_telephone_stereo_pcm_and_matches_timeline_length() -> None:
    pcm, p = read_wav(WAV)
    assert (p.nchannels, p.sampwidth, p.framerate) == (2, 2, RATE)
    tl = json.loads(TIMELINE.read_text("utf-8"))
    assert tl["channels"] == ["customer", "agent"]
    assert p.nframes == tl["samples"]
    assert abs(p.nframes / RATE - tl["duration_s"]) < 0.002
    assert 60 <= tl["duration_s"] <= 90
    assert tl["utterances"][-1]["end"] <= tl["duration_s"]
    assert np.abs(pcm).max() < 32768 * 10 ** (-1 / 20)  # peaks below -1 dBFS


def test_each_channel_is_silent_while_only_the_other_party_talks(call) -> None:
    x, tl = call
    for party in ("customer", "agent"):
        listener = x[:, 1 - CH[party]]
        talker = x[:, CH[party]]
        spans = only(tl, party)
        assert sum(e - s for s, e in spans) > 15
        for s, e in spans:
            assert frame_dbfs(seg(listener, s, e)).max() < SILENT_DBFS, (party, s, e)
            assert active_level(seg(talker, s, e)) > -35, (party, s, e)


def test_nobody_talks_outside_the_timeline(call) -> None:
    x, tl = call
    for party, ch in CH.items():
        db = frame_dbfs(x[:, ch])
        talking = np.zeros(len(db), dtype=bool)
        for s, e in intervals(tl, party):
            talking[int(s * 50) : int(e * 50) + 2] = True
        assert db[~talking].max() < SILENT_DBFS, party
        # the floor is line noise near -55 dBFS, not digital silence
        assert -58 < float(np.median(db[~talking])) < -52


def test_angry_customer_is_at_least_6_db_louder_than_her_calm_baseline(call) -> None:
    x, tl = call
    cust = x[:, 0]
    f = tl["flags"]
    base = [u for u in tl["utterances"] if u["id"] in f["customer_baseline"]["utterances"]]
    angry = [u for u in tl["utterances"] if u["id"] in f["customer_anger"]["utterances"]]
    assert sum(u["end"] - u["start"] for u in base) >= 10
    assert sum(u["end"] - u["start"] for u in angry) >= 15
    calm_db = active_level(np.concatenate([seg(cust, u["start"], u["end"]) for u in base]))
    angry_db = active_level(np.concatenate([seg(cust, u["start"], u["end"]) for u in angry]))
    assert angry_db - calm_db >= 6, (calm_db, angry_db)
    text = "".join(u["text"] for u in angry)
    assert all(cue in text for cue in ("投诉", "退款", "领导", "曝光"))


def test_interruption_has_both_parties_talking_for_over_1_5_s(call) -> None:
    x, tl = call
    it = tl["flags"]["interruption"]
    assert it["onset"] - it["customer_since"] >= 1.5  # customer held the floor first
    both = seg(x, it["onset"], it["overlap_end"])
    win = RATE // 10  # 100 ms windows bridge the gaps between syllables
    cust_on = frame_dbfs(both[:, 0], win) > SILENT_DBFS
    agent_on = frame_dbfs(both[:, 1], win) > SILENT_DBFS
    assert np.sum(cust_on & agent_on) * 0.1 >= 1.5
    # and the customer had really been talking before the agent came in
    before = seg(x[:, 0], it["customer_since"], it["onset"])
    assert np.sum(frame_dbfs(before, win) > SILENT_DBFS) * 0.1 >= 1.0


def test_backchannel_is_short_and_the_only_agent_sound_in_its_customer_turn(call) -> None:
    x, tl = call
    bc = tl["flags"]["backchannel"]
    host = next(u for u in tl["utterances"] if u["id"] == bc["during"])
    assert host["party"] == "customer" and host["start"] < bc["start"] < host["end"]
    agent_db = frame_dbfs(seg(x[:, 1], host["start"], host["end"]))
    assert 0 < np.sum(agent_db > SILENT_DBFS) * 0.02 <= 0.5


def test_agent_fast_stretch_is_over_1_6_times_the_calm_pace(call) -> None:
    _, tl = call
    by_id = {u["id"]: u for u in tl["utterances"]}

    def cpm(ids: list[str]) -> tuple[float, float]:
        us = [by_id[i] for i in ids]
        speech = sum(u["end"] - u["start"] for u in us)
        chars = sum(len(re.findall(r"[\u4e00-\u9fff]", u["text"])) for u in us)
        return chars / speech * 60, speech

    calm, _ = cpm(tl["flags"]["agent_calm_pace"]["utterances"])
    fast, fast_s = cpm(tl["flags"]["agent_fast_pace"]["utterances"])
    assert 120 <= calm <= 150
    assert fast >= 1.6 * calm and fast_s >= 20
    taboo = tl["flags"]["taboo_phrase"]
    anger = tl["flags"]["customer_anger"]
    assert anger["start"] < taboo["start"] < anger["end"]
    assert taboo["text"] in by_id[taboo["utterance"]]["text"]


def test_script_regenerates_the_same_audio(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed, so the demo call cannot be regenerated")
    tl = json.loads(TIMELINE.read_text("utf-8"))
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
    if not version.stdout.startswith(tl["espeak_ng"]):
        pytest.skip(f"demo was made with {tl['espeak_ng']!r}; this espeak-ng differs")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    fresh, _ = read_wav(tmp_path / "demo_call.wav")
    bundled, _ = read_wav(WAV)
    assert fresh.shape == bundled.shape
    assert np.array_equal(fresh, bundled)
    assert json.loads((tmp_path / "demo_call.json").read_text("utf-8")) == tl
