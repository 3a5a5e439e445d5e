"""[asr] settings: whether to transcribe, with which models, and how audio is batched.

    [asr]
    enabled = true
    pre_roll = 0.3        # seconds of audio kept from before talk starts
    post_roll = 0.1       # seconds fed after talk ends (the VAD's hangover is already talk)
    chunk = 0.2           # seconds batched per hand-off (and per partial result)
    max_backlog = 10.0    # seconds queued per party before audio is dropped; 0 = never
    gated = true          # false feeds silence too (only to measure what the gate saves)
    shared = true         # recognisers lent to parties one segment at a time (false: one each)
    renew_after = 300.0   # seconds a recogniser decodes before a new one replaces it; 0 = never
    [asr.models]
    zh = "models/vosk-model-small-cn-0.22"
    en = "models/vosk-model-small-en-us-0.15"

Relative model paths in a config file are resolved against the file's folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from assist.asr.text import base_language
from assist.settings import Rule, Source, check_fields, flag, number, rule

DEFAULT_MODELS: Mapping[str, str] = MappingProxyType({
    "zh": "models/vosk-model-small-cn-0.22",
    "en": "models/vosk-model-small-en-us-0.15",
})


def _models_ok(v: Mapping[str, Any]) -> bool:
    return all(isinstance(p, str) and p.strip() for p in v.values())


_MODELS = Rule(Mapping, 'a table of language = "model folder", e.g. '
               '{ zh = "models/vosk-model-small-cn-0.22" }', _models_ok, ({"zh": ""},))


@dataclass(frozen=True, slots=True)
class AsrParams:
    enabled: bool = flag(True)
    pre_roll: float = number(0.3, 0.0, 2.0, "s")  # audio kept from before talk starts
    # Audio fed after talk ends.  A session's "talking" already includes the VAD's
    # hangover (0.3 s after the last voiced frame), so the word tail is in; more only
    # delays the final.
    post_roll: float = number(0.1, 0.0, 2.0, "s")
    # Batched per hand-off to the worker, one partial asked for per chunk.  Kaldi's
    # cost per second does not depend on it; hops and partial requests do.
    chunk: float = number(0.2, 0.02, 1.0, "s")
    # Seconds queued before audio is dropped: keeps a live call's latency bounded
    # when the machine is overloaded.  0 never drops (replays faster than real time).
    max_backlog: float = number(10.0, 0.0, 3600.0, "s")
    gated: bool = flag(True)  # False feeds everything (for measuring the saving)
    # Recognisers lent to parties one gated segment at a time (assist/asr/pool.py): a
    # process holds as many as segments decode at once, not two per call.
    shared: bool = flag(True)
    # A recogniser's graph cache grows with all it decodes; after this much audio it is
    # replaced by a new one (about a second of CPU).  0 keeps recognisers for good.
    renew_after: float = number(300.0, 0.0, 86400.0, "s")
    models: Mapping[str, str] = rule(DEFAULT_MODELS, _MODELS)

    def __post_init__(self) -> None:
        check_fields(self, "asr")

    def model_path(self, language: str) -> str | None:
        return self.models.get(base_language(language))


def models_from(raw: Any, src: Source, base: Path) -> Mapping[str, str]:
    """The [asr] models table, keys as base languages, relative paths under `base`."""
    if not isinstance(raw, Mapping):
        raise src.error(("asr", "models"), "must be " + _MODELS.want, key="asr.models")
    models: dict[str, str] = {}
    for lang, path in raw.items():
        if not isinstance(path, str) or not path.strip():
            raise src.error(("asr", "models", lang), f"must be a folder path string, got "
                            f"{path!r}", key=f"asr.models.{lang}")
        p = Path(path).expanduser()
        models[base_language(str(lang))] = str(p if p.is_absolute() else base / p)
    return MappingProxyType(models)

