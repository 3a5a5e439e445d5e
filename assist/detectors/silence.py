"""Dead air and response gaps: how the two parties hand the talk to each other.

Rules:
- dead air: once someone has talked, a stretch in which neither party talks; it
  runs from the later of the two talk ends.  When it reaches `min_silence` a
  `silence` event is raised (once per stretch, at that call time); when either
  party talks again, `silence.end` gives the whole stretch and who broke it;
- response gap: after a customer turn (a spurt of at least `min_turn`), the
  agent's next talk onset minus the turn's end.  Negative when the agent was
  already talking as the turn ended (talking over the end), `latch` when under
  `latch` seconds (no pause before answering: seed 004's 先暂停), `long` when
  over `long_gap`; measured once per customer turn,
  raised as `response.gap` when the agent starts (or, for talking over, when
  the customer stops);
- times are talk-detector times: measured gaps are shorter than the true
  silence by the detector's hang-over (about 0.2 s).
"""

from __future__ import annotations

from dataclasses import dataclass

from assist.audio.vad import Transition
from assist.events import Event, Party
from assist.settings import check_fields, number


@dataclass(frozen=True, slots=True)
class SilenceParams:
    # 5 s live: past seed 004's own 3-5 s pause and well past the 2 s QA anchor,
    # so a look-up pause does not nudge (see docs/detectors.md).
    min_silence: float = number(5.0, 1.0, 60.0, "s")
    min_turn: float = number(1.0, 0.2, 10.0, "s")
    # Measured gaps run about 0.2 s short (the talk detector's hang-over): 0.05 s
    # measured is about a quarter second of true silence, under an ordinary handover.
    latch: float = number(0.05, 0.0, 2.0, "s")
    long_gap: float = number(5.0, 0.5, 60.0, "s")

    def __post_init__(self) -> None:
        check_fields(self, "silence")


def gap_kind(gap: float, p: SilenceParams) -> str:
    if gap < 0:
        return "over"
    if gap < p.latch:
        return "latch"
    return "long" if gap > p.long_gap else "normal"


class SilenceDetector:
    def __init__(self, call_id: str, params: SilenceParams) -> None:
        self._call_id = call_id
        self._p = params
        self._talking: dict[Party, bool] = {"customer": False, "agent": False}
        self._since: float | None = None  # when both fell silent
        self._raised = False
        self._last: Party | None = None  # who talked last
        self._turn: tuple[float, float] | None = None  # customer turn awaiting an answer
        self._cust_start: float | None = None
        self._agent_onset: float | None = None  # the agent's current talk began

    def feed(self, party: Party, t: float, change: Transition | None) -> list[Event]:
        """One frame of `party` ending at call time `t`, with its talk transition if any."""
        out: list[Event] = []
        if change is not None and change.end is None:
            out += self._start(party, change.start)
        elif change is not None and change.end is not None:
            out += self._stop(party, change.start, change.end)
        if (self._since is not None and not self._raised
                and t - self._since >= self._p.min_silence):
            self._raised = True
            out.append(Event("silence", self._call_id, t, None, {
                "start": round(self._since, 3), "threshold": self._p.min_silence,
                "after": self._last}))
        return out

    def _start(self, party: Party, onset: float) -> list[Event]:
        out: list[Event] = []
        if self._since is not None and self._raised:
            out.append(Event("silence.end", self._call_id, onset, None, {
                "start": round(self._since, 3), "duration": round(onset - self._since, 3),
                "resumed_by": party}))
        self._since, self._raised = None, False
        self._talking[party] = True
        if party == "customer":
            self._cust_start = onset
            self._turn = None  # the customer went on: no answer to time
        else:
            self._agent_onset = onset
            if self._turn is not None:
                gap = round(onset - self._turn[1], 3)
                out.append(self._gap(onset, gap))
        return out

    def _stop(self, party: Party, start: float, end: float) -> list[Event]:
        out: list[Event] = []
        self._talking[party] = False
        self._last = party
        if party == "customer":
            self._turn = None
            if end - start >= self._p.min_turn:
                onset = self._agent_onset
                if self._talking["agent"] and onset is not None and onset > start:
                    out.append(self._gap(end, round(onset - end, 3)))
                else:
                    self._turn = (start, end)
        else:
            self._agent_onset = None
        if not any(self._talking.values()):
            self._since = end
        return out

    def _gap(self, t: float, gap: float) -> Event:
        self._turn = None
        return Event("response.gap", self._call_id, t, "agent", {
            "gap": gap, "kind": gap_kind(gap, self._p)})
