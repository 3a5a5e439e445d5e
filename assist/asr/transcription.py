"""Transcription for the service: load models once; each call's recognisers, start to flush.

Without a model nothing else changes: each call gets a `transcription` event
saying it is off and why, and the acoustic pace estimate stays in charge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from assist.asr.config import AsrParams
from assist.asr.model import ModelRegistry
from assist.asr.worker import PartyRecognizer
from assist.events import PARTIES, Event
from assist.frames import Frame, Party

log = logging.getLogger(__name__)


class Transcription:
    def __init__(self, cfg: AsrParams, *, realtime: bool = True) -> None:
        self.cfg = cfg
        self.registry = ModelRegistry(dict(cfg.models))
        # A replay faster than real time must not drop audio (0: never drop).
        self.params = cfg if realtime else replace(cfg, max_backlog=0.0)
        self.loaded = False

    async def load(self) -> dict[str, str]:
        """Load every configured model off the event loop; returns {language: reason}."""
        if not self.cfg.enabled:
            return {}
        failures = await asyncio.to_thread(self.registry.load_all)
        for lang, reason in failures.items():
            log.warning("transcription off for %s: %s", lang, reason)
        self.loaded = True
        return failures

    def reason_off(self, language: str) -> tuple[str, str] | None:
        """(code, reason) when this language gets no transcription; codes are for panels."""
        if not self.cfg.enabled:
            return "disabled", "transcription is disabled in the config ([asr] enabled = false)"
        model = self.registry.loaded(language)
        if model is None:
            return "no_model", self.registry.reason(language) or f"no model loaded for {language}"
        return None

    def start(self, call_id: str, language: str, rate: int,
              emit: Callable[[Event], None]) -> tuple[CallRecognizers | None, Event]:
        """A just-started call's recognisers, or None; and the event that says which."""
        off = self.reason_off(language)
        model = self.registry.loaded(language)
        if off is None and model is not None:
            bad_rate = model.check_rate(rate)
            off = ("bad_rate", bad_rate) if bad_rate else None
        if off is not None or model is None:
            code, reason = off or ("no_model", "no model")
            return None, Event("transcription", call_id, 0.0, None,
                               {"enabled": False, "code": code, "reason": reason})
        loop = asyncio.get_running_loop()
        recs = {p: PartyRecognizer(model, rate, call_id, p, emit, loop, self.params)
                for p in PARTIES}
        return CallRecognizers(recs), Event(
            "transcription", call_id, 0.0, None,
            {"enabled": True, "model": model.path.name, "language": language})


class CallRecognizers:
    """One call's recognisers, one per party, from start to flush.

    Each is fed its party's talk (the gate inside pads and trims it); a party whose
    recogniser fails (it says so with a `transcription` event, enabled false) is
    closed and its audio goes on unrecognised.  At the end each is closed, and
    `idle()` waits until their last finals are out.
    """

    def __init__(self, recognizers: dict[Party, PartyRecognizer]) -> None:
        self._recs = recognizers

    def feed(self, frame: Frame, talking: bool) -> None:
        rec = self._recs.get(frame.party)
        if rec is not None:
            rec.feed(frame, talking)

    def on_event(self, event: Event, t: float) -> None:
        if event.type == "transcription" and event.party is not None \
                and not event.evidence.get("enabled", True):
            failed = self._recs.pop(event.party, None)
            if failed is not None:
                failed.close(t)

    def close(self, t: float) -> None:
        for rec in self._recs.values():
            rec.close(t)

    async def idle(self) -> None:
        await asyncio.gather(*(r.idle() for r in self._recs.values()))
