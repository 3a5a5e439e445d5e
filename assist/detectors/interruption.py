"""Agent interruptions: the agent talks over a customer who holds the floor.

Rules:
- the customer holds the floor from the start of their turn: their talk began
  at least `min_floor` seconds before the agent's, and pauses inside the turn
  shorter than `floor_gap` keep it (a customer who stops for breath has not
  handed over);
- the agent's talk that begins then is a candidate, dated from its onset: the
  first sound leading into the VAD's voiced frames (`Transition.heard`), so a quiet
  first syllable the VAD missed under line noise does not put the flag off;
- the overlap runs from the agent's onset to the earlier of the two parties'
  last voiced frame ends: an agent who starts in the customer's pause is
  talking over them once they go on.  One definition for the flag's evidence
  and for its end;
- it is an interruption once that overlap reaches `min_overlap` with a party
  who is still talking counted to now: a pause shorter than the VAD's hangover
  (0.3 s) is inside their talk, so a breath of either party at that moment does
  not put the flag off; a longer pause does (a customer 0.3 s quiet may have
  finished, and the agent answering them is no interruption), and the flag
  comes when they go on.  The flag reports the overlap voiced so far, which is
  then up to a hangover short of `min_overlap`;
- `min_overlap` is longer than a backchannel (嗯, 对, 好的 are 0.2-0.6 s of
  voicing: with the hangover, under 1.0 s);
- the agent's own pauses shorter than `agent_gap` keep their talk one candidate
  (two backchannels a second apart stay two);
- when the agent has stopped for `agent_gap`, or the customer's pause outgrows
  `floor_gap`, an
  `interruption.end` gives the whole overlap, never less than the flag said.
"""

from __future__ import annotations

from dataclasses import dataclass

from assist.audio.vad import Transition
from assist.events import Event, Party
from assist.settings import check_fields, number


@dataclass(frozen=True, slots=True)
class InterruptionParams:
    # 1.0 s: the anchors run 0.5-3 s; a backchannel lasts at most about 0.6 s
    # of voicing, and a second of talking over is already felt.
    min_overlap: float = number(1.0, 0.2, 5.0, "s")
    min_floor: float = number(0.3, 0.0, 5.0, "s")
    # Pauses inside a turn run 0.2-0.8 s; a gap of a second hands the floor over.
    floor_gap: float = number(1.0, 0.0, 5.0, "s")
    agent_gap: float = number(0.7, 0.0, 5.0, "s")

    def __post_init__(self) -> None:
        check_fields(self, "interruption")


class InterruptionDetector:
    def __init__(self, call_id: str, params: InterruptionParams) -> None:
        self._call_id = call_id
        self._p = params
        self._talking: dict[Party, bool] = {"customer": False, "agent": False}
        self._voiced_end: dict[Party, float] = {"customer": -1.0, "agent": -1.0}
        self._floor: float | None = None  # start of the customer's turn
        self._cust_end: float | None = None  # end of their last spurt, while in a pause
        self._onset: float | None = None  # agent onset of the current candidate
        self._agent_end: float | None = None  # its last talk end, while the agent pauses
        self._fired = False

    def holds_floor(self, t: float) -> bool:
        """The customer holds the floor at call time t."""
        if self._floor is None:
            return False
        return self._talking["customer"] or (
            self._cust_end is not None and t - self._cust_end < self._p.floor_gap)

    def feed(self, party: Party, t_end: float, change: Transition | None,
             voiced: bool) -> list[Event]:
        """One frame of `party` ending at call time `t_end`: was it voiced, and its talk
        transition if any."""
        if voiced:
            self._voiced_end[party] = t_end
        out: list[Event] = []
        if party == "customer":
            out += self._customer(t_end, change)
        elif change is not None and change.end is None:
            self._talking["agent"] = True
            resumed = self._onset is not None and self._agent_end is not None
            self._agent_end = None
            start = _heard(change)
            if (not resumed and self.holds_floor(start) and self._floor is not None
                    and start - self._floor >= self._p.min_floor):
                self._onset, self._fired = start, False
        elif change is not None:
            self._talking["agent"], self._agent_end = False, change.end
        if (self._onset is not None and self._agent_end is not None
                and t_end - self._agent_end >= self._p.agent_gap):
            out += self._close(t_end, "agent")
        if self._onset is not None and not self.holds_floor(t_end):
            out += self._close(t_end, "customer")  # the customer gave up the floor
        if self._onset is not None and not self._fired:
            if self._talked(t_end) >= self._p.min_overlap - 1e-9:
                overlap = self._overlap()
                self._fired = True
                out.append(Event("interruption", self._call_id, t_end, "agent",
                                 {"onset": round(self._onset or 0.0, 3),
                                  "overlap": round(overlap, 3),
                                  "min_overlap": self._p.min_overlap,
                                  "customer_since": round(self._floor or 0.0, 3)}))
        return out

    def _customer(self, t_end: float, change: Transition | None) -> list[Event]:
        if change is None:
            return []
        if change.end is None:
            start = _heard(change)
            if not self.holds_floor(start):
                self._floor = start
            self._talking["customer"], self._cust_end = True, None
        else:
            self._talking["customer"], self._cust_end = False, change.end
        return []

    def _overlap(self) -> float:
        if self._onset is None:
            return 0.0
        return max(0.0, min(self._voiced_end.values()) - self._onset)

    def _talked(self, t: float) -> float:
        """The overlap as the talk states see it at t: a party still talking (a pause
        shorter than the VAD's hangover is inside their spurt) counts to t."""
        if self._onset is None:
            return 0.0
        ends = [t if self._talking[p] else e for p, e in self._voiced_end.items()]
        return max(0.0, min(ends) - self._onset)

    def _close(self, t_end: float, ended_by: Party) -> list[Event]:
        out = []
        if self._onset is not None and self._fired:
            out.append(Event("interruption.end", self._call_id, t_end, "agent",
                             {"onset": round(self._onset, 3),
                              "overlap": round(self._overlap(), 3),
                              "ended_by": ended_by}))
        self._onset, self._fired, self._agent_end = None, False, None
        return out


def _heard(change: Transition) -> float:
    """When a party's talk was first heard: its first sound, before the VAD's onset."""
    return change.start if change.heard is None else change.heard
