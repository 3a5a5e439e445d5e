"""Audio health of a tapped call's streams: the faults an admin must be told of."""

from __future__ import annotations

import numpy as np

from sip.health import CallHealth, same_audio
from tests.sip.rtp import tone


def fed(customer: np.ndarray | None, agent: np.ndarray | None) -> CallHealth:
    h = CallHealth("c1", 8000, ("customer", "agent"))
    for party, pcm in (("customer", customer), ("agent", agent)):
        if pcm is not None:
            for i in range(0, len(pcm) - 159, 160):
                h.add(party, pcm[i : i + 160])
    return h


def test_two_distinct_streams_are_healthy_and_summarised():
    h = fed(tone(440, 5.0), tone(1000, 5.0))
    assert h.faults() == []
    assert h.summary().startswith("customer 5.0 s in 250 frames at -")


def test_a_stream_with_no_audio_is_a_fault():
    assert h_faults(fed(tone(440, 5.0), None)) == ["no audio from the agent stream"]


def test_a_stream_of_zeros_reads_as_no_audio_and_a_quiet_one_as_silent():
    assert h_faults(fed(tone(440, 5.0), np.zeros(40000, np.int16))) == [
        "no audio from the agent stream"]
    (fault,) = fed(tone(440, 5.0), tone(440, 5.0, amp=20.0) + 1).faults()
    assert fault.startswith("the agent stream is silent")


def test_the_same_audio_on_both_streams_is_a_fault():
    (fault,) = fed(tone(440, 5.0), tone(440, 5.0)).faults()
    assert "both streams carry the same audio" in fault


def h_faults(h: CallHealth) -> list[str]:
    return [f.split(" 5 s")[0] for f in h.faults()]


def test_a_leg_sent_twice_is_seen_when_one_copy_trails_the_other():
    rng = np.random.default_rng(3)
    leg = (rng.standard_normal(48000) * 3000).astype(np.int16)
    for trail in (1, 37 * 8, 200 * 8):  # samples at 8 kHz: 1, 37 and 200 ms
        late = np.concatenate([np.zeros(trail, np.int16), leg])[:40000]
        assert same_audio(leg[:40000], late, 8000), trail
        assert same_audio(late, leg[:40000], 8000), trail


def test_two_different_voices_are_not_the_same_audio_even_with_one_echoing_the_other():
    rng = np.random.default_rng(4)
    customer = (rng.standard_normal(40000) * 3000).astype(np.float64)
    agent = rng.standard_normal(40000) * 3000
    echo = np.concatenate([np.zeros(160), customer])[:40000] * 0.1  # line echo, -20 dB
    assert not same_audio(customer.astype(np.int16), (agent + echo).astype(np.int16), 8000)
    assert not same_audio(tone(440, 5.0), tone(1000, 5.0), 8000)
    assert not same_audio(tone(440, 5.0), np.zeros(40000, np.int16), 8000)
