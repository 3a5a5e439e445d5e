"""One party's streaming recogniser, off the event loop.

`feed` and `close` run on the event loop and return at once: the gate picks
the audio worth recognising and hands it to this party's own single-thread
executor, so chunks stay in order and a slow decoder never stalls the loop
(Vosk's C decoder releases the GIL).  Results come back as Events through
`loop.call_soon_threadsafe(emit, event)`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from assist.asr.config import AsrParams
from assist.asr.gate import SpeechGate, TimeMap
from assist.asr.model import AsrModel
from assist.asr.pool import Lent, RecognizerPool
from assist.asr.text import join_text, join_tokens
from assist.events import Event, EventType, Party
from assist.frames import Frame

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RecognizerStats:
    seen_s: float = 0.0
    fed_s: float = 0.0
    dropped_s: float = 0.0
    cpu_s: float = 0.0  # the worker thread's whole CPU time (decoder and all)


class PartyRecognizer:
    def __init__(
        self,
        model: AsrModel,
        rate: int,
        call_id: str,
        party: Party,
        emit: Callable[[Event], None],
        loop: asyncio.AbstractEventLoop,
        params: AsrParams | None = None,
    ) -> None:
        reason = model.check_rate(rate)
        if reason:
            raise ValueError(reason)
        self.model = model
        self.rate = rate
        self.call_id = call_id
        self.party = party
        self.params = params or AsrParams()
        self._emit = emit
        self._loop = loop
        self._gate = SpeechGate(self.params.pre_roll, self.params.post_roll)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"asr-{party}")
        self._pending: list[Frame] = []
        self._pending_s = 0.0
        self._backlog_s = 0.0  # touched on both threads, under _lock
        self._lock = threading.Lock()
        self._closed = False
        self.stats = RecognizerStats()
        # Worker-thread state below.
        # A private pool is one recogniser for this party, as it was before sharing.
        renew = self.params.renew_after
        self._pool = (model.pool(rate, renew) if self.params.shared
                      else RecognizerPool(model.vosk_model, rate, renew))
        self._lent: Lent | None = None  # borrowed for the segment being decoded
        self._base = 0.0  # this party's fed seconds minus the lent recogniser's, at borrow
        self._map = TimeMap()
        self._utt_start: float | None = None  # call time the current utterance began
        self._last_partial = ""
        self._failed = False
        self._last: Future[None] = self._executor.submit(self._create)

    # ---- event loop side -------------------------------------------------

    def feed(self, frame: Frame, talking: bool) -> None:
        if self._closed:
            return
        self.stats.seen_s += frame.duration
        if self.params.gated:
            out = self._gate.push(frame, talking)
            frames, end = out.frames, out.segment_end
        else:
            frames, end = [frame], False
        for f in frames:
            self._pending.append(f)
            self._pending_s += f.duration
        if end or self._pending_s + 1e-9 >= self.params.chunk:
            self._hand_off(end)

    def close(self, t: float) -> None:
        """End of call at call time `t`: flush the last result, free the worker."""
        if self._closed:
            return
        self._gate.close()
        self._hand_off(True)
        self._closed = True
        self._last = self._executor.submit(self._free)
        self._executor.shutdown(wait=False)

    def idle(self) -> asyncio.Future[None]:
        """Resolves once everything handed off so far is decoded and its events
        are queued on the loop (ahead of whoever awaits this)."""
        return asyncio.wrap_future(self._last, loop=self._loop)

    def _hand_off(self, end: bool) -> None:
        frames, self._pending, self._pending_s = self._pending, [], 0.0
        if not frames and not end:
            return
        dur = sum(f.duration for f in frames)
        with self._lock:
            limit = self.params.max_backlog
            if limit and self._backlog_s + dur > limit:  # 0: never drop
                self.stats.dropped_s += dur  # the time map turns this into a gap
                frames, dur = [], 0.0
            self._backlog_s += dur
        self.stats.fed_s += dur
        self._last = self._executor.submit(self._accept, frames, dur, end)

    # ---- worker thread side ----------------------------------------------

    def _create(self) -> None:
        # The recogniser is borrowed when speech comes; this only starts the CPU count.
        self.stats.cpu_s = time.thread_time()

    def _borrow(self) -> Lent:
        if self._lent is None:
            try:
                lent = self._pool.acquire()
            except Exception as e:
                self._fail(f"could not start the recogniser: {e}")
                raise
            self._lent = lent
            self._base = self._map.fed - lent.fed / self.rate
        return self._lent

    def _give_back(self) -> None:
        if self._lent is not None:
            self._pool.release(self._lent)
            self._lent = None

    def _accept(self, frames: list[Frame], dur: float, end: bool) -> None:
        try:
            if frames and not self._failed:
                # A partial is not asked for when the final follows at once.
                self._decode(frames, partial=not end)
            if end and not self._failed and self._lent is not None:
                res = json.loads(self._lent.rec.FinalResult())  # resets it for the next user
                if self._utt_start is not None:
                    self._final(res, frames)
                self._give_back()
        except Exception as e:
            self._fail(f"recogniser failed: {e}")
        finally:
            self.stats.cpu_s = time.thread_time()  # this thread's since it started
            with self._lock:
                self._backlog_s -= dur

    def _decode(self, frames: list[Frame], partial: bool = True) -> None:
        if self._utt_start is None:
            self._utt_start = frames[0].t
        utt_start = self._utt_start
        lent = self._borrow()
        rec = lent.rec
        for f in frames:
            self._map.add(f.t, f.duration)
        pcm = np.concatenate([f.pcm for f in frames]).astype("<i2", copy=False)
        lent.fed += len(pcm)
        last = frames[-1]
        if rec.AcceptWaveform(pcm.tobytes()):
            self._final(json.loads(rec.Result()), frames)
            return
        if not partial:
            return
        text = join_text(json.loads(rec.PartialResult()).get("partial", ""), self.model.language)
        if text and text != self._last_partial:
            self._last_partial = text
            end = last.t + last.duration
            ev = {"text": text, "start": round(utt_start, 3), "end": round(end, 3)}
            self._send("transcript.partial", end, ev, last.arrival)

    def _final(self, res: dict[str, Any], frames: list[Frame]) -> None:
        words = []
        tokens: list[str] = []
        for w in res.get("result", []):
            token = str(w.get("word", ""))
            if not join_tokens([token], self.model.language):
                continue  # filler such as [unk]
            tokens.append(token)
            words.append(
                {
                    "w": token,
                    "start": round(self._map.to_call(float(w["start"]) + self._base), 3),
                    "end": round(self._map.to_call(float(w["end"]) + self._base, end=True), 3),
                    "conf": round(float(w.get("conf", 1.0)), 3),
                }
            )
        text = join_tokens(tokens, self.model.language)
        self._utt_start = None
        self._last_partial = ""
        if not text:
            return
        known_at = self._map.to_call(self._map.fed, end=True)
        arrival = frames[-1].arrival if frames else None
        ev = {"text": text, "start": words[0]["start"], "end": words[-1]["end"], "words": words}
        self._send("transcript.final", known_at, ev, arrival)

    def _fail(self, reason: str) -> None:
        if self._failed:
            return
        self._failed = True
        if self._lent is not None:  # not lent again: it may be broken
            self._pool.discard()
            self._lent = None
        msg = f"{self.party}: {reason}; transcription is off for this party"
        log.error("call %s: %s", self.call_id, msg)
        self._send(
            "transcription",
            self._map.to_call(self._map.fed, end=True),
            {"enabled": False, "reason": msg},
            None,
        )

    def _send(
        self, type_: EventType, t: float, evidence: dict[str, Any], arrival: float | None
    ) -> None:
        event = Event(type_, self.call_id, round(max(t, 0.0), 6), self.party, evidence, arrival)
        try:
            self._loop.call_soon_threadsafe(self._emit, event)
        except RuntimeError:  # loop closed: the call is gone
            pass

    def _free(self) -> None:
        if self._lent is not None:  # left mid-segment (a failure): not lent again
            self._pool.discard()
            self._lent = None
        self.stats.cpu_s = time.thread_time()
