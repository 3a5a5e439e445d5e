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


def play(h: CallHealth, party: str, pcm: np.ndarray) -> None:
    for i in range(0, len(pcm) - 159, 160):
        h.add(party, pcm[i : i + 160])


def test_a_stream_whose_rtp_stops_mid_call_is_reported_and_then_recovered():
    h = CallHealth("c1", 8000, ("customer", "agent"))
    play(h, "customer", tone(440, 6.0))
    play(h, "agent", tone(1000, 6.0))
    h.counts({"customer": (300, 0), "agent": (300, 0)})
    assert h.check() == []
    # The customer's RTP stops: pjmedia plays zeros, the packet count stands still.
    play(h, "customer", np.zeros(5 * 8000, np.int16))
    play(h, "agent", tone(1000, 5.0))
    h.counts({"customer": (300, 0), "agent": (550, 0)})
    (stop,) = h.check()
    assert (stop.party, stop.problem) == ("customer", "no_rtp")
    assert stop.detail == "the customer stream stopped at 6 s: no audio for 5 s (no RTP reached it)"
    play(h, "customer", np.zeros(5 * 8000, np.int16))
    play(h, "agent", tone(1000, 5.0))
    h.counts({"customer": (300, 0), "agent": (800, 0)})
    assert h.check() == []  # still stopped: said once
    play(h, "customer", tone(440, 5.0))
    play(h, "agent", tone(1000, 5.0))
    h.counts({"customer": (550, 0), "agent": (1050, 0)})
    (back,) = h.check()
    assert (back.party, back.problem) == ("customer", "recovered")
    assert "was no rtp" in back.detail
    assert {r.party: r.problem for r in h.final()} == {"customer": "ok", "agent": "ok"}


def test_a_stream_that_stops_for_good_ends_the_call_as_no_rtp():
    h = CallHealth("c1", 8000, ("customer", "agent"))
    play(h, "customer", tone(440, 5.0))
    play(h, "agent", tone(1000, 5.0))
    assert h.check() == []  # no packet counts here: zeros are how a stop shows
    play(h, "agent", np.zeros(5 * 8000, np.int16))
    play(h, "customer", tone(440, 5.0))
    (stop,) = h.check()
    assert (stop.party, stop.problem) == ("agent", "no_rtp")
    assert stop.detail.startswith("the agent stream stopped at 5 s")
    assert {r.party: r.problem for r in h.final()} == {"customer": "ok", "agent": "no_rtp"}


def test_a_quiet_stretch_with_packets_is_not_a_stop():
    h = CallHealth("c1", 8000, ("customer", "agent"))
    play(h, "customer", tone(440, 5.0))
    play(h, "agent", tone(1000, 5.0))
    h.counts({"customer": (250, 0), "agent": (250, 0)})
    assert h.check() == []
    play(h, "customer", tone(440, 5.0, amp=3.0))  # the line is quiet, RTP still comes
    play(h, "agent", tone(1000, 5.0))
    h.counts({"customer": (500, 0), "agent": (500, 0)})
    assert h.check() == []


def test_a_copy_whose_jitter_buffer_dropped_a_frame_is_still_the_same_audio():
    leg = tone(440, 5.2)
    dropped = np.concatenate([leg[:16000], leg[16160:]])[:40000]  # 20 ms lost at 2 s
    assert same_audio(leg[:40000], dropped, 8000)


def test_a_leg_that_joins_late_gets_its_own_first_look():
    h = CallHealth("c1", 8000, ("customer",))
    play(h, "customer", tone(440, 5.0))
    h.counts({"customer": (250, 0)})
    h.join("agent")  # a forked call's agent leg, after pair_timeout
    play(h, "agent", np.zeros(2 * 8000, np.int16))
    h.counts({"customer": (250, 0), "agent": (0, 0)})
    assert h.check() == []  # the call's first look leaves the new leg alone
    play(h, "agent", np.zeros(3 * 8000, np.int16))
    (missing,) = h.late("agent")
    assert (missing.party, missing.problem) == ("agent", "no_rtp")
    assert missing.detail == ("no audio from the agent stream 5 s after its leg joined "
                              "(no RTP reached it)")
    assert h.late("agent") == []  # once
    play(h, "agent", tone(1000, 5.0))
    play(h, "customer", tone(440, 5.0))
    h.counts({"customer": (500, 0), "agent": (250, 0)})
    (back,) = h.check()
    assert (back.party, back.problem) == ("agent", "recovered")
    assert {r.party: r.problem for r in h.final()} == {"customer": "ok", "agent": "ok"}


def test_a_late_leg_the_call_ended_before_looking_at_is_judged_at_the_end():
    h = CallHealth("c1", 8000, ("customer",))
    play(h, "customer", tone(440, 5.0))
    assert h.check() == []
    h.join("agent")
    play(h, "agent", np.full(8000, 3, np.int16))  # a second of near silence, then hang-up
    assert {r.party: r.problem for r in h.final()} == {"customer": "ok", "agent": "silent"}
