"""CallHub: one session per call, frames checked where they enter, failures kept in their call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pytest
from audio import Track, pcm16, syllables
from helpers import Collect

from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.errors import UserError
from assist.events import Event
from assist.frames import Frame, FrameError, check_frame, samples_per_frame

START = datetime(2026, 1, 1, 9, tzinfo=UTC)
RATE = 8000


def hub(*publishers, coaching=None) -> CallHub:
    return CallHub(LoopParams(), list(publishers), clock=lambda: START, coaching=coaching)


def talk(h: CallHub, call_id: str, seconds: float = 3.0, bad: dict[int, Frame] | None = None):
    """Customer syllables from 0.5 s, agent silent; frame i replaced by bad[i] if given."""
    cust = pcm16(Track(RATE, seconds).put(0.5, syllables(1.5, RATE)).x)
    quiet = np.zeros_like(cust)
    n = samples_per_frame(RATE)
    for i, at in enumerate(range(0, len(cust) - n + 1, n)):
        t = at / RATE
        h.feed(call_id, (bad or {}).get(i, Frame("customer", cust[at:at + n], RATE, t)))
        h.feed(call_id, Frame("agent", quiet[at:at + n], RATE, t))


def kinds(pub: Collect, call_id: str) -> list[str]:
    # The detectors' verdicts on a syllable train are theirs to test (anger scores it
    # from its first spurt); here the call's lifecycle and numbering.
    return [w["type"] for w in pub.wires if w["call_id"] == call_id and w["type"] != "anger"]


def test_a_call_is_announced_fed_and_ended_with_numbered_events():
    pub = Collect()
    h = hub(pub)
    h.start_call("c1", agent="1001", rate=RATE)
    talk(h, "c1")
    h.end_call("c1")
    assert kinds(pub, "c1") == ["call.started", "talk.start", "talk.end", "metrics",
                                "call.ended"]
    assert [w["seq"] for w in pub.wires] == list(range(1, len(pub.wires) + 1))
    assert pub.wires[0]["utc"] == "2026-01-01T09:00:00.000Z"
    assert pub.wires[-1]["evidence"] == {"agent": "1001", "duration": 3.0, "reason": "hangup"}
    assert "c1" not in h.sessions


def test_a_second_start_and_frames_of_unknown_calls_are_ignored():
    pub = Collect()
    h = hub(pub)
    h.start_call("c1", agent="1001", rate=RATE)
    h.start_call("c1", agent="9999", rate=16000)
    h.feed("nope", Frame("customer", np.zeros(160, np.int16), RATE, 0.0))
    h.end_call("nope")
    assert kinds(pub, "c1") == ["call.started"] and h.sessions["c1"].agent == "1001"


@pytest.mark.parametrize("frame, says", [
    (Frame("customer", np.zeros(80, np.int16), RATE, 1.0), "80 samples; 20 ms at 8000 Hz is 160"),
    (Frame("customer", np.zeros(160, np.float32), RATE, 1.0), "int16"),
    (Frame("customer", np.zeros(320, np.int16), 16000, 1.0), "16000 Hz on a 8000 Hz call"),
    (Frame("customer", np.zeros((160, 2), np.int16), RATE, 1.0), "1-D"),
])
def test_a_bad_frame_is_dropped_and_logged_once_and_the_call_goes_on(frame, says, caplog):
    with pytest.raises(FrameError, match=says):
        check_frame(frame, RATE)
    good, bad = Collect(), Collect()
    h = hub(good, bad)
    h.start_call("ok", agent="1", rate=RATE)
    talk(h, "ok")
    h.end_call("ok")
    with caplog.at_level(logging.WARNING, logger="assist.call.hub"):
        h2 = hub(bad)
        h2.start_call("ok", agent="1", rate=RATE)
        talk(h2, "ok", bad={5: frame, 10: frame, 140: frame})  # before and after the talk
        h2.end_call("ok")
    # The same events as without the bad frames.
    strip = [(w["type"], w["evidence"]) for w in good.wires]
    assert [(w["type"], w["evidence"]) for w in bad.wires[len(good.wires):]] == strip
    assert bad.wires[-1]["evidence"]["reason"] == "hangup"
    drops = [r.getMessage() for r in caplog.records if "bad frame" in r.getMessage()]
    assert len(drops) == 2 and says in drops[0] and "3 bad frames" in drops[1]


class Boom:
    """A coach that fails on one call's first talk: that call ends "error", no other."""

    def for_call(self, call_id, language, start_utc):
        class Coach:
            def feed(self, event: Event, seq: int) -> list[Event]:
                if call_id == "bad" and event.type == "talk.start":
                    raise RuntimeError("coach bug")
                return []

            def feedback(self, suggestion_id, action, agent, t):
                raise UserError("none")

        return Coach()


def test_a_failure_in_one_call_ends_that_call_only(caplog):
    pub = Collect()
    h = hub(pub, coaching=Boom())
    h.start_call("bad", agent="1", rate=RATE)
    h.start_call("good", agent="2", rate=RATE)
    with caplog.at_level(logging.ERROR, logger="assist.call.hub"):
        talk(h, "bad")
    talk(h, "good")
    h.end_call("good")
    assert kinds(pub, "bad")[-1] == "call.ended"
    ended = [w for w in pub.wires if w["type"] == "call.ended"]
    assert [(w["call_id"], w["evidence"]["reason"]) for w in ended] == [("bad", "error"),
                                                                        ("good", "hangup")]
    assert kinds(pub, "good") == ["call.started", "talk.start", "talk.end", "metrics",
                                  "call.ended"]
    assert any("processing failed" in r.getMessage() for r in caplog.records)


def test_a_failing_publisher_does_not_stop_the_others(caplog):
    class Broken:
        def publish(self, wire, *, agent, arrival):
            raise OSError("disk full")

    pub = Collect()
    h = hub(Broken(), pub)
    with caplog.at_level(logging.ERROR, logger="assist.call.hub"):
        h.start_call("c1", agent="1001", rate=RATE)
        h.end_call("c1")
    assert kinds(pub, "c1") == ["call.started", "call.ended"]
    assert sum("publisher" in r.getMessage() for r in caplog.records) == 2


def test_feedback_needs_a_live_call_with_a_coach():
    h = hub(Collect())
    h.start_call("c1", agent="1001", rate=RATE)
    with pytest.raises(UserError, match="no live call"):
        h.feedback("c1", "s1", "used", "1001")
    with pytest.raises(UserError, match="no live call"):
        h.feedback("gone", "s1", "used", "1001")
