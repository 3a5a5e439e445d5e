"""pjsip's stream receive callbacks, through ctypes: oversized messages on TCP.

pjsip (2.15) calls the transport manager's receive-data callback on a stream
transport each time before it looks for a message in the bytes it holds; the
callback may lower the length to remove bytes at the front.  `StreamGuard`
decides how many: a message over 4000 bytes is removed whole (its tail arrives
in later reads), answered 513 with a Warning on the same connection, and the
next message on that connection is parsed as usual.  pjsip's drop callback
reports the line ends it skips itself, which may belong to the skipped body.

Runs on the SIP thread, inside `libHandleEvents`.  The pjsip_transport fields
read here (pjsip 2.15, LP64) are checked before a response is sent.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
from collections.abc import Callable

import pjsua2 as pj

from sip.oversize import Dropped, StreamGuard, TooLarge, response

log = logging.getLogger("assist.sip")

_P = ctypes.c_void_p
_RECV = ctypes.CFUNCTYPE(ctypes.c_int, _P)  # pjsip_tp_on_rx_data_cb
_DROP = ctypes.CFUNCTYPE(None, _P)  # pjsip_tp_on_rx_dropped_cb
_STATE = ctypes.CFUNCTYPE(None, _P, ctypes.c_int, _P)  # pjsip_tp_state_callback
_PJ_EIGNORED = 70013  # pjsip reports line ends it skipped before a message with this
_TPSELECTOR_TRANSPORT = 1
# pjsip_transport: key.type (long) at 80, key.rem_addr at 88, flag at 128, addr_len at 144
_KEY_TYPE, _REM_ADDR, _FLAG, _ADDR_LEN = 80, 88, 128, 144
_STREAM_TYPES = (pj.PJSIP_TRANSPORT_TCP, pj.PJSIP_TRANSPORT_TCP6)


class _RxData(ctypes.Structure):  # pjsip_tp_rx_data and pjsip_tp_dropped_data begin alike
    _fields_ = [("tp", _P), ("data", _P), ("len", ctypes.c_size_t), ("status", ctypes.c_int)]


Verdict = tuple[int, str, tuple[tuple[str, str], ...]]
Judge = Callable[[Dropped, str], Verdict]


class TcpHook:
    """`judge(dropped, source)` gives the status, reason and headers to answer an
    oversized request with."""

    def __init__(self, judge: Judge) -> None:
        self.lib = lib = ctypes.CDLL(pj._pjsua2.__file__)
        lib.pjsua_get_pjsip_endpt.restype = _P
        lib.pjsip_endpt_get_tpmgr.restype = _P
        lib.pjsip_endpt_get_tpmgr.argtypes = [_P]
        lib.pjsip_tpmgr_set_recv_data_cb.argtypes = [_P, _P]
        lib.pjsip_tpmgr_set_drop_data_cb.argtypes = [_P, _P]
        lib.pjsip_tpmgr_send_raw.argtypes = [_P, ctypes.c_int, _P, _P, _P, ctypes.c_size_t,
                                             _P, ctypes.c_int, _P, _P]  # fmt: skip
        lib.pjsip_transport_shutdown.argtypes = [_P]
        lib.pjsip_transport_add_state_listener.argtypes = [_P, _P, _P, _P]
        self.judge = judge
        self.guards: dict[int, StreamGuard] = {}  # by pjsip_transport address
        self.answered = 0
        self._recv, self._drop = _RECV(self._on_recv), _DROP(self._on_drop)  # pjsip holds them
        self._state = _STATE(self._on_state)
        self._mgr: int | None = None

    def install(self) -> None:
        self._mgr = self.lib.pjsip_endpt_get_tpmgr(self.lib.pjsua_get_pjsip_endpt())
        for setter, cb in ((self.lib.pjsip_tpmgr_set_recv_data_cb, self._recv),
                           (self.lib.pjsip_tpmgr_set_drop_data_cb, self._drop)):  # fmt: skip
            status = setter(self._mgr, ctypes.cast(cb, _P))
            if status != 0:
                raise RuntimeError(f"cannot set a SIP transport callback (pj status {status})")

    # --- pjsip callbacks (SIP thread) ------------------------------------------------
    def _on_recv(self, ptr: int) -> int:
        try:
            rd = _RxData.from_address(ptr)
            tp = rd.tp or 0
            guard = self.guards.get(tp)
            if guard is None:
                guard = StreamGuard()
            try:
                n, dropped = guard.take(ctypes.string_at(rd.data, rd.len))
            except TooLarge as exc:
                log.warning("closing SIP connection from %s: %s", _remote(tp), exc)
                self.guards.pop(tp, None)
                self.lib.pjsip_transport_shutdown(tp)
                rd.len = 0
                return 0
            if guard.busy and tp not in self.guards:
                self._watch(tp, guard)
            elif not guard.busy:
                self.guards.pop(tp, None)
            if dropped is not None:
                self._answer(tp, dropped)
            rd.len -= n
        except Exception as exc:  # never let one connection take the endpoint down
            log.error("SIP stream hook: %s: %s", type(exc).__name__, exc)
        return 0

    def _on_drop(self, ptr: int) -> None:
        try:
            dd = _RxData.from_address(ptr)
            guard = self.guards.get(dd.tp or 0)
            if guard is not None and dd.status == _PJ_EIGNORED:
                guard.dropped_by_pjsip(ctypes.string_at(dd.data, dd.len))
        except Exception as exc:
            log.error("SIP stream hook: %s: %s", type(exc).__name__, exc)

    def _on_state(self, tp: int, state: int, info: int) -> None:
        if state in (pj.PJSIP_TP_STATE_DISCONNECTED, pj.PJSIP_TP_STATE_DESTROY):
            self.guards.pop(tp, None)  # a later transport may get the same address

    # --- helpers ---------------------------------------------------------------------
    def _watch(self, tp: int, guard: StreamGuard) -> None:
        self.guards[tp] = guard
        key = _P()
        self.lib.pjsip_transport_add_state_listener(tp, ctypes.cast(self._state, _P), None,
                                                    ctypes.byref(key))  # fmt: skip

    def _answer(self, tp: int, dropped: Dropped) -> None:
        src = _remote(tp)
        status, reason, headers = self.judge(dropped, src)
        text = response(dropped.head, status, reason, headers)
        if text is None:
            return  # a response or an ACK: nothing to answer
        if not _layout_ok(tp):
            log.error("SIP stream hook: pjsip_transport layout not recognised; %d not sent "
                      "to %s", status, src)  # fmt: skip
            return
        sel = (ctypes.c_byte * 64)()
        ctypes.c_int.from_buffer(sel).value = _TPSELECTOR_TRANSPORT
        ctypes.c_void_p.from_buffer(sel, 8).value = tp
        kind = ctypes.c_long.from_address(tp + _KEY_TYPE).value
        addr_len = ctypes.c_int.from_address(tp + _ADDR_LEN).value
        sent = self.lib.pjsip_tpmgr_send_raw(self._mgr, kind, sel, None, text, len(text),
                                             tp + _REM_ADDR, addr_len, None, None)  # fmt: skip
        if sent not in (0, 70002):  # PJ_SUCCESS, PJ_EPENDING
            log.warning("could not send %d to %s (pj status %d)", status, src, sent)
        else:
            self.answered += 1


def _layout_ok(tp: int) -> bool:
    kind = ctypes.c_long.from_address(tp + _KEY_TYPE).value
    flag = ctypes.c_uint.from_address(tp + _FLAG).value
    addr_len = ctypes.c_int.from_address(tp + _ADDR_LEN).value
    family = ctypes.c_uint16.from_address(tp + _REM_ADDR).value
    return kind in _STREAM_TYPES and flag & 1 == 1 and (addr_len, family) in ((16, 2), (28, 10))


def _remote(tp: int) -> str:
    """ADDRESS:PORT of the peer, read from the transport's key."""
    if not tp or not _layout_ok(tp):
        return "?"
    raw = ctypes.string_at(tp + _REM_ADDR, 28)
    port = int.from_bytes(raw[2:4], "big")
    if int.from_bytes(raw[:2], "little") == 2:
        return ".".join(str(b) for b in raw[4:8]) + f":{port}"
    return f"[{ipaddress.IPv6Address(raw[8:24])}]:{port}"
