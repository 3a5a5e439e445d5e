"""SIP tap bench: 4 concurrent SIPREC calls from sipp, each stream playing RTP.

Each RTP payload carries its packet number in u-law codes that G.711 decodes
bit-exactly at the 8 kHz bridge, so the sink knows which packet a frame came
from.  A sniffer process (AF_PACKET on lo, root) stamps each packet's arrival
with CLOCK_MONOTONIC, shared by all processes: latency is RTP arrival to the
frame reaching the call sink on the asyncio loop, jitter buffer included.
(pjmedia drops RTP from an address other than the SDP's, so sipp must send it.)

`run()` does the work in a child process: pjsua2's endpoint exists once per
process, and the child's CPU time is then the tap's alone.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests" / "sip" / "scenarios" / "siprec_uac.xml"
DIGITS = 126  # u-law codes 0x00..0x7D: digits; 0x7E: marker; all decode distinctly
MARK = 0x7E
LATE_MS = 100.0  # a frame later than this after its packet counts as late


def _ulaw_decode(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return (0x84 - t) if u & 0x80 else (t - 0x84)


_DECODE = {_ulaw_decode(c): c for c in range(DIGITS)}
_MARK_PCM = _ulaw_decode(MARK)


def stamp(seq: int) -> bytes:
    """160 u-law bytes: (marker, 3 digits of seq) x 40.  Bridge frames are not aligned
    with packets (5 ms apart here), so the number repeats all through the packet."""
    d = [seq % DIGITS, seq // DIGITS % DIGITS, seq // DIGITS**2 % DIGITS]
    return bytes([MARK, *d]) * 40


def read_stamp(pcm: Any) -> int | None:
    """The number of the newest packet in this frame (the one that completed it)."""
    import numpy as np

    marks = np.flatnonzero(pcm[: len(pcm) - 3] == _MARK_PCM)
    if len(marks) == 0:
        return None
    j = int(marks[-1])
    try:
        d = [_DECODE[int(v)] for v in pcm[j + 1 : j + 4]]
    except KeyError:
        return None
    return d[0] + d[1] * DIGITS + d[2] * DIGITS**2


def sniff(low: int, high: int, seconds: float) -> None:
    """Print {"port:seq": arrival} for RTP to ports [low, high) on lo (needs root)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    seen: dict[str, float] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            pkt = sock.recv(2048)
        except TimeoutError:
            continue
        now = time.monotonic()
        if len(pkt) < 46 or pkt[12:14] != b"\x08\x00" or pkt[23] != 17:
            continue
        ihl = (pkt[14] & 0x0F) * 4
        udp = 14 + ihl
        port = int.from_bytes(pkt[udp + 2 : udp + 4], "big")
        if low <= port < high:
            seq = int.from_bytes(pkt[udp + 10 : udp + 12], "big")
            seen.setdefault(f"{port}:{seq}", now)
    print(json.dumps(seen))


def _pcap(packets: int) -> bytes:
    """Two flows (offsets 0 and 2), packet i carrying i in its payload."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(packets):
        for k in (0, 2):
            rtp = struct.pack("!BBHII", 0x80, 0, i, i * 160, 0x5000 + k) + stamp(i)
            udp = struct.pack("!HHHH", 20000 + k, 6000 + k, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             b"\x7f\0\0\1", b"\x7f\0\0\1")  # fmt: skip
            frame = bytes(12) + b"\x08\x00" + ip + udp
            usec = i * 20000
            out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame),
                                   len(frame)) + frame)  # fmt: skip
    return b"".join(out)


def _jitter() -> tuple[int, ...]:
    raw = os.environ.get("SIP_BENCH_JITTER_MS")  # e.g. "20,60" to compare with the default
    return tuple(int(x) for x in raw.split(",")) if raw else ()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _child(calls: int, seconds: float) -> dict[str, Any]:
    import asyncio
    import tempfile
    import threading

    import numpy as np

    from sip.server import SipServer
    from sip.settings import SipSettings
    from sip.trunks import parse_trunks

    got: list[tuple[str, str, int, float]] = []  # call, party, packet, reached the sink
    unstamped = [0]
    started: list[tuple[str, dict[str, Any]]] = []

    class Sink:
        def start_call(self, call_id, *, agent, rate, language=None, source="", meta=None):
            started.append((call_id, meta or {}))

        def feed(self, call_id, frame):
            now = time.monotonic()
            seq = read_stamp(frame.pcm)
            if seq is None:
                unstamped[0] += 1
            else:
                got.append((call_id, frame.party, seq, now))

        def audio_health(self, call_id, party, evidence):
            pass

        def end_call(self, call_id, reason="hangup"):
            pass

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    port, sipp_port, rtp_low, rtp_span = _free_port(), _free_port(), 41000, 64
    trunks = parse_trunks("[[trunks]]\nname='bench'\nsources=['127.0.0.1']\n"
                          "agent_aor='^sip:(\\d{4})@'\n")  # fmt: skip
    server = SipServer(trunks, loop, Sink(), SipSettings(
        host="127.0.0.1", udp_port=port, tcp_port=0, rtp_port=rtp_low, rtp_port_range=rtp_span,
        jitter_ms=_jitter()))  # fmt: skip
    server.start()
    work = Path(tempfile.mkdtemp(prefix="sip-bench-"))
    packets = int(seconds * 50)
    (work / "audio.pcap").write_bytes(_pcap(packets))
    sniffer = subprocess.Popen(
        [sys.executable, "-c", f"from bench.sip_bench import sniff; "
         f"sniff({rtp_low}, {rtp_low + rtp_span}, {seconds + 4})"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(0.5)
    hold_ms = int((seconds + 0.5) * 1000)
    sipp = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIO), "-m", str(calls), "-l", str(calls), "-r", "50",
         "-i", "127.0.0.1", "-p", str(sipp_port), "-mp", "26200", "-d", str(hold_ms),
         "-nostdin", "-key", "pad", "<!-- -->", "-timeout", f"{int(seconds) + 30}s",
         f"127.0.0.1:{port}"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while len(started) < calls and time.monotonic() < deadline:
        time.sleep(0.01)
    t0, c0 = time.monotonic(), time.process_time()
    time.sleep(seconds)
    busy = (time.process_time() - c0) / (time.monotonic() - t0)
    sipp.wait(timeout=seconds + 30)
    time.sleep(0.3)
    server.stop()
    arrivals = json.loads(sniffer.communicate(timeout=30)[0] or "{}")
    if len(started) < calls:
        raise RuntimeError(f"only {len(started)} of {calls} calls started")
    port_of = {(cid, party): int(addr.rsplit(":", 1)[1])
               for cid, meta in started for party, addr in meta["rtp"].items()}  # fmt: skip
    lat = [1000 * (now - arrivals[k]) for cid, party, seq, now in got
           if (k := f"{port_of[(cid, party)]}:{seq}") in arrivals]  # fmt: skip
    expected = packets * len(port_of)
    received = len({(c, p, q) for c, p, q, _ in got})
    a = np.array(lat) if lat else np.zeros(1)
    return {
        "calls": calls,
        "streams": len(port_of),
        "seconds": seconds,
        "cpu_pct_of_core_total": round(100 * busy, 2),
        "cpu_pct_of_core_per_call": round(100 * busy / calls, 2),
        "rtp_packets_seen": len(arrivals),
        "frames_expected": expected,
        "frames_received": received,
        "frames_lost": expected - received,
        "frames_late": int((a > LATE_MS).sum()),
        "frames_unstamped": unstamped[0],  # before the first/after the last packet
        "latency_ms_p50": round(float(np.percentile(a, 50)), 2),
        "latency_ms_p99": round(float(np.percentile(a, 99)), 2),
        "latency_ms_max": round(float(a.max()), 2),
    }


def run(calls: int = 4, seconds: float = 10.0) -> dict[str, Any]:
    """The bench entry point: runs the child process and returns its figures."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "bench.sip_bench", "--child", str(calls),
                          str(seconds)], cwd=ROOT, capture_output=True, text=True, env=env,
                         timeout=seconds + 90)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"sip bench failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(int(sys.argv[2]), float(sys.argv[3]))), flush=True)
    else:
        print(json.dumps(run(), indent=2))
