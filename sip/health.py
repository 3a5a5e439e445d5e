"""Audio health per stream of a tapped call: frames and seconds received, level, and
the faults an admin must hear about.  Pure: frames and checks in, text out.

Faults, checked a few seconds after the call starts (the ACK):
- a stream that delivered no audio: no frames, or only zeros (pjmedia plays zeros for
  a stream whose RTP never comes; packet counts are not read here);
- a stream that stays silent (below `SILENT_DBFS`);
- both streams carrying the same audio (an SBC forking one leg twice).
"""

from __future__ import annotations

import math

import numpy as np

CHECK_AFTER = 5.0  # seconds after the start
SILENT_DBFS = -55.0
SAME_CORRELATION = 0.95


class StreamHealth:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.frames = 0
        self.samples = 0
        self._energy = 0.0
        self._head: list[np.ndarray] = []  # the first CHECK_AFTER seconds, for comparing
        self._head_samples = 0

    def add(self, pcm: np.ndarray) -> None:
        self.frames += 1
        self.samples += len(pcm)
        x = pcm.astype(np.float64)
        self._energy += float(np.dot(x, x))
        if self._head_samples < CHECK_AFTER * self.rate:
            self._head.append(pcm)
            self._head_samples += len(pcm)

    @property
    def seconds(self) -> float:
        return self.samples / self.rate

    @property
    def dbfs(self) -> float:
        if not self.samples or self._energy <= 0:
            return -math.inf
        return 20 * math.log10(math.sqrt(self._energy / self.samples) / 32768.0)

    def head(self) -> np.ndarray:
        return np.concatenate(self._head) if self._head else np.zeros(0, np.int16)


class CallHealth:
    def __init__(self, call_id: str, rate: int, parties: tuple[str, ...]) -> None:
        self.call_id = call_id
        self.streams = {p: StreamHealth(rate) for p in parties}

    def add(self, party: str, pcm: np.ndarray) -> None:
        stream = self.streams.get(party)
        if stream is not None:
            stream.add(pcm)

    def faults(self) -> list[str]:
        out = []
        for party, s in self.streams.items():
            # The bridge plays zeros for a stream whose RTP never comes: both read as none.
            if s.frames == 0 or s.dbfs == -math.inf:
                out.append(f"no audio from the {party} stream {CHECK_AFTER:.0f} s after the "
                           "answer (no RTP reached it, or only digital silence)")  # fmt: skip
            elif s.dbfs < SILENT_DBFS:
                out.append(f"the {party} stream is silent ({s.dbfs:.0f} dBFS over "
                           f"{s.seconds:.1f} s)")  # fmt: skip
        if len(self.streams) == 2 and not out:
            a, b = (s.head() for s in self.streams.values())
            n = min(len(a), len(b))
            if n >= 800:
                x, y = a[:n].astype(np.float64), b[:n].astype(np.float64)
                den = float(np.linalg.norm(x) * np.linalg.norm(y))
                if den > 0 and float(np.dot(x, y)) / den > SAME_CORRELATION:
                    out.append("both streams carry the same audio (one leg sent twice?)")
        return out

    def summary(self) -> str:
        return ", ".join(f"{p} {s.seconds:.1f} s in {s.frames} frames at {s.dbfs:.0f} dBFS"
                         for p, s in self.streams.items())  # fmt: skip
