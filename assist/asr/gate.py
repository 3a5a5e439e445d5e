"""Speech gate and time map: what audio the recogniser sees, and when it was said.

Rules:
- While nobody talks, the last `pre_roll` seconds are kept in a ring, not fed.
- When talk starts, the ring (the word onset the VAD missed) and the frame are fed.
- After talk ends, `post_roll` seconds more are fed (the word tail), then the
  segment ends: the caller flushes the recogniser so the spurt gets its final
  result without waiting for an endpoint the gate never feeds.
- Talk resuming during the post-roll continues the same segment.

The recogniser counts time in samples fed; `TimeMap` maps that back to call
time from the call time of each contiguous run of fed frames.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from enum import Enum

from assist.frames import Frame


class GateState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    TRAILING = "trailing"


@dataclass(frozen=True, slots=True)
class GateOutput:
    frames: list[Frame]
    segment_end: bool  # flush the recogniser after feeding `frames`


class SpeechGate:
    """VAD-gated audio selection for one party.  No clock, no I/O."""

    def __init__(self, pre_roll: float = 0.3, post_roll: float = 0.3) -> None:
        if pre_roll < 0 or post_roll < 0:
            raise ValueError("pre_roll and post_roll must not be negative")
        self.pre_roll = pre_roll
        self.post_roll = post_roll
        self.state = GateState.CLOSED
        self._ring: deque[Frame] = deque()
        self._ring_s = 0.0
        self._trail_s = 0.0
        self.seen_s = 0.0
        self.fed_s = 0.0

    def push(self, frame: Frame, talking: bool) -> GateOutput:
        self.seen_s += frame.duration
        if self.state is GateState.CLOSED:
            if not talking:
                self._remember(frame)
                return GateOutput([], False)
            out = list(self._ring) + [frame]
            self._ring.clear()
            self._ring_s = 0.0
            self.state = GateState.OPEN
            return self._fed(out, False)
        if talking:
            self.state = GateState.OPEN
            self._trail_s = 0.0
            return self._fed([frame], False)
        if self.state is GateState.OPEN:
            self.state = GateState.TRAILING
            self._trail_s = 0.0
        self._trail_s += frame.duration
        # Half a frame of slack so float sums do not add an extra frame.
        if self._trail_s + frame.duration / 2 >= self.post_roll:
            self.state = GateState.CLOSED
            return self._fed([frame] if self.post_roll > 0 else [], True)
        return self._fed([frame], False)

    def close(self) -> bool:
        """End of call: True if an open segment needs flushing."""
        open_segment = self.state is not GateState.CLOSED
        self.state = GateState.CLOSED
        self._ring.clear()
        self._ring_s = 0.0
        return open_segment

    def _remember(self, frame: Frame) -> None:
        if self.pre_roll <= 0:
            return
        self._ring.append(frame)
        self._ring_s += frame.duration
        while self._ring and self._ring_s - self._ring[0].duration >= self.pre_roll - 1e-9:
            self._ring_s -= self._ring.popleft().duration

    def _fed(self, frames: list[Frame], end: bool) -> GateOutput:
        self.fed_s += sum(f.duration for f in frames)
        return GateOutput(frames, end)


class TimeMap:
    """Recogniser time (seconds of audio fed) to call time."""

    def __init__(self) -> None:
        self._fed: list[float] = []  # fed time where each contiguous run starts
        self._call: list[float] = []  # call time of that run's first sample
        self._fed_end = 0.0
        self._call_end: float | None = None

    @property
    def fed(self) -> float:
        return self._fed_end

    def add(self, call_t: float, duration: float) -> None:
        """Record `duration` seconds fed, starting at call time `call_t`."""
        if self._call_end is None or abs(call_t - self._call_end) > 1e-6:
            self._fed.append(self._fed_end)
            self._call.append(call_t)
        self._fed_end += duration
        self._call_end = call_t + duration

    def to_call(self, fed_t: float, *, end: bool = False) -> float:
        """Call time of recogniser time `fed_t`.  An `end` time lying exactly on
        a run boundary belongs to the run before it."""
        if not self._fed:
            return fed_t
        fed_t = min(max(fed_t, 0.0), self._fed_end)
        i = bisect_right(self._fed, fed_t) - 1
        if end and i > 0 and abs(fed_t - self._fed[i]) < 1e-6:
            i -= 1
        i = max(i, 0)
        return self._call[i] + (fed_t - self._fed[i])
