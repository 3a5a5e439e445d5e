"""What every fork protocol shares: decoding, re-chunking to 20 ms frames, call time
from sample counts, the bridge to the CallSink, and per-connection limits.

Call time is the audio received: each party's frame `t` is its samples so far /
rate.  A pause (hold) sends no audio, so call time stands still through it; the
detectors see the two sides of a hold as adjoining.  A party whose stream lags
the other (Twilio's timestamps say where a chunk belongs) is padded with silence
so both parties keep one clock.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import numpy as np

from assist.frames import Frame, Party, samples_per_frame
from assist.taps.fork.health import ForkHealth

log = logging.getLogger(__name__)
MAX_PAD_S = 2.0  # never invent more silence than this for one gap


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    mag = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
    return np.where(u & 0x80, 0x84 - mag, mag - 0x84).astype(np.int16)


ULAW = _ulaw_table()


def ulaw_decode(data: bytes) -> np.ndarray:
    return ULAW[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """Nearest code for each sample (used by tests and the bench to play the platform)."""
    order = np.argsort(ULAW)
    idx = np.clip(np.searchsorted(ULAW[order], pcm.astype(np.int32)), 1, 255)
    lo, hi = order[idx - 1], order[idx]
    pick = np.where(np.abs(ULAW[lo] - pcm) <= np.abs(ULAW[hi] - pcm), lo, hi)
    return pick.astype(np.uint8).tobytes()


def output_rate(rate: int) -> int | None:
    """The session rate for an input rate: 8/16 kHz as they are, others by whole factors."""
    return {8000: 8000, 16000: 16000, 24000: 8000, 32000: 16000, 48000: 16000,
            64000: 16000}.get(rate)


class Decimator:
    """Whole-factor downsampling with a windowed-sinc low-pass that keeps its state."""

    def __init__(self, factor: int) -> None:
        self.factor = factor
        n = 16 * factor + 1
        k = np.arange(n) - (n - 1) / 2
        cutoff = 0.45 / factor
        taps = 2 * cutoff * np.sinc(2 * cutoff * k) * np.hamming(n)
        self._taps = taps / taps.sum()
        self._tail = np.zeros(n - 1)
        self._phase = 0

    def __call__(self, pcm: np.ndarray) -> np.ndarray:
        if self.factor == 1 or len(pcm) == 0:
            return pcm
        x = np.concatenate([self._tail, pcm.astype(np.float64)])
        y = np.convolve(x, self._taps, mode="valid")
        self._tail = x[len(x) - len(self._taps) + 1:]
        out = y[self._phase::self.factor]
        self._phase = (self._phase - len(y)) % self.factor
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)


class PartyFramer:
    """One party's audio in any chunk sizes out as 20 ms frames with call time."""

    def __init__(self, party: Party, in_rate: int) -> None:
        rate = output_rate(in_rate)
        if rate is None:
            raise ValueError(f"unsupported sample rate {in_rate}")
        self.party, self.rate, self.in_rate = party, rate, in_rate
        self._down = Decimator(in_rate // rate)
        self._n = samples_per_frame(rate)
        self._buf = np.zeros(0, dtype=np.int16)
        self.samples = 0  # samples handed on as frames

    @property
    def t(self) -> float:
        return (self.samples + len(self._buf)) / self.rate

    def push(self, pcm: np.ndarray, arrival: float) -> list[Frame]:
        self._buf = np.concatenate([self._buf, self._down(pcm)])
        out = []
        while len(self._buf) >= self._n:
            chunk, self._buf = self._buf[:self._n], self._buf[self._n:]
            out.append(Frame(self.party, chunk.copy(), self.rate, self.samples / self.rate,
                             arrival))
            self.samples += self._n
        return out

    def pad_to(self, t: float, arrival: float) -> list[Frame]:
        """Silence up to call time `t` (at most MAX_PAD_S) when this party's stream skipped."""
        gap = min(int(round((t - self.t) * self.rate)), int(MAX_PAD_S * self.rate))
        if gap <= 0:
            return []
        self._buf = np.concatenate([self._buf, np.zeros(gap, dtype=np.int16)])
        return self.push(np.zeros(0, dtype=np.int16), arrival)


def safe_id(text: Any, limit: int = 80) -> str:
    """A call id piece from what a platform sent: printable, short, no path characters."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", str(text))[:limit] or "unknown"


class CallBridge:
    """One call on the sink: start once, feed each party's frames, end once with a reason.
    Once its parties are added, `watch()` starts their audio-health looks."""

    def __init__(self, sink: Any, call_id: str, *, rate: int, agent: str | None, source: str,
                 language: str | None, meta: dict[str, Any],
                 max_ahead: float = float("inf")) -> None:
        self.sink, self.call_id, self.rate = sink, call_id, rate
        self.framers: dict[str, PartyFramer] = {}
        # Audio may run ahead of the wall clock by this much (a platform's catch-up
        # burst), no more: a peer cannot make the sessions work faster than real time.
        self.max_ahead, self._wall0 = max_ahead, time.monotonic()
        self._paused = False
        self.ended = False
        self.health: ForkHealth | None = None
        sink.start_call(call_id, agent=agent, rate=rate, language=language, source=source,
                        meta=meta)

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        self._paused = value
        if value and self.health is not None:
            self.health.held = True

    def add_party(self, party: Party, in_rate: int) -> None:
        framer = PartyFramer(party, in_rate)
        if framer.rate != self.rate:
            raise ValueError(f"{party} at {in_rate} Hz on a {self.rate} Hz call")
        self.framers[party] = framer

    def watch(self, *, shared: bool = False) -> None:
        """Look at each party's audio from now on; `shared`: one stream carries all."""
        self.health = ForkHealth(self.sink, self.call_id, self.rate, tuple(self.framers),
                                 shared=shared)
        self.health.start(lambda: self._paused)

    def push(self, party: Party, pcm: np.ndarray, *, at: float | None = None) -> None:
        """Feed `pcm` of `party`, one media message's worth; `at` is the call time the
        platform says it starts at."""
        if self.paused or self.ended:
            return
        framer = self.framers[party]
        now = time.monotonic()
        if framer.t + len(pcm) / framer.in_rate > now - self._wall0 + self.max_ahead:
            raise ProtocolError("audio arrives faster than real time", 1008)
        frames = framer.pad_to(at, now) if at is not None else []
        for frame in frames + framer.push(pcm, now):
            if self.health is not None:
                self.health.frame(party, frame.pcm)
            self.sink.feed(self.call_id, frame)
        if self.health is not None:
            self.health.message(party)

    def lose(self, party: str, n: int) -> None:
        """The platform says `n` of `party`'s messages (or frames) went missing."""
        if self.health is not None and not self.ended:
            self.health.lost(party, n)

    def end(self, reason: str) -> None:
        if not self.ended:
            self.ended = True
            if self.health is not None:
                self.health.end()  # each party's final report, before the call ends
            self.sink.end_call(self.call_id, reason)


class RateLimit:
    """Messages a second per connection, with a burst of two seconds' worth."""

    def __init__(self, per_second: float, clock: Any = time.monotonic) -> None:
        self.rate, self.burst = per_second, 2 * per_second
        self._clock = clock
        self._tokens, self._last = self.burst, clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class ProtocolError(Exception):
    """A client broke its protocol; `code` and the message go back as that protocol says."""

    def __init__(self, message: str, code: int = 1008) -> None:
        super().__init__(message)
        self.code = code


class ForkContext:
    """What every connection handler shares: the sink, the limits, parked calls."""

    def __init__(self, sink: Any, params: Any, clock: Any = time.time) -> None:
        self.sink, self.params, self.clock = sink, params, clock
        self.parked: dict[str, Any] = {}  # AudioHook calls waiting for their session to return
        self.live: set[str] = set()  # call ids with a connection feeding them

    def unique_id(self, call_id: str, suffix: str) -> str:
        return call_id if call_id not in self.live else f"{call_id}-{safe_id(suffix, 12)}"


async def receive(ws: Any, limit: RateLimit, timeout: float | None = None) -> str | bytes:
    """The next message, within the connection's rate limit (ProtocolError past it)."""
    import asyncio

    if timeout is None:
        msg = await ws.recv()
    else:
        try:
            msg = await asyncio.wait_for(ws.recv(), timeout)
        except TimeoutError:
            raise ProtocolError(f"nothing received in {timeout:g} s", 1008) from None
    if not limit.take():
        raise ProtocolError("message rate limit exceeded", 1008)
    return msg


def parse_json(text: str | bytes, what: str) -> dict[str, Any]:
    import json

    if isinstance(text, bytes):
        raise ProtocolError(f"expected a JSON text frame ({what}), got binary", 1003)
    try:
        doc = json.loads(text)
    except ValueError:
        raise ProtocolError(f"{what} is not valid JSON", 1007) from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"{what} must be a JSON object", 1007)
    return doc


def close_reason(text: str) -> str:
    """A websocket close reason fits in 123 bytes."""
    return text.encode()[:120].decode(errors="ignore")
