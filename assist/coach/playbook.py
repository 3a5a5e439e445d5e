"""Playbooks: the coaching rules in prompts/, loaded and checked once at start-up.

A playbook is a TOML file holding `language` and a list of `[[entry]]` tables
(prompts/README.md documents every key).  Loading checks everything a running
call would otherwise trip over: unknown keys, wrong types, bad regular
expressions, trigger filters that cannot match their event, references to
phrase rules that do not exist, duplicate ids.  Each problem names the file and
line.  Folders load in order; an entry in a later folder replaces an entry with
the same id from an earlier one, so admins can override the shipped rules.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assist.coach.entries import LANGUAGE_TAG, parse_entry
from assist.coach.entries import Entry as Entry
from assist.coach.entries import Trigger as Trigger
from assist.errors import UserError
from assist.settings import Lines, unknown

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "prompts"


class PlaybookError(UserError):
    """One or more invalid playbooks.  `problems` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        more = len(self.problems) - 1
        tail = f" (and {more} more; run `python -m assist prompts check`)" if more else ""
        super().__init__(self.problems[0] + tail)


@dataclass(frozen=True, slots=True)
class Playbooks:
    entries: tuple[Entry, ...]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted({e.language for e in self.entries}))

    def for_language(self, language: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.language == language)

    def spot_rules(self, language: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.for_language(language) if e.spot)

    def get(self, entry_id: str, language: str) -> Entry | None:
        for e in self.entries:
            if e.id == entry_id and e.language == language:
                return e
        return None




def load_playbooks(dirs: Iterable[str | Path], language: str | None = None) -> Playbooks:
    """Load every *.toml under each folder (recursively), later folders overriding.

    Raises PlaybookError (a UserError) naming file and line of the first problem.
    With `language`, only that language's entries are kept, and there must be some.
    """
    problems: list[str] = []
    merged: dict[tuple[str, str], Entry] = {}
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            problems.append(f"{root}: playbook folder not found; fix the path in the config")
            continue
        files = sorted(root.rglob("*.toml"))
        if not files:
            problems.append(f"{root}: no *.toml playbooks in this folder")
        seen: dict[tuple[str, str], str] = {}  # duplicates inside one folder are errors
        for path in files:
            for entry in _load_file(path, problems):
                key = (entry.language, entry.id)
                if key in seen:
                    problems.append(
                        f"{entry.source}: duplicate id {entry.id!r} (first at {seen[key]});"
                        " give each entry its own id"
                    )
                    continue
                seen[key] = entry.source
                merged[key] = entry
    entries = tuple(merged.values())
    _check_rule_refs(entries, problems)
    if problems:
        raise PlaybookError(problems)
    books = Playbooks(entries)
    if language is not None:
        if not books.for_language(language):
            have = ", ".join(books.languages) or "none"
            raise PlaybookError(
                [f"no playbook entries for language {language!r} (have: {have})"]
            )
        books = Playbooks(books.for_language(language))
    return books


def _check_rule_refs(entries: tuple[Entry, ...], problems: list[str]) -> None:
    spots = {(e.language, e.id) for e in entries if e.spot}
    for e in entries:
        for key, values in e.trigger.filters:
            if key != "rule":
                continue
            for rule in sorted(values):
                if (e.language, rule) not in spots:
                    problems.append(
                        f"{e.source}: trigger.rule {rule!r} is not the id of a {e.language}"
                        " entry with `spot` patterns"
                    )


def _load_file(path: Path, problems: list[str]) -> list[Entry]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read ({exc}); save it as UTF-8 text")
        return []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{path}:{m.group(1)}" if m else str(path)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
        problems.append(f"{where}: TOML syntax error: {msg}")
        return []
    lines = Lines(text)

    def line(index: int | None, *keys: str) -> int:
        return (lines.of("entry", index, *keys) if index is not None else lines.of(*keys)) or 1

    def bad(index: int | None, path_keys: tuple[str, ...], message: str) -> None:
        problems.append(f"{path}:{line(index, *path_keys)}: {message}")

    for key in data:
        if key not in ("language", "entry"):
            bad(None, (key,), unknown(key, ("language", "entry"), "top-level key"))
    language = data.get("language")
    if not isinstance(language, str) or not LANGUAGE_TAG.match(language):
        bad(None, ("language",), f"`language` must be a tag like \"zh-CN\", got {language!r}")
        language = None
    raw = data.get("entry")
    if not isinstance(raw, list) or not raw or not all(isinstance(e, dict) for e in raw):
        bad(None, ("entry",), "no [[entry]] tables; a playbook needs at least one entry")
        return []
    out = []
    for i, item in enumerate(raw):
        source = f"{path}:{line(i)}"
        entry = parse_entry(item, language, lambda keys, msg, i=i: bad(i, keys, msg), source)
        if entry is not None:
            out.append(entry)
    return out


