"""Transcription for the service: load models once, attach recognisers to each call.

Without a model nothing else changes: each call gets a `transcription` event
saying it is off and why, and the acoustic pace estimate stays in charge.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from assist.asr.config import AsrParams
from assist.asr.model import ModelRegistry
from assist.asr.worker import PartyRecognizer
from assist.events import PARTIES, Event

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

    def attach(self, session: Any) -> None:
        """Give a just-started call its recognisers, or tell its clients why there are none."""
        off = self.reason_off(session.language)
        model = self.registry.loaded(session.language)
        if off is None and model is not None:
            bad_rate = model.check_rate(session.rate)
            off = ("bad_rate", bad_rate) if bad_rate else None
        if off is not None or model is None:
            code, reason = off or ("no_model", "no model")
            session.inject(Event("transcription", session.call_id, 0.0, None,
                                 {"enabled": False, "code": code, "reason": reason}))
            return
        loop = asyncio.get_running_loop()

        def emit(event: Event) -> None:
            if not session.ended:
                session.inject(event)

        recs = {p: PartyRecognizer(model, session.rate, session.call_id, p, emit, loop,
                                   self.params) for p in PARTIES}
        session.use_recognizers(recs)
        session.inject(Event("transcription", session.call_id, 0.0, None,
                             {"enabled": True, "model": model.path.name,
                              "language": session.language}))
