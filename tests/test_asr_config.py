from pathlib import Path

import pytest

from assist.asr.config import AsrConfig
from assist.errors import ConfigError


def test_defaults_point_at_the_small_models():
    c = AsrConfig.from_dict({})
    assert c.model_path("zh-CN") == "models/vosk-model-small-cn-0.22"
    assert c.params().pre_roll == 0.3 and c.params().post_roll == 0.3


def test_relative_model_paths_resolve_against_the_config_folder():
    c = AsrConfig.from_dict({"models": {"zh": "m/cn", "en": "/abs/en"}}, base=Path("/etc/assist"))
    assert c.model_path("zh") == "/etc/assist/m/cn"
    assert c.model_path("en") == "/abs/en"


def test_zero_backlog_means_never_drop():
    assert AsrConfig.from_dict({"max_backlog": 0}).params().max_backlog is None


@pytest.mark.parametrize(
    ("raw", "key", "words"),
    [
        ({"pre_roll": -1}, "pre_roll", "between"),
        ({"post_roll": "x"}, "post_roll", "number of seconds"),
        ({"enabled": "false"}, "enabled", "true or false"),
        ({"models": {"zh": 3}}, "models.zh", "folder path"),
        ({"models": "x"}, "models", "table"),
        ({"pre_rol": 0.2}, "pre_rol", "unknown key"),
    ],
)
def test_bad_values_name_the_key(raw, key, words):
    with pytest.raises(ConfigError) as e:
        AsrConfig.from_dict(raw, where="assist.toml [asr]")
    assert e.value.where == f"assist.toml [asr] {key}"
    assert words in str(e.value)
