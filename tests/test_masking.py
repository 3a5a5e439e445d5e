"""Masking numbers as people write them and recognisers spell them, and nothing else.

Property tests generate phone, card and ID numbers in the forms callers and
recognisers produce; others check that ordinary text (prices, dates, times,
short order numbers, idioms with digit characters) is left as it was.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assist.privacy import mask, mask_words
from assist.textnorm import mask_numbers

PROPS = settings(max_examples=300, deadline=None)
SPOKEN = {"0": "零〇", "1": "一幺", "2": "二", "3": "三", "4": "四", "5": "五", "6": "六",
          "7": "七", "8": "八", "9": "九"}
FULL = {str(i): chr(ord("０") + i) for i in range(10)}
DIGIT_CHARS = set("0123456789") | set(FULL.values()) | set("".join(SPOKEN.values())) | {"两"}
SEPARATORS = [" ", "  ", "   ", "-", "－", "–", ".", "．", "/", "／", " - ", " / ", "·",
              "\u3000", "，", ", "]
PREFIXES = ["", "我的手机号是", "卡号", "身份证号码是：", "电话 ", "my number is ", "号码是"]
SUFFIXES = ["", "，谢谢", "。", " thanks", "对吧"]


@st.composite
def numbers(draw) -> str:
    """The digits of a phone, bank card or ID number (ID may end in X)."""
    kind = draw(st.sampled_from(["mobile", "landline", "card", "id"]))
    if kind == "mobile":
        return "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9,
                                                                      max_size=9))
    if kind == "landline":
        return "0" + draw(st.text("0123456789", min_size=9, max_size=11))
    if kind == "card":
        return draw(st.sampled_from("3456")) + draw(st.text("0123456789", min_size=15,
                                                            max_size=18))
    last = draw(st.sampled_from("0123456789Xx"))
    return draw(st.sampled_from("123456")) + draw(st.text("0123456789", min_size=16,
                                                          max_size=16)) + last


def _spell(draw, digits: str) -> list[str]:
    how = draw(st.sampled_from(["arabic", "full", "spoken", "mixed"]))
    out = []
    for ch in digits:
        if ch in "Xx":
            out.append(ch)
            continue
        style = how if how != "mixed" else draw(st.sampled_from(["arabic", "full", "spoken"]))
        out.append(ch if style == "arabic" else FULL[ch] if style == "full"
                   else draw(st.sampled_from(SPOKEN[ch])))
    return out


@st.composite
def written(draw) -> tuple[str, str]:
    """(digits, the number as written): grouped 3 to 6 at a time, any separators."""
    digits = draw(numbers())
    chars = _spell(draw, digits)
    sep = draw(st.sampled_from(SEPARATORS + ["mixed", "none"]))
    size = 4 if sep in ("，", ", ") else None  # comma-grouped numbers go by fours
    text, i = "", 0
    while i < len(chars):
        n = size or draw(st.integers(3, 6))
        if len(chars) - i - n < 3:  # no short tail group
            n = len(chars) - i
        gap = draw(st.sampled_from(SEPARATORS)) if sep == "mixed" else sep
        text += ("" if i == 0 or sep == "none" else gap) + "".join(chars[i:i + n])
        i += n
    return digits, text


def digits_left(text: str) -> str:
    return "".join(ch for ch in text if ch in DIGIT_CHARS or ch in "Xx")


@PROPS
@given(written(), st.sampled_from(PREFIXES), st.sampled_from(SUFFIXES))
def test_any_written_or_spoken_number_keeps_only_its_last_four(number, prefix, suffix) -> None:
    digits, text = number
    line = prefix + text + suffix
    got = mask(line)
    assert len(got) == len(line)
    assert got.startswith(prefix) and got.endswith(suffix)
    assert len(digits_left(got[len(prefix):len(got) - len(suffix)])) == 4
    assert digits_left(got) == digits_left(prefix + text[-_tail(text):] + suffix)


def _tail(text: str) -> int:
    """How many characters from the end hold the last four digits."""
    seen = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] in DIGIT_CHARS or text[i] in "Xx":
            seen += 1
            if seen == 4:
                return len(text) - i
    return len(text)


@PROPS
@given(written(), st.data())
def test_a_number_split_over_word_tokens_is_masked_in_the_tokens(number, data) -> None:
    _, text = number
    cuts = sorted(data.draw(st.sets(st.integers(1, len(text) - 1), max_size=5)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    tokens = [w.strip() for w in pieces if w.strip()]  # a recogniser's words carry no spaces
    words = [{"w": "号码", "start": 0.0}] + [{"w": w, "start": float(i)}
                                            for i, w in enumerate(tokens, 1)]
    got = mask_words(words)
    assert [w["start"] for w in got] == [w["start"] for w in words]
    assert got[0]["w"] == "号码"
    assert len(digits_left("".join(w["w"] for w in got))) == 4


@pytest.mark.parametrize("text, masked", [
    ("138  0013  8000", "***  ****  8000"),
    ("138.0013.8000", "***.****.8000"),
    ("138/0013/8000", "***/****/8000"),
    ("138－0013－8000", "***－****－8000"),
    ("138 - 0013 - 8000", "*** - **** - 8000"),
    ("6222,0212,3456,7890", "****,****,****,7890"),
    ("一三八零零一三八零零零", "*******八零零零"),
    ("幺三八零零幺三八零零零", "*******八零零零"),
    ("一 三 八 零 零 一 三 八 零 零 零", "* * * * * * * 八 零 零 零"),
    ("一三八0013八000", "*******八000"),
    ("11010119900307888X", "**************888X"),
    ("110101 19900307 888x", "****** ******** 888x"),
    ("约在2026-01-15，电话13800138000", "约在2026-01-15，电话*******8000"),
])
def test_the_forms_that_used_to_slip_through(text, masked) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize("text", [
    "价格是1,299.00元", "一共¥12,345.50", "退款12345.50元", "3.5折", "订单123", "订单号4567",
    "2026-01-15", "2026/1/5 09:30", "15.01.2026", "2026.01.15 14:30:00", "下午3点15分",
    "09:30到18:00", "一心一意", "一五一十", "三五个人", "一千二百块", "两三天", "第一二三名",
    "共12件，3天内", "xxxxxxxx", "ABCX", "1.5 kg",
])
def test_ordinary_text_is_left_alone(text) -> None:
    assert mask(text) == text


@PROPS
@given(st.integers(1950, 2035), st.integers(1, 12), st.integers(1, 31),
       st.sampled_from("-/."), st.booleans(), st.sampled_from(["", " 09:30", " 23:59:59"]))
def test_dates_and_times_are_not_numbers_to_hide(y, m, d, sep, pad, time) -> None:
    f = "{:02d}" if pad else "{}"
    for date in (f"{y}{sep}{f.format(m)}{sep}{f.format(d)}",
                 f"{f.format(d)}{sep}{f.format(m)}{sep}{y}"):
        assert mask(f"日期{date}{time}") == f"日期{date}{time}"


@PROPS
@given(st.integers(0, 10**9), st.sampled_from(["", ".5", ".50"]),
       st.sampled_from(["¥{}", "{}元", "价格{}"]))
def test_amounts_with_thousands_or_decimals_are_left_alone(n, cents, form) -> None:
    for amount in (f"{n:,}{cents}", f"{n}{cents}" if cents else f"{n:,}"):
        text = form.format(amount)
        assert mask(text) == text


@PROPS
@given(st.integers(0, 99999), st.sampled_from(["订单{}", "第{}号", "{}件", "房间{}"]))
def test_numbers_under_six_digits_are_kept(n, form) -> None:
    assert mask(form.format(n)) == form.format(n)


def test_matched_phrases_hide_numbers_of_five_digits_or_more_whole() -> None:
    assert mask_numbers("单号是12345") == "单号是*****"
    assert mask_numbers("单号 一二三 四五") == "单号 *** **"
    assert mask_numbers("1234元") == "1234元"
