"""[asr] settings, validated once when the config file is read.

    [asr]
    enabled = true
    pre_roll = 0.3        # seconds of audio kept from before talk starts
    post_roll = 0.3       # seconds fed after talk ends
    chunk = 0.06          # seconds batched per hand-off to a recogniser thread
    max_backlog = 10.0    # seconds queued per party before audio is dropped; 0 = never
    [asr.models]
    zh = "models/vosk-model-small-cn-0.22"
    en = "models/vosk-model-small-en-us-0.15"

Relative model paths are resolved against `base` (the config file's folder).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from assist.asr.text import base_language
from assist.asr.worker import RecognizerParams
from assist.errors import ConfigError

DEFAULT_MODELS = {
    "zh": "models/vosk-model-small-cn-0.22",
    "en": "models/vosk-model-small-en-us-0.15",
}
_KEYS = {"enabled", "pre_roll", "post_roll", "chunk", "max_backlog", "models"}


@dataclass(frozen=True)
class AsrConfig:
    enabled: bool = True
    pre_roll: float = 0.3
    post_roll: float = 0.3
    chunk: float = 0.06
    max_backlog: float | None = 10.0
    models: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(DEFAULT_MODELS))

    def params(self) -> RecognizerParams:
        return RecognizerParams(self.pre_roll, self.post_roll, self.chunk, self.max_backlog)

    def model_path(self, language: str) -> str | None:
        return self.models.get(base_language(language))

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], where: str = "[asr]", base: Path | None = None
    ) -> AsrConfig:
        """Build from the parsed [asr] table; ConfigError names the key at fault."""
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ConfigError(
                f"{where} {unknown[0]}",
                f"unknown key; expected one of {', '.join(sorted(_KEYS))}",
            )
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{where} enabled", f"must be true or false, got {enabled!r}")
        pre = _seconds(raw, "pre_roll", 0.3, 0.0, 2.0, where)
        post = _seconds(raw, "post_roll", 0.3, 0.0, 2.0, where)
        chunk = _seconds(raw, "chunk", 0.06, 0.02, 1.0, where)
        backlog = _seconds(raw, "max_backlog", 10.0, 0.0, 3600.0, where)
        models_raw = raw.get("models", DEFAULT_MODELS)
        if not isinstance(models_raw, Mapping):
            raise ConfigError(
                f"{where} models",
                'must be a table such as { zh = "models/vosk-model-small-cn-0.22" }',
            )
        models: dict[str, str] = {}
        for lang, path in models_raw.items():
            if not isinstance(path, str) or not path.strip():
                raise ConfigError(
                    f"{where} models.{lang}", f"must be a folder path string, got {path!r}"
                )
            p = Path(path).expanduser()
            if base is not None and not p.is_absolute():
                p = base / p
            models[base_language(str(lang))] = str(p)
        return cls(enabled, pre, post, chunk, backlog or None, MappingProxyType(models))


def _seconds(
    raw: Mapping[str, Any], key: str, default: float, lo: float, hi: float, where: str
) -> float:
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConfigError(f"{where} {key}", f"must be a number of seconds, got {v!r}")
    if not lo <= v <= hi:
        raise ConfigError(f"{where} {key}", f"must be between {lo} and {hi} seconds, got {v}")
    return float(v)
