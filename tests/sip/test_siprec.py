"""SIPREC offers from several vendors' shapes -> which m= line is which party."""

from __future__ import annotations

from pathlib import Path

import pytest

from sip.siprec import Refusal, mask, parse_message, parse_metadata, plan, split_multipart
from sip.trunks import parse_trunks

FIX = Path(__file__).parent / "fixtures"


def wire(name: str, *, content_length: bool = True) -> bytes:
    """A fixture as it travels: CRLF line endings and a correct Content-Length."""
    text = (FIX / name).read_text().replace("\r\n", "\n").replace("\n", "\r\n")
    head, _, body = text.partition("\r\n\r\n")
    if content_length:
        head += f"\r\nContent-Length: {len(body.encode())}"
    return (head + "\r\n\r\n" + body).encode()


def trunk(**rules: str) -> object:
    lines = ['[[trunks]]', 'name = "t"', 'sources = ["192.0.2.0/24"]']
    lines += [f"{k} = {v}" for k, v in rules.items()]
    return parse_trunks("\n".join(lines))[0]


AGENT_4 = trunk(agent_aor="'^sip:(?P<agent>\\d{4})@'")


def roles(p) -> dict[int, str]:
    return {s.index: s.role for s in p.streams}


def test_rfc7865_maps_streams_by_participantstreamassoc():
    p = plan(parse_message(wire("rfc7865.sip")), AGENT_4)
    assert roles(p) == {0: "customer", 1: "agent"}
    assert p.agent == "8107"
    assert p.basis == "metadata"
    assert p.session == "c2Vzc2lvbi0x"


def test_legacy_schema_send_inside_participant_and_integer_labels():
    p = plan(parse_message(wire("legacy_schema.sip")), AGENT_4)
    assert roles(p) == {0: "customer", 1: "agent"}
    assert p.agent == "2001"


def test_legacy_calling_party_flag_when_no_aor_rule():
    p = plan(parse_message(wire("legacy_schema.sip")), trunk(caller_role='"customer"'))
    assert roles(p) == {0: "customer", 1: "agent"}
    assert p.agent == "2001"  # user part of the agent's AoR


def test_crossed_send_follows_metadata_not_m_line_order():
    # The caller sends the *second* m= line; order alone would swap the parties.
    t = trunk(agent_aor="'^sip:(\\d{4})@'", order='["customer", "agent"]')
    p = plan(parse_message(wire("prefixed_crossed.sip")), t)
    assert roles(p) == {0: "agent", 1: "customer"}
    assert p.agent == "8042"  # AoR had no sip: scheme; normalised before matching
    assert [s.aor for s in p.streams if s.role == "customer"] == ["sip:13912345678@carrier.example"]


def test_text_labels_rs_metadata_without_xml_suffix_and_no_close_delimiter():
    t = trunk(agent_aor="'^sip:Extension-(\\d+)@'")
    p = plan(parse_message(wire("text_labels.sip")), t)
    assert roles(p) == {0: "customer", 1: "agent"}
    assert p.agent == "3310"


def test_three_parts_disposition_first_gtd_ignored():
    p = plan(parse_message(wire("three_parts.sip")), AGENT_4)
    assert roles(p) == {0: "agent", 1: "customer"}
    assert p.agent == "7301"


def test_customer_pattern_alone_makes_the_other_the_agent():
    t = trunk(customer_aor="'@carrier\\.example$'")
    p = plan(parse_message(wire("rfc7865.sip")), t)
    assert roles(p) == {0: "customer", 1: "agent"}
    assert p.agent == "8107"


def test_one_mixed_stream_is_refused():
    with pytest.raises(Refusal) as exc:
        plan(parse_message(wire("plain_one_stream.sip")), trunk(order='["customer", "agent"]'))
    assert exc.value.status == 488
    assert "1 audio stream" in exc.value.reason


def strip_metadata(raw: bytes) -> bytes:
    msg = parse_message(raw)
    parts = split_multipart(msg.header("content-type"), msg.body)
    sdp = parts[0][1]
    head = raw.split(b"\r\n\r\n")[0].replace(b"multipart/mixed;boundary=b1", b"application/sdp")
    head = b"\r\n".join(h for h in head.split(b"\r\n") if not h.startswith(b"Content-Length"))
    return head + b"\r\n\r\n" + sdp


def test_missing_metadata_falls_back_to_labels_then_order():
    raw = strip_metadata(wire("rfc7865.sip"))
    by_label = trunk(labels='{ "10" = "agent", "11" = "customer" }', order='["customer", "agent"]')
    p = plan(parse_message(raw), by_label)
    assert (roles(p), p.basis, p.agent) == ({0: "agent", 1: "customer"}, "labels", None)
    p = plan(parse_message(raw), trunk(order='["agent", "customer"]'))
    assert (roles(p), p.basis) == ({0: "agent", 1: "customer"}, "order")


def test_missing_metadata_without_fallback_rules_is_refused():
    with pytest.raises(Refusal, match="no recording metadata"):
        plan(parse_message(strip_metadata(wire("rfc7865.sip"))), AGENT_4)


def test_truncated_message_is_refused_even_with_fallback_rules():
    raw = wire("rfc7865.sip")
    cut = raw[: len(raw) - 200]  # as the 4000-byte receive buffer cuts a long INVITE
    with pytest.raises(Refusal) as exc:
        plan(parse_message(cut), trunk(agent_aor="'^sip:8'", order='["customer", "agent"]'),
             packet_len=len(cut))
    assert exc.value.status == 513
    assert "truncated" in exc.value.reason


def test_metadata_that_does_not_parse_is_refused_not_guessed():
    raw = wire("rfc7865.sip", content_length=False).replace(b"</recording>", b"</record")
    with pytest.raises(Refusal) as exc:
        plan(parse_message(raw), trunk(agent_aor="'^sip:8'", order='["customer", "agent"]'))
    assert exc.value.status == 488
    assert "does not parse" in exc.value.reason


def test_no_participant_matches_and_no_fallback_is_refused():
    with pytest.raises(Refusal, match="no participant"):
        plan(parse_message(wire("rfc7865.sip")), trunk(agent_aor="'^sip:9999@'"))


def test_wrong_boundary_parameter_still_finds_parts():
    raw = wire("rfc7865.sip").replace(b"boundary=b1", b"boundary=nope")
    assert roles(plan(parse_message(raw), AGENT_4)) == {0: "customer", 1: "agent"}


def test_lf_only_message_parses():
    raw = (FIX / "rfc7865.sip").read_bytes()
    assert roles(plan(parse_message(raw), AGENT_4)) == {0: "customer", 1: "agent"}


def test_metadata_with_wrong_root_is_refused():
    with pytest.raises(Refusal, match="root"):
        parse_metadata(b"<html/>")


def test_garbage_does_not_raise_anything_but_refusal():
    for junk in (b"", b"\x00\xff" * 100, b"INVITE\r\n\r\n--", b"INVITE x\r\nContent-Type: "
                 b"multipart/mixed;boundary=\r\n\r\n--\r\n--\r\n"):
        with pytest.raises(Refusal):
            plan(parse_message(junk), AGENT_4)


def test_mask_keeps_last_four_digits():
    assert mask("sip:13800138000@carrier.example") == "sip:*******8000@carrier.example"
    assert mask("sip:8107@pbx") == "sip:8107@pbx"


def test_metadata_with_an_unbound_stream_is_refused_not_guessed_by_order():
    # IOS padding / CUBE inactive streams: metadata present, one label bound to nobody.
    raw = wire("rfc7865.sip", content_length=False).replace(b"<send>c3RyLTEx</send>", b"")
    t = trunk(agent_aor="'^sip:(?P<agent>8\\d{3})@'", order='["customer", "agent"]')
    with pytest.raises(Refusal) as exc:
        plan(parse_message(raw), t)
    assert exc.value.status == 488
    assert "metadata binds no participant to stream label" in exc.value.reason


def test_metadata_naming_nobody_the_trunk_knows_says_which_aors_it_saw():
    t = trunk(agent_aor="'^sip:9999@'", order='["customer", "agent"]')
    with pytest.raises(Refusal) as exc:
        plan(parse_message(wire("rfc7865.sip")), t)
    assert "no participant matches this trunk's role rules (AoRs: sip:" in exc.value.reason
