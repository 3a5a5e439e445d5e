"""Which frames of each party are only the other party leaking in.

A tap's agent stream often carries the customer 20-30 dB down (echo, sidetone, a
mixed SBC leg), and the other way round.  Two rules, the second only where the first
fires:

- **level**: a frame at least `bleed_db` below the other party's loudest frame of the
  last `bleed_window` seconds may be their bleed;
- **likeness**: bleed is a delayed, attenuated, linearly filtered copy of the other
  party's audio, so each band's power over the last `MATCH_FRAMES` frames follows the
  other party's in that band at one delay, times a gain of its own (the echo path's
  transfer function).  What the best delay and gains leave unexplained is the line's
  noise under bleed; under a second talker it is their speech.  A quiet frame is
  still speech when that residue stands `bleed_match_db` above the party's noise
  floor (its quietest frame of the last `FLOOR_S` seconds) and the frame itself
  carries `NEWEST_DB` over the bleed the learnt gains predict for it (the window's
  residue may be the speech of frames before: a backchannel's end).  Only on the
  agent's leg (`MATCHED`).

A customer speaking 20-28 dB above the agent puts the agent's real speech where
-25 dB bleed would sit: the level rule alone read it as bleed (up to 0.66 s unseen).
The likeness rule reads the mel-band envelope each voiced frame's features already
carry, and the band under it (`GATE_BANDS`): no transform of its own, and only on the
frames the level rule would gate.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from assist.audio.features import ENVELOPE_BANDS, PendingFrame
from assist.audio.vad import VadParams

MATCH_FRAMES = 10  # frames whose band powers must follow the other party's: 0.2 s
# The bands compared: the envelope's 8 mel bands over 100-3800 Hz and the band under
# them.  The VAD and the level rule hear a frame's whole spectrum; a gate blind under
# 100 Hz took the agent's first sound under a loud customer (a plosive's or a voice's
# onset, most of its energy there) for bleed although the customer's audio explained
# none of it, and the agent was heard 60-120 ms late.
GATE_BANDS = ENVELOPE_BANDS + 1
FLOOR_S = 3.0  # the noise floor is the quietest frame of this long
CLEAR = 0.9  # explained this much of, a frame is clearly bleed: the gains learn from it
GAIN_RATE = 0.2  # how fast those gains follow the path
# the newest frame's power over the bleed predicted for it, above the noise floor: the
# window's residue can be speech of the frames before (a backchannel's end)
NEWEST_DB = 18.0
# The likeness rule is for the agent's leg: talk-over needs the agent seen under a loud
# customer.  On the customer's leg it let the ends of their own words through under the
# agent's reply (a longer customer turn: short overlaps flagged, anger's chunks moved).
MATCHED = ("agent",)
# A frame taken for bleed whose own excess over the bleed predicted for it stands this
# far over the noise floor may still date when talk that starts just after it was first
# heard (assist/call/pipeline.py): weak evidence that can move a start, never make one.
HEARD_EXCESS_DB = 14.0
MAX_SKEW = 5  # frames one party's stream may run ahead of the other's and be compared


class _Party:
    __slots__ = ("levels", "times", "frames", "powers", "floor", "floor_min", "gain")

    def __init__(self, keep: int, history: int, floor_frames: int, gain: float) -> None:
        self.levels: deque[float] = deque(maxlen=keep)
        self.times: deque[float] = deque(maxlen=history)
        self.frames: deque[PendingFrame] = deque(maxlen=history)
        self.powers: deque[np.ndarray | None] = deque(maxlen=history)
        self.floor: deque[float] = deque(maxlen=floor_frames)
        self.floor_min = float("inf")  # min(floor), kept as frames come and go
        # per band, the other party's power into this one's (log): until bleed has been
        # seen clearly, as much as the level rule allows
        self.gain = np.full(GATE_BANDS, gain)

    def band_powers(self, count: int, skip: int) -> np.ndarray:
        """The band powers (linear) of `count` frames, oldest first, as rows: the last
        but `skip` newer ones."""
        n = len(self.frames) - skip
        rows = []
        for i in range(n - count, n):
            p = self.powers[i]
            if p is None:
                f = self.frames[i].features()
                env = np.array((*f.envelope, f.low_db))
                p = self.powers[i] = 10.0 ** (env * 0.1)
            rows.append(p)
        return np.array(rows)


class BleedGate:
    """Fed each frame of each party in call order; pure."""

    def __init__(self, params: VadParams, frame_s: float) -> None:
        self._db = params.bleed_db
        self._keep = max(1, round(params.bleed_window / frame_s) + 1)
        self._frame_s = frame_s
        self._match_db = params.bleed_match_db
        self._history = self._keep + MATCH_FRAMES - 1
        # history enough for the skew too
        self._room = self._history + MAX_SKEW
        self._floor_frames = max(1, round(FLOOR_S / frame_s))
        # windows of the other party's frames, one row per delay
        self._lags = (np.arange(self._keep)[:, None] + np.arange(MATCH_FRAMES)[None, :])
        self._parties: dict[str, _Party] = {}
        # what the last frame's excess over its predicted bleed is worked out from,
        # where the likeness test judged it (`excess_db`, read only where needed)
        self._excess: tuple[np.ndarray, np.ndarray, float] | None = None

    def is_bleed(self, party: str, t: float, frame: PendingFrame,
                 voiced: bool = True) -> bool:
        """Record this frame of `party` (call time `t`); True when it is bleed of the
        other party.  Only a `voiced` frame is compared with the other party's audio
        (an unvoiced one is not speech either way)."""
        self._excess = None
        me = self._parties.get(party)
        if me is None:
            me = self._parties[party] = _Party(self._keep, self._room, self._floor_frames,
                                                 -self._db * 0.1 * np.log(10.0))
        level = frame.level_db
        me.levels.append(level)
        me.times.append(t)
        me.frames.append(frame)
        me.powers.append(None)
        floor = me.floor
        dropped = floor[0] if len(floor) == floor.maxlen else None
        floor.append(level)
        if level <= me.floor_min:
            me.floor_min = level
        elif dropped is not None and dropped <= me.floor_min:
            me.floor_min = min(floor)  # the quietest frame aged out
        if self._db <= 0:
            return False
        # The other parties' loudest recent frame, in a plain loop: a generator and a
        # new deque per frame cost more than the comparison.
        top: float | None = None
        other: _Party | None = None
        for p, d in self._parties.items():
            if p != party and d.levels:
                m = max(d.levels)
                if top is None or m > top:
                    top, other = m, d
        if top is None or other is None or level >= top - self._db:
            return False
        if not voiced or self._match_db <= 0 or party not in MATCHED:
            return True
        return not self._unexplained(me, other, frame)

    def floor_db(self, party: str) -> float | None:
        """The party's quietest frame level of the last `FLOOR_S` (its line's noise)."""
        me = self._parties.get(party)
        return me.floor_min if me is not None and me.floor else None

    def _unexplained(self, me: _Party, other: _Party, frame: PendingFrame) -> bool:
        """Whether this frame's recent band powers hold more than the other party's
        audio explains, by `bleed_match_db` over the line's noise."""
        # Line the two up in call time: the party fed first in a step, or one whose
        # frames arrive ahead, is compared over its frames the other has reached.
        ahead = round((me.times[-1] - other.times[-1]) / self._frame_s)
        mine_skip, their_skip = max(0, ahead), max(0, -ahead)
        if (abs(ahead) > MAX_SKEW or len(me.frames) < MATCH_FRAMES + mine_skip
                or len(other.frames) < self._history + their_skip):
            return False  # too little to compare: the level rule stands
        mine = me.band_powers(MATCH_FRAMES, mine_skip)  # (frames, bands)
        # (delays, frames, bands)
        theirs = other.band_powers(self._history, their_skip)[self._lags]
        newest, latest = mine[-1], theirs[:, -1].max(axis=0)
        mine = mine - mine.mean(axis=0)
        theirs = theirs - theirs.mean(axis=1, keepdims=True)
        # Per delay and band, the least-squares gain (a negative one is no echo path)
        # and the variance it explains; the best delay leaves the residue.
        cross = np.maximum(np.einsum("dfb,fb->db", theirs, mine), 0.0)
        own = np.einsum("dfb,dfb->db", theirs, theirs) + 1e-9
        per_delay = (cross * cross / own).sum(axis=1)
        d = int(per_delay.argmax())
        explained = float(per_delay[d])
        total = float(np.einsum("fb,fb->", mine, mine))
        residue = total - explained
        floor = me.floor_min
        # The newest frame itself must carry it: over the bleed the other party's
        # loudest frame of the delays would put there, through the path's gains.  Kept
        # for `excess_db` even where the window reads as bleed: a voice's first frame is
        # a small part of the window's variance, which free per-band gains fit, but it
        # stands over what the learnt path predicts (weak evidence of when talk that
        # starts just after was first heard, never of talk itself).
        bleed = np.exp(me.gain) * latest
        self._excess = (newest, bleed, frame.power_offset_db() + floor)
        if residue <= 0 or explained >= CLEAR * total:
            # clearly bleed: the echo path's gains, per band, drift with it
            g = np.log(cross[d] / own[d] + 1e-12)
            me.gain += GAIN_RATE * (g - me.gain)
            return False
        # Band powers to dBFS (the analyser's scale); the residue's root-mean-square
        # fluctuation against the quietest frame.
        residue_db = 5.0 * float(np.log10(residue / MATCH_FRAMES)) - frame.power_offset_db()
        if residue_db < floor + self._match_db:
            return False
        excess = self.excess_db()
        return excess is not None and excess >= NEWEST_DB

    def excess_db(self) -> float | None:
        """The last frame's own excess over the bleed predicted for it, in dB over the
        party's noise floor, where the likeness test judged it (None elsewhere, or no
        excess at all)."""
        if self._excess is None:
            return None
        newest, bleed, zero = self._excess
        over = float(np.maximum(newest - bleed, 0.0).sum())
        return 10.0 * float(np.log10(over)) - zero if over > 0 else None
