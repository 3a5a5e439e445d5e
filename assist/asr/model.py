"""Loading a Vosk model once per language, with reasons a person can act on.

`load_model` never raises for a bad folder: it returns (None, reason) so the
service starts without transcription and says why.  Loading takes seconds
(hundreds of MB read), so call it at start-up or from a worker thread.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assist.asr.pool import RENEW_AFTER_S, RecognizerPool
from assist.asr.text import base_language

FIX = (
    "run `make model MODEL=<id>` (ids: `python -m assist models list`) "
    "or point [asr] models.{lang} at a Vosk model folder"
)

# Words any model of the language knows; none found means the wrong language.
PROBES: dict[str, tuple[str, ...]] = {
    "zh": ("的", "我", "你", "是", "不"),
    "en": ("the", "and", "you", "is", "hello"),
    "ko": ("하", "니다", "안녕"),
}

_load_lock = threading.Lock()
_pool_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class AsrModel:
    """A loaded Vosk model, shared by every recogniser of its language."""

    vosk_model: Any  # vosk.Model
    path: Path
    language: str
    sample_rate: int  # the rate the acoustic model was trained on
    allow_upsample: bool
    allow_downsample: bool
    pools: dict[int, RecognizerPool] = field(default_factory=dict, compare=False, repr=False)

    def pool(self, rate: int, renew_after: float = RENEW_AFTER_S) -> RecognizerPool:
        """The recognisers this model lends at `rate` (see assist/asr/pool.py)."""
        with _pool_lock:
            if rate not in self.pools:
                self.pools[rate] = RecognizerPool(self.vosk_model, rate, renew_after, spare=True)
            pool = self.pools[rate]
            pool.renew_after = renew_after  # every party of a process has the same config
            return pool

    def check_rate(self, rate: int) -> str | None:
        """None if audio at `rate` can be recognised, else why not."""
        if rate <= 0:
            return f"sample rate {rate} is not a rate"
        if rate < self.sample_rate and not self.allow_upsample:
            return (
                f"model {self.path} expects {self.sample_rate} Hz audio and does not upsample "
                f"{rate} Hz: use a {rate // 1000} kHz model or set the tap to {self.sample_rate} Hz"
            )
        if rate > self.sample_rate and not self.allow_downsample:
            return (
                f"model {self.path} expects {self.sample_rate} Hz audio and does not downsample "
                f"{rate} Hz: set the tap to {self.sample_rate} Hz"
            )
        return None


def _fix(lang: str) -> str:
    return FIX.replace("{lang}", lang)


def model_files_problem(path: Path) -> str | None:
    """Why `path` is not a Vosk model folder, or None if it looks like one."""
    if not path.exists():
        return "not found"
    if not path.is_dir():
        return "is a file, not a model folder (unpack the archive first)"
    missing = [p for p in ("am/final.mdl", "conf/mfcc.conf") if not (path / p).is_file()]
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or (graph / "HCLr.fst").is_file()):
        missing.append("graph/HCLG.fst or graph/HCLr.fst")
    if not missing:
        return None
    nested = [d for d in path.iterdir() if d.is_dir() and (d / "am" / "final.mdl").is_file()]
    if nested:
        return f"holds a model one level down: use {nested[0]}"
    return "is incomplete (missing " + ", ".join(missing) + "); delete it and download again"


def read_mfcc_conf(path: Path) -> tuple[int, bool, bool]:
    """(sample rate, allow upsample, allow downsample) from conf/mfcc.conf."""
    opts: dict[str, str] = {}
    for line in (path / "conf" / "mfcc.conf").read_text(errors="replace").splitlines():
        m = re.match(r"\s*--([\w-]+)=(\S+)", line)
        if m:
            opts[m.group(1)] = m.group(2)
    rate = int(float(opts.get("sample-frequency", "16000")))
    up = opts.get("allow-upsample", "false").lower() == "true"
    down = opts.get("allow-downsample", "false").lower() == "true"
    return rate, up, down


@contextmanager
def _stderr_to(buf: list[str]) -> Iterator[None]:
    """Capture file descriptor 2 (Kaldi writes there from C++) into `buf`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            buf.append(tmp.read().decode("utf-8", "replace"))


def _kaldi_reason(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
    if not lines:
        return ""
    return re.sub(r"^ERROR \([^)]*\)\s*", "", lines[-1])


def load_model(path: str | os.PathLike[str], language: str) -> tuple[AsrModel | None, str]:
    """Load the Vosk model at `path` for `language` ('zh', 'en', 'zh-CN', ...).

    Returns (model, "") or (None, reason); the reason names the path and the fix.
    """
    lang = base_language(language)
    p = Path(path).expanduser()
    problem = model_files_problem(p)
    if problem:
        return None, f"ASR model folder {p} {problem}: {_fix(lang)}"
    try:
        import vosk
    except ImportError as e:  # pragma: no cover - vosk is a dependency
        return None, f"the vosk package is not installed ({e}): pip install vosk"
    try:
        rate, up, down = read_mfcc_conf(p)
    except (OSError, ValueError) as e:
        return None, f"ASR model folder {p}: unreadable conf/mfcc.conf ({e}): {_fix(lang)}"
    captured: list[str] = []
    with _load_lock:  # one fd-2 capture at a time
        vosk.SetLogLevel(-1)
        try:
            with _stderr_to(captured):
                vm = vosk.Model(str(p))
        except Exception as e:
            detail = _kaldi_reason("".join(captured)) or str(e)
            return None, (
                f"ASR model folder {p} could not be loaded ({detail}); it may be corrupt or for "
                f"another Vosk version: delete it and {_fix(lang)}"
            )
    stray = "".join(captured)
    if stray.strip():  # not Kaldi's: give it back
        sys.stderr.write(stray)
    probes = PROBES.get(lang)
    if probes and all(vm.vosk_model_find_word(w) < 0 for w in probes):
        return None, (
            f"ASR model {p} does not know common {lang!r} words ({', '.join(probes[:3])}); "
            f"it is for another language: {_fix(lang)}"
        )
    return AsrModel(vm, p, lang, rate, up, down), ""


class ModelRegistry:
    """One model per language, loaded once and shared by every call."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = {base_language(k): v for k, v in paths.items()}
        self._models: dict[str, AsrModel] = {}
        self._reasons: dict[str, str] = {}
        self._lock = threading.Lock()

    def load_all(self) -> dict[str, str]:
        """Load every configured model (blocking; run off the event loop).
        Returns {language: reason} for those that failed."""
        for lang in self._paths:
            self.get(lang)
        return dict(self._reasons)

    def get(self, language: str) -> AsrModel | None:
        lang = base_language(language)
        with self._lock:
            if lang in self._models:
                return self._models[lang]
            if lang in self._reasons:
                return None
            path = self._paths.get(lang)
            if path is None:
                model, reason = None, f"no ASR model configured for {lang!r}: {_fix(lang)}"
            else:
                model, reason = load_model(path, lang)
            if model is None:
                self._reasons[lang] = reason
            else:
                self._models[lang] = model
            return model

    def loaded(self, language: str) -> AsrModel | None:
        """The model if already loaded; never loads (safe on the event loop)."""
        return self._models.get(base_language(language))

    def reason(self, language: str) -> str:
        return self._reasons.get(base_language(language), "")
