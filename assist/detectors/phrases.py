"""Phrase spotting: the agent's own words checked against the playbook's `spot` rules.

Rules:
- Only the agent's transcript events count; the customer may say anything.
- Partials are checked as they grow, so the agent sees the flag while still
  speaking.  An utterance runs from its first partial to its final.
- Each occurrence is flagged once: per utterance and rule we remember how many
  matches were already flagged and only report beyond that, so a partial that
  grows, is revised, or turns final does not flag the same words again.
- Where two rules match overlapping words, the longer match wins (so
  "绝对不可能" is one flag, not also "不可能").
- The patterns and the better wording both come from the playbook entries
  (`spot` and the first phrasing): one source of truth.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from assist.coach.playbook import Entry, Playbooks
from assist.events import TRANSCRIPT_TYPES, Event
from assist.textnorm import mask_numbers, normalize


@dataclass(frozen=True, slots=True)
class Spot:
    rule: str
    matched: str
    start: int  # offset in the normalised utterance text


def find_spots(text: str, rules: tuple[Entry, ...]) -> list[Spot]:
    """Non-overlapping matches in normalised `text`, longest first where they overlap."""
    found = [
        Spot(rule.id, m.group(0), m.start())
        for rule in rules
        for pattern in rule.spot
        for m in pattern.finditer(text)
        if m.group(0)
    ]
    found.sort(key=lambda s: (-len(s.matched), s.start))
    taken: list[tuple[int, int]] = []
    kept = []
    for s in found:
        end = s.start + len(s.matched)
        if any(s.start < b and a < end for a, b in taken):
            continue
        taken.append((s.start, end))
        kept.append(s)
    kept.sort(key=lambda s: s.start)
    return kept


class PhraseSpotter:
    """Feed transcript events; get `phrase` events for the agent's flagged wording."""

    def __init__(self, playbooks: Playbooks, language: str) -> None:
        self.playbooks = playbooks
        self._flagged: Counter[str] = Counter()  # rule -> occurrences flagged this utterance
        self._set_language(language)

    def _set_language(self, language: str) -> None:
        self.language = language
        self.rules = self.playbooks.spot_rules(language)
        self._by_id = {r.id: r for r in self.rules}
        self._flagged.clear()

    def feed(self, event: Event) -> list[Event]:
        if event.type == "call.started":  # the call's language, when it has rules
            lang = event.evidence.get("language")
            if isinstance(lang, str) and self.playbooks.spot_rules(lang):
                self._set_language(lang)
            return []
        if event.type not in TRANSCRIPT_TYPES or event.party != "agent":
            return []
        text = normalize(str(event.evidence.get("text", "")), self.language)
        final = event.type == "transcript.final"
        spots = find_spots(text, self.rules)
        out = []
        seen: Counter[str] = Counter()
        for s in spots:
            seen[s.rule] += 1
            if seen[s.rule] <= self._flagged[s.rule]:
                continue  # already flagged on an earlier partial
            self._flagged[s.rule] = seen[s.rule]
            rule = self._by_id[s.rule]
            out.append(
                Event(
                    "phrase",
                    event.call_id,
                    event.t,
                    "agent",
                    {
                        "rule": s.rule,
                        "matched": mask_numbers(s.matched),
                        "instead": rule.phrasings[0],
                        "title": rule.title,
                        "seed": rule.seed,
                        "final": final,
                        "utterance_start": event.evidence.get("start"),
                    },
                    arrival=event.arrival,
                )
            )
        if final:
            self._flagged.clear()
        return out
