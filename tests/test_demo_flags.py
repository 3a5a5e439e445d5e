"""Replaying the bundled demo call raises each flag where its timeline says, and nowhere else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assist" / "demo"


@pytest.fixture(scope="module")
def replayed() -> tuple[list[dict], dict]:
    r = subprocess.run([sys.executable, "-m", "assist", "replay", str(DEMO / "demo_call.wav"),
                        "--json", "--fast"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    return events, json.loads((DEMO / "demo_call.json").read_text("utf-8"))["flags"]


def test_the_interruption_is_flagged_once_and_the_backchannel_is_not(replayed) -> None:
    events, flags = replayed
    (cut,) = [e for e in events if e["type"] == "interruption"]
    truth = flags["interruption"]
    assert cut["evidence"]["onset"] == pytest.approx(truth["onset"], abs=0.15)
    (end,) = [e for e in events if e["type"] == "interruption.end"]
    assert end["evidence"]["overlap"] == pytest.approx(truth["overlap_s"], abs=0.4)


def test_fast_agent_speech_drifts_inside_the_fast_stretch(replayed) -> None:
    events, flags = replayed
    drifts = [e for e in events if e["type"] == "pace.drift"]
    assert [d["evidence"]["direction"] for d in drifts] == ["fast"]
    fast = flags["agent_fast_pace"]
    assert fast["start"] < drifts[0]["t"] <= fast["end"] + 1.0


def test_customer_anger_is_flagged_in_the_angry_stretch(replayed) -> None:
    events, flags = replayed
    anger = [e for e in events if e["type"] == "anger"]
    angry = flags["customer_anger"]
    # Scored from the first spurt against a speaker-independent prior, then against
    # her own calm speech: the calm stretch raises no level...
    before = [e for e in anger if e["t"] <= angry["start"]]
    assert [e["evidence"]["level"] for e in before if e["evidence"]["level"] != "calm"] == []
    # ...and the angry stretch is flagged "angry" inside it.
    inside = [e for e in anger if angry["start"] < e["t"] <= angry["end"] + 1.0]
    assert inside and inside[0]["evidence"]["level"] == "angry"
    assert inside[0]["evidence"]["previous"] == "calm"
