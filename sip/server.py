"""The pjsua2 endpoint: a SIPREC recording server and forked-call tap.

One thread owns pjsua2 (`threadCnt = 0`): it polls SIP events, answers or
refuses INVITEs and tears calls down.  The bridge thread only runs
`TapPort.onFrameReceived`.  The sink is called on the asyncio loop only.

pjsua2's Endpoint can be created once per process; so can a `SipServer`.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import queue
import secrets
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from assist.frames import CallSink
from sip import digest
from sip.forked import End, Join, Leg, Pairer, Start, leg_from
from sip.media import TapPort, make_frame
from sip.settings import WHEEL_MAX_CALLS, SipSettings
from sip.siprec import Refusal, TapPlan, mask, parse_message, parse_sdp, plan
from sip.trunks import Trunk, match_trunk

log = logging.getLogger("assist.sip")

_REASONS = {400: "Bad Request", 403: "Forbidden", 486: "Busy Here", 488: "Not Acceptable Here",
            401: "Unauthorized", 513: "Message Too Large", 503: "Service Unavailable"}  # fmt: skip


class _Account(pj.Account):
    def __init__(self, server: SipServer) -> None:
        super().__init__()
        self._server = server

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        self._server._incoming(self, prm)


class _Endpoint(pj.Endpoint):
    def onRejectedIncomingCall(self, prm: pj.OnRejectedIncomingCallParam) -> None:  # noqa: N802
        log.warning("refused INVITE from %s: %d %s (pjsua limit %d calls per process)",
                    prm.rdata.srcAddress, prm.statusCode, prm.reason, WHEEL_MAX_CALLS)  # fmt: skip


class _Call(pj.Call):
    """One SIP dialog: a SIPREC session (two streams) or one leg of a forked call."""

    def __init__(self, acc: pj.Account, call_id: int, server: SipServer, src: str) -> None:
        super().__init__(acc, call_id)
        self.server = server
        self.pj_id = call_id
        self.src = src
        self.trunk: Trunk | None = None
        self.plan: TapPlan | None = None
        self.leg: Leg | None = None
        self.roles: dict[int, str] = {}  # media index -> party
        self.ports: dict[str, TapPort] = {}
        self.tap_id: str | None = None  # the assisted call this dialog feeds
        self.accepted = False
        self.held = True  # until a stream is received
        self.held_at: float | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        self.server._state(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.server._media(self)

    def onStreamDestroyed(self, prm: pj.OnStreamDestroyedParam) -> None:  # noqa: N802
        # A re-INVITE may rebuild a stream under the same bridge slot number: forget it.
        port = self.ports.get(self.roles.get(prm.streamIdx, ""))
        if port is not None:
            port.slot = -1


class SipServer:
    def __init__(self, trunks: tuple[Trunk, ...], loop: asyncio.AbstractEventLoop,
                 sink: CallSink, settings: SipSettings | None = None) -> None:  # fmt: skip
        self.trunks = trunks
        self.loop = loop
        self.sink = sink
        self.settings = settings or SipSettings()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._later: list[tuple[float, Callable[[], None]]] = []  # SIP thread only
        self._calls: dict[int, _Call] = {}
        self._pairers: dict[str, Pairer] = {}
        self._tap_legs: dict[str, list[_Call]] = {}
        self._tap_started: dict[str, float] = {}
        self._pair_tap: dict[tuple[str, str], str] = {}  # (trunk, pairing key) -> call
        self._live: set[str] = set()  # loop side: calls the sink knows
        self.refused: dict[int, int] = {}  # status -> count, for operators and tests
        self._nonce_key = secrets.token_bytes(32)  # nonces die with the process: by design

    # --- lifecycle (any thread) -------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="sip", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("SIP endpoint did not start in time")
        if self._error is not None:
            raise RuntimeError(f"SIP endpoint failed to start: {self._error}")

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def active_calls(self) -> int:
        return sum(1 for c in list(self._calls.values()) if c.accepted)

    # --- the pjsua2 thread --------------------------------------------------------
    def _run(self) -> None:
        try:
            ep = self._init()
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stopping.is_set():
                ep.libHandleEvents(10)
                self._run_jobs()
                self._tick_pairers()
        finally:
            self._shutdown(ep)

    def _init(self) -> pj.Endpoint:
        s = self.settings
        ep = _Endpoint()
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = WHEEL_MAX_CALLS
        cfg.uaConfig.userAgent = "assist-sip"
        cfg.logConfig.level = s.log_level
        cfg.logConfig.consoleLevel = s.log_level
        cfg.medConfig.clockRate = s.clock_rate
        cfg.medConfig.sndClockRate = s.clock_rate
        cfg.medConfig.channelCount = 1
        if s.jitter_ms:  # prefetch bounds (ms): latency vs tolerance of jitter
            cfg.medConfig.jbInit = s.jitter_ms[0]
            cfg.medConfig.jbMinPre = s.jitter_ms[0]
            cfg.medConfig.jbMaxPre = s.jitter_ms[1]
        ep.libInit(cfg)
        _support_siprec()
        ep.audDevManager().setNullDev()
        listeners = ((pj.PJSIP_TRANSPORT_UDP, s.udp_port), (pj.PJSIP_TRANSPORT_TCP, s.tcp_port))
        for kind, port in listeners:
            if port:  # 0: this transport is off
                tcfg = pj.TransportConfig()
                tcfg.port = port
                if s.host not in ("", "0.0.0.0"):
                    tcfg.boundAddress = s.host
                ep.transportCreate(kind, tcfg)
        ep.libStart()
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:assist@{s.host if s.host not in ('', '0.0.0.0') else '127.0.0.1'}"
        acfg.mediaConfig.transportConfig.port = s.rtp_port
        if s.host not in ("", "0.0.0.0"):
            acfg.mediaConfig.transportConfig.boundAddress = s.host
        self._acc = _Account(self)
        self._acc.create(acfg, True)
        self._ep = ep
        log.info("SIP listening on %s udp=%s tcp=%s, %d trunk(s), max %d calls",
                 s.host, s.udp_port, s.tcp_port, len(self.trunks), s.max_calls)  # fmt: skip
        return ep

    def _shutdown(self, ep: pj.Endpoint) -> None:
        try:
            ep.hangupAllCalls()
            deadline = time.monotonic() + 2.0
            while self._calls and time.monotonic() < deadline:
                ep.libHandleEvents(10)
            for call in list(self._calls.values()):
                self._teardown(call, "shutdown")
            # Every Call must be gone before libDestroy: a later destructor asserts.
            self._later.clear()
            while not self._jobs.empty():
                self._jobs.get_nowait()
            self._tap_legs.clear()
            gc.collect()
            self._acc.shutdown()
            del self._acc
            ep.libDestroy()
        except Exception:
            _log_error("error while stopping the SIP endpoint")

    def _run_jobs(self) -> None:
        if self._later:
            now = time.monotonic()
            due = [job for at, job in self._later if at <= now]
            self._later = [(at, job) for at, job in self._later if at > now]
            for job in due:
                self._jobs.put(job)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                job()
            except Exception:
                _log_error("SIP job failed")

    # --- INVITE handling -----------------------------------------------------------
    def _incoming(self, acc: pj.Account, prm: pj.OnIncomingCallParam) -> None:
        raw = prm.rdata.wholeMsg
        src = prm.rdata.srcAddress
        call = _Call(acc, prm.callId, self, src)
        self._calls[prm.callId] = call
        # Final refusals wait until this callback has returned: pjsua2 frees its clone of
        # the request right after it, and a call already reset by then aborts the process.
        try:
            self._admit(call, raw, src)
        except Refusal as r:
            call.accepted = False
            status, why, hdrs = r.status, r.reason, r.headers
            self._jobs.put(lambda: self._refuse(call, status, why, hdrs))
        except Exception as exc:  # never let one odd INVITE take the endpoint down
            _log_error(f"INVITE from {src}: unexpected error")
            call.accepted = False
            reason = f"internal error: {type(exc).__name__}"
            self._jobs.put(lambda: self._refuse(call, 500, reason))

    def _admit(self, call: _Call, raw: str, src: str) -> None:
        msg = parse_message(raw)
        host = src.rsplit(":", 1)[0].strip("[]")
        via = (msg.header("via") or "").upper()
        transport = "tcp" if "/TCP" in via else "udp"
        trunk = match_trunk(self.trunks, host, transport)
        if trunk is None:
            raise Refusal(403, f"source {host} ({transport}) is not allowed by any trunk")
        call.trunk = trunk
        if trunk.auth:
            self._authenticate(msg, trunk, host)
            log.info("INVITE from %s: digest user %s accepted on trunk %s", src, trunk.username,
                     trunk.name)  # fmt: skip
        if self.active_calls() >= self.settings.max_calls:
            raise Refusal(486, f"tap capacity reached ({self.settings.max_calls} calls)")
        if trunk.mode == "siprec":
            call.plan = plan(msg, trunk, len(raw.encode("utf-8", "surrogateescape")))
            call.roles = {s.index: s.role for s in call.plan.streams}
        else:
            call.leg = leg_from(msg, trunk)
            self._pairer(trunk).offer(call.leg, time.monotonic())
            call.roles = {self._first_audio(msg): call.leg.role}
        call.accepted = True
        # Answer every offered m=audio (the default of 1 refuses SIPREC's second stream).
        n_audio = max(len(call.roles), sum(1 for m in parse_sdp(self._sdp_of(msg))
                                           if m.kind == "audio"))  # fmt: skip
        self._answer(call, 180, audio=n_audio)
        due = time.monotonic() + self.settings.answer_delay
        self._later.append((due, lambda: self._answer_ok(call, n_audio)))
        log.info("INVITE from %s on trunk %s (%s): %s", src, trunk.name, trunk.mode,
                 self._describe(call))  # fmt: skip

    def _authenticate(self, msg: Any, trunk: Trunk, host: str) -> None:
        """Let the INVITE through, or raise the 401/403/400 to answer it with."""
        assert trunk.username is not None and trunk.password is not None
        method, _, rest = msg.start.partition(" ")
        verdict = digest.authenticate(
            msg.all("authorization"), method=method, request_uri=rest.rsplit(" ", 1)[0],
            username=trunk.username, password=trunk.password, realm=trunk.realm,
            secret=self._nonce_key, now=time.time(), scope=host)  # fmt: skip
        if not verdict.ok:
            extra: tuple[tuple[str, str], ...] = ()
            if verdict.www_authenticate:
                extra = (("WWW-Authenticate", verdict.www_authenticate),)
            raise Refusal(verdict.status, verdict.reason, extra)

    @staticmethod
    def _sdp_of(msg: Any) -> bytes:
        from sip.siprec import split_multipart

        ctype = msg.header("content-type") or ""
        if ctype.lower().startswith("multipart/"):
            for headers, content in split_multipart(ctype, msg.body):
                if headers.get("content-type", "").lower().startswith("application/sdp"):
                    return content
            return b""
        return msg.body

    def _first_audio(self, msg: Any) -> int:
        audio = [m for m in parse_sdp(self._sdp_of(msg)) if m.kind == "audio" and m.port]
        if not audio:
            raise Refusal(488, "no audio stream in the offer")
        return audio[0].index

    def _describe(self, call: _Call) -> str:
        if call.plan is not None:
            return (f"{call.plan.basis}: "
                    + ", ".join(f"m{s.index}={s.role} {mask(s.aor) or ''}".rstrip()
                                for s in call.plan.streams)
                    + f", agent {call.plan.agent}")  # fmt: skip
        if call.leg is not None:
            return f"leg {call.leg.role} of {call.leg.key}, agent {call.leg.agent}"
        return "-"

    def _answer(self, call: _Call, status: int, reason: str | None = None, audio: int = 1,
                headers: tuple[tuple[str, str], ...] = ()) -> None:  # fmt: skip
        """Provisional/200 answers; final refusals go through hangup() (see _refuse)."""
        op = pj.CallOpParam(True)
        op.statusCode = status
        op.opt.audioCount = audio
        op.opt.videoCount = 0
        if reason:
            op.reason = _REASONS.get(status, "Refused")
            hdr = pj.SipHeader()
            hdr.hName = "Warning"
            hdr.hValue = '399 assist "' + reason.replace('"', "'")[:200] + '"'
            op.txOption.headers.append(hdr)
        for name, value in headers:
            hdr = pj.SipHeader()
            hdr.hName = name
            hdr.hValue = value
            op.txOption.headers.append(hdr)
        call.answer(op)

    def _answer_ok(self, call: _Call, audio: int) -> None:
        if self._calls.get(call.pj_id) is not call:
            return  # cancelled meanwhile
        try:
            if call.getInfo().state >= pj.PJSIP_INV_STATE_CONFIRMED:
                return
            self._answer(call, 200, audio=audio)
        except pj.Error as exc:  # e.g. CANCEL won the race
            log.info("call %d not answered: %s", call.pj_id, exc.info())

    def _refuse(self, call: _Call, status: int, reason: str,
                headers: tuple[tuple[str, str], ...] = ()) -> None:  # fmt: skip
        if self._calls.get(call.pj_id) is not call:
            return  # gone meanwhile (CANCEL)
        self.refused[status] = self.refused.get(status, 0) + 1
        call.accepted = False
        # A first INVITE challenged with 401 is the normal digest round trip, not a fault.
        level = logging.INFO if status == 401 else logging.WARNING
        log.log(level, "refused INVITE from %s (trunk %s): %d %s", call.src,
                call.trunk.name if call.trunk else "-", status, reason)  # fmt: skip
        try:
            self._answer(call, status, reason, headers=headers)
        except pj.Error as exc:
            log.warning("could not send %d: %s", status, exc.info())

    def _pairer(self, trunk: Trunk) -> Pairer:
        return self._pairers.setdefault(trunk.name, Pairer(trunk.pair_timeout))

    # --- call state --------------------------------------------------------------
    def _state(self, call: _Call) -> None:
        info = call.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and call.accepted and call.tap_id is None:
            self._confirmed(call)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            reason = "hangup" if info.lastStatusCode in (200, 0) else f"sip {info.lastStatusCode}"
            if call.tap_id is None and call.accepted:
                reason = "cancelled"
            self._teardown(call, reason)

    def _confirmed(self, call: _Call) -> None:
        trunk = call.trunk
        assert trunk is not None  # set before answering
        if call.plan is not None:
            tap_id = "sip-" + uuid.uuid4().hex[:12]
            call.tap_id = tap_id
            self._tap_legs[tap_id] = [call]
            meta = {"trunk": trunk.name, "mode": "siprec", "basis": call.plan.basis,
                    "parties": {s.role: mask(s.aor) for s in call.plan.streams},
                    "recording_session": call.plan.session,
                    "rtp": self._rtp_ports(call)}  # fmt: skip
            self._start_tap(tap_id, call.plan.agent, trunk, meta, [call])
        elif call.leg is not None:
            for action in self._pairer(trunk).answered(call.leg, call.pj_id, time.monotonic()):
                self._apply(trunk, action)

    @staticmethod
    def _rtp_ports(call: _Call) -> dict[str, str]:
        """Where each party's RTP arrives (for firewall rules and debugging)."""
        out = {}
        for index, role in call.roles.items():
            try:
                out[role] = call.getMedTransportInfo(index).localRtpName
            except pj.Error:
                pass
        return out

    def _start_tap(self, tap_id: str, agent: str | None, trunk: Trunk, meta: dict[str, Any],
                   calls: list[_Call]) -> None:  # fmt: skip
        rate = self.settings.clock_rate
        self._tap_started[tap_id] = time.monotonic()
        self.loop.call_soon_threadsafe(self._loop_start, tap_id, agent, rate, trunk.language, meta)
        for c in calls:
            c.tap_id = tap_id
            for port in c.ports.values():
                port.begin(tap_id, 0)
        log.info("call %s started: agent %s, trunk %s", tap_id, agent, trunk.name)

    def _apply(self, trunk: Trunk, action: Start | Join | End) -> None:
        pair = (trunk.name, action.key)
        tap_id: str | None
        if isinstance(action, Start):
            calls = [self._calls[leg_id] for _, leg_id in action.legs if leg_id in self._calls]
            tap_id = "sip-" + uuid.uuid4().hex[:12]
            self._pair_tap[pair] = tap_id
            self._tap_legs[tap_id] = calls
            rtp = {k: v for c in calls for k, v in self._rtp_ports(c).items()}
            meta = {"trunk": trunk.name, "mode": "forked", "pair": mask(action.key),
                    "legs": [role for role, _ in action.legs], "rtp": rtp}  # fmt: skip
            self._start_tap(tap_id, action.agent, trunk, meta, calls)
        elif isinstance(action, Join):
            call = self._calls.get(action.leg)
            tap_id = self._pair_tap.get(pair)
            if call is None or tap_id is None:
                return
            self._tap_legs[tap_id].append(call)
            call.tap_id = tap_id
            # A late leg starts at the call time it joined, on a frame boundary.
            elapsed = action.at - self._tap_started.get(tap_id, action.at)
            frame = self.settings.clock_rate // 50
            for port in call.ports.values():
                port.begin(tap_id, int(elapsed * self.settings.clock_rate) // frame * frame)
            log.info("call %s: %s leg joined late", tap_id, action.role)
        else:
            tap_id = self._pair_tap.pop(pair, None)
            if tap_id is not None:
                self._end_tap(tap_id, action.reason)

    def _end_tap(self, tap_id: str, reason: str) -> None:
        self._tap_legs.pop(tap_id, None)
        self._tap_started.pop(tap_id, None)
        self.loop.call_soon_threadsafe(self._loop_end, tap_id, reason)
        log.info("call %s ended: %s", tap_id, reason)

    def _media(self, call: _Call) -> None:
        """(Re)connect each tapped stream to its port; notice hold and resume."""
        live = []
        info = call.getInfo()  # keep it: .media points into it
        for mi in info.media:
            role = call.roles.get(mi.index)
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or role is None:
                continue
            # sendonly streams report REMOTE_HOLD; hold (a=inactive) shows only as no DECODING
            if (mi.dir & pj.PJMEDIA_DIR_DECODING and mi.audioConfSlot >= 0 and mi.status in
                    (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)):  # fmt: skip
                live.append((mi.index, role, mi.audioConfSlot))
        held = not live
        if held and not call.held:
            call.held_at = time.monotonic()
            for port in call.ports.values():
                port.slot = -1
            if call.tap_id is not None:
                log.info("call %s on hold", call.tap_id)
        elif not held and call.held and call.held_at is not None:
            # Call time keeps running through the hold: skip the counters ahead, equally
            # for every party, before the streams are reconnected.
            frame = self.settings.clock_rate // 50
            gap = int((time.monotonic() - call.held_at) * self.settings.clock_rate) // frame
            for port in call.ports.values():
                port.samples += gap * frame
            if call.tap_id is not None:
                log.info("call %s resumed after %.1f s", call.tap_id, gap / 50)
        call.held = held
        for index, role, slot in live:
            tap = call.ports.get(role)
            if tap is None:
                tap = TapPort(self.loop, self._deliver, role, self.settings.clock_rate)
                call.ports[role] = tap
                if call.tap_id is not None:  # a stream added after the start
                    tap.begin(call.tap_id, 0)
            if tap.slot != slot:
                call.getAudioMedia(index).startTransmit(tap)
                tap.slot = slot

    def _teardown(self, call: _Call, reason: str) -> None:
        """Stop and delete the ports and the Call now, on this registered thread."""
        self._calls.pop(call.pj_id, None)
        for port in call.ports.values():
            port.stop()
        call.ports.clear()
        tap_id = call.tap_id
        if call.plan is not None and tap_id is not None:
            self._end_tap(tap_id, reason)
        elif call.leg is not None and call.trunk is not None:
            leg_id = call.pj_id if call.tap_id is not None or call.accepted else None
            for action in self._pairer(call.trunk).gone(call.leg, leg_id, reason):
                self._apply(call.trunk, action)

    def _tick_pairers(self) -> None:
        now = time.monotonic()
        for name, pairer in self._pairers.items():
            trunk = next(t for t in self.trunks if t.name == name)
            for action in pairer.tick(now):
                self._apply(trunk, action)

    # --- the asyncio loop side -------------------------------------------------------
    def _loop_start(self, tap_id: str, agent: str | None, rate: int, language: str | None,
                    meta: dict[str, Any]) -> None:  # fmt: skip
        self._live.add(tap_id)
        self.sink.start_call(tap_id, agent=agent, rate=rate, language=language, source="sip",
                             meta=meta)  # fmt: skip

    def _loop_end(self, tap_id: str, reason: str) -> None:
        if tap_id in self._live:
            self._live.discard(tap_id)
            self.sink.end_call(tap_id, reason)

    def _deliver(self, tap_id: str, party: str, data: bytes, start: int, arrival: float) -> None:
        if tap_id in self._live:
            self.sink.feed(tap_id, make_frame(party, data, start, self.settings.clock_rate,
                                              arrival))  # fmt: skip


def _log_error(what: str) -> None:
    """Log the traceback as text: a kept exc_info would keep pjsua2 objects alive, and
    their destructors must never run on a thread pjlib does not know."""
    log.error("%s\n%s", what, traceback.format_exc())


def _support_siprec() -> None:
    """Add `siprec` to Supported, or pjsip answers `Require: siprec` with 420."""
    lib = ctypes.CDLL(pj._pjsua2.__file__)
    lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p

    class PjStr(ctypes.Structure):
        _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]

    global _SIPREC_TAG  # pjsip keeps the pointer
    _SIPREC_TAG = (PjStr * 1)(PjStr(b"siprec", 6))
    ptr = ctypes.c_void_p
    lib.pjsip_endpt_add_capability.argtypes = [ptr, ptr, ctypes.c_int, ptr, ctypes.c_uint, ptr]
    status = lib.pjsip_endpt_add_capability(lib.pjsua_get_pjsip_endpt(), None,
                                            pj.PJSIP_H_SUPPORTED, None, 1, _SIPREC_TAG)  # fmt: skip
    if status != 0:
        raise RuntimeError(f"cannot add siprec to Supported (pj status {status})")


_SIPREC_TAG: Any = None
