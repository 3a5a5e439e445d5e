"""The coach: playbook entries fired by call events, shown as suggestions without flooding.

Rules:
- An entry fires when an event matches its trigger: event type, party, evidence
  filters (anger level, pace direction, phrase rule), transcript patterns, or
  the call-start local hour.
- One event shows at most `per_event` suggestions, the most urgent entries first.
- An entry does not fire again within `cooldown` seconds of its last showing,
  nor while it is still on screen; nor does a second card with the same text.
- At most `max_active` cards are on screen.  A more urgent card replaces the
  least urgent one (the oldest among equals); one that is not more urgent is
  dropped and its cooldown does not start.
- A card leaves the screen `ttl` seconds after it was shown (its `expires` call
  time), when replaced, or when the agent marks it used or dismissed; a
  dismissal restarts the entry's cooldown.
- Time is only ever `event.t`; the object reads no clock, so replays repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assist.coach.playbook import Entry, Playbooks, Trigger
from assist.errors import UserError
from assist.events import STATE_TYPES, Event
from assist.evidence import FEEDBACK_ACTIONS
from assist.settings import check_fields, number
from assist.textnorm import mask_numbers, normalize


@dataclass(frozen=True, slots=True)
class CoachParams:
    max_active: int = number(3, 1, 10, "cards")  # suggestions on screen at once
    per_event: int = number(1, 1, 5, "cards")  # suggestions one event may raise

    def __post_init__(self) -> None:
        check_fields(self, "coach")


@dataclass(slots=True)
class _Card:
    id: str
    entry: Entry
    shown: float
    expires: float
    evidence: dict[str, Any] = field(default_factory=dict)


class Coach:
    """Feed every call event; get `suggestion` events.  `feedback()` records the agent's clicks."""

    def __init__(
        self,
        playbooks: Playbooks,
        call_id: str,
        language: str,
        params: CoachParams | None = None,
        local_hour: int | None = None,
    ) -> None:
        self.playbooks = playbooks
        self.call_id = call_id
        self.params = params or CoachParams()
        self.local_hour = local_hour  # call-start hour in the site's time zone, if known
        self._set_language(language)
        self._active: list[_Card] = []
        self._last: dict[str, float] = {}  # entry id -> call time its cooldown started
        self._fired: dict[str, int] = {}  # entry id -> times shown (rotates phrasings)
        self._issued: dict[str, str] = {}  # suggestion id -> entry id
        self._streak: dict[str, int] = {}  # entry id -> matching finals in a row
        self._outdated: list[str] = []  # cards the current state event took off
        self._n = 0

    def _set_language(self, language: str) -> None:
        self.language = language
        entries = self.playbooks.for_language(language)
        order = {e.id: i for i, e in enumerate(entries)}
        self._entries = sorted(entries, key=lambda e: (-e.priority, order[e.id]))

    def feed(self, event: Event, seq: int | None = None) -> list[Event]:
        """Suggestions this event raises (possibly none), most urgent first."""
        if event.type == "call.started":
            lang = event.evidence.get("language")
            if isinstance(lang, str) and lang != self.language:
                if self.playbooks.for_language(lang):  # else keep the configured language
                    self._set_language(lang)
        if event.type == "call.ended":
            self._active.clear()
            return []
        self._expire(event.t)
        text = None
        if event.type in ("transcript.partial", "transcript.final"):
            text = normalize(str(event.evidence.get("text", "")), self.language)
        hour = self._hour(event)
        streaks = self._count_streaks(event, text, hour)
        if event.type in STATE_TYPES:
            # A new state (calm -> tense -> angry) outdates the cards the old state raised,
            # whether or not it raises one of its own (its entry may be cooling down);
            # the panel drops them on the state event too.
            self._outdated = [c.id for c in self._active
                              if c.evidence["reason"]["type"] == event.type]
            self._active = [c for c in self._active if c.id not in self._outdated]
        out: list[Event] = []
        for entry in self._entries:
            if len(out) >= self.params.per_event:
                break
            if entry.trigger.streak > 1:
                n = streaks.get(entry.id, 0)
                why = f"{n} in a row" if n >= entry.trigger.streak else None
            else:
                why = _matches(entry.trigger, event, text, hour)
            if why is None or not self._may_fire(entry, event.t):
                continue
            shown = self._show(entry, event, seq, why)
            if shown is not None:
                out.append(shown)
        return out

    def feedback(self, suggestion_id: str, action: str, agent: str | None, t: float) -> Event:
        """The agent marked a card used or dismissed: off the screen; returns the event to keep."""
        if action not in FEEDBACK_ACTIONS:
            raise UserError(f"feedback action must be 'used' or 'dismissed', got {action!r}")
        entry_id = self._issued.get(suggestion_id)
        if entry_id is None:
            raise UserError(f"no suggestion {suggestion_id!r} on call {self.call_id}")
        self._active = [c for c in self._active if c.id != suggestion_id]
        if action == "dismissed":
            self._last[entry_id] = max(self._last.get(entry_id, t), t)
        return Event(
            "feedback",
            self.call_id,
            t,
            "agent",
            {"suggestion": suggestion_id, "entry": entry_id, "action": action, "agent": agent},
        )

    def active(self, t: float) -> list[dict[str, Any]]:
        """What is on screen at call time `t`, most urgent first."""
        self._expire(t)
        cards = sorted(self._active, key=lambda c: (-c.entry.priority, -c.shown))
        return [c.evidence for c in cards]

    # -- internals ------------------------------------------------------------------

    def _hour(self, event: Event) -> int | None:
        hour = event.evidence.get("local_hour", self.local_hour)
        return hour if type(hour) is int else None

    def _count_streaks(self, event: Event, text: str | None, hour: int | None) -> dict[str, int]:
        """Update the run of matching finals for `streak` entries (before any early stop)."""
        if event.type != "transcript.final":
            return {}
        for entry in self._entries:
            trig = entry.trigger
            if trig.streak > 1 and (trig.party is None or trig.party == event.party):
                hit = _matches(trig, event, text, hour) is not None
                self._streak[entry.id] = self._streak.get(entry.id, 0) + 1 if hit else 0
        return self._streak

    def _expire(self, t: float) -> None:
        self._active = [c for c in self._active if c.expires > t]

    def _may_fire(self, entry: Entry, t: float) -> bool:
        last = self._last.get(entry.id)
        if last is not None and t < last + entry.cooldown:
            return False
        return not any(c.entry.id == entry.id for c in self._active)

    def _show(self, entry: Entry, event: Event, seq: int | None, why: str) -> Event | None:
        n = self._fired.get(entry.id, 0)
        text = entry.phrasings[n % len(entry.phrasings)]
        if any(c.evidence["text"] == text for c in self._active):
            return None
        replaces: list[str] = []
        if event.type in STATE_TYPES:
            replaces, self._outdated = self._outdated, []
        if len(self._active) >= self.params.max_active:
            weakest = min(self._active, key=lambda c: (c.entry.priority, c.shown))
            if weakest.entry.priority >= entry.priority:
                return None
            self._active.remove(weakest)
            replaces.append(weakest.id)
        self._n += 1
        sid = f"s{self._n}"
        reason: dict[str, Any] = {"type": event.type, "t": round(event.t, 3), "summary": why}
        if seq is not None:
            reason["seq"] = seq
        if event.party is not None:
            reason["party"] = event.party
        evidence = {
            "id": sid,
            "entry": entry.id,
            "title": entry.title,
            "priority": entry.priority,
            "text": text,
            "phrasings": list(entry.phrasings),
            "reason": reason,
            "cooldown": entry.cooldown,
            "ttl": entry.ttl,
            "expires": round(event.t + entry.ttl, 3),
            "replaces": replaces,
            "seed": entry.seed,
            "language": entry.language,
        }
        self._active.append(_Card(sid, entry, event.t, event.t + entry.ttl, evidence))
        self._last[entry.id] = event.t
        self._fired[entry.id] = n + 1
        self._streak.pop(entry.id, None)
        self._issued[sid] = entry.id
        return Event("suggestion", self.call_id, event.t, "agent", evidence, arrival=event.arrival)


def _matches(trigger: Trigger, event: Event, text: str | None, hour: int | None) -> str | None:
    """Why the event fires the trigger (a short summary), or None when it does not."""
    if event.type not in trigger.events:
        return None
    if trigger.party is not None and event.party != trigger.party:
        return None
    ev = event.evidence
    for key, allowed in trigger.filters:
        if ev.get(key) not in allowed:
            return None
    if trigger.hours is not None:
        if hour is None:
            return None
        lo, hi = trigger.hours
        if not (lo <= hour < hi if lo < hi else hour >= lo or hour < hi):
            return None
    if trigger.match:
        hit = next((m for p in trigger.match if (m := p.search(text or ""))), None)
        if hit is None:
            return None
        return f'{event.party or "caller"} said "{mask_numbers(hit.group(0))}"'
    return _summary(event, hour)


def _summary(event: Event, hour: int | None) -> str:
    ev = event.evidence
    if event.type == "anger":
        return f"customer {ev.get('previous')} -> {ev.get('level')} (score {ev.get('score')})"
    if event.type == "interruption":
        return f"agent talking over the customer for {float(ev.get('overlap', 0)):.1f} s"
    if event.type == "interruption.end":
        return f"overlap ended after {float(ev.get('overlap', 0)):.1f} s"
    if event.type == "pace.drift":
        band = ev.get("band") or ["?", "?"]
        return (
            f"agent pace {float(ev.get('cpm', 0)):.0f}/min, too {ev.get('direction')}"
            f" (band {band[0]}-{band[1]}, target {ev.get('target')})"
        )
    if event.type == "phrase":
        return f'agent said "{ev.get("matched")}"'
    if event.type == "silence":
        return f"nobody has spoken for {float(ev.get('threshold', 0)):.0f} s"
    if event.type == "silence.end":
        return f"{ev.get('resumed_by')} spoke after {float(ev.get('duration', 0)):.0f} s of silence"
    if event.type == "call.started":
        return f"call started (local hour {hour})" if hour is not None else "call started"
    return event.type
