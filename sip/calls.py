"""One SIP dialog as pjsua2 sees it, and how we answer it.

Everything here runs on the SIP thread (pjsua2 callbacks and queued jobs).
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import TYPE_CHECKING

import pjsua2 as pj

from sip.admission import Admission
from sip.endpoint import guarded
from sip.latch import Latch, host_port, latch, pick, unlatch
from sip.media import TapPort
from sip.message import REASONS

if TYPE_CHECKING:
    from sip.server import SipServer

log = logging.getLogger("assist.sip")
_SERIAL = itertools.count()


def warning(reason: str) -> str:
    """A Warning header value (RFC 3261 §20.43) carrying our reason."""
    return '399 assist "' + reason.replace('"', "'").replace("\\", "/")[:200] + '"'


class TapCall(pj.Call):
    """One SIP dialog: a SIPREC session (two streams) or one leg of a forked call."""

    def __init__(self, acc: pj.Account, call_id: int, server: SipServer, src: str) -> None:
        super().__init__(acc, call_id)
        self.server = server
        self.pj_id = call_id
        self.ref = (call_id, next(_SERIAL))  # pjsua reuses ids; this pair is unique
        self.src = src
        self.admission: Admission | None = None  # set once admitted
        self.ports: dict[str, TapPort] = {}
        self.tap_id: str | None = None  # the assisted call this dialog feeds
        self.accepted = False
        self.answered_at: float | None = None  # when the 200 went out
        self.held = True  # until a stream is received
        self.held_at: float | None = None
        self.latches: dict[int, Latch] = {}  # media index -> its RTP source latch

    @property
    def roles(self) -> dict[int, str]:
        return dict(self.admission.roles) if self.admission is not None else {}

    @guarded("call callback failed")
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        self.server.on_state(self)

    @guarded("call callback failed")
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.server.on_media(self)

    @guarded("call callback failed")
    def onStreamDestroyed(self, prm: pj.OnStreamDestroyedParam) -> None:  # noqa: N802
        # A re-INVITE may rebuild a stream under the same bridge slot number: forget it.
        port = self.ports.get(self.roles.get(prm.streamIdx, ""))
        if port is not None:
            port.slot = -1

    def rtp_ports(self) -> dict[str, str]:
        """Where each party's RTP arrives (for firewall rules and debugging)."""
        out = {}
        for index, role in self.roles.items():
            try:
                out[role] = self.getMedTransportInfo(index).localRtpName
            except pj.Error:
                pass
        return out

    def rtp_counts(self) -> dict[str, tuple[int, int]]:
        """RTP packets received and lost so far on each tapped stream."""
        out = {}
        for index, role in self.roles.items():
            try:
                rx = self.getStreamStat(index).rtcp.rxStat
                out[role] = (int(rx.pkt), int(rx.loss))
            except pj.Error:
                pass  # no stream (yet, or any more)
        return out

    def answer_with(self, status: int, reason: str | None = None, audio: int = 1,
                    headers: tuple[tuple[str, str], ...] = ()) -> None:  # fmt: skip
        """Provisional/200 answers; final refusals go through `refuse` (a queued job)."""
        op = pj.CallOpParam(True)
        op.statusCode = status
        op.opt.audioCount = audio
        op.opt.videoCount = 0
        extra = list(headers)
        if reason:
            op.reason = REASONS.get(status, "Refused")
            extra.insert(0, ("Warning", warning(reason)))
        for name, value in extra:
            hdr = pj.SipHeader()
            hdr.hName = name
            hdr.hValue = value
            op.txOption.headers.append(hdr)
        self.answer(op)
        if status == 200:
            self.answered_at = time.monotonic()

    def live_streams(self) -> list[tuple[int, str, int]]:
        """(media index, party, bridge slot) of each tapped stream now receiving."""
        live = []
        info = self.getInfo()  # keep it: .media points into it
        for mi in info.media:
            role = self.roles.get(mi.index)
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or role is None:
                continue
            # sendonly streams report REMOTE_HOLD; hold (a=inactive) shows only as no DECODING
            if (mi.dir & pj.PJMEDIA_DIR_DECODING and mi.audioConfSlot >= 0 and mi.status in
                    (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)):  # fmt: skip
                live.append((mi.index, role, mi.audioConfSlot))
        return live

    def connect(self, live: list[tuple[int, str, int]]) -> None:
        """Make sure each live stream transmits to its party's port."""
        for index, role, slot in live:
            tap = self.ports.get(role)
            if tap is None:
                tap = self.server.ports.take(role)
                self.ports[role] = tap
                if self.tap_id is not None:  # a stream added after the start
                    tap.begin(self.tap_id, 0)
                else:  # keep what it sends until the call starts (a late ACK)
                    tap.arm()
            if tap.slot != slot:
                self.getAudioMedia(index).startTransmit(tap)
                tap.slot = slot

    def latch_sources(self, now: float) -> None:
        """Latch each tapped stream's RTP socket to its source once one came (sip/latch.py)."""
        for index, role in self.roles.items():
            st = self.latches.setdefault(index, Latch())
            if st.source is not None:
                continue
            try:
                info = self.getMedTransportInfo(index)
                if not info.srcRtpName:
                    continue  # no packet yet
                st.first = now if st.first is None else st.first
                why = pick(self.getStreamInfo(index).remoteRtpAddress, info.srcRtpName,
                           now - st.first)  # fmt: skip
            except pj.Error:
                continue  # the stream is not up (yet)
            if why is None:
                continue
            done = latch(host_port(info.localRtpName)[1], info.srcRtpName)
            if done is None:
                st.source = "-"  # stop trying; pjmedia takes any source, as before
                log.warning("call %s: %s RTP not latched: no IPv4 socket on %s", self.name,
                            role, info.localRtpName)  # fmt: skip
                continue
            self.latches[index] = done
            log.info("call %s: %s RTP latched to %s (%s)", self.name, role, done.source, why)

    def unlatch(self) -> None:
        for done in self.latches.values():
            unlatch(done)
        self.latches.clear()

    @property
    def name(self) -> str:
        return self.tap_id or f"dialog {self.pj_id}"

    def release_ports(self) -> None:
        """Stop each stream's transmission and hand the ports back to the pool (a
        port must never be destroyed while the bridge runs: sip/ports.py)."""
        for index, role in self.roles.items():
            port = self.ports.get(role)
            if port is None or port.slot < 0:
                continue
            try:
                self.getAudioMedia(index).stopTransmit(port)
            except pj.Error:
                pass  # the stream is already gone, and its connections with it
        for port in self.ports.values():
            self.server.ports.give_back(port)
        self.ports.clear()
