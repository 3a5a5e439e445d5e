"""Phrase spotting on the agent's own words: every taboo phrase and language tip of seed 004."""

from __future__ import annotations

import pytest

from assist.detectors.phrases import PhraseSpotter, find_spots
from assist.textnorm import normalize
from tests.coach_streams import BOOKS, ev, says

# Seed 004's taboo list (服务忌语), each in a sentence an agent might say, spaced as
# the recogniser writes it.  (rule id, utterance, words the flag must show)
TABOO_ZH = [
    ("taboo.may-not-understand", "这个 套餐 您 可能 不 明白 我 再 说 一遍", "您可能不明白"),
    ("taboo.must-be-confused", "您 肯定 弄 混 了 那 是 上 个 月 的 账单", "您肯定弄混"),
    ("taboo.you-should", "您 应该 先 去 营业厅 办理", "您应该先"),
    ("taboo.we-wont", "这种 情况 我们 不会 退 的", "我们不会"),
    ("taboo.we-never", "我们 从来 没 收过 这个 钱", "我们从来没"),
    ("taboo.we-cannot", "我们 不可能 多 扣 您 的 费用", "我们不可能"),
    ("taboo.you-are-wrong", "先生 你 弄 错 了 吧", "你弄错了"),
    ("taboo.impossible", "这 是 不可能 的 系统 不会 出错", "这是不可能"),
    ("taboo.calm-down", "您 别 激动 嘛 慢慢 说", "您别激动"),
    ("taboo.are-you-sure", "你 确定 吗", "你确定吗"),
    ("taboo.are-you-sure", "这 绝对 不可能", "绝对不可能"),
    ("taboo.others-worse", "还有 比 你 更 倒霉 的 呢", "比你更倒霉"),
    ("taboo.threat", "如果 您 再 不 配合 我 可 就 挂 电话 了", "如果您再不配合我可"),
    ("taboo.policy-must", "我们 的 政策 是 这样 的", "我们的政策是"),
    ("taboo.policy-must", "你 必须 本人 来 办理", "你必须"),
    ("taboo.not-my-job", "这个 不 归 我 负责", "不归我负责"),
    ("taboo.wait-tomorrow", "今天 不行 只能 等 明天 了", "今天不行"),
    ("taboo.but", "我 理解 您 但是 规定 就是 这样", "但是"),
    ("taboo.but", "可以 办理 不过 要 收费", "不过"),
    ("taboo.ill-try", "那 我 试试 看 吧", "我试试"),
]

# Seed 004's 语言小贴士 and seed 001's polite refusal: the wording to improve.
TIPS_ZH = [
    ("tip.you-can", "您 不能 在 网上 办理", "您不能", "您可以……"),
    ("tip.could-you", "您 必须 带 身份证", "您必须", "您能……吗?"),
    ("tip.thanks-for-patience", "很 抱歉 让 您 久等 了", "抱歉让您久等", "非常感谢您的耐心等候。"),
    ("tip.double-negative", "我 不想 给 您 错误 的 建议", "不想给您错误", "我想给您准确的建议。"),
    ("tip.double-negative", "也 不是 不 可以 办", "不是不", "我想给您准确的建议。"),
    ("tip.not-clear", "您 误会 了 我 的 意思", "您误会了", "可能我没有表达清楚。"),
    ("tip.i-not-we", "我们 会 尽快 处理 的", "我们会尽快处理", "我会马上为您处理。"),
    ("tip.if-then", "不 能 退 除非 您 有 发票", "除非", "如果……,我就可以为您……"),
    ("tip.ask-name", "请问 您 的 名字", "请问您的名字", "我该怎么称呼您?"),
    ("refuse.polite", "这个 我 办不了", "办不了",
     "真不好意思,这件事只怕暂时帮不了您,因为……,我建议……"),
]


def phrase_events(words: str, language: str = "zh-CN", party: str = "agent"):
    spotter = PhraseSpotter(BOOKS, language)
    out = []
    for e in says(party, words, t0=10.0):
        out += spotter.feed(e)
    return out


@pytest.mark.parametrize(("rule", "words", "matched"), TABOO_ZH)
def test_each_taboo_phrase_is_flagged_once_while_the_agent_is_still_speaking(rule, words, matched):
    stream = says("agent", words, t0=10.0)
    spotter = PhraseSpotter(BOOKS, "zh-CN")
    got = [(e, p) for e in stream for p in spotter.feed(e) if p.evidence["rule"] == rule]
    assert len(got) == 1, f"{rule} flagged {len(got)} times in {words!r}"
    source, flag = got[0]
    # Flagged on the partial that completed the phrase, not at the end of the turn.
    assert source.type == "transcript.partial"
    assert normalize(source.evidence["text"], "zh-CN").endswith(flag.evidence["matched"][-1])
    assert flag.t == source.t < stream[-1].t
    assert flag.evidence["matched"] == matched
    assert flag.party == "agent"
    entry = BOOKS.get(rule, "zh-CN")
    assert flag.evidence["instead"] == entry.phrasings[0]
    assert flag.evidence["seed"].startswith("004")


@pytest.mark.parametrize(("rule", "words", "matched", "instead"), TIPS_ZH)
def test_each_language_tip_offers_the_seed_wording(rule, words, matched, instead):
    flags = [p for p in phrase_events(words) if p.evidence["rule"] == rule]
    assert [(p.evidence["matched"], p.evidence["instead"]) for p in flags] == [(matched, instead)]


def test_the_same_words_are_not_flagged_again_when_the_partial_is_revised_or_final():
    spotter = PhraseSpotter(BOOKS, "zh-CN")
    stream = [
        ev("transcript.partial", 1.0, "agent", text="你 弄 错", start=0.5, end=1.0),
        ev("transcript.partial", 1.4, "agent", text="你 弄 错 了", start=0.5, end=1.4),
        ev("transcript.partial", 1.8, "agent", text="你 弄错 了 这个", start=0.5, end=1.8),
        ev("transcript.final", 2.4, "agent", text="你 弄错 了 这个 吧", start=0.5, end=2.4),
    ]
    flags = [(e.t, p.evidence["rule"]) for e in stream for p in spotter.feed(e)]
    assert flags == [(1.4, "taboo.you-are-wrong")]


def test_a_second_occurrence_and_the_next_utterance_are_flagged_again():
    spotter = PhraseSpotter(BOOKS, "zh-CN")
    stream = says("agent", "但是 您 看 但是 这样", t0=0.0) + says("agent", "但是 可以", t0=5.0)
    flags = [(round(p.t, 1), p.evidence["rule"]) for e in stream for p in spotter.feed(e)]
    assert flags == [(0.4, "taboo.but"), (1.6, "taboo.but"), (5.4, "taboo.but")]


def test_overlapping_rules_give_one_flag_for_the_longer_phrase():
    flags = phrase_events("我们 不可能 这样 做")
    assert [p.evidence["rule"] for p in flags] == ["taboo.we-cannot"]
    flags = phrase_events("这个 绝对 不可能")
    assert [p.evidence["rule"] for p in flags] == ["taboo.are-you-sure"]


def test_the_customer_is_never_flagged():
    assert phrase_events("你们 弄 错 了 但是 我 不管", party="customer") == []


def test_polite_agent_speech_raises_no_flag():
    for words in [
        "您好 很 高兴 为 您 服务 请问 有 什么 可以 帮 到 您",
        "谢谢 您 告诉 我 我 向 您 道歉 这 是 我们 的 责任",
        "我 将 立刻 过问 这 件 事 您 希望 如何 解决 这 件 事",
        "非常 感谢 您 的 耐心 等候",
        "您 应该 会 在 三 天 内 收到 短信",
        "您 确定 要 办理 这个 套餐 吗",
        "我 马上 帮 您 处理 忙 不过来 的 话 我 会 回电",
    ]:
        assert phrase_events(words) == [], words


def test_no_playbook_phrasing_trips_a_phrase_rule():
    # The wording we suggest must itself pass the spotter, in every language.
    for language in BOOKS.languages:
        rules = BOOKS.spot_rules(language)
        for entry in BOOKS.for_language(language):
            for text in entry.phrasings:
                assert find_spots(normalize(text, language), rules) == [], (entry.id, text)


TABOO_EN = [
    ("taboo.may-not-understand", "you may not understand how this works"),
    ("taboo.must-be-confused", "you must be confused with another bill"),
    ("taboo.you-should", "you should have read the contract"),
    ("taboo.we-wont", "we don't refund that kind of charge"),
    ("taboo.we-never", "we never send those messages"),
    ("taboo.we-cannot", "we can't change that"),
    ("taboo.you-are-wrong", "you're wrong about the date"),
    ("taboo.impossible", "that's impossible"),
    ("taboo.calm-down", "sir please calm down"),
    ("taboo.are-you-sure", "are you sure about that"),
    ("taboo.others-worse", "other people have it worse"),
    ("taboo.threat", "if you don't stop shouting i will end the call"),
    ("taboo.policy-must", "our policy is thirty days"),
    ("taboo.not-my-job", "that's not my department"),
    ("taboo.wait-tomorrow", "not today you'll have to wait until tomorrow"),
    ("taboo.but", "i see but the rule is clear"),
    ("taboo.ill-try", "i'll try to fix it"),
]


@pytest.mark.parametrize(("rule", "words"), TABOO_EN)
def test_each_taboo_phrase_is_flagged_in_english(rule, words):
    rules = [p.evidence["rule"] for p in phrase_events(words, "en-US")]
    assert rule in rules


def test_the_call_language_picks_the_rules():
    spotter = PhraseSpotter(BOOKS, "zh-CN")
    spotter.feed(ev("call.started", 0.0, None, agent="a7", language="en-US"))
    flags = [p for e in says("agent", "calm down please", t0=1.0) for p in spotter.feed(e)]
    assert [p.evidence["rule"] for p in flags] == ["taboo.calm-down"]
