"""Voice activity per 20 ms frame, smoothed into talk spurts.

Rules:
- a frame is voiced when webrtcvad says speech and its level is above a floor
  (webrtcvad alone fires on line noise);
- talk starts after `onset` seconds of voiced frames (a lone click is not talk)
  and is dated from the first of them; it was first heard (`Transition.heard`) in
  the sound just before them: frames webrtcvad missed that stand clear of the
  line's noise and are not the other party's bleed (a quiet first syllable under
  line noise), at most `LEAD_S` early.  Who started talking when (interruptions)
  reads that; the spurt's features keep the voiced frames;
- talk ends after `hangover` seconds without a voiced frame, dated from the
  end of the last voiced frame, so short pauses inside a phrase stay inside it;
- a frame that is the other party's bleed (echo, sidetone, a mixed leg carries
  the other side at -20 to -30 dB) is never voiced: `assist/audio/bleed.py`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import webrtcvad

from assist.settings import check_fields, choice, number


class Talk(enum.Enum):
    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class VadParams:
    mode: int = choice(2, (0, 1, 2, 3))  # webrtcvad aggressiveness
    onset: float = number(0.06, 0.02, 1.0, "s")  # voiced frames before talk starts
    hangover: float = number(0.3, 0.04, 3.0, "s")  # unvoiced frames before talk ends
    floor_db: float = number(-55.0, -90.0, 0.0, "dBFS")  # below it a frame is never voiced
    # Bleed arrives 20-30 dB under its source; two people talking at once on
    # separate legs are rarely 15 dB apart.  The window covers echo delays.
    bleed_db: float = number(15.0, 0.0, 60.0, "dB (0 turns the gate off)")
    bleed_window: float = number(0.2, 0.0, 1.0, "s")
    # A frame the level calls bleed is speech when what the other party's audio does
    # not explain of it stands this far over the line's noise (assist/audio/bleed.py).
    bleed_match_db: float = number(14.0, 0.0, 60.0, "dB (0: the level alone decides)")

    def __post_init__(self) -> None:
        check_fields(self, "vad")


@dataclass(frozen=True, slots=True)
class Transition:
    """Talk began (`end` is None) or ended, in call time."""

    start: float
    end: float | None = None
    # a start's first sound: `start`, or up to LEAD_S before it (not compared)
    heard: float | None = field(default=None, compare=False)


class VoiceDetector:
    """webrtcvad plus a level floor, for one party."""

    def __init__(self, rate: int, params: VadParams) -> None:
        self._vad = webrtcvad.Vad(params.mode)
        self._rate = rate
        # Mean square of int16 samples at the floor.
        self._floor_ms = (32768.0 * 10 ** (params.floor_db / 20)) ** 2

    def is_voiced(self, pcm: np.ndarray, mean_square: float) -> bool:
        if mean_square < self._floor_ms:
            return False
        return self._vad.is_speech(pcm.tobytes(), self._rate)


# How far before its first voiced frame talk may be dated from the sound leading into
# it: the onset's length, so a spurt never starts earlier than one onset could.
LEAD_S = 0.06
# A frame webrtcvad missed is sound leading into talk when it stands this far above the
# party's quietest frame of the last seconds (and above the level floor).
AUDIBLE_DB = 10.0


class TalkTracker:
    """Onset/hangover smoothing of voiced flags into talk spurts; pure, fed call times."""

    def __init__(self, params: VadParams, frame_s: float) -> None:
        self._onset_frames = max(1, round(params.onset / frame_s))
        self._hang_frames = max(1, round(params.hangover / frame_s))
        self._frame_s = frame_s
        self._lead = round(LEAD_S / frame_s) * frame_s
        self.state = Talk.QUIET
        self._count = 0
        self._first_voiced = 0.0
        self._last_voiced_end = 0.0
        self._sound: float | None = None  # start of the sound run leading to now
        self.start = 0.0  # start of the current spurt

    @property
    def talking(self) -> bool:
        return self.state in (Talk.SPEAKING, Talk.STOPPING)

    def feed(self, t: float, voiced: bool, audible: bool = False) -> Transition | None:
        """One frame starting at `t`: `voiced`, or else `audible` (sound clear of the
        line's noise that webrtcvad did not call speech)."""
        end = t + self._frame_s
        if not self.talking:
            # the run of voiced or audible frames a spurt starting now may be dated from
            if voiced or audible:
                if self._sound is None:
                    self._sound = t
            else:
                self._sound = None
        if self.state is Talk.QUIET:
            if voiced:
                self.state, self._count, self._first_voiced = Talk.STARTING, 1, t
                self._last_voiced_end = end
                return self._maybe_start()
            return None
        if self.state is Talk.STARTING:
            if not voiced:
                self.state = Talk.QUIET
                return None
            self._count += 1
            self._last_voiced_end = end
            return self._maybe_start()
        if voiced:
            self.state, self._last_voiced_end, self._count = Talk.SPEAKING, end, 0
            return None
        self.state = Talk.STOPPING
        self._count += 1
        if self._count >= self._hang_frames:
            self.state = Talk.QUIET
            return Transition(self.start, self._last_voiced_end)
        return None

    def _maybe_start(self) -> Transition | None:
        if self._count < self._onset_frames:
            return None
        self.state, self._count = Talk.SPEAKING, 0
        self.start = heard = self._first_voiced
        if self._sound is not None:
            earliest = self.start - self._lead
            heard = earliest if self._sound < earliest - 1e-9 else min(self._sound, heard)
        self._sound = None
        return Transition(self.start, heard=heard)

    def finish(self) -> Transition | None:
        """End an open spurt when the stream ends."""
        if self.talking:
            self.state = Talk.QUIET
            return Transition(self.start, self._last_voiced_end)
        self.state = Talk.QUIET
        return None
