"""Vendor INVITE shapes through the real tap, a distinct tone per offered m= line:
each answered call's parties must hear their own stream, with the roles the
metadata gives; shapes that cannot be tapped are refused with their reason."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.sip.rtp import dominant_hz
from tests.sip.sipkit import wait_until
from tests.sip.uac import FIX, Uac

pytestmark = pytest.mark.integration

TONES = [440.0, 1000.0]
# Seconds of tone a tapped call sends: `heard` needs 0.8 s of it per party, and on a
# loaded machine the tap's first half second or so can come before its media is up.
SECONDS = 3.0
# fixture -> (party of m=0, party of m=1, agent id), as its metadata says
SHAPES = {
    "legacy_schema.sip": ("customer", "agent", "2001"),  # Oracle/Acme pre-RFC schema
    "three_parts.sip": ("agent", "customer", "7301"),  # CUBE: gtd part, no close delimiter
    "prefixed_crossed.sip": ("agent", "customer", "8042"),  # Sonus: tns:, crossed sends
    "text_labels.sip": ("customer", "agent", "3310"),  # SEMS: text labels, no close
    "rfc7865.sip": ("customer", "agent", "8107"),
}


def heard(call, party: str) -> float | None:
    loud = [f.pcm for f in call.frames.get(party, []) if np.abs(f.pcm).max() > 4000]
    return dominant_hz(np.concatenate(loud)) if len(loud) >= 40 else None


def check_tapped(tap, before: int, fixture: str, outcome) -> None:
    assert outcome.final.status == 200, outcome.final.head
    assert all(outcome.answered.values()), f"a stream answered with port 0: {outcome.answered}"
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)
    first, second, agent = SHAPES[fixture]
    assert call.meta["basis"] == "metadata" and call.agent == agent
    assert heard(call, first) == pytest.approx(TONES[0], abs=10)
    assert heard(call, second) == pytest.approx(TONES[1], abs=10)


@pytest.mark.parametrize("fixture", sorted(SHAPES))
def test_vendor_shape_over_udp_taps_both_streams_with_metadata_roles(tap, fixture):
    before = len(tap.sink.order)
    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        outcome = uac.call(fixture, TONES, seconds=SECONDS)
    finally:
        uac.close()
    check_tapped(tap, before, fixture, outcome)
    assert tap.idle()


def test_audio_before_a_late_ack_is_kept_and_both_parties_stay_in_step(tap, caplog):
    """The SBC's first ACK is lost: its RTP starts on the 200, the call only on the
    ACK of the 200's retransmission half a second later.  That half second is the
    customer's first words: it must reach the analysis, at the right call time."""
    before = len(tap.sink.order)
    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        outcome, again = uac.call_losing_first_ack("rfc7865.sip", TONES, seconds=1.6)
    finally:
        uac.close()
    assert outcome.final.status == 200 and again.status == 200, again.head
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)
    first_loud = {}
    for party, hz in (("customer", TONES[0]), ("agent", TONES[1])):
        assert heard(call, party) == pytest.approx(hz, abs=10)
        loud = [f for f in call.frames[party] if np.abs(f.pcm).max() > 4000]
        # 80 packets sent; without the early audio at most 55 (the 0.5 s before the ACK
        # lost); a loaded tap may still miss a few packets of its own
        assert len(loud) >= 72, f"{party}: {len(loud)} of 80 frames of tone"
        first_loud[party] = loud[0].t
        times = [f.t for f in call.frames[party]]
        assert times == sorted(times) and len(set(times)) == len(times)
    assert abs(first_loud["customer"] - first_loud["agent"]) <= 0.04, first_loud
    assert "of audio came before the call started; kept" in caplog.text
    assert tap.idle()


def test_network_based_recording_is_refused_with_its_reason(tap):
    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        outcome = uac.call("plain_one_stream.sip", TONES[:1])
    finally:
        uac.close()
    assert outcome.final.status == 488
    assert "1 audio stream(s): need one per party" in (outcome.final.header("warning") or "")
    assert tap.idle()


def test_ipv6_media_is_refused_with_its_reason_not_answered_without_audio(tap):
    offer = (FIX / "rfc7865.sip").read_bytes().replace(b"c=IN IP4 192.0.2.10", b"c=IN IP6 ::1")
    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        outcome = uac.call(offer, TONES)
    finally:
        uac.close()
    assert outcome.final.status == 488
    assert "offers IPv6 media (c=IN IP6)" in (outcome.final.header("warning") or "")
    assert tap.idle()


def test_srtp_a_codec_or_an_extension_the_tap_lacks_is_refused_with_its_reason(tap, caplog):
    offer = (FIX / "rfc7865.sip").read_bytes()
    srtp = offer.replace(b"RTP/AVP", b"RTP/SAVP")
    g729 = offer.replace(b"RTP/AVP 0", b"RTP/AVP 18").replace(b"rtpmap:0 PCMU", b"rtpmap:18 G729")
    foo = offer.replace(b"Require: siprec", b"Require: siprec, foo")
    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        refused = [uac.call(m, TONES).final for m in (srtp, g729, foo)]
    finally:
        uac.close()
    assert [r.status for r in refused] == [488, 488, 420]
    assert "Require: foo not supported" in (refused[2].header("warning") or "")
    assert refused[2].header("unsupported") == "foo"
    assert "offers SRTP (RTP/SAVP)" in (refused[0].header("warning") or "")
    assert "codec" in (refused[1].header("warning") or "")
    assert wait_until(lambda: "offered G729; the tap decodes PCMU" in caplog.text)
    assert tap.idle()


@pytest.mark.parametrize("ptime", [10, 30, 60])
def test_packets_of_other_than_20_ms_reach_each_party_whole(tap, ptime):
    """SBCs send at the ptime they offer (30 ms is common with G.711 on Cisco and Avaya)."""
    offer = (FIX / "rfc7865.sip").read_bytes()
    offer = offer.replace(b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:0 PCMU/8000\na=ptime:%d" % ptime)
    before = len(tap.sink.order)
    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        outcome = uac.call(offer, TONES, seconds=SECONDS)
    finally:
        uac.close()
    check_tapped(tap, before, "rfc7865.sip", outcome)
    (call,) = tap.sink.new_calls(before)
    for party in ("customer", "agent"):
        loud = sum(1 for f in call.frames[party] if np.abs(f.pcm).max() > 4000)
        assert loud >= 75, f"{party}: {loud} loud 20 ms frames of 90 sent"


def test_shapes_over_one_tcp_connection(tap):
    made = tap.server.ports.made
    uac = Uac(tap.port, "tcp", ip="127.0.0.6")
    try:
        for fixture in ("three_parts.sip", "prefixed_crossed.sip", "text_labels.sip"):
            before = len(tap.sink.order)
            check_tapped(tap, before, fixture, uac.call(fixture, TONES, seconds=SECONDS))
        refused = uac.call("plain_one_stream.sip", TONES[:1])
        assert refused.final.status == 488
        before = len(tap.sink.order)
        check_tapped(tap, before, "legacy_schema.sip",
                     uac.call("legacy_schema.sip", TONES, seconds=SECONDS))
    finally:
        uac.close()
    assert tap.idle()
    # Four two-stream calls in a row: ports are reused (a call's ports rest 0.5 s, so
    # at most the first two calls need new ones), never made and destroyed per call.
    assert tap.server.ports.made - made <= 4


@pytest.mark.parametrize("pad", [4000, 70000])
def test_oversized_invite_over_tcp_is_refused_and_the_connection_goes_on(tap, caplog, pad):
    # The wheel's pjsip reads at most 4000 bytes per message: without the stream hook
    # this INVITE got no answer and poisoned the connection for the next one.  70 KB
    # also puts its tail in several reads and past the TCP buffer many times over.
    uac = Uac(tap.port, "tcp", ip="127.0.0.6")
    try:
        big = uac.call("rfc7865.sip", TONES, pad=pad)
        assert big.final.status == 513, big.final.head
        assert "the SIP stack reads at most 4000 bytes" in (big.final.header("warning") or "")
        before = len(tap.sink.order)
        check_tapped(tap, before, "three_parts.sip",
                     uac.call("three_parts.sip", TONES, seconds=SECONDS))
    finally:
        uac.close()
    assert "refused INVITE from 127.0.0.6" in caplog.text and "(trunk vendors): 513" in caplog.text
    assert tap.idle()


def test_oversized_invite_over_udp_is_still_refused_513(tap):
    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        big = uac.call("rfc7865.sip", TONES, pad=3000)
    finally:
        uac.close()
    assert big.final.status == 513
    assert "message truncated" in (big.final.header("warning") or "")


def test_an_answered_stream_without_rtp_is_reported_in_the_log(tap, caplog):
    before = len(tap.sink.order)
    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        outcome = uac.call("three_parts.sip", TONES, seconds=6.5, mute=frozenset({1}))
    finally:
        uac.close()
    assert outcome.final.status == 200
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)
    assert f"call {call.call_id} audio: no audio from the customer stream" in caplog.text
    # The summary at the end: the agent's tone was heard (the sender may run late on a
    # busy machine, so no exact seconds), the customer's stream carried nothing.
    summary = re.search(rf"call {call.call_id} audio: agent (\d+\.\d) s in \d+ frames at "
                        r"(-?\d+) dBFS, (\d+) RTP packets, \d+ lost, customer [\d.]+ s in \d+ "
                        r"frames at -inf dBFS, 0 RTP packets", caplog.text)
    assert summary, caplog.text[-2000:]
    assert float(summary[1]) >= 3.0 and int(summary[2]) > -40, summary[0]
    assert int(summary[3]) >= 150, summary[0]  # 50 a second: the agent's RTP was counted
