"""When a party's talk was first heard: the quiet sound leading into it, never bleed."""

from __future__ import annotations

import numpy as np
import pytest

from assist.audio.bleed import BleedGate
from assist.call.pipeline import FRAME_S, LoopParams, PartyPipeline

RATE = 8000
N = 160


class ScriptedVad:
    """webrtcvad's answers, frame by frame."""

    def __init__(self, answers: list[bool]) -> None:
        self._answers = iter(answers)

    def is_voiced(self, pcm: np.ndarray, mean_square: float) -> bool:
        return next(self._answers)


def frame(dbfs: float, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 32768 * 10 ** (dbfs / 20), N)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def agent_start(agent_db: list[float], agent_vad: list[bool],
                customer_db: float) -> tuple[float, float | None]:
    """Feed both parties (customer first) through one gate; the agent's talk start and
    when it was first heard."""
    params = LoopParams()
    gate = BleedGate(params.vad, FRAME_S)
    pipes = {p: PartyPipeline(p, RATE, N, params, gate) for p in ("customer", "agent")}
    pipes["customer"]._vad = ScriptedVad([False] * len(agent_db))  # type: ignore[assignment]
    pipes["agent"]._vad = ScriptedVad(agent_vad)  # type: ignore[assignment]
    for i, (level, _) in enumerate(zip(agent_db, agent_vad, strict=True)):
        t = i * FRAME_S
        pipes["customer"].feed(t, frame(customer_db, 2 * i))
        step = pipes["agent"].feed(t, frame(level, 2 * i + 1))
        if step.change is not None and step.change.end is None:
            return step.change.start, step.change.heard
    raise AssertionError("the agent never started talking")


# a second of line noise, two frames of quiet sound the VAD missed, then voiced speech
LEVELS = [-60.0] * 50 + [-45.0, -42.0] + [-30.0] * 4
VAD = [False] * 52 + [True] * 4


def test_talk_is_heard_from_the_quiet_sound_the_vad_missed_before_it() -> None:
    start, heard = agent_start(LEVELS, VAD, customer_db=-90.0)
    assert heard == pytest.approx(50 * FRAME_S)
    assert start == pytest.approx(52 * FRAME_S)  # the spurt: its voiced frames


def test_sound_that_could_be_the_other_partys_bleed_is_not_heard_as_theirs() -> None:
    # a customer at -20 dBFS: frames under -35 on the agent's leg may be their bleed
    assert agent_start(LEVELS, VAD, customer_db=-20.0)[1] == pytest.approx(52 * FRAME_S)


def test_line_noise_before_talk_is_not_heard_as_talk() -> None:
    levels = [-60.0] * 52 + [-30.0] * 4
    assert agent_start(levels, VAD, customer_db=-90.0)[1] == pytest.approx(52 * FRAME_S)


def mixed_start(own_db: list[float], customer_db: list[float],
                vad: list[bool]) -> tuple[float, float | None]:
    """The agent's leg carries the customer's -25 dB echo plus their own sound at
    `own_db` (below -90: none); the agent's talk start and when it was first heard."""
    params = LoopParams()
    gate = BleedGate(params.vad, FRAME_S)
    pipes = {p: PartyPipeline(p, RATE, N, params, gate) for p in ("customer", "agent")}
    pipes["customer"]._vad = ScriptedVad([False] * len(vad))  # type: ignore[assignment]
    pipes["agent"]._vad = ScriptedVad(vad)  # type: ignore[assignment]
    for i, (own, cust) in enumerate(zip(own_db, customer_db, strict=True)):
        t = i * FRAME_S
        c = frame(cust, 2 * i)
        a = c * 10 ** (-25 / 20) + frame(-60.0, 10_000 + i)
        if own > -90:
            a = a + frame(own, 20_000 + i)
        pipes["customer"].feed(t, c)
        step = pipes["agent"].feed(t, np.clip(np.rint(a), -32768, 32767).astype(np.int16))
        if step.change is not None and step.change.end is None:
            return step.change.start, step.change.heard
    raise AssertionError("the agent never started talking")


def test_frames_under_a_loud_customer_with_their_own_excess_date_when_talk_was_heard(
) -> None:
    # a second of quiet line, a second of a loud customer (-20 dBFS) echoed at -25 dB
    # on the agent's leg, then the agent: a frame at -37 dBFS (under the level rule's
    # -35, and too soon for the likeness test: taken for bleed), then at -30 (their own)
    own = [-99.0] * 100 + [-37.0] + [-30.0] * 5
    cust = [-99.0] * 50 + [-20.0] * 56
    vad = [False] * 50 + [True] * 56  # the echo is speech to webrtcvad as well
    start, heard = mixed_start(own, cust, vad)
    assert start == pytest.approx(101 * FRAME_S)  # the spurt: the frames not bleed
    assert heard == pytest.approx(100 * FRAME_S)
    # the echo alone before them is not heard as the agent
    start, heard = mixed_start([-99.0] * 101 + [-30.0] * 5, cust, vad)
    assert start == heard == pytest.approx(101 * FRAME_S)


def low_sound(dbfs: float, i: int) -> np.ndarray:
    """Frame i of an 80 Hz sound (a voice's onset, a plosive's thump: energy under the
    100-3800 Hz envelope) at `dbfs`."""
    n = np.arange(i * N, (i + 1) * N)
    return 32768 * 10 ** (dbfs / 20) * np.sqrt(2) * np.sin(2 * np.pi * 80 * n / RATE)


def test_a_first_sound_under_100_hz_under_a_loud_customer_dates_when_talk_was_heard(
) -> None:
    # a second of quiet line, a second of a loud customer (-20 dBFS) echoed at -25 dB
    # on the agent's leg; then the agent's first sound, two frames at -40 dBFS mostly
    # under 100 Hz (the level rule takes them for bleed, and in the envelope's bands
    # they are no more than the echo), then their voice at -30
    params = LoopParams()
    gate = BleedGate(params.vad, FRAME_S)
    pipes = {p: PartyPipeline(p, RATE, N, params, gate) for p in ("customer", "agent")}
    pipes["customer"]._vad = ScriptedVad([False] * 106)  # type: ignore[assignment]
    pipes["agent"]._vad = ScriptedVad([False] * 50 + [True] * 56)  # type: ignore[assignment]
    for i in range(106):
        t = i * FRAME_S
        c = frame(-20.0 if i >= 50 else -99.0, 2 * i)
        a = c * 10 ** (-25 / 20) + frame(-60.0, 10_000 + i)
        if i in (100, 101):
            a = a + low_sound(-40.0, i)
        elif i > 101:
            a = a + frame(-30.0, 20_000 + i)
        pipes["customer"].feed(t, c)
        step = pipes["agent"].feed(t, np.clip(np.rint(a), -32768, 32767).astype(np.int16))
        if step.change is not None and step.change.end is None:
            break
    else:
        raise AssertionError("the agent never started talking")
    # who started talking when (the interruption's onset) reads the first sound, not
    # the voice 40 ms later
    assert step.change.heard == pytest.approx(100 * FRAME_S)
    assert step.change.start <= 102 * FRAME_S + 1e-9


def test_a_first_sound_as_the_customer_grows_louder_dates_when_talk_was_heard() -> None:
    # a second of quiet line, a second of the customer at -30 dBFS echoed at -25 dB on
    # the agent's leg (the gate learns the echo path); then the customer 10 dB louder
    # and, in that same frame, the agent's first sound at -38 dBFS, then their voice at
    # -30.  The window's band powers rise with the customer's, so free per-band gains
    # fit the first sound as bleed; over the bleed the learnt path predicts, it stands
    # out.
    own = [-99.0] * 100 + [-38.0] + [-30.0] * 5
    cust = [-99.0] * 50 + [-30.0] * 50 + [-20.0] * 6
    vad = [False] * 50 + [True] * 56
    start, heard = mixed_start(own, cust, vad)
    assert start == pytest.approx(101 * FRAME_S)  # the spurt: the frames not bleed
    assert heard == pytest.approx(100 * FRAME_S)
    # the louder echo alone is not heard as the agent
    start, heard = mixed_start([-99.0] * 101 + [-30.0] * 5, cust, vad)
    assert start == heard == pytest.approx(101 * FRAME_S)
