"""The taps' bookkeeping: which SIP dialogs feed which assisted call, and hold.

A SIPREC dialog is one assisted call; forked legs are paired into one by the
trunk's `Pairer`.  Methods marked "SIP thread" run there; the `_loop_*`
methods and `deliver` run on the asyncio loop, the only place the sink is called.
No pjsua2 here: a dialog is anything with the `TapCall` attributes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from assist.frames import FRAME_MS, CallSink, Frame, samples_per_frame
from sip.forked import End, Join, Pairer, Start
from sip.health import CHECK_AFTER, CallHealth, Report, announce
from sip.siprec import mask
from sip.trunks import Trunk

if TYPE_CHECKING:
    from sip.calls import TapCall

log = logging.getLogger("assist.sip")
STATS_EVERY = 1.0  # s between reads of each call's RTP counters


class Taps:
    def __init__(self, trunks: tuple[Trunk, ...], loop: asyncio.AbstractEventLoop,
                 sink: CallSink, clock_rate: int, calls: dict[int, TapCall]) -> None:  # fmt: skip
        self.trunks = {t.name: t for t in trunks}
        self.loop = loop
        self.sink = sink
        self.rate = clock_rate
        self.calls = calls  # pjsua call id -> dialog, owned by the server
        self._pairers: dict[str, Pairer] = {}
        self._legs: dict[str, list[TapCall]] = {}
        self._started: dict[str, float] = {}
        self._pair_tap: dict[tuple[str, str], str] = {}  # (trunk, pairing key) -> call
        self._live: set[str] = set()  # loop side: calls the sink knows
        self._health: dict[str, CallHealth] = {}  # loop side
        self._stats_due = 0.0

    # --- SIP thread ------------------------------------------------------------------
    def pairer(self, trunk: Trunk) -> Pairer:
        return self._pairers.setdefault(trunk.name, Pairer(trunk.pair_timeout))

    def confirmed(self, call: TapCall) -> None:
        """The ACK came: a SIPREC dialog starts its call; a forked leg is paired."""
        if call.admission is None:
            return
        trunk, plan, leg = call.admission.trunk, call.admission.plan, call.admission.leg
        if plan is not None:
            tap_id = "sip-" + uuid.uuid4().hex[:12]
            self._legs[tap_id] = [call]
            meta = {"trunk": trunk.name, "mode": "siprec", "basis": plan.basis,
                    "parties": {s.role: mask(s.aor) for s in plan.streams},
                    "recording_session": plan.session, "rtp": call.rtp_ports()}  # fmt: skip
            self._start(tap_id, plan.agent, trunk, meta, [call])
        elif leg is not None:
            for action in self.pairer(trunk).answered(leg, call.pj_id, time.monotonic()):
                self._apply(trunk, action)

    def gone(self, call: TapCall, reason: str) -> None:
        """A dialog ended; its ports are already stopped."""
        if call.admission is None:
            return
        trunk, leg = call.admission.trunk, call.admission.leg
        if call.admission.plan is not None and call.tap_id is not None:
            self._end(call.tap_id, reason)
        elif leg is not None:
            leg_id = call.pj_id if call.tap_id is not None or call.accepted else None
            for action in self.pairer(trunk).gone(leg, leg_id, reason):
                self._apply(trunk, action)

    def tick(self) -> None:
        now = time.monotonic()
        for name, pairer in self._pairers.items():
            for action in pairer.tick(now):
                self._apply(self.trunks[name], action)
        if now >= self._stats_due:
            self._stats_due = now + STATS_EVERY
            self._read_stats()

    def _read_stats(self) -> None:
        """Each live call's RTP packets and loss, handed to the loop's health check."""
        for tap_id, legs in self._legs.items():
            counts: dict[str, tuple[int, int]] = {}
            for call in legs:
                if self.calls.get(call.pj_id) is call:  # never a dialog already torn down
                    counts.update(call.rtp_counts())
            if counts:
                self.loop.call_soon_threadsafe(self._loop_rtp, tap_id, counts)

    def hold(self, call: TapCall, held: bool) -> None:
        """Record a hold, or on resume skip every party's call time over it equally."""
        if held and not call.held:
            call.held_at = time.monotonic()
            for port in call.ports.values():
                port.slot = -1
            if call.tap_id is not None:
                log.info("call %s on hold", call.tap_id)
        elif not held and call.held and call.held_at is not None:
            frame = samples_per_frame(self.rate)
            gap = int((time.monotonic() - call.held_at) * self.rate) // frame
            for port in call.ports.values():
                port.skip(gap * frame)
            if call.tap_id is not None:
                log.info("call %s resumed after %.1f s", call.tap_id, gap * FRAME_MS / 1000)
        call.held = held

    def clear(self) -> None:
        self._legs.clear()

    def _start(self, tap_id: str, agent: str | None, trunk: Trunk, meta: dict[str, Any],
               calls: list[TapCall]) -> None:  # fmt: skip
        # What the streams sent before this moment (a late ACK, a leg waiting for its
        # pair) comes first: the call's time 0 is the start of the longest such stretch,
        # and each party's ends here, so the parties stay in step.
        ports = [port for c in calls for port in c.ports.values()]
        frame = samples_per_frame(self.rate)
        lead = -(-max((p.early_samples for p in ports), default=0) // frame) * frame
        self._started[tap_id] = time.monotonic() - lead / self.rate  # call time 0
        self.loop.call_soon_threadsafe(self._loop_start, tap_id, agent, trunk.language, meta)
        for c in calls:
            c.tap_id = tap_id
        for port in ports:
            port.begin(tap_id, lead, early=True)
        if lead:
            log.info("call %s: %.2f s of audio came before the call started; kept", tap_id,
                     lead / self.rate)  # fmt: skip
        log.info("call %s started: agent %s, trunk %s", tap_id, agent, trunk.name)

    def _apply(self, trunk: Trunk, action: Start | Join | End) -> None:
        pair = (trunk.name, action.key)
        if isinstance(action, Start):
            calls = [self.calls[leg_id] for _, leg_id in action.legs if leg_id in self.calls]
            tap_id = "sip-" + uuid.uuid4().hex[:12]
            self._pair_tap[pair] = tap_id
            self._legs[tap_id] = calls
            rtp = {k: v for c in calls for k, v in c.rtp_ports().items()}
            meta = {"trunk": trunk.name, "mode": "forked", "pair": mask(action.key),
                    "legs": [role for role, _ in action.legs], "rtp": rtp}  # fmt: skip
            self._start(tap_id, action.agent, trunk, meta, calls)
        elif isinstance(action, Join):
            call = self.calls.get(action.leg)
            joined = self._pair_tap.get(pair)
            if call is None or joined is None:
                return
            self._legs[joined].append(call)
            call.tap_id = joined
            # A late leg starts at the call time it joined, on a frame boundary; what it
            # sent before its ACK (a lost ACK waits for the 200's retransmission) ends
            # there.
            elapsed = action.at - self._started.get(joined, action.at)
            frame = samples_per_frame(self.rate)
            at = int(elapsed * self.rate) // frame * frame
            kept = max((p.begin(joined, at, early=True) for p in call.ports.values()),
                       default=0)  # fmt: skip
            log.info("call %s: %s leg joined late", joined, action.role)
            if kept:
                log.info("call %s: %.2f s of its %s leg's audio came before it joined; kept",
                         joined, kept / self.rate, action.role)  # fmt: skip
            self.loop.call_soon_threadsafe(self._loop_join, joined, action.role)
        else:
            ended = self._pair_tap.pop(pair, None)
            if ended is not None:
                self._end(ended, action.reason)

    def _end(self, tap_id: str, reason: str) -> None:
        self._legs.pop(tap_id, None)
        self._started.pop(tap_id, None)
        self.loop.call_soon_threadsafe(self._loop_end, tap_id, reason)
        log.info("call %s ended: %s", tap_id, reason)

    # --- the asyncio loop ------------------------------------------------------------
    def _loop_start(self, tap_id: str, agent: str | None, language: str | None,
                    meta: dict[str, Any]) -> None:  # fmt: skip
        self._live.add(tap_id)
        parties = tuple(meta.get("parties") or meta.get("legs") or ("customer", "agent"))
        self._health[tap_id] = CallHealth(tap_id, self.rate, parties)
        self.sink.start_call(tap_id, agent=agent, rate=self.rate, language=language,
                             source="sip", meta=meta)  # fmt: skip
        self.loop.call_later(CHECK_AFTER, self._check_health, tap_id)

    def _loop_join(self, tap_id: str, party: str) -> None:
        health = self._health.get(tap_id)
        if health is not None and tap_id in self._live:
            health.join(party)
            self.loop.call_later(CHECK_AFTER, self._check_late, tap_id, party)

    def _check_late(self, tap_id: str, party: str) -> None:
        health = self._health.get(tap_id)
        if health is None or tap_id not in self._live:
            return
        announce(log, tap_id, health.late(party), lambda r: self._raise(tap_id, r))

    def _loop_rtp(self, tap_id: str, counts: dict[str, tuple[int, int]]) -> None:
        health = self._health.get(tap_id)
        if health is not None:
            health.counts(counts)

    def _check_health(self, tap_id: str) -> None:
        health = self._health.get(tap_id)
        if health is None or tap_id not in self._live:
            return
        announce(log, tap_id, health.check(), lambda r: self._raise(tap_id, r))
        # Look again: for a faulty stream's audio coming back, a healthy one's stopping.
        self.loop.call_later(CHECK_AFTER, self._check_health, tap_id)

    def _raise(self, tap_id: str, report: Report) -> None:
        """An `audio.health` event: the hub's, or through the hop to the analysis process."""
        self.sink.audio_health(tap_id, report.party, report.evidence())

    def _loop_end(self, tap_id: str, reason: str) -> None:
        if tap_id in self._live:
            self._live.discard(tap_id)
            health = self._health.pop(tap_id, None)
            if health is not None:
                log.info("call %s audio: %s", tap_id, health.summary())
                announce(log, tap_id, health.final(), lambda r: self._raise(tap_id, r),
                         logged=False)  # fmt: skip
            self.sink.end_call(tap_id, reason)

    def deliver(self, tap_id: str, party: str, data: bytes, start: int, arrival: float) -> None:
        if tap_id in self._live:
            frame = make_frame(party, data, start, self.rate, arrival)
            health = self._health.get(tap_id)
            if health is not None:
                health.add(party, frame.pcm)
            self.sink.feed(tap_id, frame)


def make_frame(party: str, data: bytes, start: int, rate: int, arrival: float) -> Frame:
    pcm = np.frombuffer(data, dtype=np.int16)
    return Frame(party=party, pcm=pcm, rate=rate, t=start / rate, arrival=arrival)  # type: ignore[arg-type]
