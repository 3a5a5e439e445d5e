"""Coaching for the service: playbooks loaded once, a coach and phrase spotter per call."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
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

    def attach(self, session: Any) -> None:
        coach = Coach(self.books, session.call_id, session.language, self.params,
                      local_hour=local_hour(session.start_utc, self.timezone))
        spotter = PhraseSpotter(self.books, session.language)
        session.coach = coach

        def listen(event: Event, seq: int) -> list[Event]:
            return [*spotter.feed(event), *coach.feed(event, seq)]

        session.listeners.append(listen)
