import numpy as np
import pytest

from assist.asr.gate import GateState, SpeechGate, TimeMap
from tests.speech import frames


def run(gate, talking):
    fs = frames(np.zeros(len(talking) * 320, dtype=np.int16), 16000)
    out = []
    for f, k in zip(fs, talking, strict=True):
        o = gate.push(f, k)
        out.append(([round(x.t, 3) for x in o.frames], o.segment_end))
    return out


def test_silence_is_never_fed():
    gate = SpeechGate(0.3, 0.3)
    out = run(gate, [False] * 100)
    assert all(fed == [] and not end for fed, end in out)
    assert gate.fed_s == 0 and gate.seen_s == pytest.approx(2.0)


def test_talk_start_feeds_pre_roll_then_post_roll_and_ends_the_segment():
    gate = SpeechGate(0.3, 0.3)
    # 1 s quiet, 0.5 s talk (frames 50..74), 1 s quiet.
    out = run(gate, [False] * 50 + [True] * 25 + [False] * 50)
    # The first talking frame at 1.00 s brings the 15 frames (0.3 s) before it.
    assert out[50][0] == [round(0.70 + 0.02 * i, 3) for i in range(16)]
    # 15 frames of post-roll, 1.50 .. 1.78; the last one ends the segment.
    assert [o[0] for o in out[75:90]] == [[round(1.50 + 0.02 * i, 3)] for i in range(15)]
    assert [o[1] for o in out[75:90]] == [False] * 14 + [True]
    assert all(fed == [] for fed, _ in out[90:])
    assert gate.state is GateState.CLOSED
    assert gate.fed_s == pytest.approx(0.3 + 0.5 + 0.3)


def test_talk_resuming_within_post_roll_continues_the_segment():
    gate = SpeechGate(0.3, 0.3)
    out = run(gate, [True] * 10 + [False] * 5 + [True] * 10 + [False] * 20)
    assert [end for _, end in out].count(True) == 1
    assert all(len(fed) == 1 for fed, _ in out[1:40])


def test_close_reports_an_open_segment():
    gate = SpeechGate(0.3, 0.3)
    run(gate, [True] * 3)
    assert gate.close() is True
    assert gate.close() is False


def test_time_map_maps_fed_time_back_to_call_time_across_gaps():
    m = TimeMap()
    m.add(0.7, 1.1)  # fed 0.0..1.1 is call 0.7..1.8
    m.add(5.0, 0.5)  # fed 1.1..1.6 is call 5.0..5.5
    m.add(5.5, 0.5)  # contiguous: same run
    assert m.to_call(0.0) == pytest.approx(0.7)
    assert m.to_call(1.0) == pytest.approx(1.7)
    assert m.to_call(1.1) == pytest.approx(5.0)  # a start on the boundary: the later run
    assert m.to_call(1.1, end=True) == pytest.approx(1.8)  # an end: the earlier run
    assert m.to_call(2.0) == pytest.approx(5.9)
    assert m.to_call(99.0) == pytest.approx(6.0)  # clamped to what was fed
