"""RTP source latching on its own: which source a stream is latched to, and the
kernel filter on a real socket of this process."""

from __future__ import annotations

import socket

import pytest

from sip.latch import NAT_GRACE, latch, pick, unlatch


@pytest.mark.parametrize(("remote", "seen", "waited", "latched"), [
    ("10.0.0.5:4000", "10.0.0.5:4000", 0.0, True),  # the SDP's address and port
    ("10.0.0.5:4000", "10.0.0.5:31000", 0.0, True),  # its host, another port (asymmetric)
    ("10.0.0.5:4000", "10.0.0.9:4000", 0.0, False),  # another host: wait for the SDP's
    ("10.0.0.5:4000", "10.0.0.9:4000", NAT_GRACE, True),  # nothing from it: NAT
    ("0.0.0.0:4000", "10.0.0.9:4000", 0.0, True),  # no usable address: first source
    ("[::]:4000", "10.0.0.9:4000", 0.0, True),
    ("10.0.0.5:4000", "", 5.0, False),  # no packet yet
    ("10.0.0.5:4000", "nonsense:12", 0.0, False),
])  # fmt: skip
def test_pick(remote, seen, waited, latched):
    assert (pick(remote, seen, waited) is not None) is latched


def exchange(rx: socket.socket, senders: list[socket.socket]) -> list[int]:
    """Which senders' datagrams arrive (by index)."""
    for i, s in enumerate(senders):
        s.sendto(bytes([i]), ("127.0.0.1", rx.getsockname()[1]))
    got = []
    try:
        while True:
            got.append(rx.recv(10)[0])
    except TimeoutError:
        return sorted(got)


def test_a_latched_socket_takes_only_its_source_until_unlatched():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 0))
    rx.settimeout(0.3)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    port = caller.getsockname()[1]
    same_port_other_host = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    same_port_other_host.bind(("127.0.0.5", port))
    same_host_other_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    same_host_other_port.bind(("127.0.0.1", 0))
    senders = [caller, same_port_other_host, same_host_other_port]
    try:
        done = latch(rx.getsockname()[1], f"127.0.0.1:{port}")
        assert done is not None and done.fd == rx.fileno()
        assert exchange(rx, senders) == [0]
        unlatch(done)
        assert exchange(rx, senders) == [0, 1, 2]
    finally:
        for s in [rx, *senders]:
            s.close()


def test_no_socket_on_that_port_is_no_latch():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert latch(free, "127.0.0.1:9") is None
