"""Coaching for the service: playbooks loaded once, a coach and phrase spotter per call."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assist.coach.coach import Coach, CoachParams
from assist.coach.playbook import Playbooks
from assist.detectors.phrases import PhraseSpotter
from assist.events import Event

log = logging.getLogger(__name__)


def local_hour(start_utc: datetime, timezone: str) -> int | None:
    try:
        return start_utc.astimezone(ZoneInfo(timezone)).hour
    except (ZoneInfoNotFoundError, ValueError):
        return None


class Coaching:
    def __init__(self, books: Playbooks, timezone: str = "Asia/Shanghai",
                 params: CoachParams | None = None) -> None:
        self.books = books
        self.timezone = timezone
        self.params = params or CoachParams()

    def for_call(self, call_id: str, language: str, start_utc: datetime) -> CallCoach:
        coach = Coach(self.books, call_id, language, self.params,
                      local_hour=local_hour(start_utc, self.timezone))
        return CallCoach(coach, PhraseSpotter(self.books, language))


class CallCoach:
    """One call's phrase spotter and coach: each event in, phrases and suggestions out."""

    def __init__(self, coach: Coach, spotter: PhraseSpotter) -> None:
        self.coach = coach
        self._spotter = spotter

    def feed(self, event: Event, seq: int) -> list[Event]:
        return [*self._spotter.feed(event), *self.coach.feed(event, seq)]

    def feedback(self, suggestion_id: str, action: str, agent: str | None, t: float) -> Event:
        return self.coach.feedback(suggestion_id, action, agent, t)
