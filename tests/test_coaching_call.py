"""Coaching on a live call: cards follow their triggers within the same second."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import START, Collect

from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.config import Config, load_coaching
from assist.errors import UserError
from assist.events import Event

ROOT = Path(__file__).resolve().parents[1]



def test_demo_call_cards_follow_each_flag_in_the_same_second() -> None:
    r = subprocess.run([sys.executable, "-m", "assist", "replay",
                        str(ROOT / "assist" / "demo" / "demo_call.wav"), "--json", "--fast"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines()]
    by_seq = {e["seq"]: e for e in events}
    cards = [e for e in events if e["type"] == "suggestion"]
    reasons = {c["evidence"]["reason"]["type"] for c in cards}
    assert {"interruption", "anger"} <= reasons
    # The pace drift gets its card, unless the screen (3 cards) is full of others then.
    (drift,) = [e for e in events if e["type"] == "pace.drift"]
    if "pace.drift" not in reasons:
        on_screen = [c for c in cards if c["t"] <= drift["t"] < c["evidence"]["expires"]]
        assert len(on_screen) == 3
    for c in cards:
        seq = c["evidence"]["reason"].get("seq")
        if seq is not None:
            trigger = by_seq[seq]
            assert trigger["type"] == c["evidence"]["reason"]["type"]
            assert 0 <= c["t"] - trigger["t"] < 1.0
            assert c["seq"] > seq
    angry = next(c for c in cards if c["evidence"]["reason"]["type"] == "anger"
                 and by_seq[c["evidence"]["reason"]["seq"]]["evidence"]["level"] == "angry")
    # Seed 004: feelings first.
    assert "道歉" in angry["evidence"]["text"] or "谢谢您" in angry["evidence"]["text"]


@pytest.fixture
def call() -> tuple[CallHub, Collect]:
    out = Collect()
    hub = CallHub(LoopParams(), [out], coaching=load_coaching(Config()))
    hub.start_call("c1", agent="a1", rate=8000, start_utc=START)
    return hub, out


def test_a_taboo_phrase_on_a_partial_flags_and_suggests_the_better_words(call) -> None:
    hub, out = call
    s = hub.sessions["c1"]
    s.inject(Event("transcript.partial", "c1", 12.0, "agent",
                   {"text": "你 别 激动 嘛", "start": 11.0, "end": 12.0}))
    phrase = [w for w in out.wires if w["type"] == "phrase"]
    assert phrase and phrase[0]["t"] == 12.0
    cards = [w for w in out.wires if w["type"] == "suggestion"
             and w["evidence"]["reason"]["type"] == "phrase"]
    assert cards and cards[0]["t"] == 12.0 and "激动" not in cards[0]["evidence"]["text"]


def test_customer_demands_push_the_anger_level(call) -> None:
    hub, out = call
    s = hub.sessions["c1"]
    s.inject(Event("transcript.final", "c1", 20.0, "customer",
                   {"text": "我要投诉 马上给我退款 叫你们领导来", "start": 17.0, "end": 20.0}))
    anger = [w for w in out.wires if w["type"] == "anger"]
    assert anger and anger[0]["evidence"]["level"] in ("tense", "angry")
    assert "lexical" in anger[0]["evidence"]["rise"]


def test_feedback_on_a_card_is_kept_and_unknown_cards_are_refused(call) -> None:
    hub, out = call
    s = hub.sessions["c1"]
    s.inject(Event("interruption", "c1", 5.0, "agent",
                   {"onset": 4.0, "overlap": 1.0, "min_overlap": 1.0, "customer_since": 2.0}))
    card = next(w for w in out.wires if w["type"] == "suggestion")
    hub.feedback("c1", card["evidence"]["id"], "used", "a1")
    (fb,) = [w for w in out.wires if w["type"] == "feedback"]
    assert fb["evidence"]["action"] == "used" and fb["evidence"]["suggestion"] == card[
        "evidence"]["id"]
    with pytest.raises(UserError):
        hub.feedback("c1", "no-such-card", "used", "a1")
    with pytest.raises(UserError):
        hub.feedback("other-call", card["evidence"]["id"], "used", "a1")


def test_service_refuses_to_start_on_a_broken_playbook(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "bad.toml").write_text('[[entry]]\nid = "x"\nlanguage = "zh-CN"\n'
                                   'trigger = { event = "nonsense" }\n', encoding="utf-8")
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'[prompts]\ndirs = ["{mine}"]\n', encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "assist", "--config", str(cfg), "replay",
                        str(ROOT / "assist" / "demo" / "demo_call.wav"), "--fast"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "bad.toml:" in r.stderr and "Traceback" not in r.stderr
