"""Event streams for coach, phrase and playbook tests: what the loop would feed."""

from __future__ import annotations

from helpers import make_event

from assist.coach.coach import Coach
from assist.coach.playbook import DEFAULT_DIR, load_playbooks
from assist.detectors.phrases import PhraseSpotter
from assist.events import Event

BOOKS = load_playbooks([DEFAULT_DIR])
CALL = "call-1"


def ev(type_: str, t: float, party: str | None = None, **evidence: object) -> Event:
    return make_event(type_, CALL, t, party, **evidence)


def says(party: str, words: str, t0: float, step: float = 0.4) -> list[Event]:
    """A recogniser's view of one utterance: growing partials, then the final.

    `words` is spaced the way the recogniser spaces words ("你 弄错 了"); each
    partial adds one word, `step` seconds apart; the final repeats the whole text.
    """
    parts = words.split()
    out = []
    for i in range(1, len(parts) + 1):
        t = t0 + i * step
        out.append(ev("transcript.partial", t, party, text=" ".join(parts[:i]), start=t0, end=t))
    t_end = t0 + len(parts) * step + 0.3
    out.append(ev("transcript.final", t_end, party, text=words, start=t0, end=t_end))
    return out


class Loop:
    """Spotter and coach wired as the session wires them: agent phrases feed the coach."""

    def __init__(self, language: str = "zh-CN", local_hour: int | None = None) -> None:
        self.spotter = PhraseSpotter(BOOKS, language)
        self.coach = Coach(BOOKS, CALL, language, local_hour=local_hour)
        self.phrases: list[Event] = []
        self.suggestions: list[Event] = []

    def feed(self, events: list[Event]) -> list[Event]:
        got = []
        for e in events:
            got += self.coach.feed(e)
            for p in self.spotter.feed(e):
                self.phrases.append(p)
                got += self.coach.feed(p)
        self.suggestions += got
        return got


def cards(events: list[Event]) -> list[tuple[float, str]]:
    """(call time, entry id) of each suggestion."""
    return [(round(e.t, 3), e.evidence["entry"]) for e in events if e.type == "suggestion"]
