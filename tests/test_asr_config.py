"""[asr]: one parameters class, checked the same from code and from the config file."""

from pathlib import Path

import pytest

from assist.asr.config import AsrParams
from assist.config import load
from assist.errors import ConfigError


def test_defaults_point_at_the_small_models():
    c = AsrParams()
    assert c.model_path("zh-CN") == "models/vosk-model-small-cn-0.22"
    assert c.model_path("en-US") == "models/vosk-model-small-en-us-0.15"
    assert (c.pre_roll, c.post_roll, c.max_backlog, c.gated) == (0.3, 0.1, 10.0, True)


def test_code_gets_the_same_checks_as_the_file():
    with pytest.raises(ConfigError, match=r"^asr.pre_roll: must be 0..2 s, got -1"):
        AsrParams(pre_roll=-1)
    with pytest.raises(ConfigError, match=r"^asr.models: must be a table"):
        AsrParams(models={"zh": ""})


@pytest.mark.parametrize(
    ("body", "line", "key", "words"),
    [
        ("pre_roll = -1", 2, "pre_roll", "must be 0..2 s"),
        ("post_roll = 'x'", 2, "post_roll", "must be a number"),
        ("enabled = 'false'", 2, "enabled", "must be true or false"),
        ("models = { zh = 3 }", 2, "models.zh", "folder path"),
        ("models = 'x'", 2, "models", "must be a table"),
        ("\npre_rol = 0.2", 3, "pre_rol", "unknown key"),
    ],
)
def test_bad_values_name_file_line_and_key(tmp_path: Path, body, line, key, words):
    p = tmp_path / "assist.toml"
    p.write_text(f"[asr]\n{body}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load(p)
    assert e.value.where == f"{p}:{line}: asr.{key}"
    assert words in e.value.message
