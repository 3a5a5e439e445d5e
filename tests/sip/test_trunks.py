"""Trunk config: validated once, errors name file, key and line."""

from __future__ import annotations

import pytest

from assist.errors import ConfigError
from sip.trunks import match_trunk, parse_trunks
from sip.trunks_cli import main

GOOD = """\
[[trunks]]
name = "sbc"
sources = ["10.1.0.0/16", "127.0.0.1"]
transport = "udp"
language = "zh-CN"
agent_aor = '^sip:(?P<agent>8\\d{3})@'
order = ["customer", "agent"]

[[trunks]]
name = "pbx"
mode = "forked"
sources = ["192.0.2.7"]
username = "pbx"
password = "s3cret"
role_values = { caller = "customer", callee = "agent" }
"""


def test_good_config_parses_both_trunks():
    sbc, pbx = parse_trunks(GOOD, "a.toml")
    assert (sbc.name, sbc.mode, sbc.transport, sbc.language) == ("sbc", "siprec", "udp", "zh-CN")
    assert sbc.order == ("customer", "agent")
    assert pbx.mode == "forked" and pbx.auth and pbx.role_of_value("Callee") == "agent"
    assert (pbx.username, pbx.password, pbx.realm) == ("pbx", "s3cret", "assist")
    assert not sbc.auth
    assert "s3cret" not in repr(pbx)


def test_realm_is_optional_and_kept():
    text = GOOD.replace('password = "s3cret"', 'password = "s3cret"\nrealm = "tap.example"')
    _, pbx = parse_trunks(text)
    assert pbx.realm == "tap.example"


def test_match_by_source_and_transport():
    trunks = parse_trunks(GOOD)
    assert match_trunk(trunks, "10.1.2.3", "UDP").name == "sbc"
    assert match_trunk(trunks, "10.1.2.3", "tcp") is None  # sbc is udp only
    assert match_trunk(trunks, "192.0.2.7", "tcp").name == "pbx"
    assert match_trunk(trunks, "127.0.0.2", "udp") is None
    assert match_trunk(trunks, "not-an-ip", "udp") is None


def test_named_table_form():
    (t,) = parse_trunks('[trunks.east]\nsources = ["::1"]\norder = ["agent", "customer"]\n')
    assert t.name == "east" and t.order == ("agent", "customer")


@pytest.mark.parametrize(
    ("patch", "where", "what"),
    [
        (('sources = ["10.1.0.0/16", "127.0.0.1"]', 'sources = ["10.1.0.0/33"]'),
         "3: trunks.sbc.sources", "not an IP address"),
        (('transport = "udp"', 'transport = "sctp"'), "4: trunks.sbc.transport", "one of"),
        (('language = "zh-CN"', 'language = "fr-FR"'), "5: trunks.sbc.language",
         "must be one of zh-CN, en-US, ko-KR"),
        (("agent_aor = '^sip:(?P<agent>8\\d{3})@'", "agent_aor = '(('"),
         "6: trunks.sbc.agent_aor", "regular expression"),
        (('order = ["customer", "agent"]', 'order = ["customer", "customer"]'),
         "7: trunks.sbc.order", "distinct roles"),
        (('password = "s3cret"\n', ""), "13: trunks.pbx.username", "both username"),
        (('mode = "forked"', 'mode = "forked"\ncolour = "red"'), "12: trunks.pbx.colour",
         "unknown key"),
        (('name = "pbx"', 'name = "sbc"'), "9: trunks.sbc", "duplicate"),
        (('password = "s3cret"', 'password = "s3cret"\nrealm = \'a"b\''),
         "15: trunks.pbx.realm", "no quotes"),
        (('username = "pbx"', 'username = " pbx"'), "13: trunks.pbx.username", "blanks"),
        (('username = "pbx"\npassword = "s3cret"', 'realm = "x"'), "13: trunks.pbx.realm",
         "add username and password"),
    ],
)
def test_errors_name_file_key_and_line(patch, where, what):
    text = GOOD.replace(*patch)
    assert text != GOOD
    with pytest.raises(ConfigError) as exc:
        parse_trunks(text, "a.toml")
    assert exc.value.where == "a.toml:" + where, exc.value.where
    assert what in str(exc.value)


def test_siprec_trunk_without_any_role_rule_is_rejected():
    with pytest.raises(ConfigError, match="needs agent_aor"):
        parse_trunks('[[trunks]]\nname = "x"\nsources = ["127.0.0.1"]\n')


def test_no_trunks_and_bad_toml():
    with pytest.raises(ConfigError, match="no trunks"):
        parse_trunks("[other]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_trunks("[[trunks]\n")


def test_cli_check_prints_table(tmp_path, capsys):
    path = tmp_path / "trunks.toml"
    path.write_text(GOOD)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sbc" in out and "forked" in out and "digest (realm assist, user pbx)" in out
    assert "no metadata: order customer,agent" in out
    assert "s3cret" not in out


def test_cli_check_reports_one_line_error(tmp_path, capsys):
    path = tmp_path / "trunks.toml"
    path.write_text(GOOD.replace('transport = "udp"', 'transport = "ws"'))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "4: trunks.sbc.transport" in err
    assert main(["check", str(tmp_path / "missing.toml")]) == 2
