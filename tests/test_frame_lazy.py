"""Frame features computed only for frames that join a spurt give exactly the numbers of
computing them for every frame: same spurts, chunks and events, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio import Track, noise, pcm16, syllables
from helpers import START, Collect, run_session

import assist.call.pipeline as pipeline
from assist.audio.features import FrameAnalyzer, FrameFeatures, PendingFrame
from assist.call import offline
from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.frames import Frame
from assist.taps.wav import read_call

DEMO = Path(__file__).resolve().parents[1] / "assist" / "demo" / "demo_call.wav"


class Counting(FrameAnalyzer):
    """An analyser that counts the frames whose full features it computed."""

    computed = 0

    def _spectral(self, frame: PendingFrame) -> FrameFeatures:
        Counting.computed += 1
        return super()._spectral(frame)


def analyser(eager: bool):
    def make(rate: int, frame_len: int) -> FrameAnalyzer:
        return Counting(rate, frame_len, eager=eager)
    return make


def both_ways(monkeypatch, run):
    """`run()` with every frame's features computed as it arrives, then lazily; the
    two results, and how many frames each computed."""
    out = []
    for eager in (True, False):
        Counting.computed = 0
        monkeypatch.setattr(pipeline, "FrameAnalyzer", analyser(eager))
        out.append((run(), Counting.computed))
    (eager_out, eager_n), (lazy_out, lazy_n) = out
    return eager_out, lazy_out, eager_n, lazy_n


def noisy_call(rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Two parties over line noise: turns, an overlap, the customer's bleed on the
    agent's leg, and loud non-speech noise bursts."""
    cust, agent = Track(rate, 14.0), Track(rate, 14.0)
    cust.put(0.5, syllables(2.0, rate, pitch=220, db=-18)).put(7.0, syllables(3.0, rate,
                                                                                 per_second=5))
    agent.put(3.2, syllables(2.5, rate, pitch=120, db=-22)).put(8.5, syllables(1.0, rate))
    agent.put(0.5, syllables(2.0, rate, pitch=220, db=-45))  # bleed of the customer
    cust.put(11.0, noise(0.6, rate, db=-35.0, seed=5))
    agent.put(12.0, noise(0.4, rate, db=-30.0, seed=6))
    return cust.x, agent.x


@pytest.mark.parametrize("rate", [8000, 16000])
def test_a_noisy_call_gives_the_same_events_either_way(monkeypatch, rate):
    c, a = noisy_call(rate)
    eager, lazy, eager_n, lazy_n = both_ways(monkeypatch, lambda: run_session(c, a, rate))
    assert any(e.type == "metrics" for e in eager)
    assert lazy == eager
    assert lazy_n < eager_n  # the quiet frames' features were never computed


@pytest.mark.parametrize("rate", [8000, 16000])
def test_spurts_and_chunks_are_the_same_numbers_either_way(monkeypatch, rate):
    pcm = pcm16(noisy_call(rate)[0])

    def run():
        return offline.spurts(pcm, rate), offline.chunks(pcm, rate)

    eager, lazy, eager_n, lazy_n = both_ways(monkeypatch, run)
    assert len(eager[0]) >= 2 and len(eager[1]) >= 3
    assert lazy == eager  # dataclass equality: every float exactly equal
    assert lazy_n < eager_n


def test_the_demo_call_gives_the_same_wire_events_either_way(monkeypatch):
    rec = read_call(DEMO)

    def run():
        pub = Collect()
        hub = CallHub(LoopParams(), [pub])
        hub.start_call("demo", agent="a", rate=rec.rate, start_utc=START)
        for t, c, a in rec.frames():
            hub.feed("demo", Frame("customer", c, rec.rate, t))
            hub.feed("demo", Frame("agent", a, rec.rate, t))
        hub.end_call("demo")
        return pub.wires

    eager, lazy, eager_n, lazy_n = both_ways(monkeypatch, run)
    assert sum(w["type"] == "metrics" for w in eager) >= 10
    assert lazy == eager
    assert lazy_n < eager_n
