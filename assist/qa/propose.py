"""Per-agent threshold proposals from what the agent did with the cards.

Rules:
- Nothing is changed: the proposal is TOML text for an admin to read and paste into
  the config, as that agent's own tables ([agents."ID".pace], [agents."ID".anger]).
- Only a flag kind with at least `min_cards` cards in the period is considered.
- Pace: when the agent dismissed at least `dismiss_share` of the pace cards, widen the
  band's factor on the side the agent drifts to, to just beyond the agent's own
  median rate (time-weighted), within the pace detector's ranges.
- Anger: when the agent dismissed at least `dismiss_share` of the anger cards, raise
  the enter and leave thresholds by `anger_step` (less sensitive), below 1.
"""

from __future__ import annotations

import dataclasses
import json

from assist.detectors.anger import AngerParams
from assist.detectors.pace import PaceParams
from assist.qa.period import Period

MIN_CARDS = 5
DISMISS_SHARE = 0.6
ANGER_STEP = 0.05


def _key(agent: str) -> str:
    """The agent id as a TOML key: bare where TOML allows, else quoted."""
    if agent and all(c.isascii() and (c.isalnum() or c in "-_") for c in agent):
        return agent
    return json.dumps(agent, ensure_ascii=False)  # JSON's escapes are TOML's


def _median(pairs: list[tuple[float, float]]) -> float | None:
    pairs = sorted(pairs)
    total = sum(w for _, w in pairs)
    acc = 0.0
    for v, w in pairs:
        acc += w
        if acc >= total / 2:
            return v
    return None


def _dismissed(period: Period, kind: str) -> tuple[int, float] | None:
    c = period.feedback.get(kind)
    if not c or c["shown"] < MIN_CARDS:
        return None
    return c["shown"], c["dismissed"] / c["shown"]


def propose(period: Period, pace: PaceParams, anger: AngerParams) -> str:
    """`pace` and `anger` are the agent's settings today (their own, else the service's)."""
    table = f"[agents.{_key(period.agent)}"
    lines = [f"# Proposal for agent {period.agent}, from {len(period.cards)} call(s) since "
             f"{period.since}.", "# Review before applying; nothing was changed."]
    seen = _dismissed(period, "pace.drift")
    median = _median(period.pace_cpm)
    if seen and seen[1] >= DISMISS_SHARE and median:
        n, share = seen
        low, high = pace.low, pace.high
        if median > pace.target * high * 0.9:
            high = min(5.0, round(median * 1.1 / pace.target, 2))
        elif median < pace.target * low * 1.1:
            low = max(0.1, round(median * 0.9 / pace.target, 2))
        if (low, high) != (pace.low, pace.high):
            new = dataclasses.replace(pace, low=low, high=high)  # range-checked here
            lines += ["", f"# {share:.0%} of {n} pace cards dismissed; the agent's median rate is "
                      f"{median:.0f}/min against a band of {pace.target * pace.low:.0f}-"
                      f"{pace.target * pace.high:.0f}.",
                      f"{table}.pace]", f"low = {new.low}", f"high = {new.high}"]
    seen = _dismissed(period, "anger")
    if seen and seen[1] >= DISMISS_SHARE:
        n, share = seen
        step = min(ANGER_STEP, 0.99 - anger.angry_on)
        if step > 0:
            new_a = dataclasses.replace(
                anger, tense_on=round(anger.tense_on + step, 3),
                tense_off=round(anger.tense_off + step, 3),
                angry_on=round(anger.angry_on + step, 3),
                angry_off=round(anger.angry_off + step, 3))
            lines += ["", f"# {share:.0%} of {n} anger cards dismissed: less sensitive by {step}.",
                      f"{table}.anger]", f"tense_on = {new_a.tense_on}",
                      f"tense_off = {new_a.tense_off}",
                      f"angry_on = {new_a.angry_on}", f"angry_off = {new_a.angry_off}"]
    if len(lines) == 2:
        lines.append(f"# No change proposed: fewer than {MIN_CARDS} cards of a kind, or the "
                     f"agent dismissed under {DISMISS_SHARE:.0%} of them.")
    return "\n".join(lines) + "\n"
