"""One playbook entry, checked: its keys, trigger, phrasings and timings.

`parse_entry` turns one `[[entry]]` table into an `Entry`, reporting each problem
through the caller's `bad(keys, message)` so the loader can name file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assist.events import EVENT_TYPES, EVIDENCE_FILTERS, PARTIES, TRANSCRIPT_TYPES
from assist.settings import unknown

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
_TRIGGER_KEYS = {"event", "party", "match", "hours", "streak", *EVIDENCE_FILTERS}
_ENTRY_KEYS = {
    "id", "trigger", "phrasings", "priority", "cooldown", "seed", "spot", "ttl",
    "title", "language", "note",
}


DEFAULT_TTL = 15.0


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




class _Fail:
    """Reports problems in one entry, prefixed with its id, and remembers there were some."""

    def __init__(self, bad: Callable[[tuple[str, ...], str], None]) -> None:
        self.bad = bad
        self.eid = "?"
        self.count = 0

    def __call__(self, keys: tuple[str, ...], message: str) -> None:
        self.count += 1
        self.bad(keys, f"entry {self.eid}: {message}")


def parse_entry(
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
    if not isinstance(lang, str) or not LANGUAGE_TAG.match(lang):
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
