"""Recognisers shared by every party of a process, one utterance at a time.

A lookahead model (`graph/HCLr.fst` + `Gr.fst`, as PyPI's small models are) composes
its graph while it decodes, and each `KaldiRecognizer` keeps its own cache of what it
composed: 60-140 MB after a minute or two of speech.  One recogniser per party held
two such caches per call, though a party talks less than half the time.  Here a party
borrows a recogniser for one gated segment, from its first audio to `FinalResult`,
which resets everything that carries speech from one segment to the next (features,
i-vector, decoder, endpointing; Vosk's `CleanUp`).  The results are the same as with a
recogniser of its own; the process holds as many recognisers as there are segments
decoding at once, and the warmest is lent first.

Vosk's word times count every sample a recogniser was ever fed, so each lent
recogniser carries that count and the borrower subtracts it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

IDLE_S = 300.0  # a recogniser nobody borrowed for this long is freed


class Lent:
    """One recogniser and the audio it has been fed over its life."""

    __slots__ = ("rec", "fed", "idle_since")

    def __init__(self, rec: Any) -> None:
        self.rec = rec
        self.fed = 0  # samples, the base of its word times
        self.idle_since = 0.0


class RecognizerPool:
    def __init__(self, vosk_model: Any, rate: int) -> None:
        self._model = vosk_model
        self._rate = rate
        self._idle: list[Lent] = []  # last returned (warmest) at the end
        self._lock = threading.Lock()
        self.created = 0
        self.lent = 0

    def acquire(self) -> Lent:
        """A warm recogniser if one is free, else a new one (on the caller's thread)."""
        with self._lock:
            self.lent += 1
            if self._idle:
                return self._idle.pop()
            self.created += 1
            held = self.lent
        try:
            lent = Lent(self._new())
        except BaseException:
            with self._lock:
                self.lent -= 1
                self.created -= 1
            raise
        log.info("speech recognisers at %d Hz: %d decoding at once, a new one made",
                 self._rate, held)
        return lent

    def release(self, lent: Lent) -> None:
        """Give back a recogniser whose segment ended with `FinalResult`."""
        now = time.monotonic()
        lent.idle_since = now
        with self._lock:
            self.lent -= 1
            # Free what load no longer needs, coldest first (the front of the list).
            while self._idle and now - self._idle[0].idle_since > IDLE_S:
                self._idle.pop(0)
            self._idle.append(lent)

    def discard(self) -> None:
        """A lent recogniser that failed: it is dropped, not returned."""
        with self._lock:
            self.lent -= 1

    @property
    def size(self) -> int:
        with self._lock:
            return self.lent + len(self._idle)

    def _new(self) -> Any:
        import vosk

        rec = vosk.KaldiRecognizer(self._model, float(self._rate))
        rec.SetWords(True)
        return rec
