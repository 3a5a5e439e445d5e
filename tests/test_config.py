"""The TOML config: defaults, overrides, and errors that name file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from assist.config import load
from assist.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "assist.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_follow_the_seeds() -> None:
    cfg = load(None)
    assert cfg.loop.pace.target == 120.0
    assert cfg.call.language == "zh-CN"
    assert cfg.server.host == "127.0.0.1"


def test_values_override_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, "data_dir = 'x'\n[pace]\ntarget = 150\n[interruption]\n"
                               "min_overlap = 1.5\n[server]\nport = 9000\n"))
    assert cfg.loop.pace.target == 150.0 and cfg.loop.interruption.min_overlap == 1.5
    assert cfg.server.port == 9000 and cfg.store_path == Path("x/assist.sqlite3")


@pytest.mark.parametrize("text, expect", [
    ("[pace]\n\ntarget = 5\n", "assist.toml: pace.target (line 3): must be 30..600"),
    ("[pace]\ntraget = 130\n", "pace.traget (line 2): unknown key"),
    ("[vad]\nmode = 'loud'\n", "vad.mode (line 2): must be int"),
    ("[call]\nlanguage = 'fr-FR'\n", "call.language (line 2): must be one of zh-CN, en-US"),
    ("[anger]\ntense_on = 0.9\n", "anger (line 1): thresholds must satisfy"),
    ("[pace\n", "not valid TOML"),
    ("[bogus]\nx = 1\n", "bogus: unknown section"),
])
def test_broken_config_names_file_key_and_line(tmp_path: Path, text: str, expect: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert expect in str(e.value)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load(tmp_path / "nope.toml")


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "assist.example.toml"
    cfg = load(example)
    assert cfg.loop.pace.target == 120.0
