from assist.asr.text import base_language, count_units, join_text, join_tokens


def test_chinese_tokens_are_joined_without_spaces():
    assert join_text("您好 请问 有 什么 可以 帮 您", "zh") == "您好请问有什么可以帮您"


def test_latin_words_inside_chinese_keep_one_space_between_them():
    assert join_text("我 的 iphone 12 坏 了", "zh-CN") == "我的iphone 12坏了"


def test_english_keeps_spaces_and_fillers_are_dropped():
    assert join_text("[unk] hello there <UNK> sir", "en") == "hello there sir"
    assert join_tokens(["[unk]"], "zh") == ""


def test_base_language():
    assert base_language("zh-CN") == "zh"
    assert base_language("EN_us") == "en"


def test_count_units_counts_han_characters_for_chinese():
    assert count_units("您好，请问有什么可以帮您？", "zh") == 11
    assert count_units("我的iphone坏了", "zh") == 5  # 4 Han + 1 word


def test_count_units_counts_words_for_english():
    assert count_units("I don't know, sir.", "en-US") == 4
    assert count_units("", "en") == 0


def test_count_units_counts_hangul_syllables_for_korean():
    assert count_units("안녕하세요 고객님", "ko") == 8
