"""A pjsip module, through ctypes, that sees each request before pjsua does.

It runs on the SIP thread inside `libHandleEvents`, after pjsip parsed the
message and before the transaction layer.  One job: give pjsua a multipart
body it can read.  pjsip's parser finds no SDP in a multipart body without a
close delimiter (Cisco CUBE, Sonus, SEMS send such), so pjsua would answer 200
with an offer of its own, the SIPREC client's ACK carries none, and no media is
ever set up.  The module replaces the parsed body with `canonical_multipart`'s
rewrite, parsed again by pjsip into the request's own pool.

The struct layouts read here (pjsip 2.15, LP64) are checked once against the
first request at run time; on a mismatch the module stops rewriting and says so.
"""

from __future__ import annotations

import ctypes
import logging
import re
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from sip.message import REASONS, canonical_multipart

log = logging.getLogger("assist.sip")

_P = ctypes.c_void_p
_RX = ctypes.CFUNCTYPE(ctypes.c_int, _P)
_INET6_ADDRSTRLEN = 46  # pkt_info.src_name's size; src_port (int) follows it
_PRIORITY = 8  # PJSIP_MOD_PRIORITY_TRANSPORT_LAYER: before transactions and pjsua


class PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


class PjsipModule(ctypes.Structure):
    _fields_ = [("prev", _P), ("next", _P), ("name", PjStr), ("id", ctypes.c_int),
                ("priority", ctypes.c_int), ("load", _P), ("start", _P), ("stop", _P),
                ("unload", _P), ("on_rx_request", _RX), ("on_rx_response", _P),
                ("on_tx_request", _P), ("on_tx_response", _P), ("on_tsx_state", _P)]  # fmt: skip


# Offsets in pjsip_msg: type, request/status line (32 bytes), header list (64), body.
_MSG_BODY = 104
_HDR_NAME = 24  # pjsip_hdr: prev, next, type, name
_CTYPE_MEDIA = 64  # pjsip_ctype_hdr: the pjsip_hdr members, then pjsip_media_type
_PJSIP_H_CONTENT_TYPE = pj.PJSIP_H_CONTENT_TYPE


Screen = Callable[[bytes, str], "tuple[int, str, tuple[tuple[str, str], ...]] | None"]


class RxHook:
    """`screen(raw, source)` sees each initial INVITE first: a (status, reason,
    headers) it returns is sent at once, statelessly, and pjsua never sees the
    request; so every refusal carries our Warning and its true reason."""

    def __init__(self, screen: Screen | None = None) -> None:
        self.lib = ctypes.CDLL(pj._pjsua2.__file__)
        lib = self.lib
        lib.pjsua_get_pjsip_endpt.restype = _P
        lib.pjsip_endpt_register_module.argtypes = [_P, _P]
        lib.pjsip_msg_find_hdr.restype = _P
        lib.pjsip_msg_find_hdr.argtypes = [_P, ctypes.c_int, _P]
        lib.pj_pool_alloc.restype = _P
        lib.pj_pool_alloc.argtypes = [_P, ctypes.c_size_t]
        lib.pjsip_multipart_parse.restype = _P
        lib.pjsip_multipart_parse.argtypes = [_P, _P, ctypes.c_size_t, _P, ctypes.c_uint]
        lib.pjsip_generic_string_hdr_create.restype = _P
        lib.pjsip_generic_string_hdr_create.argtypes = [_P, _P, _P]
        lib.pjsip_endpt_respond_stateless.argtypes = [_P, _P, ctypes.c_int, _P, _P, _P]
        self.screen = screen
        self.screened = 0
        self._cb = _RX(self._on_rx_request)  # kept: pjsip holds the pointers
        self._name = b"mod-assist-rx"
        self.module = PjsipModule(name=PjStr(self._name, len(self._name)), id=-1,
                                  priority=_PRIORITY, on_rx_request=self._cb)  # fmt: skip
        self._msg_offset: int | None = None  # of msg_info.msg in pjsip_rx_data
        self._src_offset: int | None = None  # of pkt_info.src_name
        self.broken: str | None = None
        self.repaired = 0

    def install(self) -> None:
        status = self.lib.pjsip_endpt_register_module(self.lib.pjsua_get_pjsip_endpt(),
                                                      ctypes.byref(self.module))  # fmt: skip
        if status != 0:
            raise RuntimeError(f"cannot register the SIP receive module (pj status {status})")

    def _on_rx_request(self, rdata: int) -> int:
        try:
            if self.broken is None:
                return self._screen(rdata) or self._rewrite(rdata)
        except Exception as exc:  # never let one request take the endpoint down
            log.error("SIP receive module: %s: %s", type(exc).__name__, exc)
        return 0  # not consumed: pjsua goes on as usual

    def _raw(self, rdata: int) -> bytes:
        if self._msg_offset is None:
            return b""
        buf = ctypes.c_void_p.from_address(rdata + self._msg_offset - 16).value  # msg_buf
        size = ctypes.c_int.from_address(rdata + self._msg_offset - 8).value
        return ctypes.string_at(buf, size) if buf and size > 0 else b""

    def _screen(self, rdata: int) -> int:
        if self.screen is None or not self._msg(rdata):  # finds the offsets on the first
            return 0
        src = self._src_offset
        if src is None:
            return 0
        raw = self._raw(rdata)
        head = raw.partition(b"\r\n\r\n")[0]
        if not raw.startswith(b"INVITE ") or b";tag=" in (_header(head, b"to", b"t") or b""):
            return 0  # only a new dialog's INVITE; re-INVITEs belong to their call
        name = ctypes.string_at(rdata + src).decode("ascii", "replace")
        port = ctypes.c_int.from_address(rdata + src + _INET6_ADDRSTRLEN + 2).value
        verdict = self.screen(raw, f"{name}:{port}")
        if verdict is None:
            return 0
        self._respond(rdata, *verdict)
        self.screened += 1
        return 1  # consumed: answered here

    def _respond(self, rdata: int, status: int, reason: str,
                 headers: tuple[tuple[str, str], ...]) -> None:  # fmt: skip
        pool = ctypes.c_void_p.from_address(rdata).value  # tp_info.pool
        head = self.lib.pj_pool_alloc(pool, 64)  # a pjsip_hdr as the list head
        ctypes.c_void_p.from_address(head).value = head
        ctypes.c_void_p.from_address(head + 8).value = head
        keep = []
        for name, value in headers:
            n, v = name.encode(), value.encode("utf-8", "replace")
            pn, pv = PjStr(n, len(n)), PjStr(v, len(v))
            keep += [pn, pv]
            hdr = self.lib.pjsip_generic_string_hdr_create(pool, ctypes.byref(pn),
                                                           ctypes.byref(pv))  # fmt: skip
            last = ctypes.c_void_p.from_address(head).value or head
            ctypes.c_void_p.from_address(hdr).value = last  # hdr.prev
            ctypes.c_void_p.from_address(hdr + 8).value = head  # hdr.next
            ctypes.c_void_p.from_address(last + 8).value = hdr
            ctypes.c_void_p.from_address(head).value = hdr
        text = REASONS.get(status, "Refused").encode()
        st = PjStr(text, len(text))
        self.lib.pjsip_endpt_respond_stateless(self.lib.pjsua_get_pjsip_endpt(), rdata, status,
                                               ctypes.byref(st), head, None)  # fmt: skip

    def _msg(self, rdata: int) -> int | None:
        """pjsip_rx_data.msg_info.msg, found once by its msg_buf pointer at the packet."""
        if self._msg_offset is None:
            self._msg_offset, self._src_offset = _find_offsets(rdata)
            if self._msg_offset is None:
                self.broken = "pjsip_rx_data layout not recognised"
                log.error("SIP receive module off: %s; multipart bodies go to pjsip as sent",
                          self.broken)  # fmt: skip
                return None
        return ctypes.c_void_p.from_address(rdata + self._msg_offset).value

    def _rewrite(self, rdata: int) -> int:
        msg = self._msg(rdata)
        if not msg:
            return 0
        ctype = self.lib.pjsip_msg_find_hdr(msg, _PJSIP_H_CONTENT_TYPE, None)
        if not ctype:
            return 0
        media = ctype + _CTYPE_MEDIA
        ptype, subtype = _pjstr(media), _pjstr(media + 16)
        if ptype.lower() != b"multipart":
            return 0
        head, sep, body = self._raw(rdata).partition(b"\r\n\r\n")
        if not sep:
            return 0
        content_type = _header(head, b"content-type", b"c") or b"multipart/" + subtype
        fixed = canonical_multipart(content_type.decode("latin-1"), body)
        if fixed is None:
            return 0
        pool = ctypes.c_void_p.from_address(rdata).value  # tp_info.pool
        copy = self.lib.pj_pool_alloc(pool, len(fixed))
        ctypes.memmove(copy, fixed, len(fixed))
        parsed = self.lib.pjsip_multipart_parse(pool, copy, len(fixed), media, 0)
        if parsed:
            ctypes.c_void_p.from_address(msg + _MSG_BODY).value = parsed
            self.repaired += 1
        return 0


def _pjstr(addr: int) -> bytes:
    s = PjStr.from_address(addr)
    return ctypes.string_at(s.ptr, s.slen) if s.ptr and 0 < s.slen < 4096 else b""


def _header(head: bytes, name: bytes, compact: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() in (name, compact):
            return value.strip()
    return None


def _find_offsets(rdata: int) -> tuple[int | None, int | None]:
    """msg_info.msg (after msg_buf, the first pointer past the packet that points at
    it) and pkt_info.src_name (the address text between the two)."""
    base = ctypes.string_at(rdata, 1024)
    found = re.search(rb"(INVITE|OPTIONS|BYE|ACK|CANCEL|REGISTER|INFO|UPDATE) ", base)
    if not found:
        return None, None
    start = found.start()
    target = rdata + start
    for off in range(start, start + 8192, 8):
        if ctypes.c_void_p.from_address(rdata + off).value == target:
            break
    else:
        return None, None
    tail = ctypes.string_at(rdata + start + 3990, off - start - 3990)
    src = None
    for addr in re.finditer(rb"(?<=\x00)[0-9a-fA-F.:]{3,45}\x00", tail):
        at = start + 3990 + addr.start()
        if at % 4 == 0 and ctypes.c_int.from_address(rdata + at - 4).value in (16, 28):
            src = at  # src_addr_len (sockaddr_in or _in6) comes just before it
            break
    return off + 16, src  # msg_buf, len (an int, padded), then msg


_keep: list[Any] = []
