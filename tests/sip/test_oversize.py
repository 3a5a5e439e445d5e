"""The stream guard on its own: fed the way pjsip's TCP transport feeds it (a
buffer of at most 4000 bytes, from a message start, in reads of any size)."""

from __future__ import annotations

import random

import pytest

from sip.message import MAX_PACKET, parse_message
from sip.oversize import HEAD_LIMIT, StreamGuard, TooLarge, response

HEAD = (b"INVITE sip:srs@tap SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
        b"v: SIP/2.0/TCP 10.0.0.9;branch=z9hG4bK0\r\nFrom: <sip:a@x>;tag=1\r\n"
        b"To: <sip:srs@tap>\r\nCall-ID: c1@x\r\nCSeq: 1 INVITE\r\n")  # fmt: skip


def message(body: bytes, extra: bytes = b"") -> bytes:
    return HEAD + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def pjsip(stream: bytes, guard: StreamGuard, reads: list[int]) -> tuple[list[bytes], list[int]]:
    """What pjsip's stream loop would parse, the guard removing bytes first.
    Returns the messages pjsip gets and the sizes of the messages dropped."""
    buf, parsed, dropped, pos = b"", [], [], 0
    for n in reads + [len(stream)]:
        buf += stream[pos : pos + n]
        pos += n
        while buf:
            lead = len(buf) - len(buf.lstrip(b"\r\n"))
            if lead:  # pjsip skips line ends before a message and says so
                guard.dropped_by_pjsip(buf[:lead])
                buf = buf[lead:]
                continue
            eat, d = guard.take(buf[:MAX_PACKET])
            if d is not None:
                dropped.append(d.size)
            if eat:
                buf = buf[eat:]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            size = end + 4 + int(parse_message(buf[:end + 4]).header("content-length") or 0)
            assert size <= MAX_PACKET, "the guard let through a message pjsip cannot hold"
            if len(buf) < size:
                break
            parsed.append(buf[:size])
            buf = buf[size:]
        if pos >= len(stream):
            break
    return parsed, dropped


@pytest.mark.parametrize("seed", range(20))
def test_oversized_messages_are_removed_whole_and_the_next_one_parses(seed):
    rng = random.Random(seed)
    small = [message(b"v=0\r\n" * rng.randint(0, 50)) for _ in range(3)]
    big = message(b"\r\n" * 3 + b"x" * rng.randint(4000, 20000) + b"\r\n\r\n")
    huge_head = message(b"", b"X-Pad: " + b"y" * rng.randint(4000, 9000) + b"\r\n")
    stream = small[0] + big + b"\r\n" + small[1] + huge_head + small[2]
    reads = [rng.randint(1, 3000) for _ in range(200)]
    parsed, dropped = pjsip(stream, StreamGuard(), reads)
    assert parsed == small
    assert dropped == [len(big), len(huge_head)]


def test_a_message_of_exactly_the_limit_is_left_to_pjsip():
    msg = message(b"")
    msg = message(b"z" * (MAX_PACKET - len(msg) - 3))  # Content-Length: 0 grows 3 digits
    assert len(msg) == MAX_PACKET
    assert StreamGuard().take(msg) == (0, None)


def test_line_ends_pjsip_skips_inside_a_dropped_body_are_counted():
    guard = StreamGuard()
    big = message(b"a" * 5000 + b"\r\n\r\n" + b"b" * 10)
    first = big[:MAX_PACKET]
    n, d = guard.take(first)
    assert n == MAX_PACKET and d is not None
    rest = big[MAX_PACKET:]
    cut = rest.index(b"\r\n\r\n")
    assert guard.take(rest[:cut]) == (cut, None)
    guard.dropped_by_pjsip(b"\r\n\r\n")  # pjsip removed these at the front of a read
    assert guard.take(b"b" * 10 + HEAD) == (10, None)
    assert not guard.busy


def test_a_header_section_past_the_limit_or_a_huge_body_closes_the_connection():
    guard = StreamGuard()
    with pytest.raises(TooLarge):
        for _ in range(HEAD_LIMIT // MAX_PACKET + 2):
            guard.take(b"X-Junk: " + b"j" * (MAX_PACKET - 8))
    with pytest.raises(TooLarge):
        StreamGuard().take(HEAD + b"Content-Length: 999999999\r\n\r\n")


def test_response_copies_what_rfc3261_says_and_adds_a_to_tag():
    text = response(HEAD + b"Content-Length: 9000", 513, "too big",
                    (("Warning", '399 assist "too big"'),))  # fmt: skip
    assert text is not None
    msg = parse_message(text)
    assert msg.start == "SIP/2.0 513 Message Too Large"
    assert msg.all("via") == ["SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1",
                              "SIP/2.0/TCP 10.0.0.9;branch=z9hG4bK0"]  # fmt: skip
    assert msg.header("call-id") == "c1@x" and msg.header("cseq") == "1 INVITE"
    assert (msg.header("to") or "").startswith("<sip:srs@tap>;tag=")
    assert msg.header("warning") == '399 assist "too big"'
    assert msg.header("content-length") == "0"


@pytest.mark.parametrize("head", [b"ACK sip:a@b SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\n"
                                  b"Call-ID: c\r\nCSeq: 1 ACK",
                                  b"SIP/2.0 200 OK\r\nVia: x",
                                  b"INVITE sip:a@b SIP/2.0\r\nFrom: a"])  # fmt: skip
def test_no_response_to_an_ack_a_response_or_a_request_without_its_headers(head):
    assert response(head, 513, "too big") is None
