"""The frame contract: 20 ms of one party's audio, stamped with call time from sample
counts, and the sink every tap hands frames to.

This module is all that a tap (sip/, WAV replay, media forks) needs to know of the
loop: it imports nothing else of assist/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Party = Literal["customer", "agent"]
PARTIES: tuple[Party, Party] = ("customer", "agent")

FRAME_MS = 20
SUPPORTED_RATES = (8000, 16000)


@dataclass(frozen=True, slots=True)
class Frame:
    """16-bit mono PCM of one party.

    `t` is the call time of the first sample (samples seen so far / rate),
    never the wall clock.  `arrival` is time.monotonic() when the frame was
    handed to the loop, kept only to measure latency.
    """

    party: Party
    pcm: np.ndarray  # int16, shape (samples_per_frame(rate),)
    rate: int
    t: float
    arrival: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.rate


def samples_per_frame(rate: int) -> int:
    """Samples in one FRAME_MS frame at `rate`: the one place this is computed."""
    return rate * FRAME_MS // 1000


class FrameError(ValueError):
    """A frame that breaks the contract (rate, dtype, length); the tap's bug, not the call's."""


def check_frame(frame: Frame, rate: int) -> None:
    """Raise FrameError unless `frame` is one FRAME_MS frame of int16 mono PCM at `rate`."""
    if frame.rate != rate:
        raise FrameError(f"{frame.party} frame at {frame.rate} Hz on a {rate} Hz call")
    pcm = frame.pcm
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
        what = f"{pcm.dtype} {pcm.shape}" if isinstance(pcm, np.ndarray) else type(pcm).__name__
        raise FrameError(f"{frame.party} frame must be 1-D int16 PCM, got {what}")
    want = samples_per_frame(rate)
    if len(pcm) != want:
        raise FrameError(f"{frame.party} frame of {len(pcm)} samples; {FRAME_MS} ms at"
                         f" {rate} Hz is {want}")
    if not frame.t >= 0.0:
        raise FrameError(f"{frame.party} frame at call time {frame.t}")


class CallSink(Protocol):
    """What a tap talks to: start a call, feed its frames, end it (on the event loop)."""

    def start_call(
        self,
        call_id: str,
        *,
        agent: str | None,
        rate: int,
        language: str | None = None,
        source: str = "replay",
        meta: dict[str, Any] | None = None,
    ) -> None: ...

    def feed(self, call_id: str, frame: Frame) -> None: ...

    def end_call(self, call_id: str, reason: str = "hangup") -> None: ...

    def audio_health(self, call_id: str, party: str | None, evidence: dict[str, Any]) -> None:
        """A tap's report on a stream's audio (sip/health.py): an `audio.health` event."""
