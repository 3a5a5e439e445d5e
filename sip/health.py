"""Audio health per stream of a tapped call: packets (or messages) and loss, seconds
received, level, and the faults an admin must hear about.  Pure: frames, counts and
checks in, reports out (the tap logs them and raises `audio.health` events).  The SIP
tap counts RTP packets; a media fork (assist/taps/fork) counts each party's media
messages, in its own words (a `Medium`).

Faults, checked `CHECK_AFTER` seconds after the call starts (the ACK, the fork's open):
- `no_rtp` (a fork's `no_audio`): a stream whose count stayed at 0 (when the tap
  counts), or that delivered no frames or only zeros (pjmedia plays zeros for a stream
  whose RTP never comes; a stereo fork's dead channel is zeros);
- `silent`: a stream that stays below `SILENT_DBFS`;
- `identical`: both streams carrying the same audio (an SBC forking one leg twice).
Every `CHECK_AFTER` seconds after that each stream is looked at again: a healthy one
that got no audio over the last stretch (no packet, or only zeros) is reported
`no_rtp` / `no_audio`, saying when it stopped; a faulty one whose audio comes (packets
and a level over the last stretch) is reported `recovered`.  At the end each stream
gets a `final` report: its figures and its state then.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sip.same_audio import same_audio

CHECK_AFTER = 5.0  # seconds after the start, and between looks at a faulty stream
SILENT_DBFS = -55.0


@dataclass(frozen=True)
class Medium:
    """How a tap's streams reach it, in the words its reports use."""

    missing: str = "no_rtp"  # the problem of a stream no audio reaches
    nothing: str = "no RTP reached it"  # why, when its count stayed still
    zeros: str = "no RTP reached it, or only digital silence"  # why, when only zeros came
    unit: str = "RTP packets"  # what `packets` counts
    start: str = "the answer"  # what the first look is counted from


RTP = Medium()


@dataclass(frozen=True)
class Report:
    party: str | None  # None: about both streams
    problem: str  # no_rtp (no_audio), silent, identical, recovered, ok
    seconds: float
    level_db: float | None
    detail: str
    packets: int | None = None
    loss: int | None = None
    final: bool = False

    def evidence(self) -> dict[str, Any]:
        """The `audio.health` event's evidence (assist.evidence.AudioHealthEvidence)."""
        return {"problem": self.problem, "seconds": self.seconds, "level_db": self.level_db,
                "detail": self.detail, "final": self.final, "packets": self.packets,
                "loss": self.loss}  # fmt: skip


def announce(log: logging.Logger, call_id: str, reports: Iterable[Report],
             send: Callable[[Report], None], *, logged: bool = True) -> None:  # fmt: skip
    """Log each report (a recovery at INFO, a fault at WARNING) and send it as an
    `audio.health` event.  A send that fails is logged: it never keeps the call's later
    reports, or its end, from happening."""
    for report in reports:
        if logged:
            level = logging.INFO if report.problem == "recovered" else logging.WARNING
            log.log(level, "call %s audio: %s", call_id, report.detail)
        try:
            send(report)
        except Exception:
            log.exception("call %s: audio report not delivered", call_id)


def _dbfs(energy: float, samples: int) -> float:
    if not samples or energy <= 0:
        return -math.inf
    return 20 * math.log10(math.sqrt(energy / samples) / 32768.0)


class StreamHealth:
    def __init__(self, rate: int, shared: bool = False) -> None:
        self.rate = rate
        # One channel of a stream that carries both parties: its count says nothing
        # of its own audio, so zeros on it read as no audio.
        self.shared = shared
        self.frames = 0
        self.samples = 0
        self._energy = 0.0
        self._head: list[np.ndarray] = []  # the first CHECK_AFTER seconds, for comparing
        self._head_samples = 0
        self.packets: int | None = None  # RTP counts, when the tap reads them
        self.loss: int | None = None
        self._mark = (0, 0.0, 0)  # samples, energy, packets at the last look
        self.last_rtp = 0.0  # stream seconds when its packet count last grew
        self.waiting = False  # joined late: its first look is its own, CHECK_AFTER later

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
        return _dbfs(self._energy, self.samples)

    def head(self) -> np.ndarray:
        return np.concatenate(self._head) if self._head else np.zeros(0, np.int16)

    def problem(self, since_mark: bool = False) -> str:
        """missing, silent or ok: over the whole call, or since the last look."""
        samples, energy, packets = self.samples, self._energy, self.packets or 0
        if since_mark:
            samples, energy = samples - self._mark[0], energy - self._mark[1]
            packets -= self._mark[2]
        if self.packets is not None and packets <= 0:
            return "missing"
        db = _dbfs(energy, samples)
        if db == -math.inf:
            # pjmedia plays zeros for a stream whose RTP never comes: without packet
            # counts that reads as no RTP; with packets it is digital silence.
            return "missing" if self.packets is None or self.shared else "silent"
        return "silent" if db < SILENT_DBFS else "ok"

    def window_packets(self) -> int:
        return (self.packets or 0) - self._mark[2]

    def mark(self) -> None:
        self._mark = (self.samples, self._energy, self.packets or 0)

    def figures(self, unit: str = RTP.unit) -> str:
        rtp = "" if self.packets is None else f", {self.packets} {unit}, {self.loss} lost"
        return f"{self.seconds:.1f} s in {self.frames} frames at {self.dbfs:.0f} dBFS{rtp}"


class CallHealth:
    def __init__(self, call_id: str, rate: int, parties: tuple[str, ...],
                 medium: Medium = RTP, shared: bool = False) -> None:
        self.call_id = call_id
        self.rate = rate
        self.medium = medium
        self.streams = {p: StreamHealth(rate, shared) for p in parties}
        self.faulty: dict[str, str] = {}  # party -> the problem reported
        self.checked = False

    def add(self, party: str, pcm: np.ndarray) -> None:
        stream = self.streams.get(party)
        if stream is not None:
            stream.add(pcm)

    def counts(self, counts: dict[str, tuple[int, int]]) -> None:
        """Packets (RTP, or a fork's media messages) received and lost so far, per party."""
        for party, (packets, loss) in counts.items():
            stream = self.streams.get(party)
            if stream is not None:
                if packets > (stream.packets or 0):
                    stream.last_rtp = stream.seconds
                stream.packets, stream.loss = packets, loss

    def _report(self, party: str, problem: str, detail: str, final: bool = False) -> Report:
        s = self.streams[party]
        db = None if s.dbfs == -math.inf else round(s.dbfs, 1)
        return Report(party, problem, round(s.seconds, 2), db, detail, s.packets, s.loss, final)

    def check(self) -> list[Report]:
        """The first look: each stream's faults and both streams compared; later looks:
        which faulty streams came back."""
        out = []
        first = not self.checked
        self.checked = True
        m = self.medium
        for party, s in self.streams.items():
            if s.waiting:
                continue
            if first:
                out += self._first(party, s)
            elif party in self.faulty and s.problem(since_mark=True) == "ok":
                was = self.faulty.pop(party)
                out.append(self._report(party, "recovered", f"the {party} stream has audio "
                                        f"now (was {was.replace('_', ' ')})"))  # fmt: skip
            elif party not in self.faulty and s.problem(since_mark=True) == "missing":
                # Without packet counts, the last look is as near as we can say.
                at = s.last_rtp if s.packets is not None and not s.shared else s._mark[0] / s.rate
                why = m.zeros if s.shared and s.window_packets() > 0 else m.nothing
                self.faulty[party] = m.missing
                out.append(self._report(party, m.missing, f"the {party} stream stopped at "
                                        f"{at:.0f} s: no audio for {CHECK_AFTER:.0f} s "
                                        f"({why})"))  # fmt: skip
            s.mark()
        if (first and len(self.streams) == 2 and not out
                and not any(s.waiting for s in self.streams.values()) and self._same()):
            self.faulty[""] = "identical"
            first_party = next(iter(self.streams))
            r = self._report(first_party, "identical",
                             "both streams carry the same audio (one leg sent twice?)")
            out.append(Report(None, r.problem, r.seconds, r.level_db, r.detail, r.packets, r.loss))
        return out

    def _first(self, party: str, s: StreamHealth, start: str | None = None) -> list[Report]:
        """A stream's first look: no audio, or silent, or nothing to say."""
        m = self.medium
        problem = self._name(s.problem())
        out = []
        if problem == m.missing:
            why = m.nothing if s.packets is not None and s.packets <= 0 else m.zeros
            out.append(self._report(party, problem, f"no audio from the {party} stream "
                                    f"{CHECK_AFTER:.0f} s after {start or m.start} "
                                    f"({why})"))  # fmt: skip
        elif problem == "silent":
            out.append(self._report(party, problem, f"the {party} stream is silent "
                       f"({s.dbfs:.0f} dBFS over {s.seconds:.1f} s)"))  # fmt: skip
        if problem != "ok":
            self.faulty[party] = problem
        return out

    def join(self, party: str) -> None:
        """A stream that comes after the call started (a forked call's late leg): looked
        at with the others only once `late()` has given it its own first look."""
        if party not in self.streams:
            stream = StreamHealth(self.rate)
            stream.waiting = True
            self.streams[party] = stream

    def late(self, party: str) -> list[Report]:
        """The first look at a stream that joined late, CHECK_AFTER after it joined."""
        s = self.streams.get(party)
        if s is None or not s.waiting:
            return []
        s.waiting = False
        out = self._first(party, s, "its leg joined")
        s.mark()
        return out

    def skip(self) -> None:
        """A look passed over (a fork paused on purpose): the stretch since the last
        one counts for nothing."""
        for s in self.streams.values():
            s.mark()

    def _name(self, problem: str) -> str:
        return self.medium.missing if problem == "missing" else problem

    def _same(self) -> bool:
        a, b = (s.head() for s in self.streams.values())
        return same_audio(a, b, next(iter(self.streams.values())).rate)

    def faults(self) -> list[str]:
        """The first look's faults as text (for the log)."""
        return [r.detail for r in self.check()]

    def final(self) -> list[Report]:
        """Each stream's end-of-call figures, with its state then."""
        out = []
        for party, s in self.streams.items():
            unlooked = not self.checked or s.waiting
            problem = self.faulty.get(party) or (self._name(s.problem()) if unlooked else "ok")
            out.append(self._report(party, problem, f"{party} {s.figures(self.medium.unit)}",
                                    final=True))
        return out

    def summary(self) -> str:
        unit = self.medium.unit
        return ", ".join(f"{p} {s.figures(unit)}" for p, s in self.streams.items())
