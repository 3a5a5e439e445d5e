"""Admission without pjsua2: an INVITE's text and source become a plan or a refusal."""

from __future__ import annotations

import re

import pytest

from sip.admission import Gate
from sip.digest import make_nonce, response
from sip.message import offered_codecs
from sip.siprec import Refusal
from sip.trunks import parse_trunks
from tests.sip.test_siprec import wire

TRUNKS = parse_trunks("""
[[trunks]]
name = "sbc"
sources = ["192.0.2.0/24"]
transport = "udp"
agent_aor = '^sip:(?P<agent>\\d{4})@'

[[trunks]]
name = "auth"
sources = ["198.51.100.7"]
agent_aor = '^sip:(?P<agent>\\d{4})@'
username = "u"
password = "p"

[[trunks]]
name = "pbx"
mode = "forked"
sources = ["203.0.113.9"]
""")
SECRET = b"k" * 32


def gate(max_calls: int = 4) -> Gate:
    return Gate(TRUNKS, SECRET, max_calls)


def refusal(raw: bytes, src: str, active: int = 0, max_calls: int = 4) -> Refusal:
    with pytest.raises(Refusal) as err:
        gate(max_calls).admit(raw, src, active, now=1000.0)
    return err.value


def test_siprec_offer_becomes_a_plan_with_every_audio_line_answered():
    adm = gate().admit(wire("rfc7865.sip"), "192.0.2.14:5060", 0, now=1000.0)
    assert adm.trunk.name == "sbc" and adm.leg is None
    assert dict(adm.roles) == {0: "customer", 1: "agent"}
    assert adm.audio == 2
    assert adm.describe().startswith("metadata: m0=customer")
    assert "agent 8107" in adm.describe()


def test_unknown_source_and_wrong_transport_are_refused_403():
    r = refusal(wire("rfc7865.sip"), "10.9.9.9:5060")
    assert (r.status, r.trunk) == (403, None)
    assert "source 10.9.9.9 (udp) is not allowed" in r.reason
    tcp = wire("rfc7865.sip").replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    assert refusal(tcp, "192.0.2.14:5060").reason.startswith("source 192.0.2.14 (tcp)")


def test_capacity_is_refused_486_naming_the_trunk():
    r = refusal(wire("rfc7865.sip"), "192.0.2.14:5060", active=2, max_calls=2)
    assert (r.status, r.trunk) == (486, "sbc")
    assert r.reason == "tap capacity reached (2 calls)"


def test_plan_refusals_carry_the_trunk():
    r = refusal(wire("plain_one_stream.sip"), "192.0.2.14:5060")
    assert r.status == 488 and r.trunk == "sbc"


def test_digest_trunk_challenges_then_admits():
    raw = wire("rfc7865.sip")
    r = refusal(raw, "198.51.100.7:5060")
    assert r.status == 401 and r.headers[0][0] == "WWW-Authenticate"
    uri = raw.split(b" ", 2)[1].decode()
    nonce = make_nonce(SECRET, 1000.0, "198.51.100.7")
    resp = response(username="u", realm="assist", password="p", method="INVITE", uri=uri,
                    nonce=nonce, qop="auth", nc="00000001", cnonce="c")  # fmt: skip
    auth = (f'Authorization: Digest username="u", realm="assist", nonce="{nonce}", '
            f'uri="{uri}", response="{resp}", qop=auth, nc=00000001, cnonce="c"\r\n')  # fmt: skip
    signed = raw.replace(b"\r\n", b"\r\n" + auth.encode(), 1)
    adm = gate().admit(signed, "198.51.100.7:5060", 0, now=1001.0)
    assert adm.trunk.name == "auth" and adm.plan is not None


def test_forked_leg_names_its_role_and_first_audio_line():
    raw = wire("plain_one_stream.sip").replace(
        b"\r\n\r\n", b"\r\nX-Call-ID: conv-1\r\nX-Role: agent\r\nX-Agent-ID: 8001\r\n\r\n", 1)
    adm = gate().admit(raw, "203.0.113.9:5060", 0, now=1000.0)
    assert adm.leg is not None and (adm.leg.key, adm.leg.role, adm.leg.agent) == (
        "conv-1", "agent", "8001")  # fmt: skip
    assert dict(adm.roles) == {0: "agent"} and adm.audio == 1



def edited(raw: bytes, *changes: tuple[bytes, bytes]) -> bytes:
    """`raw` with its text changed and Content-Length made right again."""
    for old, new in changes:
        assert old in raw
        raw = raw.replace(old, new)
    head, _, body = raw.partition(b"\r\n\r\n")
    head = re.sub(rb"(?im)^content-length:.*$", b"Content-Length: %d" % len(body), head)
    return head + b"\r\n\r\n" + body


V6 = (b"c=IN IP4 192.0.2.10", b"c=IN IP6 2001:db8::10")


def test_ipv6_media_is_refused_488_with_its_reason_in_either_mode():
    r = refusal(edited(wire("rfc7865.sip"), V6), "192.0.2.14:5060")
    assert (r.status, r.trunk) == (488, "sbc")
    assert r.reason.startswith("the customer stream (m=0) offers IPv6 media (c=IN IP6)")
    leg = edited(wire("plain_one_stream.sip"), (b"c=IN IP4", b"c=IN IP6"),
                 (b"\r\n\r\n", b"\r\nX-Call-ID: conv-1\r\nX-Role: agent\r\n\r\n"))
    r = refusal(leg, "203.0.113.9:5060")
    assert r.status == 488 and "the agent stream (m=0) offers IPv6 media" in r.reason


def test_a_media_level_ipv4_address_wins_over_a_session_level_ipv6_one():
    raw = edited(wire("rfc7865.sip"), V6,
                 *((b"m=audio %d RTP/AVP 0\r\n" % p, b"m=audio %d RTP/AVP 0\r\n"
                    b"c=IN IP4 192.0.2.10\r\n" % p) for p in (30000, 30002)))
    adm = gate().admit(raw, "192.0.2.14:5060", 0, now=1000.0)
    assert dict(adm.roles) == {0: "customer", 1: "agent"}


def test_srtp_is_refused_488_naming_the_stream_and_its_profile():
    r = refusal(edited(wire("rfc7865.sip"), (b"RTP/AVP", b"RTP/SAVP")), "192.0.2.14:5060")
    assert r.status == 488
    assert r.reason.startswith("the customer stream (m=0) offers SRTP (RTP/SAVP)")


def test_offered_codecs_names_static_and_mapped_payloads():
    sdp = (b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 18 96 101\r\n"
           b"a=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n"
           b"m=audio 4002 RTP/AVP 8 77\r\n")
    assert offered_codecs(sdp) == ["G729", "opus", "PCMA", "payload 77"]


def test_a_required_extension_the_tap_lacks_is_refused_420_naming_it():
    raw = edited(wire("rfc7865.sip"), (b"Require: siprec", b"Require: siprec, foo"))
    r = refusal(raw, "192.0.2.14:5060")
    assert r.status == 420 and r.reason.startswith("Require: foo not supported")
    assert ("Unsupported", "foo") in r.headers
    ok = edited(wire("rfc7865.sip"), (b"Require: siprec", b"Require: siprec, timer, 100rel"))
    assert gate().admit(ok, "192.0.2.14:5060", 0, now=1000.0).plan is not None
