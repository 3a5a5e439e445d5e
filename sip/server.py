"""The SIP tap: a SIPREC recording server and forked-call tap on one pjsua2 endpoint.

Wiring only: `endpoint.SipThread` owns pjsua2 and its thread, `admission.Gate`
decides each INVITE, `calls.TapCall` answers it and connects its streams, and
`taps.Taps` keeps the bookkeeping and talks to the sink on the asyncio loop.
The bridge thread only runs `TapPort.onFrameReceived`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

import pjsua2 as pj

from assist.frames import CallSink
from sip.admission import Admission, Gate, sdp_of
from sip.calls import TapCall, warning
from sip.endpoint import WHEEL_MAX_CALLS, SipSettings, SipThread, guarded, log_error
from sip.message import MAX_PACKET, offered_codecs, parse_message
from sip.oversize import Dropped
from sip.ports import PortPool
from sip.siprec import Refusal
from sip.taps import Taps
from sip.trunks import Trunk

__all__ = ["SipServer", "SipSettings", "WHEEL_MAX_CALLS"]

log = logging.getLogger("assist.sip")

# An answer never ACKed (a lost ACK, a client that died, a spray) holds one of the
# process's 4 call slots; pjsip alone would give up after 32 s (64 x T1).
ACK_TIMEOUT = 8.0
DECODES = "PCMU, PCMA, G722, GSM, iLBC, speex"  # the audio codecs the pjsua2 wheel has


class _Account(pj.Account):
    def __init__(self, server: SipServer) -> None:
        super().__init__()
        self._server = server

    @guarded("INVITE callback failed")
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        self._server.on_incoming(self, prm)


class _Endpoint(pj.Endpoint):
    @guarded("rejected-call callback failed")
    def onRejectedIncomingCall(self, prm: pj.OnRejectedIncomingCallParam) -> None:  # noqa: N802
        # Only what `SipServer.screen` let through reaches pjsua: say what it refused.
        why = f" (at pjsua's limit of {WHEEL_MAX_CALLS} calls)" if prm.statusCode == 486 else ""
        if prm.statusCode == 488:  # most often no codec in common
            offered = offered_codecs(sdp_of(parse_message(prm.rdata.wholeMsg)))
            why = f" (offered {', '.join(offered) or 'no audio codec'}; the tap decodes {DECODES})"
        log.warning("refused INVITE from %s by the SIP stack: %d %s%s", prm.rdata.srcAddress,
                    prm.statusCode, prm.reason, why)  # fmt: skip


class SipServer:
    def __init__(self, trunks: tuple[Trunk, ...], loop: asyncio.AbstractEventLoop,
                 sink: CallSink, settings: SipSettings | None = None, *,
                 proxies: tuple[str, ...] = (), nonce_key: bytes | None = None,
                 unready: Callable[[], str | None] | None = None) -> None:
        """`proxies`: addresses of the SIP proxies in front (their X-Assist-Source is
        trusted); `nonce_key`: shared by the taps behind one proxy, else random;
        `unready`: why the sink cannot take a call now (a 503 with that reason), or None."""
        self.trunks = trunks
        self.unready = unready
        self.loop = loop
        self.settings = settings or SipSettings()
        self._calls: dict[int, TapCall] = {}
        self.gate = Gate(trunks, nonce_key or secrets.token_bytes(32), self.settings.max_calls,
                         proxies)  # fmt: skip
        self.taps = Taps(trunks, loop, sink, self.settings.clock_rate, self._calls)
        self.ports = PortPool(loop, self.taps.deliver, self.settings.clock_rate)
        self.refused: dict[int, int] = {}  # status -> count, for operators and tests
        self._sip = SipThread(self.settings, _Endpoint, self._setup, self._tick,
                              self._closing, self.screen, self.oversized)  # fmt: skip

    # --- any thread -----------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        self._sip.start(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._sip.stop(timeout)

    def alive(self) -> bool:
        return self._sip.alive()

    def active_calls(self) -> int:
        return sum(1 for c in list(self._calls.values()) if c.accepted)

    # --- the SIP thread ----------------------------------------------------------------
    def _setup(self, ep: pj.Endpoint) -> pj.Account:
        s = self.settings
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:assist@{s.bound or '127.0.0.1'}"
        acfg.mediaConfig.transportConfig.port = s.rtp_port
        # pjsua's range is where an RTP port may start; its RTCP port is the next one.
        acfg.mediaConfig.transportConfig.portRange = s.rtp_port_range - 2
        if s.bound:
            acfg.mediaConfig.transportConfig.boundAddress = s.bound
        acc = _Account(self)
        acc.create(acfg, True)
        log.info("SIP listening on %s udp=%s tcp=%s, %d trunk(s), max %d calls",
                 s.host, s.udp_port, s.tcp_port, len(self.trunks), s.max_calls)  # fmt: skip
        return acc

    def _tick(self) -> None:
        self.taps.tick()
        now = time.monotonic()
        for call in list(self._calls.values()):
            if call.answered_at is not None:
                try:
                    call.latch_sources(now)
                except Exception:  # the poll loop must go on whatever one call does
                    log_error(f"call {call.pj_id}: RTP latching failed")

    def _closing(self, ep: pj.Endpoint) -> None:
        ep.hangupAllCalls()
        deadline = time.monotonic() + 2.0
        while self._calls and time.monotonic() < deadline:
            ep.libHandleEvents(10)
        for call in list(self._calls.values()):
            self._teardown(call, "shutdown")
        self.taps.clear()

    def screen(self, raw: bytes, src: str) -> tuple[int, str, tuple[tuple[str, str], ...]] | None:
        """Before pjsua sees a new INVITE: the refusal to send at once, or None to go on.
        pjsua's own refusals (486 at its call limit, 400/488 on an offer it rejects)
        would carry no reason of ours."""
        try:
            busy = len(self._calls)
            if busy >= WHEEL_MAX_CALLS:
                tapped = self.active_calls()
                raise Refusal(486, f"all {WHEEL_MAX_CALLS} call slots of this process are in use "
                              f"({tapped} tapped, {busy - tapped} being answered or ended); "
                              "run more processes behind a dispatcher")  # fmt: skip
            self._admit(raw, src)
        except Refusal as r:
            self._count_refusal(self.gate.who(raw, src), r.status, r.reason, r.trunk)
            return r.status, r.reason, (("Warning", warning(r.reason)), *r.headers)
        return None

    def _admit(self, raw: bytes, src: str) -> Admission:
        adm = self.gate.admit(raw, src, self.active_calls(), time.time())
        why = self.unready() if self.unready is not None else None
        if why is not None:  # 503: the proxy in front tries another tap
            refusal = Refusal(503, f"this tap cannot analyse calls now: {why}")
            refusal.trunk = adm.trunk.name
            raise refusal
        return adm

    def oversized(self, dropped: Dropped, src: str) -> tuple[int, str, tuple[tuple[str, str], ...]]:
        """A request too long for the SIP stack on a TCP connection: taken off the
        stream before pjsip parsed it, so the connection goes on."""
        status, trunk = 513, None
        reason = (f"message of {dropped.size} bytes: the SIP stack reads at most {MAX_PACKET} "
                  "bytes per message; send smaller metadata, or use UDP")  # fmt: skip
        try:
            trunk = self.gate.trunk_of(parse_message(dropped.head), src)[1].name
        except Refusal as r:
            status, reason = r.status, r.reason
        self._count_refusal(self.gate.who(dropped.head, src), status, reason, trunk,
                            dropped.method)  # fmt: skip
        return status, reason, (("Warning", warning(reason)),)

    def _count_refusal(self, src: str, status: int, reason: str, trunk: str | None,
                       method: str = "INVITE") -> None:  # fmt: skip
        self.refused[status] = self.refused.get(status, 0) + 1
        # A first INVITE challenged with 401 is the normal digest round trip, not a fault.
        level = logging.INFO if status == 401 else logging.WARNING
        log.log(level, "refused %s from %s (trunk %s): %d %s", method, src, trunk or "-", status,
                reason)  # fmt: skip

    def on_incoming(self, acc: pj.Account, prm: pj.OnIncomingCallParam) -> None:
        raw = prm.rdata.wholeMsg
        src = prm.rdata.srcAddress
        call = TapCall(acc, prm.callId, self, src)
        self._calls[prm.callId] = call
        ref = call.ref
        # Final refusals wait until this callback has returned: pjsua2 frees its clone of
        # the request right after it, and a call already reset by then aborts the process.
        try:
            adm = self._admit(raw, src)
            if not call.getInfo().remOfferer:
                # Never a 200 without media: pjsua would answer with an offer of its own
                # and a SIPREC client's ACK carries no answer.
                raise Refusal(488, "the SIP stack found no SDP offer in the INVITE body")
            call.admission = adm
            if adm.leg is not None:
                self.taps.pairer(adm.trunk).offer(adm.leg, time.monotonic())
        except Refusal as r:
            status, why, hdrs, trunk = r.status, r.reason, r.headers, r.trunk
            self._sip.call_soon(lambda: self._refuse(ref, status, why, hdrs, trunk))
            return
        except Exception as exc:  # never let one odd INVITE take the endpoint down
            log_error(f"INVITE from {src}: unexpected error")
            reason = f"internal error: {type(exc).__name__}"
            self._sip.call_soon(lambda: self._refuse(ref, 500, reason))
            return
        self._accept(call, adm, self.gate.who(raw, src))

    def _accept(self, call: TapCall, adm: Admission, src: str) -> None:
        if adm.trunk.auth:
            log.info("INVITE from %s: digest user %s accepted on trunk %s", src,
                     adm.trunk.username, adm.trunk.name)  # fmt: skip
        call.accepted = True
        call.answer_with(180, audio=adm.audio)
        ref = call.ref
        self._sip.call_later(self.settings.answer_delay, lambda: self._answer_ok(ref))
        log.info("INVITE from %s on trunk %s (%s): %s", src, adm.trunk.name, adm.trunk.mode,
                 adm.describe())  # fmt: skip

    def _find(self, ref: tuple[int, int]) -> TapCall | None:
        """A dialog by (pjsua id, serial). Jobs for later hold this, never the TapCall:
        a TapCall that outlives its dialog hangs up, when it is freed, whatever call
        pjsua has given its id to since."""
        call = self._calls.get(ref[0])
        return call if call is not None and call.ref == ref else None

    def _answer_ok(self, ref: tuple[int, int]) -> None:
        call = self._find(ref)
        if call is None:
            return  # cancelled meanwhile
        try:
            if call.getInfo().state >= pj.PJSIP_INV_STATE_CONFIRMED:
                return
            if call.admission is not None:
                call.answer_with(200, audio=call.admission.audio)
                ref = call.ref
                self._sip.call_later(ACK_TIMEOUT, lambda: self._ack_due(ref))
        except pj.Error as exc:  # e.g. CANCEL won the race
            log.info("call %d not answered: %s", call.pj_id, exc.info())

    def _ack_due(self, ref: tuple[int, int]) -> None:
        call = self._find(ref)
        if call is None or call.tap_id is not None:
            return
        try:
            if call.getInfo().state >= pj.PJSIP_INV_STATE_CONFIRMED:
                return
            log.warning("call %d from %s: no ACK %.0f s after the 200; hanging up to free "
                        "its slot", call.pj_id, call.src, ACK_TIMEOUT)  # fmt: skip
            call.hangup(pj.CallOpParam(True))
        except pj.Error as exc:
            log.info("call %d: %s", call.pj_id, exc.info())

    def _refuse(self, ref: tuple[int, int], status: int, reason: str,
                headers: tuple[tuple[str, str], ...] = (),
                trunk: str | None = None) -> None:  # fmt: skip
        call = self._find(ref)
        if call is None:
            return  # gone meanwhile (CANCEL)
        call.accepted = False
        self._count_refusal(call.src, status, reason, trunk)
        try:
            call.answer_with(status, reason, headers=headers)
        except pj.Error as exc:
            log.warning("could not send %d: %s", status, exc.info())

    def on_state(self, call: TapCall) -> None:
        info = call.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and call.accepted and call.tap_id is None:
            self.taps.confirmed(call)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            reason = "hangup" if info.lastStatusCode in (200, 0) else f"sip {info.lastStatusCode}"
            if call.tap_id is None and call.accepted:
                reason = "cancelled"
            self._teardown(call, reason)

    def on_media(self, call: TapCall) -> None:
        """(Re)connect each tapped stream to its port; notice hold and resume."""
        live = call.live_streams()
        call.unlatch()  # a re-INVITE may name other sources: latch again
        self.taps.hold(call, held=not live)
        call.connect(live)

    def _teardown(self, call: TapCall, reason: str) -> None:
        """Stop and delete the ports and the Call now, on this registered thread."""
        self._calls.pop(call.pj_id, None)
        call.unlatch()
        call.release_ports()
        self.taps.gone(call, reason)
