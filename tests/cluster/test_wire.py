"""The hop's wire format: what a tap writes is what the analysis side reads back."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from assist.cluster import wire
from assist.frames import Frame


def frame(party="agent", rate=8000, t=1.24, arrival=123.5) -> Frame:
    pcm = (np.arange(rate // 50, dtype=np.int16) * 97 - 7000).astype(np.int16)
    return Frame(party=party, pcm=pcm, rate=rate, t=t, arrival=arrival)


def stream() -> bytes:
    return b"".join([
        wire.hello("tap1"),
        wire.start(7, "sip-abc", agent="8107", rate=8000, language="zh-CN", source="sip",
                   meta={"trunk": "sbc", "parties": {"agent": "sip:8107@pbx"}}),
        wire.frame(7, frame("customer", t=0.0)),
        wire.frame(7, frame("agent", t=0.02)),
        wire.end(7, "hangup"),
    ])


def test_every_message_comes_back_as_it_was_sent():
    got = wire.Decoder().feed(stream())
    assert got[0] == wire.Hello("tap1")
    assert got[1] == wire.Start(7, "sip-abc", "8107", 8000, "zh-CN", "sip",
                                {"trunk": "sbc", "parties": {"agent": "sip:8107@pbx"}})
    assert isinstance(got[2], wire.FrameIn) and isinstance(got[3], wire.FrameIn)
    sent = frame("agent", t=0.02)
    back = got[3].frame(8000)
    assert (back.party, back.rate, back.t, back.arrival) == ("agent", 8000, 0.02, 123.5)
    assert back.pcm.dtype == np.int16 and np.array_equal(back.pcm, sent.pcm)
    assert got[2].party == "customer"
    assert got[4] == wire.End(7, "hangup")


def test_a_16khz_frame_and_an_unnamed_agent_pass():
    msgs = wire.Decoder().feed(wire.hello("t") + wire.start(
        1, "c", agent=None, rate=16000, language=None, source="replay", meta=None)
        + wire.frame(1, frame(rate=16000)))
    assert msgs[1] == wire.Start(1, "c", None, 16000, None, "replay", None)
    assert len(msgs[2].pcm) == 640  # type: ignore[union-attr]


def test_messages_split_anywhere_are_put_back_together():
    data = stream()
    whole = wire.Decoder().feed(data)
    for cut in (1, 3, 5, 17):
        d = wire.Decoder()
        got = [m for i in range(0, len(data), cut) for m in d.feed(data[i:i + cut])]
        assert got == whole


@pytest.mark.parametrize("data, words", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "message length"),
    (struct.pack(">IB", 3, 2) + b"\x00\x00", "before HELLO"),
    (struct.pack(">IB", 5, 1) + b"{x:1", "not JSON"),
    (wire._message(1, json.dumps({"v": 9, "tap": "t"}).encode()), "version 9"),
    (wire._message(1, b'{"v": 1}'), "without a tap name"),
    (wire.hello("t") + wire._message(9, b""), "unknown message type 9"),
    (wire.hello("t") + wire._message(2, struct.pack(">I", 1) + b'{"call_id": "c", "rate": 44100,'
                                     b' "source": "sip"}'), "44100 Hz"),
    (wire.hello("t") + wire._message(2, b"\x00"), "no call slot"),
    (wire.hello("t") + wire._message(3, struct.pack(">IBdd", 1, 5, 0.0, 0.0) + bytes(320)),
     "party 5"),
    (wire.hello("t") + wire._message(3, struct.pack(">IBdd", 1, 0, 0.0, 0.0) + bytes(321)),
     "321 PCM bytes"),
    (wire.hello("t") + wire._message(3, struct.pack(">IBdd", 1, 0, float("nan"), 0.0)
                                     + bytes(320)), "call time nan"),
    (wire.hello("t") + wire._message(3, b"\x00" * 4), "a FRAME of 4 bytes"),
])
def test_bytes_that_are_not_the_protocol_are_named(data, words):
    with pytest.raises(wire.WireError, match=words):
        wire.Decoder().feed(data)


def test_an_oversized_message_is_refused_before_its_bytes_arrive():
    with pytest.raises(wire.WireError, match="message length of 16777216"):
        wire.Decoder().feed(wire.hello("t") + struct.pack(">IB", 1 << 24, 3))


def test_a_start_too_big_to_send_is_a_value_error_on_the_tap():
    with pytest.raises(ValueError, match="hop message"):
        wire.start(1, "c", agent=None, rate=8000, language=None, source="sip",
                   meta={"x": "y" * wire.MAX_MESSAGE})
