"""TalkTracker: voiced flags per 20 ms frame become talk spurts with onset and hangover."""

from __future__ import annotations

import pytest

from assist.audio.vad import TalkTracker, Transition, VadParams

F = 0.02  # one frame


def run(flags: str, params: VadParams | None = None) -> list[Transition]:
    """Feed 'x' (voiced) and '.' (not) frames from t=0; return the transitions."""
    tracker = TalkTracker(params or VadParams(), F)
    out = [tr for i, c in enumerate(flags) if (tr := tracker.feed(i * F, c == "x"))]
    if (tail := tracker.finish()) is not None:
        out.append(tail)
    return out


def test_talk_starts_after_the_onset_dated_from_its_first_voiced_frame():
    # onset 0.06 s = 3 frames; the voiced run starts at frame 5 (0.10 s).
    tracker = TalkTracker(VadParams(), F)
    got = [tracker.feed(i * F, i >= 5) for i in range(8)]
    assert got[:7] == [None] * 7
    assert got[7] == Transition(pytest.approx(0.10))
    assert tracker.talking


def test_a_click_shorter_than_the_onset_is_not_talk():
    assert run("..xx......") == []


def test_a_pause_shorter_than_the_hangover_stays_inside_the_spurt():
    # 0.3 s hangover = 15 frames; a 10-frame pause (0.2 s) does not end the talk.
    got = run("xxxxx" + "." * 10 + "xxxxx" + "." * 20)
    assert got == [Transition(0.0), Transition(0.0, pytest.approx(0.40))]


def test_talk_ends_at_the_end_of_the_last_voiced_frame_after_the_hangover():
    got = run("x" * 10 + "." * 15 + "x" * 4)
    # Ends 0.20 s (end of frame 9), announced only after 15 quiet frames.
    assert got[:2] == [Transition(0.0), Transition(0.0, pytest.approx(0.20))]
    assert got[2] == Transition(pytest.approx(0.50))  # the next spurt at frame 25


def test_the_end_of_the_call_closes_an_open_spurt():
    got = run("...xxxxxx")
    assert got == [Transition(pytest.approx(0.06)), Transition(pytest.approx(0.06),
                                                               pytest.approx(0.18))]


def test_longer_onset_and_hangover_count_more_frames():
    slow = VadParams(onset=0.2, hangover=1.0)
    assert run("xxxxxxxx", slow) == []  # 8 voiced frames, the onset needs 10
    flags = "x" * 12 + "." * 40 + "x" * 12  # a 0.8 s pause
    assert len(run(flags)) == 4  # two spurts with the default 0.3 s hangover
    assert run(flags, slow) == [Transition(0.0), Transition(0.0, pytest.approx(1.28))]


def run_sound(flags: str) -> list[Transition]:
    """'x' voiced, 's' audible (sound webrtcvad did not call speech), '.' neither."""
    tracker = TalkTracker(VadParams(), F)
    return [tr for i, c in enumerate(flags)
            if (tr := tracker.feed(i * F, c == "x", c == "s"))]


def test_talk_is_heard_from_the_sound_leading_into_its_first_voiced_frame():
    # two frames of sound at 0.10 s, then the voiced run at 0.14 s: the spurt still
    # starts at its first voiced frame
    start = run_sound(".....ssxxx")[0]
    assert start.heard == pytest.approx(0.10) and start.start == pytest.approx(0.14)
    # a voiced pair the VAD lost a frame of (x x s) leads into the run that starts
    assert run_sound("...xxsxxx")[0].heard == pytest.approx(0.06)


def test_the_sound_before_talk_moves_when_it_was_heard_at_most_one_onset():
    # six frames of sound: heard 0.06 s (the onset) before its first voiced frame
    assert run_sound("..ssssssxxx")[0].heard == pytest.approx(0.16 - 0.06)


def test_sound_alone_or_cut_off_by_quiet_does_not_start_or_move_talk():
    assert run_sound("ssssssssss") == []
    assert run_sound("ss..xxx")[0].heard == pytest.approx(0.08)
    assert run_sound("....xxx")[0].heard == pytest.approx(0.08)  # no sound: its start
