"""A stored call's events arranged for review and scoring: talk, gaps, flags.

Pure functions of the wire events (as the store keeps them); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Span = tuple[float, float]
FLAG_TYPES = ("interruption", "pace.drift", "anger", "phrase", "silence")


@dataclass
class Timeline:
    call_id: str
    agent: str | None = None
    duration: float = 0.0
    talk: dict[str, list[Span]] = field(default_factory=lambda: {"customer": [], "agent": []})
    transcribed: bool = False  # a recogniser was on: transcript rules can be scored
    finals: list[dict[str, Any]] = field(default_factory=list)  # transcript.final wires
    anger: list[dict[str, Any]] = field(default_factory=list)  # level changes
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] in types]


def build(events: list[dict[str, Any]]) -> Timeline:
    call_id = events[0]["call_id"] if events else ""
    tl = Timeline(call_id, events=events)
    open_since: dict[str, float] = {}
    for e in events:
        ev, typ = e.get("evidence") or {}, e["type"]
        tl.duration = max(tl.duration, float(e["t"]))
        if typ == "call.started":
            tl.agent = ev.get("agent")
        elif typ == "call.ended" and isinstance(ev.get("duration"), (int, float)):
            tl.duration = max(tl.duration, float(ev["duration"]))
        elif typ == "talk.start" and e.get("party") in tl.talk:
            open_since[e["party"]] = float(ev.get("onset", e["t"]))
        elif typ == "talk.end" and e.get("party") in tl.talk:
            start = float(ev["start"])
            tl.talk[e["party"]].append((start, start + float(ev["duration"])))
            open_since.pop(e["party"], None)
        elif typ == "transcript.final":
            tl.finals.append(e)
            tl.transcribed = True
        elif typ == "transcription" and ev.get("enabled"):
            tl.transcribed = True
        elif typ == "anger":
            tl.anger.append(e)
    for party, since in open_since.items():  # still talking when the call ended
        tl.talk[party].append((since, max(since, tl.duration)))
    return tl


def overlaps(a: list[Span], b: list[Span]) -> list[Span]:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if e > s:
                out.append((s, e))
    return sorted(out)


def silences(tl: Timeline, min_gap: float) -> list[Span]:
    """Stretches of at least `min_gap` s when neither party talks, first talk to last."""
    spans = sorted(tl.talk["customer"] + tl.talk["agent"])
    out: list[Span] = []
    if not spans:
        return out
    end = spans[0][1]
    for s, e in spans[1:]:
        if s - end >= min_gap:
            out.append((end, s))
        end = max(end, e)
    return out


def response_gaps(tl: Timeline, min_turn: float) -> list[tuple[float, float]]:
    """(customer turn end, gap) for each customer turn the agent answered.

    The answer is the agent's first spurt starting after the turn began and before
    the customer's next turn; negative gaps are the agent talking over the end.
    """
    turns = [s for s in tl.talk["customer"] if s[1] - s[0] >= min_turn]
    agent = sorted(tl.talk["agent"])
    out = []
    for i, (cs, ce) in enumerate(turns):
        nxt = turns[i + 1][0] if i + 1 < len(turns) else float("inf")
        answer = next((a for a in agent if cs < a[0] < nxt and a[1] > ce), None)
        if answer is not None:
            out.append((ce, round(answer[0] - ce, 3)))
    return out
