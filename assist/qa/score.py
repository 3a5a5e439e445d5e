"""A call's scorecard: each seed rule measured from the stored events.

Rules:
- A rule passes when its measure is within the rules file's threshold; its weight
  counts toward the score only when it could be measured (transcript rules need a
  recogniser on the call); the score is the passed weight over the measured weight.
- pace: share of the agent's speaking time (spurts of at least `min_spurt` s) whose
  rate falls outside `band`.
- interruptions: `interruption` events per 10 minutes of call.
- dead_air: seconds in stretches of at least `min_gap` s when neither party talks.
- taboo: the agent's `phrase` hits of taboo rules.
- feelings_first: each anger episode (calm to tense or angry, until calm again) whose
  first agent words within `within` s carry a calming phrase.
- greeting / closing: the agent's words in the first / last `within` s.
- questions: the longest run of agent utterances that are questions.
- response_gap: shown only: the agent's answers after customer turns.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from assist.qa.rules import Rules
from assist.qa.timeline import Timeline, build, response_gaps, silences


@dataclass(frozen=True, slots=True)
class Line:
    rule: str
    title: str
    seed: str
    weight: float
    value: float | None  # None: could not be measured on this call
    limit: Any
    passed: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class Scorecard:
    call_id: str
    agent: str | None
    duration: float
    score: float | None
    lines: tuple[Line, ...]
    # Per flag kind (the card's reason type): shown, used, dismissed, ignored.
    feedback: dict[str, dict[str, int]]

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "agent": self.agent, "duration": self.duration,
                "score": self.score, "lines": [asdict(x) for x in self.lines],
                "feedback": self.feedback}


# What a scorecard reads: `qa report` loads only these from the store.
SCORED_TYPES = ("call.started", "call.ended", "transcription", "talk.start", "talk.end",
                "metrics", "transcript.final", "anger", "interruption", "phrase",
                "suggestion", "feedback")


def score_events(events: list[dict[str, Any]], rules: Rules) -> Scorecard:
    return score(build(events), rules)


def score(tl: Timeline, rules: Rules) -> Scorecard:
    lines = []
    for rid, rule in rules.rules.items():
        value, passed, detail = MEASURES[rid](tl, rule.params)
        limit = {k: v for k, v in rule.params.items() if not isinstance(v, tuple) or k == "band"}
        lines.append(Line(rid, rule.title, rule.seed, rule.weight, value, limit, passed, detail))
    scored = [x for x in lines if x.passed is not None and x.weight > 0]
    total = sum(x.weight for x in scored)
    pts = sum(x.weight for x in scored if x.passed)
    value = round(100 * pts / total, 1) if total else None
    return Scorecard(tl.call_id, tl.agent, round(tl.duration, 3), value, tuple(lines),
                     card_feedback(tl))


def card_feedback(tl: Timeline) -> dict[str, dict[str, int]]:
    """How the agent answered the cards, per flag kind; a card left alone is ignored."""
    kinds: dict[str, str] = {}
    out: dict[str, dict[str, int]] = {}
    for e in tl.of("suggestion", "feedback"):
        ev = e["evidence"]
        if e["type"] == "suggestion":
            reason = ev.get("reason")
            kind = str(reason.get("type", "?")) if isinstance(reason, dict) else "?"
            kinds[str(ev.get("id"))] = kind
            out.setdefault(kind, {"shown": 0, "used": 0, "dismissed": 0, "ignored": 0})
            out[kind]["shown"] += 1
        elif str(ev.get("suggestion")) in kinds and ev.get("action") in ("used", "dismissed"):
            out[kinds[str(ev["suggestion"])]][str(ev["action"])] += 1
    for c in out.values():
        c["ignored"] = c["shown"] - c["used"] - c["dismissed"]
    return dict(sorted(out.items()))


Measure = tuple[float | None, bool | None, str]


def _pace(tl: Timeline, p: dict[str, Any]) -> Measure:
    low, high = p["band"]
    spoken = outside = 0.0
    for e in tl.of("metrics"):
        ev = e["evidence"]
        if e.get("party") != "agent" or ev["duration"] < p["min_spurt"]:
            continue
        spoken += ev["duration"]
        if not low <= ev["pace_cpm"] <= high:
            outside += ev["duration"]
    if spoken == 0:
        return None, None, "no agent speech long enough to rate"
    share = round(outside / spoken, 3)
    detail = f"{outside:.1f} of {spoken:.1f} s outside {low:g}-{high:g}"
    return share, share <= p["max_share"], detail


def _interruptions(tl: Timeline, p: dict[str, Any]) -> Measure:
    n = len(tl.of("interruption"))
    if tl.duration <= 0:
        return None, None, "empty call"
    rate = round(n / (tl.duration / 600), 2)
    return rate, rate <= p["max_per_10min"], f"{n} in {tl.duration:.0f} s"


def _dead_air(tl: Timeline, p: dict[str, Any]) -> Measure:
    gaps = silences(tl, p["min_gap"])
    total = round(sum(e - s for s, e in gaps), 2)
    return total, total <= p["max_seconds"], f"{len(gaps)} gap(s) of {p['min_gap']:g} s or more"


def _taboo(tl: Timeline, p: dict[str, Any]) -> Measure:
    if not tl.transcribed:
        return None, None, "needs transcripts"
    hits = [e for e in tl.of("phrase") if str(e["evidence"].get("rule", "")).startswith("taboo.")]
    said = "、".join(str(e["evidence"].get("matched", "")) for e in hits)
    return len(hits), len(hits) <= p["max"], said or "none"


def episodes(tl: Timeline) -> list[float]:
    """Call times at which the customer went from calm to tense or angry."""
    return [float(e["t"]) for e in tl.anger
            if e["evidence"].get("previous") == "calm" and e["evidence"].get("level") != "calm"]


def _words(tl: Timeline, party: str = "agent") -> list[tuple[float, str]]:
    return [(float(e["evidence"].get("start", e["t"])), str(e["evidence"].get("text", "")))
            for e in tl.finals if e.get("party") == party]


def _feelings_first(tl: Timeline, p: dict[str, Any]) -> Measure:
    starts = episodes(tl)
    if not tl.transcribed:
        return None, None, f"{len(starts)} anger episode(s); answer needs transcripts"
    if not starts:
        return 0, True, "no anger episode"
    calmed = 0
    for t0 in starts:
        first = next((w for s, w in _words(tl) if t0 <= s <= t0 + p["within"]), "")
        calmed += any(c in first for c in p["calming"])
    detail = f"{calmed} of {len(starts)} episode(s) met with feelings first"
    return len(starts) - calmed, calmed == len(starts), detail


def _greeting(tl: Timeline, p: dict[str, Any]) -> Measure:
    if not tl.transcribed:
        return None, None, "needs transcripts"
    said = "".join(w for s, w in _words(tl) if s <= p["within"])
    ok = any(x in said for x in p["patterns"])
    return float(ok), ok, said[:40] or "agent said nothing at the start"


def _closing(tl: Timeline, p: dict[str, Any]) -> Measure:
    if not tl.transcribed:
        return None, None, "needs transcripts"
    said = "".join(w for s, w in _words(tl) if s >= tl.duration - p["within"])
    ok = any(x in said for x in p["patterns"])
    return float(ok), ok, said[-40:] or "agent said nothing at the end"


QUESTION = re.compile(r"(\?|？|吗|呢|么)\s*[。.!！]*\s*$")


def _questions(tl: Timeline, p: dict[str, Any]) -> Measure:
    if not tl.transcribed:
        return None, None, "needs transcripts"
    run = best = 0
    for _, w in _words(tl):
        run = run + 1 if QUESTION.search(w) else 0
        best = max(best, run)
    return best, best <= p["max_run"], f"longest run {best}"


def _response_gap(tl: Timeline, p: dict[str, Any]) -> Measure:
    gaps = [g for _, g in response_gaps(tl, p["min_turn"])]
    if not gaps:
        return None, None, "no answered customer turn"
    over = sum(g < 0 for g in gaps)
    latch = sum(0 <= g < p["latch"] for g in gaps)
    long = sum(g > p["long"] for g in gaps)
    mid = sorted(gaps)[len(gaps) // 2]
    return mid, None, f"{len(gaps)} answers: {over} over the customer, {latch} latched, {long} long"


MEASURES = {"pace": _pace, "interruptions": _interruptions, "dead_air": _dead_air,
            "taboo": _taboo, "feelings_first": _feelings_first, "greeting": _greeting,
            "closing": _closing, "questions": _questions, "response_gap": _response_gap}
