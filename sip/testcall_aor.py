"""A sample AoR that a trunk's role pattern matches, for simple patterns.

Literals, `\\d`, `\\w`, `.`, character classes, groups, alternatives (the first
one) and repeats (their least, at least once) are enough for the rules trunks use
(`^sip:(?P<agent>8\\d{3})@`); anything else gives None and the admin names an AoR.
"""

from __future__ import annotations

import re
from typing import Any

_parser: Any = getattr(re, "_parser", None)  # sre_parse, public as a module before 3.11
_CATEGORY = {"CATEGORY_DIGIT": "1", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " "}


class _TooHard(Exception):
    pass


def _emit(items: Any) -> str:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "AT":
            continue
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_one_of(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            least, _most, sub = arg
            out.append(_emit(sub) * max(least, 1))
        elif name == "SUBPATTERN":
            out.append(_emit(arg[-1]))
        elif name == "BRANCH":
            out.append(_emit(arg[1][0]))
        else:
            raise _TooHard(name)
    return "".join(out)


def _one_of(items: Any) -> str:
    op, arg = items[0]
    name = str(op)
    if name == "LITERAL":
        return chr(arg)
    if name == "RANGE":
        return chr(arg[0])
    if name == "CATEGORY" and str(arg) in _CATEGORY:
        return _CATEGORY[str(arg)]
    raise _TooHard(name)


def sample_aor(pattern: re.Pattern[str]) -> str | None:
    """An AoR `pattern.search` matches, or None when the pattern is not simple."""
    if _parser is None:
        return None
    try:
        core = _emit(_parser.parse(pattern.pattern, pattern.flags))
    except (_TooHard, re.error, IndexError, TypeError, ValueError):
        return None
    tried = [core]
    if core.endswith("@"):
        tried.insert(0, core + "test.invalid")
    if not re.match(r"^[a-z]+:", core, re.IGNORECASE):
        tried.insert(0, "sip:" + core + ("test.invalid" if core.endswith("@") else ""))
        if "@" not in core:
            tried.insert(0, "sip:" + core + "@test.invalid")
    return next((t for t in tried if pattern.search(t)), None)
