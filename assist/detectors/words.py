"""What recognised words tell the detectors.

Rules:
- A customer's final transcript is scanned for lexical cues (complaints, threats of
  exposure, refunds, a manager); their noisy-OR weight, doubled, raises the anger
  score.  Cue weights combine by noisy-OR: complaint + refund + manager (0.85) alone
  moves a calm customer to tense; one cue needs a raised voice with it.
- While the agent's words are recognised, pace is counted in recognised characters
  over the final's word times, and the acoustic estimate is not fed (`acoustic_pace`).
- Transcription announced on (`transcription`, enabled) turns word-counted pace on; a
  party's recogniser failing (`transcription`, enabled false, that party) turns it off
  again for the agent, so pace goes back to syllable nuclei.  The audio goes on.

Events in, events out; no I/O, no clock (time is each event's call time).
"""

from __future__ import annotations

from assist.asr.text import count_units
from assist.detectors.anger import AngerDetector
from assist.detectors.lexicon import lexical_cues, lexical_score
from assist.detectors.pace import PaceDetector
from assist.events import Event
from assist.evidence import TranscriptFinalEvidence, TranscriptionEvidence


class WordReactions:
    def __init__(self, anger: AngerDetector, pace: PaceDetector, language: str) -> None:
        self._anger = anger
        self._pace = pace
        self.language = language
        self._agent_words = False
        pace.use_words(False)

    @property
    def acoustic_pace(self) -> bool:
        """Whether the agent's pace comes from syllable nuclei (no words recognised)."""
        return not self._agent_words

    def feed(self, event: Event) -> list[Event]:
        ev = event.evidence
        if isinstance(ev, TranscriptionEvidence):
            if ev.enabled and event.party is None:
                self._words(True)
            elif not ev.enabled and event.party in (None, "agent"):
                self._words(False)
            return []
        if not isinstance(ev, TranscriptFinalEvidence):
            return []
        if event.party == "customer":
            cues = lexical_cues(ev.text, self.language)
            return self._anger.feed_cues(2.0 * lexical_score(cues), event.t) if cues else []
        if not self._agent_words:
            return []
        units = count_units(ev.text, self.language)
        if not ev.words or units == 0:
            return []
        start, end = float(ev.words[0]["start"]), float(ev.words[-1]["end"])
        return self._pace.feed(start, end, units, event.t)

    def _words(self, on: bool) -> None:
        self._agent_words = on
        self._pace.use_words(on)
