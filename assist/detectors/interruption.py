"""Agent interruptions: the agent talks over a customer who holds the floor.

Rules:
- the customer holds the floor when their talk began at least `min_floor`
  seconds before the agent's;
- the agent's talk that begins then is a candidate, dated from its onset;
- it is an interruption once both have talked together for `min_overlap`
  seconds: longer than a backchannel (嗯, 对, 好的 last 0.2-0.6 s, plus the
  talk state's hangover);
- when either stops, an `interruption.end` gives the whole overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from assist.audio.vad import Transition
from assist.events import Event, Party
from assist.settings import check_fields, number


@dataclass(frozen=True, slots=True)
class InterruptionParams:
    # 1.0 s: the anchors run 0.5-3 s; a backchannel with our 0.3 s hangover
    # reaches about 0.9 s, and a second more of talking over is already felt.
    min_overlap: float = number(1.0, 0.2, 5.0, "s")
    min_floor: float = number(0.3, 0.0, 5.0, "s")

    def __post_init__(self) -> None:
        check_fields(self, "interruption")


class InterruptionDetector:
    def __init__(self, call_id: str, params: InterruptionParams) -> None:
        self._call_id = call_id
        self._p = params
        self._since: dict[Party, float | None] = {"customer": None, "agent": None}
        self._onset: float | None = None  # agent onset of the current candidate
        self._fired = False

    def feed(self, party: Party, t_end: float, change: Transition | None) -> list[Event]:
        """One frame of `party` ending at call time `t_end`, with its talk transition if any."""
        out: list[Event] = []
        if change is not None and change.end is None:
            self._since[party] = change.start
            cust = self._since["customer"]
            if (party == "agent" and cust is not None
                    and change.start - cust >= self._p.min_floor):
                self._onset, self._fired = change.start, False
        elif change is not None and change.end is not None:  # talk ended
            self._since[party] = None
            if self._onset is not None:
                if self._fired:
                    overlap = max(0.0, change.end - self._onset)
                    out.append(Event("interruption.end", self._call_id, t_end, "agent",
                                     {"onset": round(self._onset, 3),
                                      "overlap": round(overlap, 3),
                                      "ended_by": party}))
                self._onset = None
            return out
        if self._onset is not None and not self._fired and None not in self._since.values():
            overlap = t_end - self._onset
            if overlap >= self._p.min_overlap - 1e-9:
                self._fired = True
                out.append(Event("interruption", self._call_id, t_end, "agent",
                                 {"onset": round(self._onset, 3),
                                  "overlap": round(overlap, 3),
                                  "min_overlap": self._p.min_overlap,
                                  "customer_since": round(self._since["customer"] or 0.0, 3)}))
        return out
