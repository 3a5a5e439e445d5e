"""RTP source latching: each tapped stream takes RTP from one source only.

pjmedia accepts RTP from any source on a stream's port, and after a few packets
from a new source it switches to it: a stranger spraying RTP at a live call's
ports took over that call's audio.  The wheel has no option against it, so the
tap latches in the kernel: once a stream's first packet from an acceptable
source has come, a socket filter (classic BPF) on its RTP socket passes only
datagrams from that address and port; the kernel drops every other sender's
before pjmedia sees them.  (Not `connect()`: that would also pin the socket's
local address, and RTP sent to another of the host's addresses would be lost.)

Acceptable: a source on the host the stream's SDP names (c=/m=; SBCs often send
from another port than the one they offer); any source if the SDP names no
usable address (0.0.0.0), or if nothing came from the named host within
`NAT_GRACE` seconds of the first packet (the sender is behind NAT).

SIP thread only.  The socket is found by its local port through /proc (pjsua2
does not expose it), and its filter removed when the call ends.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("assist.sip")

NAT_GRACE = 2.0  # seconds of packets from elsewhere before the SDP's host is given up
_libc = ctypes.CDLL(None, use_errno=True)


def host_port(addr: str) -> tuple[str, int]:
    """'1.2.3.4:5' or '[::1]:5' -> ('1.2.3.4', 5); ('', 0) if it is neither."""
    host, _, port = addr.rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() and host else ("", 0)


def usable(host: str) -> bool:
    try:
        return not ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def pick(remote: str, seen: str, waited: float) -> str | None:
    """Why to latch to `seen` (the last packet's source), or None to wait.
    `remote`: the address the stream's SDP names; `waited`: seconds since the
    stream's first packet."""
    rhost, shost = host_port(remote)[0], host_port(seen)[0]
    if not shost:
        return None
    if not usable(rhost):
        return "the SDP names no address: first source"
    try:
        if ipaddress.ip_address(shost) == ipaddress.ip_address(rhost):
            return "the SDP's host"
    except ValueError:
        return None
    if waited >= NAT_GRACE:
        return f"nothing from the SDP's {rhost} in {NAT_GRACE:.0f} s (NAT): first source"
    return None


@dataclass(slots=True)
class Latch:
    """One stream: when its first packet was seen, and the socket once latched."""

    first: float | None = None
    source: str | None = None
    fd: int = -1
    inode: int = 0


def latch(local_port: int, source: str) -> Latch | None:
    """Filter the process's UDP socket on `local_port` to datagrams from `source`;
    None if there is no such IPv4 socket or the kernel refuses."""
    host, port = host_port(source)
    found = _socket_on(local_port)
    if found is None or not host or ipaddress.ip_address(host).version != 4:
        return None
    fd, inode = found
    if _setsockopt(fd, _SO_ATTACH_FILTER, _only_from(host, port)) != 0:
        return None
    return Latch(source=source, fd=fd, inode=inode)


def unlatch(done: Latch) -> None:
    """Let the socket take any source again (it may serve a later call)."""
    if done.fd < 0 or _inode(done.fd) != done.inode:
        return  # closed with its call, or the number now names another file
    _setsockopt(done.fd, _SO_DETACH_FILTER, bytes(4))


_SO_ATTACH_FILTER, _SO_DETACH_FILTER = 26, 27
_SKF_NET_OFF = -0x100000  # classic BPF: offsets from the IP header (data is the UDP header)
_LD_W_ABS, _LD_H_ABS, _JEQ_K, _RET_K = 0x20, 0x28, 0x15, 0x06


def _only_from(host: str, port: int) -> bytes:
    """A struct sock_fprog passing IPv4 datagrams from host:port only."""
    ip = int.from_bytes(socket.inet_aton(host), "big")
    code = [(_LD_W_ABS, 0, 0, (_SKF_NET_OFF + 12) & 0xFFFFFFFF),  # IPv4 source address
            (_JEQ_K, 0, 3, ip),
            (_LD_H_ABS, 0, 0, 0),  # UDP source port
            (_JEQ_K, 0, 1, port),
            (_RET_K, 0, 0, 0xFFFFFFFF),  # pass whole
            (_RET_K, 0, 0, 0)]  # fmt: skip
    insns = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *c) for c in code))
    _keep.append(insns)  # the kernel copies it, but only during the call below
    return struct.pack("=HxxxxxxQ", len(code), ctypes.addressof(insns))


def _setsockopt(fd: int, opt: int, value: bytes) -> int:
    buf = ctypes.create_string_buffer(value, len(value))
    try:
        if _libc.setsockopt(fd, socket.SOL_SOCKET, opt, buf, len(value)) == 0:
            return 0
        err = ctypes.get_errno()
    finally:
        _keep.clear()
    log.warning("RTP socket %d: socket filter not set: %s", fd, os.strerror(err))
    return err


_keep: list[ctypes.Array[ctypes.c_char]] = []


def _inode(fd: int) -> int:
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return 0
    return int(link[8:-1]) if link.startswith("socket:[") else 0


def _socket_on(local_port: int) -> tuple[int, int] | None:
    """(fd, inode) of this process's IPv4 UDP socket bound to `local_port`."""
    try:
        lines = Path("/proc/self/net/udp").read_text().splitlines()[1:]
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    bound = {int(f[9]) for f in (ln.split() for ln in lines)
             if len(f) > 9 and int(f[1].rsplit(":", 1)[1], 16) == local_port}  # fmt: skip
    for name in fds:
        inode = _inode(int(name))
        if inode and inode in bound:
            return int(name), inode
    return None
