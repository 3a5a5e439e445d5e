"""Audio health of a fork's parties: the SIP tap's checks (sip/health.py) on the media
messages a websocket brings, raised as `audio.health` events on the call's sink.

- A party's "packets" are the media messages that carried its audio (a stereo
  message counts for both parties); its loss is what the protocol says went missing
  (Twilio `chunk` gaps, AudioHook `discarded`), else 0.
- `no_audio`: the fork opened and no media for that party came within `CHECK_AFTER`
  seconds, or none for `CHECK_AFTER` seconds later on; on a stereo stream, whose
  messages carry both parties, a channel of only zeros.
- A look that falls while the call is paused (AudioHook `paused`, or a session
  waiting to reconnect), or just after, is passed over: no audio is sent on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from sip.health import CHECK_AFTER, CallHealth, Medium, Report, announce

log = logging.getLogger(__name__)
FORK = Medium(missing="no_audio", nothing="no media for it reached the fork",
              zeros="only digital silence on its channel", unit="media messages",
              start="the fork opened")


class ForkHealth:
    """One fork call's parties, looked at every `CHECK_AFTER` seconds of wall time from
    the open (the timer runs on the loop; the checks themselves are sip.health's)."""

    def __init__(self, sink: Any, call_id: str, rate: int, parties: tuple[str, ...], *,
                 shared: bool) -> None:
        self.sink, self.call_id = sink, call_id
        self.health = CallHealth(call_id, rate, parties, FORK, shared=shared)
        self.messages = dict.fromkeys(parties, 0)
        self.loss = dict.fromkeys(parties, 0)
        self.health.counts({p: (0, 0) for p in parties})
        self.held = False  # paused at some time since the last look
        self._paused: Callable[[], bool] = lambda: False
        self._timer: asyncio.TimerHandle | None = None

    def start(self, paused: Callable[[], bool]) -> None:
        """Begin looking; `paused()` says whether the call is paused now."""
        self._paused = paused
        self._timer = asyncio.get_running_loop().call_later(CHECK_AFTER, self.look)

    def frame(self, party: str, pcm: np.ndarray) -> None:
        self.health.add(party, pcm)

    def message(self, party: str) -> None:
        """A media message for `party` has been taken (after its frames were added)."""
        self.messages[party] += 1
        self._count(party)

    def lost(self, party: str, n: int) -> None:
        if n > 0:
            self.loss[party] += n
            self._count(party)

    def _count(self, party: str) -> None:
        self.health.counts({party: (self.messages[party], self.loss[party])})

    def look(self) -> None:
        """One look at the parties (the timer's; the next is set first)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(CHECK_AFTER, self.look)
        if self.held or self._paused():
            self.held = self._paused()
            self.health.skip()
            return
        announce(log, self.call_id, self.health.check(), self._raise)

    def end(self) -> None:
        """Stop looking; each party's final report."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        log.info("call %s audio: %s", self.call_id, self.health.summary())
        announce(log, self.call_id, self.health.final(), self._raise, logged=False)

    def _raise(self, report: Report) -> None:
        self.sink.audio_health(self.call_id, report.party, report.evidence())
