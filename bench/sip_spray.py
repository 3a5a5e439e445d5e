"""SIP tap under junk: seeded sprays of malformed SIP and random RTP/RTCP at a running
tap with two live SIPREC calls analysed by the real call hub.

Per seed: a "victim" and a "target" call (a tone per stream), while malformed SIP
datagrams go to the SIP port and random RTP/RTCP to the target's RTP ports, all from
a foreign loopback address.  Counted: process aborts (the child's exit), analysis
deaths (a call ended "error"), whether each party of the victim heard its own tone,
how much of the target's tone survived, and RSS growth of the tap process.

`run()` works in a child process (pjsua2's endpoint exists once per process).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRUNKS = """
[[trunks]]
name = "spray"
sources = ["127.0.0.6"]
agent_aor = '^sip:(?:Extension-)?(?P<agent>\\d{4})@'
"""
TONES = [440.0, 1000.0]


def junk_sip(rnd: random.Random, port: int, n: int) -> bytes:
    """One malformed datagram of the classes real peers and scanners send."""
    head = (f"INVITE sip:srs@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.7:9;branch="
            f"z9hG4bK-s{n}\r\nFrom: <sip:x@127.0.0.7>;tag=s{n}\r\nTo: <sip:srs@127.0.0.1>\r\n"
            f"Call-ID: spray-{n}\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:x@127.0.0.7:9>\r\n")  # fmt: skip
    sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.7\r\ns=-\r\nc=IN IP4 127.0.0.7\r\nt=0 0\r\n"
           b"m=audio 9 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n"
           b"m=audio 11 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n")  # fmt: skip
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<recording>&b;</recording>")
    kind = rnd.randrange(9)
    if kind == 0:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 1400)))
    if kind == 1:  # truncated
        full = (head + f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n"
                ).encode() + sdp  # fmt: skip
        return full[: rnd.randint(10, len(full))]
    if kind == 2:  # wrong Content-Length
        return (head + f"Content-Type: application/sdp\r\nContent-Length: "
                f"{rnd.choice([0, 5, 99999, -1])}\r\n\r\n").encode() + sdp  # fmt: skip
    if kind == 3:  # many or huge headers
        extra = "".join(f"X-H{i}: {'v' * rnd.randint(1, 300)}\r\n"
                        for i in range(rnd.randint(1, 40)))  # fmt: skip
        return (head + extra + "Content-Length: 0\r\n\r\n").encode()[:60000]
    if kind == 4:  # bad boundary, no close delimiter
        body = b"--Q\r\nContent-Type: application/sdp\r\n\r\n" + sdp
        return (head + "Content-Type: multipart/mixed;boundary=WRONG\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip
    if kind == 5:  # broken SDP
        bad = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
        return (head + f"Content-Type: application/sdp\r\nContent-Length: {len(bad)}\r\n\r\n"
                ).encode() + bad  # fmt: skip
    if kind == 6:  # XML bomb in the metadata
        body = (b"--B\r\nContent-Type: application/sdp\r\n\r\n" + sdp + b"\r\n--B\r\n"
                b"Content-Type: application/rs-metadata+xml\r\n\r\n" + bomb + b"\r\n--B--\r\n")
        return (head + "Content-Type: multipart/mixed;boundary=B\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip
    if kind == 7:  # not UTF-8
        return head.encode() + b"Subject: \xff\xfe\xc3\x28\r\nContent-Length: 0\r\n\r\n"
    return b"OPTIONS sip:x SIP/2.0\r\n\r\n" + bytes(rnd.getrandbits(8) for _ in range(50))


def junk_rtp(rnd: random.Random) -> bytes:
    if rnd.random() < 0.5:  # RTP-looking, random PT/SSRC/payload
        return struct.pack("!BBHII", 0x80, rnd.getrandbits(8) & 0x7F | rnd.choice([0, 0x80]),
                           rnd.getrandbits(16), rnd.getrandbits(32), rnd.getrandbits(32)
                           ) + bytes(rnd.getrandbits(8) for _ in range(160))  # fmt: skip
    if rnd.random() < 0.5:  # RTCP-looking
        head = struct.pack("!BBH", 0x80, rnd.choice([200, 201, 202, 203]), rnd.getrandbits(16))
        return head + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(4, 80)))
    return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 1500)))


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _Watch:
    """Forwards to the hub; remembers each call's tap facts and how it ended."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.meta: dict[str, dict[str, Any]] = {}
        self.frames: dict[str, dict[str, list[Any]]] = {}
        self.ended: dict[str, str] = {}

    def start_call(self, call_id: str, **kw: Any) -> None:
        self.meta[call_id] = kw.get("meta") or {}
        self.frames[call_id] = {"customer": [], "agent": []}
        self.hub.start_call(call_id, **kw)

    def feed(self, call_id: str, frame: Any) -> None:
        self.frames[call_id][frame.party].append(frame.pcm)
        self.hub.feed(call_id, frame)

    def audio_health(self, call_id: str, party: str | None, evidence: dict[str, Any]) -> None:
        self.hub.audio_health(call_id, party, evidence)

    def end_call(self, call_id: str, reason: str = "hangup") -> None:
        self.ended[call_id] = reason
        self.hub.end_call(call_id, reason)


class _Deaths:
    def __init__(self) -> None:
        self.ends: list[str] = []

    def publish(self, wire: dict[str, Any], *, agent: str | None, arrival: float | None) -> None:
        if wire.get("type") == "call.ended":
            self.ends.append(str((wire.get("evidence") or {}).get("reason")))


def _share(pcm: list[Any], hz: float) -> float:
    """Fraction of 20 ms frames whose dominant tone is `hz`."""
    import numpy as np

    from tests.sip.rtp import dominant_hz

    if not pcm:
        return 0.0
    hits = sum(1 for f in pcm if np.abs(f).max() > 2000 and abs(dominant_hz(f) - hz) < 60)
    return hits / len(pcm)


def _child(seeds: list[int], per_seed: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from assist.call.hub import CallHub
    from assist.call.session import LoopParams
    from sip.server import SipServer, SipSettings
    from sip.trunks import parse_trunks
    from tests.sip.sipkit import free_port
    from tests.sip.uac import Uac

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    deaths = _Deaths()
    watch = _Watch(CallHub(LoopParams(), [deaths]))
    port = free_port()
    settings = SipSettings(udp_port=port, tcp_port=0, rtp_port=42000, log_level=0)
    server = SipServer(parse_trunks(TRUNKS), loop, watch, settings)
    server.start()
    out: dict[str, Any] = {"seeds": seeds, "datagrams": 0, "per_seed": []}
    rss0 = None
    for seed in seeds:
        rnd = random.Random(seed)
        known = set(watch.meta)
        results: dict[str, Any] = {}

        def place(name: str, seconds: float, results: dict[str, Any] = results) -> None:
            uac = Uac(port, "udp", ip="127.0.0.6")
            try:
                results[name] = uac.call("rfc7865.sip", TONES, seconds=seconds).final.status
            except Exception as e:  # noqa: BLE001 - reported as the outcome
                results[name] = f"{type(e).__name__}: {e}"
            finally:
                uac.close()

        calls = [threading.Thread(target=place, args=(n, 14.0)) for n in ("victim", "target")]
        for t in calls:
            t.start()
            time.sleep(0.5)
        deadline = time.monotonic() + 10
        while len(set(watch.meta) - known) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        new = [c for c in watch.meta if c not in known]
        if rss0 is None:
            rss0 = _rss_kb()
        target = new[-1] if new else None
        rtp = [int(a.rsplit(":", 1)[1]) for a in (watch.meta.get(target or "", {}).get("rtp")
                                                    or {}).values()]  # fmt: skip
        rtp += [p + 1 for p in rtp]  # and their RTCP ports
        sent = 0
        # SIP junk from the trunk's own address (so it reaches admission and pjsua), RTP
        # junk from a stranger's.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip_s, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp_s:  # fmt: skip
            sip_s.bind(("127.0.0.6", 0))
            rtp_s.bind(("127.0.0.7", 0))
            t0 = time.monotonic()
            while sent < per_seed:
                if rtp and rnd.random() < 0.5:
                    pkt, dest, s = junk_rtp(rnd), rnd.choice(rtp), rtp_s
                else:
                    pkt, dest, s = junk_sip(rnd, port, seed * 1_000_000 + sent), port, sip_s
                try:
                    s.sendto(pkt, ("127.0.0.1", dest))
                except OSError:
                    pass
                sent += 1
                if sent % 100 == 0:  # about 1000 a second, within the calls' 14 s
                    time.sleep(max(0.0, t0 + sent / 1000 - time.monotonic()))
        for t in calls:
            t.join(60)
        deadline = time.monotonic() + 30
        while any(c not in watch.ended for c in new) and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = new[0] if new else ""
        fr = watch.frames.get(victim, {})
        tf = watch.frames.get(target or "", {})
        out["datagrams"] += sent
        out["per_seed"].append({
            "seed": seed, "sent": sent, "answers": results,
            "victim_tone_share": {p: round(_share(fr.get(p, []), hz), 3)
                                  for p, hz in (("customer", TONES[0]), ("agent", TONES[1]))},
            "target_tone_share": {p: round(_share(tf.get(p, []), hz), 3)
                                  for p, hz in (("customer", TONES[0]), ("agent", TONES[1]))},
            "ended": [watch.ended.get(c) for c in new],
        })  # fmt: skip
        for c in new:  # this bench's own recording is not the tap's memory
            watch.frames.pop(c, None)
        out["per_seed"][-1]["rss_kb"] = _rss_kb()
    out["analysis_deaths"] = sum(1 for r in deaths.ends if r == "error")
    out["endpoint_alive"] = server.alive()
    out["rss_kb"] = {"after_first_calls": rss0, "end": _rss_kb()}
    out["rss_growth_kb"] = _rss_kb() - (rss0 or 0)
    out["refused"] = dict(sorted(server.refused.items()))
    server.stop()
    return out


def run(seeds: tuple[int, ...] = (1, 2, 3, 4, 5), per_seed: int = 10_000) -> dict[str, Any]:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from bench.sip_spray "
            f"import _child; print('RESULT ' + json.dumps(_child({list(seeds)!r}, {per_seed})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)  # fmt: skip
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    result: dict[str, Any] = json.loads(line[7:]) if line else {}
    result["aborts"] = 1 if proc.returncode < 0 else 0  # killed by a signal (pjlib abort)
    result["exit"] = proc.returncode
    if proc.returncode != 0:
        result["stderr_tail"] = proc.stderr[-1500:]
    return result


if __name__ == "__main__":
    seeds = tuple(int(s) for s in sys.argv[1].split(",")) if len(sys.argv) > 1 else (1, 2, 3, 4, 5)
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    print(json.dumps(run(seeds, per), indent=2))
