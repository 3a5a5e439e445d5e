"""An agent's calls over a period: scorecards, their summary and what the cards taught.

Rules:
- A call belongs to the period when it started at or after `since` (and before
  `until`, if given); calls still running are left out.
- Feedback is counted per flag kind (the `reason.type` of each card): shown, used,
  dismissed; a card neither used nor dismissed counts as ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assist.qa.rules import Rules
from assist.qa.score import SCORED_TYPES, Scorecard, score_events
from assist.store.base import Reads


@dataclass
class Period:
    agent: str
    since: str
    until: str | None
    cards: list[Scorecard] = field(default_factory=list)
    started: dict[str, str] = field(default_factory=dict)  # call id -> started_utc
    feedback: dict[str, dict[str, int]] = field(default_factory=dict)
    pace_cpm: list[tuple[float, float]] = field(default_factory=list)  # (cpm, seconds)

    def summary(self) -> dict[str, Any]:
        rules: dict[str, dict[str, Any]] = {}
        for card in self.cards:
            for x in card.lines:
                r = rules.setdefault(x.rule, {"title": x.title, "seed": x.seed,
                                              "weight": x.weight, "measured": 0, "passed": 0,
                                              "values": []})
                if x.value is not None:
                    r["values"].append(x.value)
                if x.passed is not None:
                    r["measured"] += 1
                    r["passed"] += bool(x.passed)
        for r in rules.values():
            vals = r.pop("values")
            r["mean"] = round(sum(vals) / len(vals), 3) if vals else None
            r["pass_rate"] = round(r["passed"] / r["measured"], 3) if r["measured"] else None
        scores = [c.score for c in self.cards if c.score is not None]
        return {"agent": self.agent, "since": self.since, "until": self.until,
                "calls": len(self.cards),
                "score": round(sum(scores) / len(scores), 1) if scores else None,
                "rules": rules, "feedback": self.feedback}


def collect(archive: Reads, rules: Rules, agent: str, since: str,
            until: str | None = None) -> Period:
    period = Period(agent, since, until)
    feedback: dict[str, dict[str, int]] = {}
    for call in archive.calls(agent=agent):
        start = call["started_utc"] or ""
        if start < since or (until is not None and start >= until) or call["ended_utc"] is None:
            continue
        events = archive.events(call["call_id"], types=SCORED_TYPES)
        card = score_events(events, rules)
        period.cards.append(card)
        period.started[call["call_id"]] = start
        for kind, counts in card.feedback.items():
            total = feedback.setdefault(kind, dict.fromkeys(counts, 0))
            for k, v in counts.items():
                total[k] += v
        for e in events:
            ev = e.get("evidence") or {}
            if (e["type"] == "metrics" and e.get("party") == "agent"
                    and ev.get("duration", 0) >= 1):
                period.pace_cpm.append((float(ev["pace_cpm"]), float(ev["duration"])))
    period.feedback = dict(sorted(feedback.items()))
    return period
