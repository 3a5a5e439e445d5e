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
    pcm: np.ndarray  # int16, shape (rate * FRAME_MS // 1000,)
    rate: int
    t: float
    arrival: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.rate


def samples_per_frame(rate: int) -> int:
    return rate * FRAME_MS // 1000


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
