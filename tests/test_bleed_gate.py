"""The bleed gate on speech: a faint copy of the other party is bleed, a second voice
as faint is not."""

from __future__ import annotations

import numpy as np
import pytest

from assist.audio.bleed import BleedGate
from assist.audio.features import FrameAnalyzer
from assist.audio.vad import TalkTracker, VadParams, VoiceDetector
from tests.speech import ESPEAK, speak

pytestmark = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")

RATE = 8000
N = 160  # 20 ms
LOUD_DBFS = -12.0  # an angry customer
REL_DB = -25.0


def at_level(x: np.ndarray, dbfs: float) -> np.ndarray:
    x = x.astype(np.float64)
    rms = float(np.sqrt(np.mean(x[np.abs(x) > 300] ** 2)))  # level of the speech itself
    return x * (32768.0 * 10 ** (dbfs / 20) / rms)


def customer_speech() -> np.ndarray:
    return at_level(speak("why is my bill so high again, I want this fixed today, right now",
                          RATE, voice="en", wpm=170), LOUD_DBFS)


def line(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`x` padded to n samples, with line noise at about -60 dBFS, as int16."""
    y = np.zeros(n)
    y[:len(x)] = x[:n]
    y += np.random.default_rng(seed).normal(0, 32768 * 1e-3, n)
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


def echo(x: np.ndarray, delay_ms: float) -> np.ndarray:
    """An echo path: delayed, attenuated by REL_DB and filtered (a band-limiting FIR
    that tilts the spectrum)."""
    d = int(delay_ms * RATE / 1000)
    y = np.convolve(x, [0.55, 0.3, 0.1, -0.15, -0.05])[:len(x)]
    y *= 10 ** (REL_DB / 20) * np.sqrt(np.mean(x**2) / np.mean(y**2))
    return np.concatenate([np.zeros(d), y])


def run(customer: np.ndarray, agent: np.ndarray, params: VadParams) -> dict[str, float]:
    """Both parties through one gate, the customer first each frame as a call feeds
    them; the agent's frames voiced by the VAD, those the gate let through, and the
    agent's talk starts."""
    gate = BleedGate(params, N / RATE)
    an = {p: FrameAnalyzer(RATE, N) for p in ("customer", "agent")}
    vad = VoiceDetector(RATE, params)
    talk = TalkTracker(params, N / RATE)
    voiced = passed = starts = 0
    for i in range(0, min(len(customer), len(agent)) - N + 1, N):
        t = i / RATE
        for party, x in (("customer", customer), ("agent", agent)):
            pcm = x[i:i + N]
            f = an[party].level(pcm)
            v = vad.is_voiced(pcm, f.mean_square)
            gated = gate.is_bleed(party, t, f, v)
            if party == "agent":
                voiced += v
                passed += v and not gated
                change = talk.feed(t, v and not gated)
                starts += change is not None and change.end is None
    return {"voiced": voiced, "passed": passed, "starts": starts}


@pytest.mark.parametrize("delay_ms", [0, 60, 150])
def test_a_faint_delayed_filtered_copy_of_the_customer_is_still_bleed(delay_ms):
    c = customer_speech()
    n = len(c) + RATE
    cust, agent = line(c, n, 1), line(echo(c, delay_ms), n, 2)
    got = run(cust, agent, VadParams())
    assert got["voiced"] > 50  # the VAD alone takes the echo for speech
    assert got["starts"] == 0  # the gate: never the agent talking
    assert got["passed"] <= 0.03 * got["voiced"]


def test_another_voice_as_faint_under_a_loud_customer_is_speech():
    c = customer_speech()
    a = at_level(speak("yes I can see that, let me check your account for you",
                       RATE, voice="en+f3", wpm=150), LOUD_DBFS + REL_DB)
    n = max(len(c), len(a) + RATE // 2) + RATE
    cust = line(c, n, 3)
    # the agent speaks half a second in, over the customer, with the customer's own
    # echo on the agent's leg as well
    mixed = np.zeros(n)
    mixed[RATE // 2:RATE // 2 + len(a)] = a
    mixed[:len(c) + 480] += echo(c, 60)[:n]
    agent = line(mixed, n, 4)
    speech = run(cust, line(mixed - np.concatenate([echo(c, 60), np.zeros(n)])[:n], n, 4),
                 VadParams(bleed_db=0.0))["voiced"]  # the agent's own voiced frames
    level_only = run(cust, agent, VadParams(bleed_match_db=0.0))
    got = run(cust, agent, VadParams())
    # the level rule alone hides nearly all the agent's speech under the loud customer
    assert level_only["passed"] < 0.1 * speech
    assert got["starts"] >= 1  # the agent is seen talking
    assert got["passed"] >= 0.3 * speech
    assert got["passed"] > 5 * level_only["passed"]
