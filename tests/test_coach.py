"""The coach on the detector events of a call: feelings, interruptions, pace, opening, closing.

Times are call seconds; each test comments what fires when and why.
"""

from __future__ import annotations

import pytest

from assist.coach.coach import Coach, CoachParams
from assist.errors import ConfigError, UserError
from tests.coach_streams import BOOKS, CALL, Loop, cards, ev, says


def anger(t: float, level: str, previous: str, score: float) -> object:
    return ev("anger", t, "customer", level=level, previous=previous, score=score,
              thresholds=[0.4, 0.7])


def test_angry_customer_gets_the_seed_calming_phrases_feelings_first():
    loop = Loop()
    got = loop.feed([anger(20.0, "angry", "tense", 0.82)])
    assert cards(got) == [(20.0, "anger.angry")]
    card = got[0].evidence
    # Seed 004: 谢谢您告诉我 / 我向您道歉 / 我将立刻过问这件事 / 您希望如何解决这件事 ...
    assert card["text"] == "谢谢您告诉我,我向您道歉。我将立刻过问这件事。"
    assert "您希望如何解决这件事" in card["phrasings"][1]
    assert "您看以下解决方案好不好" in card["phrasings"][2]
    assert card["priority"] == 90 and card["cooldown"] == 60.0
    assert card["reason"] == {
        "type": "anger", "t": 20.0, "party": "customer",
        "summary": "customer tense -> angry (score 0.82)",
    }
    assert card["expires"] == 50.0 and card["seed"].startswith("004")
    assert got[0].party == "agent" and got[0].call_id == CALL


def test_anger_cooldown_then_the_next_phrasing():
    loop = Loop()
    loop.feed([anger(20.0, "angry", "tense", 0.8)])
    loop.feed([anger(40.0, "calm", "angry", 0.2)])  # settles: move on to the solution
    assert loop.feed([anger(70.0, "angry", "calm", 0.8)]) == []  # 50 s after: cooling (60 s)
    again = loop.feed([anger(80.5, "angry", "calm", 0.8)])
    assert cards(again) == [(80.5, "anger.angry")]
    assert again[0].evidence["text"] == "这是我们的责任,您希望如何解决这件事?"  # rotated
    assert cards(loop.suggestions)[1] == (40.0, "anger.settled")


def test_tense_customer_let_them_vent():
    loop = Loop()
    got = loop.feed([anger(12.0, "tense", "calm", 0.55)])
    assert cards(got) == [(12.0, "anger.tense")]
    assert got[0].evidence["text"] == "是啊,我明白您的心情。"
    # Falling back from angry to tense is not a new "let them vent" moment.
    assert cards(Loop().feed([anger(12.0, "tense", "angry", 0.6)])) == []


def test_a_new_anger_level_replaces_the_card_of_the_old_one():
    loop = Loop()
    (tense,) = loop.feed([anger(12.0, "tense", "calm", 0.55)])
    (angry,) = loop.feed([anger(14.0, "angry", "tense", 0.75)])
    assert angry.evidence["replaces"] == [tense.evidence["id"]]
    on_screen = [c["id"] for c in loop.coach.active(14.0)]
    assert on_screen == [angry.evidence["id"]]


def test_anger_rising_again_takes_the_settled_card_off_even_while_its_own_cools_down():
    loop = Loop()
    loop.feed([anger(20.0, "angry", "tense", 0.8)])
    (settled,) = loop.feed([anger(40.0, "calm", "angry", 0.2)])
    assert [c["id"] for c in loop.coach.active(41.0)] == [settled.evidence["id"]]
    # Angry again 50 s after the first angry card: that card cools down (60 s), so no
    # new card; "the customer has settled" must not stay on screen all the same.
    assert loop.feed([anger(70.0, "angry", "calm", 0.8)]) == []
    assert loop.coach.active(70.5) == []


def test_interruption_then_pause_before_answering():
    loop = Loop()
    got = loop.feed([
        ev("interruption", 31.2, "agent", onset=30.6, overlap=0.6, min_overlap=0.5,
           customer_since=28.0),
        ev("interruption.end", 32.4, "agent", onset=30.6, overlap=1.8),
    ])
    assert cards(got) == [(31.2, "interruption.let-finish"), (32.4, "interruption.pause")]
    assert got[0].evidence["text"] == "对不起,您请继续说。"
    assert got[0].evidence["title"] == "请让客户说完,不要打断"
    assert got[1].evidence["title"].startswith("回答前先暂停3~5秒")
    assert got[0].evidence["reason"]["summary"] == "agent talking over the customer for 0.6 s"
    # A second interruption 10 s later: the card is still up (ttl 10 s) and cooling (20 s).
    again = loop.feed([ev("interruption", 41.0, "agent", onset=40.4, overlap=0.6, min_overlap=0.5)])
    assert again == []
    later = loop.feed([ev("interruption", 51.3, "agent", onset=50.7, overlap=0.6, min_overlap=0.5)])
    assert cards(later) == [(51.3, "interruption.let-finish")]


@pytest.mark.parametrize(("direction", "cpm", "entry", "words"), [
    ("fast", 168.0, "pace.fast", "120个字"),
    ("slow", 82.0, "pace.slow", "120个字"),
])
def test_pace_drift_against_120_characters_a_minute(direction, cpm, entry, words):
    loop = Loop()
    drift = ev("pace.drift", 95.0, "agent", cpm=cpm, target=120, band=[90, 150],
               direction=direction, kind="band", sustained=20.0)
    got = loop.feed([drift])
    assert cards(got) == [(95.0, entry)]
    assert words in got[0].evidence["text"] and got[0].evidence["cooldown"] == 90.0
    assert f"too {direction}" in got[0].evidence["reason"]["summary"]
    assert loop.feed([ev("pace.drift", 150.0, "agent", cpm=cpm, target=120, band=[90, 150],
                         direction=direction, kind="band", sustained=20.0)]) == []
    assert cards(loop.feed([ev("pace.drift", 185.0, "agent", cpm=cpm, target=120,
                                band=[90, 150], direction=direction, kind="self",
                                sustained=20.0)])) == [(185.0, entry)]


@pytest.mark.parametrize(("hour", "entry", "opening"), [
    (9, "greet.morning", "早上好"),
    (12, "greet.noon", "中午好"),
    (15, "greet.afternoon", "您好"),
    (21, "greet.evening", "晚上好"),
    (2, "greet.evening", "晚上好"),
])
def test_greeting_by_time_of_day(hour, entry, opening):
    started = ev("call.started", 0.0, None, agent="a7", language="zh-CN", sample_rate=8000,
                 source="sip", local_hour=hour)
    got = Loop().feed([started])
    assert cards(got) == [(0.0, entry)]
    assert got[0].evidence["text"].startswith(opening)
    assert got[0].evidence["text"].endswith("请问有什么可以帮到您?")


def test_greeting_uses_the_configured_hour_or_falls_back_to_plain_hello():
    started = ev("call.started", 0.0, None, agent="a7", language="zh-CN")
    assert cards(Loop(local_hour=19).feed([started])) == [(0.0, "greet.evening")]
    assert cards(Loop().feed([started])) == [(0.0, "greet.default")]


def test_closing_when_the_customer_has_nothing_else():
    loop = Loop()
    got = loop.feed(says("customer", "好 的 没有 了 谢谢", t0=300.0))
    assert cards(got) == [(302.3, "close.thanks")]  # on the final, not mid-sentence
    assert "感谢您的来电" in got[0].evidence["text"] and "再见" in got[0].evidence["text"]


def test_call_language_switches_the_playbook():
    loop = Loop("zh-CN")
    got = loop.feed([ev("call.started", 0.0, None, agent="a7", language="en-US", local_hour=9)])
    assert got[0].evidence["text"].startswith("Good morning")
    got = loop.feed([anger(5.0, "angry", "calm", 0.9)])
    assert got[0].evidence["language"] == "en-US"


def test_taboo_phrase_card_comes_while_the_agent_is_still_speaking():
    loop = Loop()
    stream = says("agent", "先生 你 弄 错 了 这个 月 的 账单 没有 问题", t0=40.0)
    got = loop.feed(stream)
    assert cards(got) == [(42.0, "taboo.you-are-wrong")]  # the partial ending in 了 (5th word)
    assert got[0].evidence["text"] == "可能我没有表达清楚,我再跟您核对一下。"
    assert got[0].evidence["reason"]["summary"] == 'agent said "你弄错了"'
    # Same words again 10 s later: still on screen / cooling (20 s) -> nothing.
    assert loop.feed(says("agent", "你 弄 错 了", t0=52.0)) == []
    later = loop.feed(says("agent", "你 弄 错 了", t0=70.0))
    assert cards(later) == [(71.6, "taboo.you-are-wrong")]
    assert got[0].t < stream[-1].t  # before the agent's turn ended


# -- not flooding the agent ----------------------------------------------------------

def test_at_most_three_cards_and_the_most_urgent_replaces_the_least():
    loop = Loop()
    loop.feed([ev("pace.drift", 10.0, "agent", cpm=170.0, target=120, band=[90, 150],
                  direction="fast", kind="band", sustained=20.0)])          # 40
    loop.feed(says("agent", "但是 这个", t0=10.5))                            # 70
    loop.feed([anger(12.0, "tense", "calm", 0.5)])                           # 65
    on_screen = [c["entry"] for c in loop.coach.active(12.0)]
    assert on_screen == ["taboo.but", "anger.tense", "pace.fast"]
    got = loop.feed([ev("interruption", 13.0, "agent", onset=12.0, overlap=1.0,
                        min_overlap=1.0)])                                   # 80 replaces 40
    assert got[0].evidence["replaces"] == [loop.suggestions[0].evidence["id"]]
    assert [c["entry"] for c in loop.coach.active(13.0)] == [
        "interruption.let-finish", "taboo.but", "anger.tense"]
    # A less urgent card does not push anything off, and its cooldown does not start.
    assert loop.feed(says("agent", "您 必须 带 身份证", t0=13.5)) == []       # 50
    assert len(loop.coach.active(14.0)) == 3


def test_one_event_shows_one_card_the_most_urgent():
    loop = Loop()
    got = loop.feed([ev("transcript.final", 5.0, "customer",
                        text="我 要 投诉 你们 退款 不然 就 找 媒体 曝光", start=2.0, end=5.0)])
    assert cards(got) == [(5.0, "demand.exposure")]


def test_cards_expire_so_the_screen_clears():
    loop = Loop()
    loop.feed([anger(20.0, "tense", "calm", 0.5)])                           # ttl 20
    assert len(loop.coach.active(39.9)) == 1
    assert loop.coach.active(40.0) == []


def test_feedback_is_an_event_and_dismissing_restarts_the_cooldown():
    loop = Loop()
    sid = loop.feed([anger(20.0, "tense", "calm", 0.5)])[0].evidence["id"]
    fb = loop.coach.feedback(sid, "dismissed", "a7", 25.0)
    assert (fb.type, fb.t, fb.party) == ("feedback", 25.0, "agent")
    assert fb.evidence == {"suggestion": sid, "entry": "anger.tense", "action": "dismissed",
                           "agent": "a7"}
    assert loop.coach.active(25.0) == []
    assert loop.feed([anger(82.0, "tense", "calm", 0.5)]) == []   # 57 s after dismissal
    assert len(loop.feed([anger(85.0, "tense", "calm", 0.5)])) == 1
    used = loop.coach.feedback(loop.suggestions[-1].evidence["id"], "used", "a7", 86.0)
    assert used.evidence["action"] == "used" and loop.coach.active(86.0) == []


def test_bad_feedback_is_one_clear_error():
    coach = Coach(BOOKS, CALL, "zh-CN")
    with pytest.raises(UserError, match="no suggestion 's9'"):
        coach.feedback("s9", "used", "a7", 1.0)
    with pytest.raises(UserError, match="'used' or 'dismissed'"):
        coach.feedback("s9", "liked", "a7", 1.0)


def test_replaying_gives_the_same_suggestions():
    stream = [ev("call.started", 0.0, None, agent="a7", language="zh-CN", local_hour=10)]
    stream += says("customer", "你们 又 多 扣 我 钱 了 我 要 投诉", t0=3.0)
    stream += [anger(8.0, "angry", "calm", 0.9)]
    stream += says("agent", "您 别 激动 嘛 我 试试 看", t0=9.0)
    a, b = Loop(), Loop()
    assert a.feed(stream) == b.feed(stream)
    assert cards(a.suggestions) == [
        (0.0, "greet.morning"),  # call start, 10 o'clock
        (4.6, "fault.apologise"),  # partial "你们又多扣": our error
        (7.0, "complaint.received"),  # partial ending in 投诉
        (8.0, "anger.angry"),  # screen full: replaces the greeting (30)
        (10.2, "taboo.calm-down"),  # 您别激动: replaces the oldest 60 (fault)
        (11.4, "taboo.ill-try"),  # 我试试: replaces the complaint card (60)
    ]
    assert [c["entry"] for c in a.coach.active(12.0)] == [
        "anger.angry", "taboo.ill-try", "taboo.calm-down"]


def test_params_are_checked():
    with pytest.raises(ConfigError, match="coach.max_active: must be 1..10 cards, got 0"):
        CoachParams(max_active=0)


def test_three_questions_in_a_row_then_say_how_you_see_it():
    loop = Loop()
    stream = says("agent", "请问 您 是 哪 天 办理 的", t0=10.0)
    stream += says("customer", "上 个 月", t0=13.0)
    stream += says("agent", "当时 有 没有 收到 短信", t0=15.0)
    stream += says("customer", "没有", t0=18.0)
    stream += says("agent", "那 您 现在 还 能 上网 吗", t0=19.0)
    got = loop.feed(stream)
    # Fires on the third question's final (19 + 7 words * 0.4 + 0.3), not before.
    assert cards(got) == [(22.1, "tip.three-questions")]
    assert got[0].evidence["text"] == "我能理解这件事让您很着急。"
    assert got[0].evidence["reason"]["summary"] == "3 in a row"
    # A statement in between breaks the run.
    loop = Loop()
    loop.feed(says("agent", "请问 您 是 哪 天 办理 的", t0=10.0))
    loop.feed(says("agent", "我 理解 这 让 您 很 着急", t0=13.0))
    loop.feed(says("agent", "当时 有 没有 收到 短信", t0=16.0))
    assert loop.feed(says("agent", "那 您 现在 还 能 上网 吗", t0=19.0)) == []


def test_numbers_are_masked_in_what_the_card_shows():
    loop = Loop()
    got = loop.feed([ev("transcript.final", 9.0, "customer",
                        text="为什么 扣 我 13812345678 的 钱 为什么", start=6.0, end=9.0)])
    summary = got[0].evidence["reason"]["summary"]
    assert "13812345678" not in summary and "***********" in summary


def test_call_end_clears_the_screen():
    loop = Loop()
    loop.feed([anger(20.0, "angry", "tense", 0.8)])
    assert loop.feed([ev("call.ended", 25.0, None, duration=25.0, reason="hangup")]) == []
    assert loop.coach.active(25.0) == []
