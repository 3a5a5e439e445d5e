"""Real SIP calls from sipp (as SBC or PBX) into the pjsua2 tap; asserts on what the
call sink sees: roles, each party's audio, call start/end in order, refusals."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.sip.rtp import dominant_hz, tone, write_pcap
from tests.sip.sipkit import (
    AGENT_HZ,
    CUSTOMER_HZ,
    answered,
    assert_ended_in_order,
    assert_party_audio,
    run_sipp,
    statuses,
    two_tone_pcap,
    wait_until,
    warning_of,
)

pytestmark = pytest.mark.integration

def test_siprec_call_roles_and_audio_per_party(tap, tmp_path):
    before = len(tap.sink.order)
    two_tone_pcap(tmp_path)
    r = run_sipp(tap, "siprec_uac.xml", tmp_path, duration_ms=2400)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "SIP/2.0 200 OK" in statuses(tmp_path)
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)
    assert (call.agent, call.rate, call.language, call.source) == ("8107", 8000, "zh-CN", "sip")
    assert call.meta["basis"] == "metadata" and call.meta["trunk"] == "sbc"
    assert call.meta["parties"]["customer"] == "sip:*******8000@carrier.example"  # masked
    assert_party_audio(call, "customer", CUSTOMER_HZ)
    assert_party_audio(call, "agent", AGENT_HZ)
    assert_ended_in_order(call)
    assert tap.idle()


def test_siprec_over_tcp(tap, tmp_path):
    before = len(tap.sink.order)
    two_tone_pcap(tmp_path, seconds=1.0)
    r = run_sipp(tap, "siprec_uac.xml", tmp_path, duration_ms=1300, transport="t1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)
    assert_party_audio(call, "customer", CUSTOMER_HZ, min_frames=40)
    assert_party_audio(call, "agent", AGENT_HZ, min_frames=40)


def test_hold_pauses_and_resume_continues_one_call(tap, tmp_path, caplog):
    before = len(tap.sink.order)
    two_tone_pcap(tmp_path, seconds=2.0)
    r = run_sipp(tap, "siprec_hold.xml", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    methods = [cseq.split()[-1] for cseq in answered(tmp_path)]
    assert methods == ["INVITE", "INVITE", "INVITE", "BYE"]  # call, hold, resume, hang-up
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)  # hold did not end or restart the call
    text = caplog.text
    assert f"call {call.call_id} on hold" in text and f"call {call.call_id} resumed" in text
    jumps = []
    for party, hz in (("customer", CUSTOMER_HZ), ("agent", AGENT_HZ)):
        frames = call.frames[party]
        ts = np.array([f.t for f in frames])
        steps = np.diff(ts)
        assert np.all(steps > 0)
        # one jump in call time: the hold (1 s in the scenario), the same for both parties
        jump = int(np.argmax(steps))
        assert 0.8 <= steps[jump] <= 1.6, steps[jump]
        assert np.allclose(np.delete(steps, jump), 0.02)
        jumps.append(ts[jump + 1])
        for part in (frames[: jump + 1], frames[jump + 1 :]):
            loud = [f.pcm for f in part if np.abs(f.pcm).max() > 4000]
            assert len(loud) >= 80, f"{party}: {len(loud)} frames of tone"
            assert dominant_hz(np.concatenate(loud)) == pytest.approx(hz, abs=10)
    assert abs(jumps[0] - jumps[1]) <= 0.1  # parties stay aligned across the hold
    assert tap.idle()


def test_missing_metadata_uses_trunk_order_rule(tap, tmp_path):
    before = len(tap.sink.order)
    two_tone_pcap(tmp_path, seconds=1.0)
    r = run_sipp(tap, "siprec_nometa.xml", tmp_path, ip="127.0.0.3", duration_ms=1300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)
    assert call.meta["trunk"] == "sbc-nometa" and call.meta["basis"] == "order"
    assert call.agent is None  # nothing names the agent without metadata
    assert_party_audio(call, "customer", CUSTOMER_HZ, min_frames=40)
    assert_party_audio(call, "agent", AGENT_HZ, min_frames=40)


def refused(tap, tmp_path, scenario, status, **kw):
    before = len(tap.sink.order)
    r = run_sipp(tap, scenario, tmp_path, **kw)
    assert r.returncode == 0, r.stderr[-2000:]
    finals = [s for s in statuses(tmp_path) if not s.startswith(("SIP/2.0 1", "SIP/2.0 2"))]
    assert [s.split()[1] for s in finals] == [str(status)]
    assert tap.idle()
    assert tap.sink.new_calls(before) == []  # nothing tapped
    return warning_of(tmp_path, status)


def test_missing_metadata_without_fallback_rule_is_refused(tap, tmp_path, caplog):
    warning = refused(tap, tmp_path, "siprec_nometa.xml", 488)
    assert "no recording metadata and no labels/order rule" in warning
    assert "refused INVITE from 127.0.0.1" in caplog.text


def test_disallowed_source_gets_403(tap, tmp_path, caplog):
    two_tone_pcap(tmp_path)
    warning = refused(tap, tmp_path, "siprec_uac.xml", 403, ip="127.0.0.2")
    assert "source 127.0.0.2 (udp) is not allowed by any trunk" in warning
    assert "refused INVITE from 127.0.0.2" in caplog.text


def test_oversized_metadata_is_refused_not_guessed(tap, tmp_path, caplog):
    # Filler pushes the INVITE past the wheel's 4000-byte receive buffer: the metadata
    # arrives cut off, and the trunk has no order rule to fall back on anyway.
    pad = "<!-- " + "x" * 3000 + " -->"
    refused(tap, tmp_path, "siprec_uac.xml", 513, keys={"pad": pad})
    assert "message truncated" in caplog.text


def test_cancel_before_answer_leaves_nothing_behind(tap, tmp_path):
    before = len(tap.sink.order)
    r = run_sipp(tap, "siprec_cancel.xml", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:] + (tmp_path / "messages.log").read_text()[-3000:]
    assert "SIP/2.0 487 Request Terminated" in statuses(tmp_path)
    assert tap.idle()
    assert tap.sink.new_calls(before) == []


def forked_leg(tap, workdir, role, hz, pair, agent="8107", seconds=2.0, **kw):
    workdir.mkdir(parents=True, exist_ok=True)
    write_pcap(workdir / "audio.pcap", [(0, tone(hz, seconds))])
    keys = {"pair": pair, "role": role, "agent": agent}
    return run_sipp(tap, "forked_leg.xml", workdir, ip="127.0.0.4", keys=keys, **kw)


def test_forked_legs_pair_into_one_call(tap, tmp_path):
    before = len(tap.sink.order)
    legs = [forked_leg(tap, tmp_path / role, role, hz, "conv-42", duration_ms=2400,
                       background=True)
            for role, hz in (("customer", CUSTOMER_HZ), ("agent", AGENT_HZ))]  # fmt: skip
    for p in legs:
        out, err = p.communicate(timeout=40)
        assert p.returncode == 0, err[-2000:]
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)
    assert (call.agent, call.language, call.meta["mode"]) == ("8107", "en-US", "forked")
    assert sorted(call.meta["legs"]) == ["agent", "customer"]
    # Both legs arrive within a few ms; call time starts at the pairing, or at the first
    # frame a leg sent before it.
    assert_party_audio(call, "customer", CUSTOMER_HZ)
    assert_party_audio(call, "agent", AGENT_HZ)
    assert_ended_in_order(call)
    assert tap.idle()


def test_forked_leg_with_unknown_role_is_refused(tap, tmp_path):
    before = len(tap.sink.order)
    r = forked_leg(tap, tmp_path, "supervisor", CUSTOMER_HZ, "conv-43")
    assert r.returncode == 0, r.stderr[-2000:]
    assert [s.split()[1] for s in statuses(tmp_path) if s.split()[1] >= "300"] == ["400"]
    assert "X-Role: 'supervisor' is not a known role value" in warning_of(tmp_path, 400)
    assert tap.idle() and tap.sink.new_calls(before) == []


def test_fifth_concurrent_call_is_refused_busy(tap, tmp_path, caplog):
    before = len(tap.sink.order)
    two_tone_pcap(tmp_path, seconds=2.0)
    # Five calls start at once: on a busy machine sipp's audio threads may start late,
    # so the calls last well past the 2 s of tone to keep all of it.
    r = run_sipp(tap, "siprec_uac.xml", tmp_path, calls=5, duration_ms=4000)
    assert r.returncode == 0, r.stderr[-2000:]
    finals = [s for s in statuses(tmp_path) if not s.startswith(("SIP/2.0 1", "SIP/2.0 2"))]
    assert len(finals) == 1 and finals[0].startswith("SIP/2.0 486"), finals
    assert wait_until(lambda: len(tap.sink.new_calls(before)) == 4
                      and all(c.ended == "hangup" for c in tap.sink.new_calls(before)))  # fmt: skip
    for call in tap.sink.new_calls(before):
        assert_party_audio(call, "customer", CUSTOMER_HZ)
        assert_party_audio(call, "agent", AGENT_HZ)
        assert_ended_in_order(call)
    assert "all 4 call slots of this process are in use" in warning_of(tmp_path, 486)
    assert re.search(r"refused INVITE from 127\.0\.0\.1:\d+ \(trunk -\): 486 all 4 call slots"
                     r" of this process are in use \(4 tapped", caplog.text)
    assert tap.idle()


def test_a_forked_leg_that_joins_late_has_its_audio_checked(tap, tmp_path):
    before = len(tap.sink.order)
    first = forked_leg(tap, tmp_path / "customer", "customer", CUSTOMER_HZ, "conv-77",
                       seconds=11.0, duration_ms=11500, background=True)  # fmt: skip
    try:
        # pair_timeout (2 s) passes with one leg: the call starts with the customer alone
        assert wait_until(lambda: len(tap.sink.new_calls(before)) == 1, 40)
        (call,) = tap.sink.new_calls(before)
        assert call.meta["legs"] == ["customer"]
        late = forked_leg(tap, tmp_path / "agent", "agent", 0.0, "conv-77", seconds=8.0,
                          duration_ms=8500)  # a muted agent leg: RTP of digital silence
        assert late.returncode == 0, late.stderr[-2000:]
        _, err = first.communicate(timeout=40)
        assert first.returncode == 0, err[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
    assert wait_until(lambda: call.ended == "hangup")
    reports = {(party, e["problem"], e["final"]) for party, e in call.health}
    assert ("agent", "silent", False) in reports  # looked at 5 s after it joined
    assert ("agent", "silent", True) in reports and ("customer", "ok", True) in reports
    assert_party_audio(call, "customer", CUSTOMER_HZ)
    # the 2 s the customer's leg waited for its pair are the call's first 2 s, kept
    tone_s = sum(np.abs(f.pcm).max() > 4000 for f in call.frames["customer"]) * 0.02
    assert tone_s >= 10.5, f"{tone_s:.2f} s of the customer's 11 s of tone"


LATE_AGENT_LEG = b"""INVITE sip:tap@127.0.0.1 SIP/2.0
X-Call-ID: conv-78
X-Role: agent
X-Agent-ID: 8107
Content-Type: application/sdp

v=0
o=- 1 1 IN IP4 127.0.0.4
s=-
c=IN IP4 127.0.0.4
t=0 0
m=audio 4000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
"""


def test_a_late_leg_keeps_the_audio_it_sent_before_its_lost_ack(tap, tmp_path, caplog):
    """A leg that joins a started call and whose first ACK is lost: its RTP starts on the
    200, it joins only on the ACK of the 200's retransmission half a second later, and
    that half second is kept, in order, at its call time."""
    from tests.sip.uac import Uac

    before = len(tap.sink.order)
    first = forked_leg(tap, tmp_path / "customer", "customer", CUSTOMER_HZ, "conv-78",
                       seconds=6.0, duration_ms=6500, background=True)  # fmt: skip
    uac = Uac(tap.port, "udp", ip="127.0.0.4")
    try:
        # pair_timeout (2 s) passes with one leg: the call starts with the customer alone
        assert wait_until(lambda: len(tap.sink.new_calls(before)) == 1, 40)
        (call,) = tap.sink.new_calls(before)
        outcome, again = uac.call_losing_first_ack(LATE_AGENT_LEG, [AGENT_HZ], seconds=1.6)
        assert outcome.final.status == 200 and again.status == 200, again.head
        _, err = first.communicate(timeout=40)
        assert first.returncode == 0, err[-2000:]
    finally:
        uac.close()
        if first.poll() is None:
            first.kill()
    assert wait_until(lambda: call.ended == "hangup")
    assert call.meta["legs"] == ["customer"] and "agent leg joined late" in caplog.text
    loud = [f for f in call.frames["agent"] if np.abs(f.pcm).max() > 4000]
    # 80 packets sent; without the audio before the join at most 55 (the 0.5 s before
    # the ACK lost); a loaded tap may still miss a few packets of its own
    assert len(loud) >= 72, f"{len(loud)} of 80 frames of the agent's tone"
    times = [f.t for f in call.frames["agent"]]
    assert times == sorted(times) and len(set(times)) == len(times) and times[0] >= 0
    assert dominant_hz(np.concatenate([f.pcm for f in loud])) == pytest.approx(AGENT_HZ,
                                                                               abs=10)
    assert tap.idle()
