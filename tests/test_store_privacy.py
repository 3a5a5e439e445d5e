"""What is kept for review, and customer numbers masked in it."""

from __future__ import annotations

from pathlib import Path

from audio import Track, syllables
from helpers import START

from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.events import Event
from assist.frames import Frame
from assist.privacy import mask
from assist.store.sqlite import Store


def test_phone_id_and_card_numbers_keep_only_last_four() -> None:
    assert mask("我的手机号是13812345678") == "我的手机号是*******5678"
    assert mask("卡号 6222 0212 3456 7890") == "卡号 **** **** **** 7890"
    assert mask("身份证110101199003078888") == "身份证**************8888"
    assert mask("一三八一二三四五六七八") == "*******五六七八"
    assert mask("订单12件, 3天") == "订单12件, 3天"


def test_numbers_split_over_recognised_words_are_masked_in_the_words_too() -> None:
    from assist.privacy import mask_words

    words = [{"w": "号码", "start": 0.0}, {"w": "一三八", "start": 0.4},
             {"w": "一二三四", "start": 0.8}, {"w": "五六七八", "start": 1.2}]
    got = mask_words(words)
    assert [w["w"] for w in got] == ["号码", "***", "****", "五六七八"]
    assert got[1]["start"] == 0.4  # timings kept


def test_every_event_of_a_call_is_stored_and_numbers_are_masked(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    hub = CallHub(LoopParams(), [store])
    hub.start_call("c1", agent="a7", rate=8000, start_utc=START)
    x = Track(8000, 3).put(0.5, syllables(1.5, 8000)).x
    from audio import pcm16
    pcm = pcm16(x)
    for i in range(0, len(pcm) - 160 + 1, 160):
        hub.feed("c1", Frame("customer", pcm[i:i + 160], 8000, i / 8000))
        hub.feed("c1", Frame("agent", pcm16(0 * x[i:i + 160]), 8000, i / 8000))
    hub.sessions["c1"].inject(Event("transcript.final", "c1", 2.0, "customer",
                                    {"text": "我的号码是13812345678", "start": 0.5, "end": 2.0,
                                     "words": [{"w": "我的", "start": 0.5, "end": 0.8},
                                               {"w": "号码", "start": 0.8, "end": 1.0},
                                               {"w": "是", "start": 1.0, "end": 1.1},
                                               {"w": "13812345678", "start": 1.1,
                                                "end": 2.0}]}))
    hub.end_call("c1", "hangup")
    store.close()
    (call,) = store.calls(agent="a7")
    assert call["agent"] == "a7" and call["reason"] == "hangup" and call["duration"] == 3.0
    assert store.calls(agent="someone-else") == []
    events = store.events("c1")
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "call.started" and types[-1] == "call.ended" and "talk.start" in types
    (final,) = [e for e in events if e["type"] == "transcript.final"]
    assert final["evidence"]["text"] == "我的号码是*******5678"
    assert final["evidence"]["words"][-1]["w"] == "*******5678"
    assert "13812345678" not in (tmp_path / "s.sqlite3").read_bytes().decode("utf-8", "ignore")


def test_one_call_failing_does_not_touch_another(tmp_path: Path) -> None:
    got: list[dict] = []

    class Collect:
        def publish(self, wire, *, agent, arrival):
            got.append(wire)

    hub = CallHub(LoopParams(), [Collect()])
    hub.start_call("bad", agent="a1", rate=8000, start_utc=START)
    hub.start_call("good", agent="a2", rate=8000, start_utc=START)
    import numpy as np

    def bug(*args, **kwargs):
        raise RuntimeError("a detector bug")

    hub.sessions["bad"].interruption.feed = bug  # type: ignore[method-assign]
    hub.feed("bad", Frame("customer", np.zeros(160, np.int16), 8000, 0.0))
    hub.feed("good", Frame("customer", np.zeros(160, np.int16), 8000, 0.0))
    assert "bad" not in hub.sessions and "good" in hub.sessions
    ended = [w for w in got if w["type"] == "call.ended"]
    assert [(w["call_id"], w["evidence"]["reason"]) for w in ended] == [("bad", "error")]


def test_calls_a_dead_process_left_open_are_closed_at_start_with_that_reason(
        tmp_path: Path) -> None:
    import sqlite3

    from assist.store.sqlite import ABANDONED, Archive

    path = tmp_path / "s.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as db:  # as a killed process leaves it: started, never ended
        db.execute("INSERT INTO calls (call_id, agent, started_utc) VALUES "
                   "('gone', 'a7', '2026-01-01T09:00:00Z'), ('kept', 'a7', '2026-01-01T09:05:00Z')")
        db.execute("UPDATE calls SET ended_utc='2026-01-01T09:06:00Z', duration=60, "
                   "reason='hangup' WHERE call_id='kept'")
        db.execute("INSERT INTO events VALUES ('gone', 1, 12.5, '2026-01-01T09:00:12Z', "
                   "'call.started', NULL, '{}')")
    store = Store(path)
    store.close()
    assert store.closed_at_start == 1
    calls = {c["call_id"]: c for c in Archive(path).calls()}
    assert (calls["gone"]["reason"], calls["gone"]["duration"]) == (ABANDONED, 12.5)
    assert calls["gone"]["ended_utc"] == "2026-01-01T09:00:12Z"
    assert calls["kept"]["reason"] == "hangup"
