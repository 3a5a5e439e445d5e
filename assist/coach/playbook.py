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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assist.errors import UserError
from assist.events import EVENT_TYPES, EVIDENCE_FILTERS, PARTIES, TRANSCRIPT_TYPES
from assist.settings import Lines, unknown

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "prompts"

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
_TRIGGER_KEYS = {"event", "party", "match", "hours", "streak", *EVIDENCE_FILTERS}
_ENTRY_KEYS = {
    "id", "trigger", "phrasings", "priority", "cooldown", "seed", "spot", "ttl",
    "title", "language", "note",
}


class PlaybookError(UserError):
    """One or more invalid playbooks.  `problems` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        more = len(self.problems) - 1
        tail = f" (and {more} more; run `python -m assist prompts check`)" if more else ""
        super().__init__(self.problems[0] + tail)


@dataclass(frozen=True, slots=True)
class Trigger:
    events: frozenset[str]
    party: str | None = None
    filters: tuple[tuple[str, frozenset[str]], ...] = ()  # (evidence key, allowed values)
    match: tuple[re.Pattern[str], ...] = ()  # on normalised transcript text
    hours: tuple[int, int] | None = None  # call-start local hour, [from, to), may wrap
    streak: int = 1  # fire on the Nth final of the party in a row that matches


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    language: str
    trigger: Trigger
    phrasings: tuple[str, ...]
    priority: int  # 1..100, higher is more urgent
    cooldown: float  # seconds before the entry may fire again
    ttl: float  # seconds a suggestion stays on screen
    seed: str  # seed file and rule it comes from
    title: str
    spot: tuple[re.Pattern[str], ...] = ()  # agent wording this entry flags
    source: str = ""  # "file:line", for messages


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


DEFAULT_TTL = 15.0


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
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        bad(None, ("language",), f"`language` must be a tag like \"zh-CN\", got {language!r}")
        language = None
    raw = data.get("entry")
    if not isinstance(raw, list) or not raw or not all(isinstance(e, dict) for e in raw):
        bad(None, ("entry",), "no [[entry]] tables; a playbook needs at least one entry")
        return []
    out = []
    for i, item in enumerate(raw):
        source = f"{path}:{line(i)}"
        entry = _entry(item, language, lambda keys, msg, i=i: bad(i, keys, msg), source)
        if entry is not None:
            out.append(entry)
    return out


class _Fail:
    """Reports problems in one entry, prefixed with its id, and remembers there were some."""

    def __init__(self, bad: Callable[[tuple[str, ...], str], None]) -> None:
        self.bad = bad
        self.eid = "?"
        self.count = 0

    def __call__(self, keys: tuple[str, ...], message: str) -> None:
        self.count += 1
        self.bad(keys, f"entry {self.eid}: {message}")


def _entry(
    item: dict[str, Any], language: str | None, bad: Any, source: str
) -> Entry | None:
    # Each failed check leaves a placeholder of the right type; any failure returns None.
    fail = _Fail(bad)
    eid = item.get("id")
    if isinstance(eid, str) and _ID.match(eid):
        fail.eid = eid
    else:
        fail(("id",), f"`id` must be lower-case letters, digits, '.', '_' or '-', got {eid!r}")
        eid = ""
    for key in item:
        if key not in _ENTRY_KEYS:
            fail((key,), unknown(key, _ENTRY_KEYS))
    lang = item.get("language", language)
    if not isinstance(lang, str) or not _LANGUAGE.match(lang):
        fail(("language",), f"`language` must be a tag like \"zh-CN\", got {lang!r}")
        lang = ""
    phrasings = item.get("phrasings")
    if (
        not isinstance(phrasings, list)
        or not phrasings
        or not all(isinstance(p, str) and p.strip() for p in phrasings)
    ):
        fail(("phrasings",), "`phrasings` must be a list of non-empty strings")
        phrasings = []
    priority = item.get("priority")
    if type(priority) is not int or not 1 <= priority <= 100:
        fail(("priority",), f"`priority` must be a whole number 1..100, got {priority!r}")
        priority = 0
    cooldown = _seconds(item, "cooldown", True, fail)
    ttl = _seconds(item, "ttl", False, fail)
    if ttl == 0:
        fail(("ttl",), "`ttl` must be more than 0 seconds")
    seed = item.get("seed")
    if not isinstance(seed, str) or not seed.strip():
        fail(("seed",), "`seed` must name the source document and rule")
        seed = ""
    title = item.get("title", "")
    if not isinstance(title, str):
        fail(("title",), "`title` must be a string")
        title = ""
    spot = _patterns(("spot",), item.get("spot", []), fail)
    trigger = None
    if "trigger" in item:
        trigger = _trigger(item["trigger"], fail)
    elif spot:  # a spotting rule fires on its own phrase events
        trigger = Trigger(frozenset({"phrase"}), "agent", (("rule", frozenset({fail.eid})),))
    elif "spot" not in item:  # (a bad `spot` was reported already)
        fail(("id",), "missing `trigger` (or `spot` patterns)")
    if fail.count or trigger is None:
        return None
    return Entry(
        id=eid, language=lang, trigger=trigger, phrasings=tuple(phrasings),
        priority=priority, cooldown=float(cooldown), seed=seed.strip(),
        ttl=float(ttl) if ttl is not None else DEFAULT_TTL, title=title, spot=spot,
        source=source,
    )


def _seconds(item: dict[str, Any], key: str, required: bool, fail: _Fail) -> Any:
    value = item.get(key)
    if value is None and not required:
        return None
    # bool is an int subclass but not a number of seconds
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 3600:
        fail((key,), f"`{key}` must be seconds between 0 and 3600, got {value!r}")
        return 0
    return value


def _patterns(keys: tuple[str, ...], value: Any, fail: _Fail) -> tuple[re.Pattern[str], ...]:
    name = ".".join(keys)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        fail(keys, f"`{name}` must be a list of regular expressions")
        return ()
    out = []
    for p in value:
        try:
            out.append(re.compile(p, re.IGNORECASE))
        except re.error as exc:
            fail(keys, f"bad regular expression in `{name}` {p!r}: {exc}")
    return tuple(out)


def _trigger(raw: Any, fail: _Fail) -> Trigger | None:
    if not isinstance(raw, dict):
        fail(("trigger",), "`trigger` must be a table like { event = \"anger\" }")
        return None
    for key in raw:
        if key not in _TRIGGER_KEYS:
            fail(("trigger", key), unknown(key, _TRIGGER_KEYS, "trigger key"))
    events = raw.get("event")
    events = [events] if isinstance(events, str) else events
    if not isinstance(events, list) or not events or not all(e in EVENT_TYPES for e in events):
        got = raw.get("event")
        fail(("trigger", "event"), f"trigger.event must be known event types, got {got!r}")
        return None
    party = raw.get("party")
    if party is not None and party not in PARTIES:
        fail(("trigger", "party"), f"trigger.party must be customer or agent, got {party!r}")
    filters = []
    for key, (applies, allowed) in EVIDENCE_FILTERS.items():
        if key not in raw:
            continue
        value = raw[key]
        values = [value] if isinstance(value, str) else value or None
        where = ("trigger", key)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            fail(where, f"trigger.{key} must be a string or list of strings")
        elif not set(events) <= set(applies):
            fail(where, f"trigger.{key} only applies to event {' / '.join(applies)}")
        elif allowed is not None and not set(values) <= set(allowed):
            fail(where, f"trigger.{key} {value!r} is not one of {', '.join(sorted(allowed))}")
        else:
            filters.append((key, frozenset(values)))
    match: tuple[re.Pattern[str], ...] = ()
    if "match" in raw:
        if not set(events) <= TRANSCRIPT_TYPES:
            fail(("trigger", "match"), "trigger.match only applies to transcript events")
        else:
            match = _patterns(("trigger", "match"), raw["match"], fail)
    hours = raw.get("hours")
    if hours is not None:
        ok = (
            isinstance(hours, list) and len(hours) == 2
            and all(type(h) is int and 0 <= h <= 24 for h in hours) and hours[0] != hours[1]
        )
        if not ok or events != ["call.started"]:
            fail(("trigger", "hours"), "trigger.hours must be [from, to] local hours 0..24"
                 " on event call.started")
            hours = None
    streak = raw.get("streak", 1)
    if type(streak) is not int or not 1 <= streak <= 20 or (
        streak > 1 and (events != ["transcript.final"] or "match" not in raw)
    ):
        fail(("trigger", "streak"), "trigger.streak must be a whole number 1..20, with `match`"
             " on event transcript.final")
        streak = 1
    return Trigger(
        events=frozenset(events), party=party, filters=tuple(filters), match=match,
        hours=(hours[0], hours[1]) if hours else None, streak=streak,
    )
