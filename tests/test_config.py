"""The TOML config: defaults, overrides, and errors that name file, line and key.

The range tests walk every parameters class the config builds, so a new field
without a declared range (or a range the loader does not enforce) fails here.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from assist.asr.config import DEFAULT_MODELS
from assist.config import LOOP_SECTIONS, SECTIONS, Config, load, load_coaching
from assist.errors import ConfigError
from assist.settings import rules

EXAMPLE = Path(__file__).resolve().parents[1] / "assist.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "assist.toml"
    p.write_text(text, encoding="utf-8")
    return p


def toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, tuple | list):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def section_of(cfg: Config, name: str) -> Any:
    return getattr(cfg.loop, name) if name in LOOP_SECTIONS else getattr(cfg, name)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    return str(e.value)


FIELDS = [(name, f.name) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def test_defaults_follow_the_seeds() -> None:
    cfg = load(None)
    assert cfg.loop.pace.target == 120.0
    assert cfg.call.language == "zh-CN" and cfg.call.timezone == "Asia/Shanghai"
    assert cfg.server.host == "127.0.0.1"


def test_values_override_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, "data_dir = 'x'\n[pace]\ntarget = 150\n[interruption]\n"
                               "min_overlap = 1.5\n[server]\nport = 9000\n[coach]\n"
                               "max_active = 2\n[auth]\ntoken_ttl = 3600\n"))
    assert cfg.loop.pace.target == 150.0 and cfg.loop.interruption.min_overlap == 1.5
    assert cfg.server.port == 9000 and cfg.store_path == Path("x/assist.sqlite3")
    assert cfg.coach.max_active == 2 and cfg.auth.token_ttl == 3600.0
    assert cfg.secret_path == Path("x/panel-secret")


def test_every_section_is_a_part_of_the_config() -> None:
    names = {f.name for f in dataclasses.fields(Config)}
    loop = {f.name for f in dataclasses.fields(type(Config().loop))}
    assert loop == set(LOOP_SECTIONS)
    for name, cls in SECTIONS.items():
        assert name in names | loop, name
        assert type(section_of(Config(), name)) is cls


@pytest.mark.parametrize(("section", "key"), FIELDS)
def test_every_parameter_declares_its_range(section: str, key: str) -> None:
    assert key in rules(SECTIONS[section]), f"[{section}] {key} has no range: use settings.*"


@pytest.mark.parametrize(("section", "key"), FIELDS)
def test_every_parameter_out_of_range_is_refused_with_file_line_and_key(
        tmp_path: Path, section: str, key: str) -> None:
    r = rules(SECTIONS[section])[key]
    wrong_type = {bool: "yes", str: 5, tuple: 5}.get(r.kind, "x")
    for bad in (*r.bad, wrong_type):
        msg = refused(tmp_path, f"[{section}]\n{key} = {toml(bad)}\n")
        # (a table's entry may be named more exactly: asr.models.zh)
        head = re.escape(f"{tmp_path / 'assist.toml'}:2: {section}.{key}")
        assert re.match(rf"{head}(\.\w+)?: must be", msg), msg
    if r.kind in (int, float):
        assert len(r.bad) == 2, "a number is refused below and above its range"


@pytest.mark.parametrize(("section", "key"), FIELDS)
def test_every_default_is_in_its_own_range(section: str, key: str) -> None:
    value = getattr(SECTIONS[section](), key)
    assert rules(SECTIONS[section])[key].ok(value)


@pytest.mark.parametrize(("text", "expect"), [
    ("[nuclei]\nsmooth = -5\n", ":2: nuclei.smooth: must be 1..20 steps of 10 ms, got -5"),
    ("[anger]\nattack = -40.0\n", ":2: anger.attack: must be 0.05..30 s, got -40.0"),
    ("[anger]\n\nmin_spurt = -3.0\n", ":3: anger.min_spurt: must be 0.05..10 s, got -3.0"),
    ('[auth]\nanything = "goes"\n', ":2: auth.anything: unknown key 'anything'; known: "
     "secret_file, token_ttl"),
    ("[pace]\n\ntarget = 5\n", ":3: pace.target: must be 30..600 characters a minute"),
    ("[pace]\ntraget = 130\n", ":2: pace.traget: unknown key 'traget'; did you mean 'target'?"),
    ("[pace]\nwindow = 5\nmin_speech = 6\n", ":3: pace.min_speech: must be at most window"),
    ("[vad]\nmode = 'loud'\n", ":2: vad.mode: must be a whole number, got str 'loud'"),
    ("[vad]\nonset = true\n", ":2: vad.onset: must be a number, got bool True"),
    ("[call]\nlanguage = 'fr-FR'\n", ":2: call.language: must be one of zh-CN, en-US, ko-KR"),
    ("[call]\ntimezone = 'Beijing'\n", ":2: call.timezone: must be an IANA time zone name"),
    ("[anger]\ntense_on = 0.9\n", ":2: anger.tense_on: thresholds must satisfy"),
    ("[anger]\nangry_off = 0.4\n", ":2: anger.angry_off: must lie in [tense_on, angry_on)"),
    ("[server]\ntls_cert = 'a.pem'\n", ":2: server.tls_cert: tls_cert and tls_key go together"),
    ("[sip]\nudp_port = 0\ntcp_port = 0\n", ":2: sip.udp_port: enable at least one"),
    ("[sip]\nrtp_port = 65000\n", ":1: sip.rtp_port_range: rtp_port 65000 + rtp_port_range "
     "1000 goes past port 65535"),
    ("[coach]\nper_event = 0\n", ":2: coach.per_event: must be 1..5 cards, got 0"),
    ("[prompts]\ndirs = [1]\n", ":2: prompts.dirs: must be a list of strings"),
    ("[asr]\nmodels = { zh = 3 }\n", ":2: asr.models.zh: must be a folder path string"),
    ("[asr]\n[asr.models]\nzh = ''\n", ":3: asr.models.zh: must be a folder path string"),
    ("[asr]\npre_rol = 0.2\n", ":2: asr.pre_rol: unknown key 'pre_rol'; did you mean "
     "'pre_roll'?"),
    ("[bogus]\nx = 1\n", ":1: bogus: unknown section 'bogus'"),
    ("[anngr]\nx = 1\n", ":1: anngr: unknown section 'anngr'; did you mean 'anger'?"),
    ("vad = 3\n", ":1: vad: must be a table ([vad])"),
    ("data_dir = 3\n", ":1: data_dir: must be a non-empty path string"),
])
def test_broken_config_names_file_line_and_key(tmp_path: Path, text: str, expect: str) -> None:
    msg = refused(tmp_path, text)
    assert msg.startswith(str(tmp_path / "assist.toml") + expect), msg


def test_syntax_errors_and_missing_files_say_what_to_do(tmp_path: Path) -> None:
    assert "not valid TOML" in refused(tmp_path, "[pace\n")
    with pytest.raises(ConfigError, match="no such config file"):
        load(tmp_path / "nope.toml")


def test_the_coach_section_reaches_each_call_s_coach(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, "[coach]\nmax_active = 1\nper_event = 2\n"))
    coaching = load_coaching(cfg)
    assert (coaching.params.max_active, coaching.params.per_event) == (1, 2)


def test_model_folders_are_relative_to_the_config_file(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, '[asr]\nmax_backlog = 0\n[asr.models]\nzh = "m/cn"\n'
                               'en = "/abs/en"\n'))
    assert cfg.asr.model_path("zh-CN") == str(tmp_path / "m/cn")
    assert cfg.asr.model_path("en-US") == "/abs/en" and cfg.asr.max_backlog == 0.0
    assert load(None).asr.model_path("zh-CN") == "models/vosk-model-small-cn-0.22"


# ---- the example file lists exactly the defaults --------------------------------------

def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_the_example_config_loads_and_equals_the_defaults() -> None:
    cfg, default = load(EXAMPLE), Config()
    assert cfg.data_dir == default.data_dir and cfg.trunks == ()
    for name in SECTIONS:
        got = section_of(cfg, name)
        if name == "asr":  # model folders resolve against the example's own folder
            got = dataclasses.replace(got, models=DEFAULT_MODELS)
        assert got == section_of(default, name), name


# Arrays of tables are shown commented out: `sources = []` beside them would make
# uncommenting the example a TOML error.
TABLES_SHOWN_COMMENTED = {("fork", "sources")}


@pytest.mark.parametrize(("section", "key"), [f for f in FIELDS if f not in TABLES_SHOWN_COMMENTED])
def test_the_example_lists_every_key_at_its_default(section: str, key: str) -> None:
    doc = _example()
    assert section in doc and key in doc[section], f"assist.example.toml lacks [{section}] {key}"
    value = doc[section][key]
    value = tuple(value) if isinstance(value, list) else value
    default = getattr(section_of(Config(), section), key)
    if isinstance(default, Mapping):
        assert dict(value) == dict(default)
    else:
        assert value == default and type(value) is type(default), (section, key, value)


def test_the_example_has_no_key_the_config_does_not_know() -> None:
    doc = _example()
    assert set(doc) <= {*SECTIONS, "data_dir"}
    assert doc["data_dir"] == Config().data_dir
    for section, table in doc.items():
        if section in SECTIONS:
            assert set(table) <= set(rules(SECTIONS[section])), section


def test_an_agent_s_tables_override_the_service_s_for_that_agent(tmp_path: Path) -> None:
    p = tmp_path / "a.toml"
    p.write_text('[pace]\nhigh = 1.7\n\n[agents."agent-1001".pace]\nlow = 0.5\n\n'
                 '[agents."ops.7".anger]\ntense_on = 0.56\n', encoding="utf-8")
    cfg = load(p)
    assert (cfg.loop_for("agent-1001").pace.low, cfg.loop_for("agent-1001").pace.high) == (0.5,
                                                                                            1.7)
    assert cfg.loop_for("ops.7").anger.tense_on == 0.56
    assert cfg.loop_for("ops.7").pace == cfg.loop.pace  # what the agent did not set
    assert cfg.loop_for("someone-else") == cfg.loop and cfg.loop_for(None) == cfg.loop


@pytest.mark.parametrize(("text", "expect"), [
    ('[agents."a1".pace]\nhigh = 9.0\n', "a.toml:2: agents.a1.pace.high: must be"),
    ('[agents."a.1".anger]\nangry_onn = 0.7\n', "a.toml:2: agents.a.1.anger.angry_onn: unknown"),
    ('[agents."a1".vad]\nmode = 1\n', "a.toml:1: agents.a1.vad: unknown per-agent section"),
    ('[agents]\na1 = 3\n', "agents.a1: must be tables"),
    ('agents = 3\n', "a.toml:1: agents: must be tables"),
])
def test_a_broken_agent_table_names_file_line_and_key(tmp_path: Path, text: str,
                                                      expect: str) -> None:
    p = tmp_path / "a.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load(p)
    assert expect in str(e.value)
