"""One party's audio path: VAD, talk state and prosody, cut into spurts and chunks.

Runs synchronously on the event loop, one frame at a time; sizes come from the
frame itself (`Frame.duration`), never from a constant.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from assist.audio.bleed import HEARD_EXCESS_DB, BleedGate
from assist.audio.features import FrameAnalyzer, FrameFeatures, PendingFrame
from assist.audio.prosody import NucleiParams, SpurtFeatures, summarise
from assist.audio.vad import AUDIBLE_DB, TalkTracker, Transition, VadParams, VoiceDetector
from assist.detectors.anger import AngerParams
from assist.detectors.interruption import InterruptionParams
from assist.detectors.pace import PaceParams
from assist.detectors.silence import SilenceParams
from assist.frames import FRAME_MS, Party

FRAME_S = FRAME_MS / 1000.0


@dataclass(frozen=True, slots=True)
class LoopParams:
    vad: VadParams = field(default_factory=VadParams)
    interruption: InterruptionParams = field(default_factory=InterruptionParams)
    silence: SilenceParams = field(default_factory=SilenceParams)
    pace: PaceParams = field(default_factory=PaceParams)
    anger: AngerParams = field(default_factory=AngerParams)
    nuclei: NucleiParams = field(default_factory=NucleiParams)


@dataclass(slots=True)
class Step:
    """What one frame of one party brought."""

    change: Transition | None = None
    voiced: bool = False
    spurt: SpurtFeatures | None = None  # the whole spurt, when it ended
    # Pieces of talk to score: every CHUNK_S while talking, and the tail when it ends,
    # so a long angry or hurried turn is flagged while it lasts, not after.
    chunks: list[SpurtFeatures] = field(default_factory=list)


CHUNK_S = 2.0


class PartyPipeline:
    """VAD, talk state and features of one party; yields spurts and chunks of them."""

    def __init__(self, party: Party, rate: int, frame_len: int, params: LoopParams,
                 gate: BleedGate | None = None) -> None:
        self.party = party
        self._gate = gate
        self._vad = VoiceDetector(rate, params.vad)
        self._floor_db = params.vad.floor_db
        self.talk = TalkTracker(params.vad, FRAME_S)
        self._features = FrameAnalyzer(rate, frame_len)
        self._nuclei = params.nuclei
        # Frames wait with only their level computed until a summary reads them: most
        # frames before talk starts (all but the onset's) and the hangover after a
        # spurt's last voiced frame never are.  A voiced frame in a spurt is always
        # read, so it is computed as it comes: the cost stays spread over the frames
        # rather than falling on the frame that ends a 2 s chunk (with many calls in
        # one process, those bursts made other calls' frames late).
        self._recent: deque[tuple[float, PendingFrame]] = deque(maxlen=64)
        self._spurt: list[tuple[float, PendingFrame]] = []
        self._chunk_start = 0.0

    def feed(self, t: float, pcm: np.ndarray) -> Step:
        f = self._features.level(pcm)
        voiced = self._vad.is_voiced(pcm, f.mean_square)
        gate = self._gate
        bleed = gate is not None and gate.is_bleed(self.party, t, f, voiced)
        # Sound leading into talk that starts just after it, which dates when the talk
        # was first heard (a quiet first syllable): webrtcvad missed it, but it stands
        # clear of the line's noise and is not bleed; or the gate took it for bleed,
        # but it carries its own excess over the bleed predicted for it.
        audible = False
        if gate is not None and not self.talk.talking:
            if bleed:
                excess = gate.excess_db() if voiced else None
                audible = excess is not None and excess >= HEARD_EXCESS_DB
            elif not voiced and f.level_db >= self._floor_db:
                floor = gate.floor_db(self.party)
                audible = floor is not None and f.level_db >= floor + AUDIBLE_DB
        if bleed:
            voiced = False
        step = Step(self.talk.feed(t, voiced, audible), voiced)
        change = step.change
        if self.talk.talking or change is not None:
            if change is not None and change.end is None:
                self._spurt = [(ft, ff) for ft, ff in self._recent if ft >= change.start]
                self._chunk_start = change.start
            if voiced:
                f.features()
            self._spurt.append((t, f))
        else:
            self._recent.append((t, f))
        if change is not None and change.end is not None:
            self._close(change, step)
        elif self.talk.talking and t + FRAME_S - self._chunk_start >= CHUNK_S - 1e-9:
            step.chunks.append(self._summary(self._chunk_start, t + FRAME_S))
            self._chunk_start = t + FRAME_S
        return step

    def _summary(self, start: float, end: float) -> SpurtFeatures:
        # Walk back from the newest frame: a chunk is the spurt's tail, so a long
        # monologue costs the chunk, not the whole turn, every 2 s.
        frames: list[FrameFeatures] = []
        for ft, ff in reversed(self._spurt):
            if ft < start - 1e-9:
                break
            if ft < end - 1e-9:
                frames.append(ff.features())
        frames.reverse()
        return summarise(start, end, frames, FRAME_S, self._nuclei)

    def _close(self, change: Transition, step: Step) -> None:
        end = change.end if change.end is not None else change.start
        if end > self._chunk_start + 1e-9:
            step.chunks.append(self._summary(self._chunk_start, end))
        step.spurt = self._summary(change.start, end)
        self._spurt = []
        self._recent.clear()

    def finish(self) -> Step:
        step = Step(self.talk.finish())
        if step.change is not None:
            self._close(step.change, step)
        return step
