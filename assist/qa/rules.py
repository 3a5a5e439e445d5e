"""The QA rules file: which seed rules a call is scored on, with weights and thresholds.

Validated like the playbooks: every problem names its file and line, all problems
are reported at once, and nothing is scored with a half-read file.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assist.errors import UserError
from assist.settings import Lines, unknown

DEFAULT_RULES = Path(__file__).parent / "rules.zh-CN.toml"

# Per rule: its thresholds and their kinds.  "s" seconds/number >= 0, "share" 0..1,
# "count" int >= 0, "band" [low, high], "words" a non-empty list of strings.
SCHEMA: dict[str, dict[str, str]] = {
    "pace": {"band": "band", "min_spurt": "s", "max_share": "share"},
    "interruptions": {"max_per_10min": "s"},
    "dead_air": {"min_gap": "s", "max_seconds": "s"},
    "taboo": {"max": "count"},
    "feelings_first": {"within": "s", "calming": "words"},
    "greeting": {"within": "s", "patterns": "words"},
    "closing": {"within": "s", "patterns": "words"},
    "questions": {"max_run": "count"},
    "response_gap": {"min_turn": "s", "latch": "s", "long": "s"},
}
COMMON = ("title", "seed", "weight")


class RulesError(UserError):
    """An invalid rules file; `problems` holds one `file:line: message` per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid QA rules:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    seed: str
    weight: float
    params: dict[str, Any]
    source: str  # "file:line"


@dataclass(frozen=True, slots=True)
class Rules:
    language: str
    rules: dict[str, Rule]
    path: str

    def __getitem__(self, rule_id: str) -> Rule:
        return self.rules[rule_id]


def load_rules(path: str | Path = DEFAULT_RULES) -> Rules:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError([f"{path}: cannot read ({exc}); save it as UTF-8 text"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
        raise RulesError([f"{path}:{m.group(1) if m else 1}: TOML syntax error: {msg}"]) from None
    lines = Lines(text)  # the config's own line-finder
    problems: list[str] = []

    def bad(keys: tuple[str, ...], message: str) -> None:
        problems.append(f"{path}:{lines.of(*keys) or 1}: {message}")

    for key in data:
        if key not in ("language", "rule"):
            bad((key,), unknown(key, ("language", "rule"), "top-level key"))
    language = data.get("language")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}(-[A-Z]{2})?", language):
        bad(("language",), f"`language` must be a tag like \"zh-CN\", got {language!r}")
    raw = data.get("rule")
    if not isinstance(raw, dict) or not raw:
        bad(("rule",), "no [rule.ID] tables; the file needs at least one rule")
        raw = {}
    rules: dict[str, Rule] = {}
    for rid, body in raw.items():
        def report(keys: tuple[str, ...], msg: str, rid: str = rid) -> None:
            bad(("rule", rid, *keys), f"rule {rid}: {msg}")

        rule = _rule(rid, body, report, f"{path}:{lines.of('rule', rid) or 1}")
        if rule is not None:
            rules[rid] = rule
    if problems:
        raise RulesError(problems)
    return Rules(str(language), rules, str(path))


def _rule(rid: str, body: Any, report: Callable[[tuple[str, ...], str], None],
          source: str) -> Rule | None:
    errors = 0

    def bad(keys: tuple[str, ...], message: str) -> None:
        nonlocal errors
        errors += 1
        report(keys, message)

    if rid not in SCHEMA:
        bad((), unknown(rid, SCHEMA, "rule"))
        return None
    if not isinstance(body, dict):
        bad((), "must be a table [rule.ID]")
        return None
    for key in body:
        if key not in COMMON and key not in SCHEMA[rid]:
            bad((key,), unknown(key, (*COMMON, *SCHEMA[rid])))
    for key in ("title", "seed"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            bad((key,), f"`{key}` must be a non-empty string (every rule cites its seed)")
    weight: Any = body.get("weight")
    if not _number(weight) or not 0 <= weight <= 100:
        bad(("weight",), f"`weight` must be a number from 0 to 100, got {weight!r}")
    params: dict[str, Any] = {}
    for key, kind in SCHEMA[rid].items():
        if key not in body:
            bad((), f"missing `{key}`")
            continue
        value, problem = _check(kind, body[key])
        if problem:
            bad((key,), f"`{key}` {problem}, got {body[key]!r}")
        params[key] = value
    if errors:
        return None
    return Rule(rid, body["title"], body["seed"], float(weight), params, source)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check(kind: str, v: Any) -> tuple[Any, str | None]:
    if kind == "s":
        return (float(v), None) if _number(v) and v >= 0 else (v, "must be a number >= 0")
    if kind == "share":
        return (float(v), None) if _number(v) and 0 <= v <= 1 else (v, "must be from 0 to 1")
    if kind == "count":
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0
        return (v, None) if ok else (v, "must be a whole number >= 0")
    if kind == "band":
        ok = (isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v)
              and 0 < v[0] < v[1])
        if not ok:
            return v, "must be [low, high], 0 < low < high"
        return (float(v[0]), float(v[1])), None
    ok = isinstance(v, list) and bool(v) and all(isinstance(x, str) and x.strip() for x in v)
    return (tuple(v), None) if ok else (v, "must be a non-empty list of strings")
