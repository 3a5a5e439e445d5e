"""Frames: 20 ms of one party's audio, stamped with call time from sample counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assist.events import Party

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
