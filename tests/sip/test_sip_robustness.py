"""Malformed SIP and garbage RTP never crash the endpoint or disturb another call."""

from __future__ import annotations

import random
import socket
import struct
import threading

import numpy as np
import pytest

from tests.sip.rtp import dominant_hz
from tests.sip.sipkit import (
    AGENT_HZ,
    CUSTOMER_HZ,
    assert_ended_in_order,
    assert_party_audio,
    run_sipp,
    two_tone_pcap,
    wait_until,
)

pytestmark = pytest.mark.integration

META = (b'<?xml version="1.0"?><recording xmlns="urn:ietf:params:xml:ns:recording:1">'
        b'<participant participant_id="a"><nameID aor="sip:8107@x"/></participant>')  # fmt: skip


def invite(port: int, body: bytes, ctype: bytes, *, length: int | None = None, n: int = 0) -> bytes:
    head = (f"INVITE sip:srs@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-junk-{n}\r\n"
            f"From: <sip:src@127.0.0.1>;tag=junk{n}\r\nTo: <sip:srs@127.0.0.1>\r\n"
            f"Call-ID: junk-{n}@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:src@127.0.0.1:9>\r\nMax-Forwards: 70\r\n").encode()  # fmt: skip
    length = len(body) if length is None else length
    tail = f"\r\nContent-Length: {length}\r\n\r\n".encode()
    return head + b"Content-Type: " + ctype + tail + body


SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 9000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n"
       b"m=audio 9002 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n")  # fmt: skip


def bad_sip(port: int) -> list[bytes]:
    rnd = random.Random(7)
    multipart = b"--B\r\nContent-Type: application/sdp\r\n\r\n" + SDP + (
        b"--B\r\nContent-Type: application/rs-metadata+xml\r\n\r\n" + META)  # cut XML, no close
    good = invite(port, multipart, b"multipart/mixed;boundary=B", n=1)
    return [
        bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 1400))) for _ in range(30)
    ] + [
        b"\x00" * 60000,
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        good[: len(good) // 2],  # truncated INVITE
        good,  # broken multipart: metadata XML cut off, no close delimiter
        invite(port, multipart, b"multipart/mixed;boundary=WRONG", n=2),
        invite(port, SDP, b"application/sdp", length=len(SDP) + 500, n=3),  # bad length
        invite(port, b"--B\r\n\r\n--B--", b"multipart/mixed;boundary=B", n=4),
        b"BYE sip:srs@127.0.0.1 SIP/2.0\r\nCall-ID: nope\r\nCSeq: 1 BYE\r\n\r\n",
    ]


def spray_rtp(ports: list[int], stop: threading.Event) -> int:
    """RTP-looking and random datagrams from a foreign address at a live call's ports."""
    rnd = random.Random(11)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.5", 0))
        while not stop.is_set() and sent < 2000:
            for port in ports:
                if rnd.random() < 0.5:
                    pkt = struct.pack("!BBHII", 0x80, 0, rnd.getrandbits(16),
                                      rnd.getrandbits(32), rnd.getrandbits(32))  # fmt: skip
                    pkt += bytes(rnd.getrandbits(8) for _ in range(160))
                else:
                    pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 1500)))
                s.sendto(pkt, ("127.0.0.1", port))
                sent += 1
            stop.wait(0.002)
    return sent


def test_garbage_never_crashes_or_disturbs_another_call(tap, tmp_path):
    before = len(tap.sink.order)
    procs = []
    for name in ("target", "victim"):
        two_tone_pcap(tmp_path / name, seconds=3.0)
        procs.append(run_sipp(tap, "siprec_uac.xml", tmp_path / name, duration_ms=3300,
                              background=True))  # fmt: skip
        n = len(procs)
        # a busy machine may take seconds to start sipp: wait for its call, not a clock
        started = wait_until(lambda: len(tap.sink.new_calls(before)) == n, 40)  # noqa: B023
        assert started, procs[-1].poll() is not None and procs[-1].communicate()[1][-2000:]
    target, victim = tap.sink.new_calls(before)
    rtp_ports = [int(addr.rsplit(":", 1)[1]) for addr in target.meta["rtp"].values()]
    assert len(rtp_ports) == 2

    stop = threading.Event()
    sprayer = threading.Thread(target=spray_rtp, args=(rtp_ports, stop))
    sprayer.start()
    from bench.sip_spray import junk_sip

    rnd = random.Random(5)  # every class of the bench's junk, a bounded few of each
    classes = [junk_sip(rnd, tap.port, 9000 + i) for i in range(300)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for pkt in bad_sip(tap.port) + classes:
            try:
                s.sendto(pkt, ("127.0.0.1", tap.port))
            except OSError:  # too long for a datagram: fine
                pass
    with socket.create_connection(("127.0.0.1", tap.port)) as c:  # garbage over TCP
        c.sendall(b"INVITE sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n" + b"\xff" * 5000)
    stop.wait(1.5)
    stop.set()
    sprayer.join()

    for p in procs:
        _, err = p.communicate(timeout=40)
        assert p.returncode == 0, err[-2000:]  # both calls' SIP went on undisturbed
    assert wait_until(lambda: target.ended and victim.ended)
    assert_party_audio(victim, "customer", CUSTOMER_HZ, min_frames=140)
    assert_party_audio(victim, "agent", AGENT_HZ, min_frames=140)
    assert_ended_in_order(victim)
    assert_ended_in_order(target)  # its audio may be damaged, its session is not
    assert tap.idle(timeout=15)
    assert tap.server.alive()
    assert len(tap.sink.new_calls(before)) == 2  # nothing from the junk was tapped

    # and the endpoint still takes a normal call
    two_tone_pcap(tmp_path / "after", seconds=1.0)
    r = run_sipp(tap, "siprec_uac.xml", tmp_path / "after", duration_ms=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    assert wait_until(lambda: len(tap.sink.new_calls(before)) == 3
                      and tap.sink.new_calls(before)[2].ended == "hangup")  # fmt: skip


def spray_decodable(ports: list[int], ip: str, stop: threading.Event) -> int:
    """PCMU RTP of loud noise, one steady SSRC per port: what pjmedia would decode and
    switch to if it took RTP from anyone."""
    rnd = random.Random(3)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        while not stop.is_set():
            for k, port in enumerate(ports):
                hdr = struct.pack("!BBHII", 0x80, 0, sent & 0xFFFF, sent * 160, 0xBAD0 + k)
                s.sendto(hdr + bytes(rnd.getrandbits(8) for _ in range(160)), ("127.0.0.1", port))
                sent += 1
            stop.wait(0.004)  # 250 packets a second per stream, five times the caller's
    return sent


def own_tone_frames(call, party: str, hz: float) -> int:
    frames = [f.pcm for f in call.frames.get(party, [])]
    return sum(1 for f in frames if np.abs(f).max() > 2000 and abs(dominant_hz(f) - hz) < 60)


def test_a_stranger_spraying_rtp_at_a_live_call_does_not_take_its_audio(tap, tmp_path, caplog):
    # pjmedia alone took RTP from any source and switched to a persistent stranger: the
    # sprayed call kept about a third of its own audio.  Each stream is latched to the
    # first source on the host its SDP names, so a stranger is dropped by the kernel,
    # whether from another host or from the caller's own (once the stream is latched).
    before = len(tap.sink.order)
    two_tone_pcap(tmp_path, seconds=4.0)
    proc = run_sipp(tap, "siprec_uac.xml", tmp_path, duration_ms=4300, background=True)
    assert wait_until(lambda: len(tap.sink.new_calls(before)) == 1)
    (call,) = tap.sink.new_calls(before)
    ports = [int(a.rsplit(":", 1)[1]) for a in call.meta["rtp"].values()]
    assert wait_until(lambda: caplog.text.count(f"call {call.call_id}: ") >= 2
                      and caplog.text.count("RTP latched to 127.0.0.1:") >= 2)  # fmt: skip
    stop = threading.Event()
    sprayers = [threading.Thread(target=spray_decodable, args=(ports, ip, stop))
                for ip in ("127.0.0.5", "127.0.0.1")]  # fmt: skip
    for t in sprayers:
        t.start()
    try:
        _, err = proc.communicate(timeout=40)
    finally:
        stop.set()
        for t in sprayers:
            t.join()
    assert proc.returncode == 0, err[-2000:]
    assert wait_until(lambda: call.ended is not None)
    assert_ended_in_order(call)  # the analysis went on to the hangup
    for party, hz in (("customer", CUSTOMER_HZ), ("agent", AGENT_HZ)):
        heard = own_tone_frames(call, party, hz)  # of the 200 the caller sent
        assert heard >= 190, f"{party}: {heard} of 200 frames carry its own tone"
    assert "(the SDP's host)" in caplog.text
    assert tap.idle()


def test_an_answer_never_acked_frees_its_slot(tap, caplog):
    from tests.sip.uac import Uac

    uac = Uac(tap.port, "udp", ip="127.0.0.6")
    try:
        assert uac.invite_only("rfc7865.sip").status == 200
        assert wait_until(lambda: "no ACK 8 s after the 200" in caplog.text, timeout=30)
        assert tap.idle(timeout=15)
    finally:
        uac.close()



def test_cyclic_garbage_is_collected_on_the_sip_thread_while_the_tap_runs(tap):
    # A pjsua2 object in a reference cycle is freed wherever the collector runs; on a
    # thread pjlib does not know that kills the process.  While the tap runs, cycles
    # dropped on any other thread are collected on the SIP thread.
    import gc

    freed_on: list[str] = []

    class Node:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            freed_on.append(threading.current_thread().name)

    assert not gc.isenabled()
    for _ in range(3):
        Node()
    assert wait_until(lambda: len(freed_on) == 3, timeout=30)
    assert set(freed_on) == {"sip"}
