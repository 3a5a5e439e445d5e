"""Lexical anger cues in the customer's words (seed 004: the callers hardest to serve)."""

from __future__ import annotations

from assist.detectors.lexicon import lexical_cues, lexical_score


def kinds(text: str, language: str = "zh-CN") -> list[str]:
    return [c.kind for c in lexical_cues(text, language)]


def test_chinese_demands_and_threats_as_the_recogniser_writes_them():
    assert kinds("你们 这 是 乱 收费 我 要 投诉") == ["complaint"]
    assert kinds("再 不 解决 我 就 找 媒体 曝光") == ["exposure", "exposure"]
    assert kinds("把 钱 退 给 我 我 要 退款") == ["refund", "refund"]
    assert kinds("你们 得 赔偿 我 的 精神 损失") == ["compensation", "compensation"]
    assert kinds("叫 你们 领导 来 接 电话") == ["manager"]
    assert kinds("我 要 去 12315 告 你们") == ["legal", "complaint"]
    assert kinds("你们 就是 一 群 骗子") == ["insult"]


def test_cues_carry_weights_and_positions():
    cues = lexical_cues("我 要 投诉 还 要 曝光", "zh-CN")
    assert [(c.kind, c.term, c.weight, c.start) for c in cues] == [
        ("complaint", "投诉", 0.5, 2),
        ("exposure", "曝光", 0.8, 6),
    ]


def test_negated_threats_are_not_cues_but_conditional_demands_are():
    assert kinds("我 不是 要 投诉 就是 问 一下") == []
    assert kinds("我 不想 找 你们 经理") == []
    assert kinds("不 退款 我 就 投诉") == ["refund", "complaint"]
    assert kinds("不然 我 就 曝光") == ["exposure"]


def test_ordinary_talk_has_no_cues():
    assert kinds("你好 我 想 查 一下 这个 月 的 话费") == []
    assert kinds("我 收到 很多 垃圾 短信") == []  # spam texts are not an insult
    assert kinds("I'd like to check my balance please", "en-US") == []


def test_english_cues():
    assert kinds("I want a refund and I'm going to complain", "en-US") == ["refund", "complaint"]
    assert kinds("get me your manager or I'll call my lawyer", "en-US") == ["manager", "legal"]
    assert kinds("I'll post this on social media", "en-US") == ["exposure"]
    assert kinds("you people are useless", "en-US") == ["insult"]
    assert kinds("I'm not going to complain, just asking", "en-US") == []


def test_score_grows_with_distinct_kinds_not_repeats():
    one = lexical_score(lexical_cues("我 要 投诉", "zh-CN"))
    repeat = lexical_score(lexical_cues("投诉 投诉 投诉", "zh-CN"))
    two = lexical_score(lexical_cues("我 要 投诉 还 要 曝光", "zh-CN"))
    assert one == repeat == 0.5
    assert two == 0.9  # 1 - (1 - 0.5) * (1 - 0.8)
    assert lexical_score([]) == 0.0
