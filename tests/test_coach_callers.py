"""The coach on what the customer says: hard demands, supervisor, complaints, objections,
insults, off-topic callers (seeds 004, 001, 002), in zh-CN and en-US."""

from __future__ import annotations

import pytest

from tests.coach_streams import Loop, cards, says

# (customer utterance as the recogniser spaces it, entry, call time of the card,
#  words the card must contain).  Utterances start at t=10.0, one word every 0.4 s;
#  cards fire on the partial where the cue word lands.
ZH = [
    ("我 要 把 这 事 发 到 网上 让 媒体 曝光", "demand.exposure", 13.2, "我将立刻过问这件事"),
    ("你们 得 赔偿 我 的 损失", "demand.compensation", 11.2, "我向您道歉"),
    ("我 要 精神 损失 费", "demand.emotional-damages", 11.6, "您希望如何解决这件事"),
    ("这 钱 你们 必须 给 我 退款", "demand.refund", 12.8, "如果符合退费条件,我就立刻为您办理"),
    ("叫 你们 领导 来 接 电话", "escalate.supervisor", 11.2, "我可以请我的上司跟您谈谈,好吗?"),
    ("我 要 投诉 你们 的 服务", "complaint.received", 11.2, "能告诉我事情的经过吗?"),
    ("你们 又 多 扣 了 我 三十 块", "fault.apologise", 11.6, "我会立刻尽力补救"),
    ("你们 就是 一 群 骗子", "caller.insult", 12.0, "能告诉我具体是什么情况吗?"),
    ("小姐 你 多大 了 有 男朋友 吗", "caller.off-topic", 11.2, "与我们的业务无关"),
]


@pytest.mark.parametrize(("words", "entry", "t", "phrase"), ZH)
def test_customer_words_raise_the_seed_answer_while_they_speak(words, entry, t, phrase):
    loop = Loop()
    stream = says("customer", words, t0=10.0)
    got = loop.feed(stream)
    assert cards(got) == [(t, entry)]  # once: the final does not repeat it
    card = got[0].evidence
    assert phrase in card["text"]
    assert card["reason"]["type"] == "transcript.partial"
    assert card["reason"]["party"] == "customer"
    # Said again 20 s later: within the 60 s cooldown, nothing new.
    assert loop.feed(says("customer", words, t0=30.0)) == []
    # Again after the cooldown: the card comes back with the next phrasing.
    again = loop.feed(says("customer", words, t0=10.0 + 60.0))
    assert cards(again) == [(round(t + 60.0, 3), entry)]
    phrasings = card["phrasings"]
    assert again[0].evidence["text"] == phrasings[1 % len(phrasings)]


# Seed 001's three kinds of objection; judged on the whole sentence (the final).
OBJECTIONS = [
    ("不是 这样 的 我 不是 这个 意思", "objection.misunderstanding", "您的意思是……,对吗?"),
    ("这个 套餐 太 贵 了 对 我 没 什么 用", "objection.reasonable", "您是觉得……对您用处不大,是吗?"),
    ("凭 什么 我 不管 我 就要 现在 办", "objection.unreasonable", "您是说……,对吗?"),
]


@pytest.mark.parametrize(("words", "entry", "text"), OBJECTIONS)
def test_three_kinds_of_objection(words, entry, text):
    loop = Loop()
    stream = says("customer", words, t0=50.0)
    got = loop.feed(stream)
    assert cards(got) == [(round(stream[-1].t, 3), entry)]
    assert got[0].evidence["text"] == text
    assert got[0].evidence["seed"].startswith("001")
    assert loop.feed(says("customer", words, t0=80.0)) == []  # cooldown 45 s
    assert len(loop.feed(says("customer", words, t0=100.0))) == 1


def test_repeated_why_gets_the_benefit_explanation():
    got = Loop().feed(says("customer", "为什么 要 收 这个 钱 为什么", t0=5.0))
    assert cards(got) == [(7.7, "caller.why")]
    assert "我们专门推出了这项业务" in got[0].evidence["text"]


def test_agent_refusing_flatly_gets_the_polite_refusal():
    got = Loop().feed(says("agent", "这个 业务 我 办不了", t0=20.0))
    assert cards(got) == [(21.6, "refuse.polite")]
    assert got[0].evidence["text"].startswith("真不好意思,这件事只怕暂时帮不了您,因为")


def test_the_customer_saying_a_taboo_word_is_not_coached():
    # "但是" is only the agent's taboo; a customer saying it raises nothing.
    assert Loop().feed(says("customer", "我 交 了 钱 但是 还是 停机 了", t0=1.0)) == []


def test_a_calm_enquiry_raises_no_card():
    loop = Loop()
    loop.feed(says("customer", "你好 我 想 查 一下 这个 月 的 话费", t0=1.0))
    loop.feed(says("agent", "好 的 我 马上 帮 您 查 一下 请 稍 等", t0=5.0))
    assert loop.suggestions == []


EN = [
    ("i am going to post this on social media", "demand.exposure", "look into it right away"),
    ("i want compensation for this", "demand.compensation", "come back to you by"),
    ("i want a refund now", "demand.refund", "If it qualifies for a refund, then"),
    ("let me speak to your manager", "escalate.supervisor", "ask my supervisor"),
    ("i want to make a formal complaint", "complaint.received", "what happened"),
    ("you charged me twice", "fault.apologise", "put it right"),
    ("you are useless", "caller.insult", "fix this for you"),
    ("are you single", "caller.off-topic", "anything else about your account"),
]


@pytest.mark.parametrize(("words", "entry", "phrase"), EN)
def test_english_customer_words(words, entry, phrase):
    loop = Loop("en-US")
    got = loop.feed(says("customer", words, t0=0.0))
    assert [e for _, e in cards(got)] == [entry]
    assert phrase in got[0].evidence["text"]
    assert got[0].t < says("customer", words, t0=0.0)[-1].t


def test_english_taboo_and_closing():
    loop = Loop("en-US")
    got = loop.feed(says("agent", "calm down sir", t0=0.0))
    assert cards(got) == [(0.8, "taboo.calm-down")]
    got = loop.feed(says("customer", "no that's all thanks", t0=30.0))
    assert cards(got) == [(31.9, "close.thanks")]
