"""Loading and checking playbooks: the shipped ones pass, broken ones name file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assist.cli.prompts import main
from assist.coach.playbook import DEFAULT_DIR, PlaybookError, load_playbooks
from assist.errors import UserError

GOOD = '''language = "zh-CN"

[[entry]]
id = "site.hello"
seed = "site manual 1.1"
trigger = { event = "call.started" }
phrasings = ["您好"]
priority = 20
cooldown = 10
'''


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(folder: Path) -> list[str]:
    with pytest.raises(PlaybookError) as info:
        load_playbooks([folder])
    return info.value.problems


def test_shipped_playbooks_cover_both_languages_and_cite_their_seed():
    books = load_playbooks([DEFAULT_DIR])
    assert books.languages == ("en-US", "zh-CN")
    for entry in books.entries:
        assert re.match(r"00[0-4]", entry.seed), (entry.id, entry.seed)
    # Every zh-CN rule has an English counterpart with the same id, except those that
    # only make sense in Chinese (中午好 greeting).
    zh = {e.id for e in books.for_language("zh-CN")}
    en = {e.id for e in books.for_language("en-US")}
    assert zh - en == {"greet.noon"}


def test_language_filter_and_a_missing_language():
    assert {e.language for e in load_playbooks([DEFAULT_DIR], "zh-CN").entries} == {"zh-CN"}
    with pytest.raises(UserError, match="no playbook entries for language 'fr-FR'"):
        load_playbooks([DEFAULT_DIR], "fr-FR")


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.toml", GOOD.replace('priority = 20', 'priority = = 20'))
    assert problems(tmp_path) == [f"{path}:8: TOML syntax error: Invalid value"]


def test_each_kind_of_mistake_names_the_line_of_the_key(tmp_path):
    text = GOOD + '''
[[entry]]
id = "site.angry"
seed = "site manual 2.3"
trigger = { event = "anger", level = "furious" }
phrasings = ["别急"]
priority = 90
cooldown = 60

[[entry]]
id = "site.spot"
seed = "site manual 2.4"
spot = ['(unclosed']
phrasings = []
priority = 101
cooldown = -1
colour = "red"

[[entry]]
id = "site.pace"
seed = "site manual 3"
phrasings = ["慢一点"]
priority = 40
cooldown = 60
[entry.trigger]
event = "pace.drift"
level = "angry"
hours = [8, 12]
'''
    path = write(tmp_path, "site.toml", text)
    assert problems(tmp_path) == [
        f"{path}:14: entry site.angry: trigger.level 'furious' is not one of angry, calm, tense",
        f"{path}:26: entry site.spot: unknown key 'colour'; known: cooldown, id, language,"
        " note, phrasings, priority, seed, spot, title, trigger, ttl",
        f"{path}:23: entry site.spot: `phrasings` must be a list of non-empty strings",
        f"{path}:24: entry site.spot: `priority` must be a whole number 1..100, got 101",
        f"{path}:25: entry site.spot: `cooldown` must be seconds between 0 and 3600, got -1",
        f"{path}:22: entry site.spot: bad regular expression in `spot` '(unclosed':"
        " missing ), unterminated subpattern at position 0",
        f"{path}:36: entry site.pace: trigger.level only applies to event anger",
        f"{path}:37: entry site.pace: trigger.hours must be [from, to] local hours 0..24"
        " on event call.started",
    ]


def test_the_service_refuses_to_start_with_the_same_first_message(tmp_path):
    path = write(tmp_path, "a.toml", GOOD.replace('"call.started"', '"call.begun"'))
    with pytest.raises(UserError) as info:
        load_playbooks([DEFAULT_DIR, tmp_path], "zh-CN")
    assert str(info.value) == (
        f"{path}:6: entry site.hello: trigger.event must be known event types,"
        " got 'call.begun'"
    )


def test_duplicates_unknown_rules_and_missing_folders(tmp_path):
    a = write(tmp_path / "site", "a.toml", GOOD)
    b = write(tmp_path / "site", "b.toml", GOOD + '''
[[entry]]
id = "site.flag"
seed = "site manual 4"
trigger = { event = "phrase", rule = "taboo.no-such-rule" }
phrasings = ["x"]
priority = 50
cooldown = 5
''')
    got = problems(tmp_path / "site")
    assert got == [
        f"{b}:3: duplicate id 'site.hello' (first at {a}:3); give each entry its own id",
        f"{b}:11: trigger.rule 'taboo.no-such-rule' is not the id of a zh-CN entry with"
        " `spot` patterns",
    ]
    with pytest.raises(PlaybookError, match="nowhere: playbook folder not found"):
        load_playbooks([tmp_path / "nowhere"])


def test_an_admin_folder_overrides_and_extends_the_shipped_rules(tmp_path):
    write(tmp_path, "site.toml", '''language = "zh-CN"

[[entry]]
id = "taboo.but"
seed = "004 合一表达法 (site wording)"
spot = ['但是']
phrasings = ["同时,……"]
priority = 70
cooldown = 30

[[entry]]
id = "site.ticket"
seed = "site manual 5: always give the ticket number"
trigger = { event = "transcript.final", party = "customer", match = ['工单号'] }
phrasings = ["您的工单号是……,请您记录一下。"]
priority = 50
cooldown = 30
''')
    shipped = load_playbooks([DEFAULT_DIR], "zh-CN")
    books = load_playbooks([DEFAULT_DIR, tmp_path], "zh-CN")
    assert len(books.entries) == len(shipped.entries) + 1
    assert books.get("taboo.but", "zh-CN").phrasings == ("同时,……",)
    assert books.get("site.ticket", "zh-CN").source == f"{tmp_path / 'site.toml'}:11"


def test_prompts_check_command(tmp_path, capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 111 entries (en-US 55, zh-CN 56); 52 phrase rules")
    path = write(tmp_path, "x.toml", GOOD.replace("cooldown = 10", "cooldown = '10'"))
    assert main(["check", str(DEFAULT_DIR), str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}:9: entry site.hello: `cooldown` must be seconds between 0 and 3600, got '10'",
        "1 problem; fix them and run the check again",
    ]


def test_prompts_spot_command(capsys):
    assert main(["spot", "你 弄 错 了"]) == 0
    assert capsys.readouterr().out == (
        'taboo.you-are-wrong: "你弄错了" -> say instead: 可能我没有表达清楚,我再跟您核对一下。\n'
    )
    assert main(["spot", "--language", "fr-FR", "bonjour"]) == 2
    assert "no phrase rules for language 'fr-FR'" in capsys.readouterr().err


def test_streak_needs_a_match_on_finals(tmp_path):
    path = write(tmp_path, "s.toml", GOOD.replace(
        'trigger = { event = "call.started" }',
        'trigger = { event = "transcript.partial", streak = 3, match = ["吗$"] }'))
    assert problems(tmp_path) == [
        f"{path}:6: entry site.hello: trigger.streak must be a whole number 1..20, with"
        " `match` on event transcript.final"
    ]
