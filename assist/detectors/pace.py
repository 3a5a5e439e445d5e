"""Agent speech rate, in characters (syllables) per minute of speaking.

Rules:
- measured as a person with a stopwatch would: over the agent's turns, the
  pauses inside a turn (gaps shorter than `turn_gap`) kept, the silence
  between turns left out;
- rolling over the last `window` seconds of that speaking time;
- a `pace` event after every agent spurt once `min_speech` seconds are in;
- `pace.drift` when the pace stays outside the band around the target
  (kind "band") or `self_tolerance` away from the agent's own pace over
  their first `baseline_speech` seconds (kind "self") for `sustain` seconds
  of speaking; it re-arms when the pace comes back;
- without a recogniser the units are syllable nuclei, and the reading is the
  characters a minute they stand for (`pace_model`, fitted on read speech).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from assist.detectors.pace_model import load_model
from assist.errors import ConfigError
from assist.events import Event
from assist.evidence import PaceSource
from assist.settings import check_fields, number, text


@dataclass(frozen=True, slots=True)
class PaceParams:
    # seeds 000 and 001: about 120 characters a minute
    target: float = number(120.0, 30.0, 600.0, "characters a minute")
    # Band around the target as factors.  Wide on purpose: conversational
    # Mandarin with in-turn pauses runs well above 120 (read speech near 300),
    # and calm normal speech must raise no alert.
    low: float = number(0.6, 0.1, 1.0, "(a factor of the target)")
    high: float = number(1.75, 1.0, 5.0, "(a factor of the target)")
    window: float = number(12.0, 3.0, 300.0, "s")
    min_speech: float = number(4.0, 1.0, 300.0, "s")
    sustain: float = number(8.0, 0.0, 600.0, "s")
    turn_gap: float = number(1.0, 0.1, 10.0, "s")
    baseline_speech: float = number(20.0, 5.0, 600.0, "s")
    self_tolerance: float = number(0.4, 0.05, 2.0)
    # nuclei a minute to characters a minute (bench/fit_pace.py)
    model: str = text("", "a weights file path (empty: the one shipped)")

    def __post_init__(self) -> None:
        check_fields(self, "pace")
        if not self.low < 1.0 < self.high:
            key = "low" if self.low >= 1.0 else "high"
            raise ConfigError(f"pace.{key}", "the band must hold the target: low < 1 < high")
        if self.min_speech > self.window:
            raise ConfigError("pace.min_speech", f"must be at most window ({self.window:g} s),"
                              f" got {self.min_speech!r}")

    @property
    def band(self) -> tuple[float, float]:
        return (round(self.target * self.low, 1), round(self.target * self.high, 1))


@dataclass(slots=True)
class _Piece:
    start: float
    end: float
    units: float  # syllables or recognised characters
    speaking: float  # duration plus the in-turn pause before it


class PaceDetector:
    def __init__(self, call_id: str, params: PaceParams) -> None:
        self._call_id = call_id
        self._p = params
        self._pieces: deque[_Piece] = deque()
        self._last_end: float | None = None
        self._spoken = 0.0  # all speaking time so far
        self._baseline_units = 0.0
        self._baseline: float | None = None
        self._out = {"band": 0.0, "self": 0.0}
        self._flagged = {"band": False, "self": False}
        self.source: PaceSource = "acoustic"
        self._model = load_model(params.model)

    def use_words(self, on: bool) -> None:
        """Say whether the units fed are recognised characters or syllable nuclei."""
        self.source = "words" if on else "acoustic"

    @property
    def baseline(self) -> float | None:
        return None if self._baseline is None else self._rate(self._baseline)

    def _rate(self, units_per_min: float) -> float:
        return units_per_min if self.source == "words" else self._model.cpm(units_per_min)

    def feed(self, start: float, end: float, units: float, t: float) -> list[Event]:
        """One finished agent spurt with its syllable (or character) count, at call time t."""
        dur = max(0.0, end - start)
        gap = 0.0 if self._last_end is None else start - self._last_end
        speaking = dur + (gap if 0.0 < gap < self._p.turn_gap else 0.0)
        self._last_end = end
        self._pieces.append(_Piece(start, end, units, speaking))
        total = sum(p.speaking for p in self._pieces)
        while len(self._pieces) > 1 and total - self._pieces[0].speaking >= self._p.window:
            total -= self._pieces.popleft().speaking
        if self._baseline is None:
            self._baseline_units += units
        self._spoken += speaking
        if self._baseline is None and self._spoken >= self._p.baseline_speech:
            self._baseline = 60.0 * self._baseline_units / self._spoken
        if total < self._p.min_speech:
            return []
        cpm = self._rate(60.0 * sum(p.units for p in self._pieces) / total)
        baseline = self.baseline
        lo, hi = self._p.band
        out = [Event("pace", self._call_id, t, "agent",
                     {"cpm": round(cpm, 1), "target": self._p.target, "band": [lo, hi],
                      "window": round(total, 2), "source": self.source,
                      "baseline": None if baseline is None else round(baseline, 1)})]
        off = {"band": "fast" if cpm > hi else "slow" if cpm < lo else None, "self": None}
        if baseline:  # None until measured; 0.0 if the baseline speech had no units
            ratio = cpm / baseline
            if ratio > 1 + self._p.self_tolerance:
                off["self"] = "fast"
            elif ratio < 1 - self._p.self_tolerance:
                off["self"] = "slow"
        for kind in ("band", "self"):
            direction = off[kind]
            if direction is None:
                self._out[kind], self._flagged[kind] = 0.0, False
                continue
            self._out[kind] += speaking
            # One drift at a time: the band verdict speaks for the self one.
            quiet = kind == "self" and (off["band"] == direction or self._flagged["band"])
            if self._out[kind] >= self._p.sustain and not self._flagged[kind]:
                self._flagged[kind] = True
                if quiet:
                    continue
                out.append(Event("pace.drift", self._call_id, t, "agent",
                                 {"cpm": round(cpm, 1), "target": self._p.target,
                                  "band": [lo, hi], "direction": direction, "kind": kind,
                                  "baseline": None if baseline is None
                                  else round(baseline, 1),
                                  "sustained": round(self._out[kind], 2),
                                  "source": self.source}))
        return out
