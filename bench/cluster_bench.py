"""Calls through Kamailio: how many concurrent two-party SIPREC calls the tap
processes behind it hold on this machine, acoustic analysis only.

Kamailio (its config rendered from [kamailio]) spreads sipp's calls over tap
processes, 4 calls each (the pjsua2 wheel's limit).  Each tap is the real
service (`assist.service.Service`: SIP, call hub, SQLite store) whose call sink
is wrapped to note when each frame reaches it.  The RTP payloads carry their
packet numbers (`bench.sip_bench.stamp`), and a sniffer on lo stamps each
packet's arrival, so a frame's lateness is RTP arrival to the frame reaching
the hub.  An event is lost when a call's stored events are not seq 1..N ending
in call.ended.  A load holds when every call was answered through Kamailio, no
frame was later than 100 ms once every call was up (set-up frames are counted
apart) and no event was lost.

    python -m bench.cluster_bench 24,40,48     # calls per trial (4 per tap process)
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests" / "cluster" / "scenarios" / "siprec_proxied.xml"
SBC = "127.0.0.7"
LATE_MS = 100.0
CALLS_PER_TAP = 4
RTP_BASE, RTP_SPAN = 41000, 100  # tap i takes RTP ports from RTP_BASE + i * RTP_SPAN

TAP_CONFIG = """data_dir = "{data}"
[auth]
secret_file = "{secret}"
[prompts]
enabled = false
[sip]
host = "127.0.0.1"
udp_port = {port}
tcp_port = 0
rtp_port = {rtp}
[cluster]
name = "{name}"
proxies = ["127.0.0.1"]

[[trunks]]
name = "sbc"
sources = ["{sbc}"]
agent_aor = '^sip:(?P<agent>[a-z]\\d+)@'
"""


# --- one tap process ------------------------------------------------------------------
class _Recorder:
    """The hub as the SIP tap sees it, noting each frame's packet number and arrival."""

    def __init__(self, hub: Any) -> None:
        self._hub = hub
        self.frames: list[tuple[str, str, int, float]] = []  # call, party, packet, reached
        self.rtp: dict[str, dict[str, str]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hub, name)

    def start_call(self, call_id: str, **kw: Any) -> None:
        self.rtp[call_id] = dict((kw.get("meta") or {}).get("rtp", {}))
        self._hub.start_call(call_id, **kw)

    def feed(self, call_id: str, frame: Any) -> None:
        from bench.sip_bench import read_stamp

        now = time.monotonic()
        seq = read_stamp(frame.pcm)
        if seq is not None:
            self.frames.append((call_id, frame.party, seq, now))
        self._hub.feed(call_id, frame)


async def _tap(config: str) -> dict[str, Any]:
    from assist.config import load
    from assist.service import Service

    svc = Service(load(config), port=0)
    recorder = _Recorder(svc.hub)
    svc.hub = recorder  # type: ignore[assignment]  # the SIP tap feeds the recorder
    await svc.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "hold" once the calls are up
    c0, t0 = time.process_time(), time.monotonic()
    hold = t0  # CLOCK_MONOTONIC: the same clock in every process on the machine
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
    cpu = (time.process_time() - c0) / max(1e-6, time.monotonic() - t0)
    await svc.stop()
    port_of = {(cid, party): int(addr.rsplit(":", 1)[1])
               for cid, rtp in recorder.rtp.items() for party, addr in rtp.items()}  # fmt: skip
    frames = [(port_of.get((c, p), 0), q, t) for c, p, q, t in recorder.frames]
    return {"calls": len(recorder.rtp), "streams": len(port_of), "cpu": cpu, "frames": frames,
            "hold": hold}


# --- the trial ------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _events_intact(store: Path) -> tuple[int, int, int]:
    """(calls, events, calls whose events are not seq 1..N ending in call.ended)."""
    with sqlite3.connect(store) as db:
        calls = [r[0] for r in db.execute("SELECT call_id FROM calls")]
        events, broken = 0, 0
        for cid in calls:
            rows = db.execute("SELECT seq, type FROM events WHERE call_id=? ORDER BY seq",
                              (cid,)).fetchall()  # fmt: skip
            events += len(rows)
            seqs = [s for s, _ in rows]
            if seqs != list(range(1, len(rows) + 1)) or not rows or rows[-1][1] != "call.ended":
                broken += 1
    return len(calls), events, broken


def trial(calls: int, seconds: float = 20.0) -> dict[str, Any]:
    import numpy as np

    from assist.cluster.kamailio import KamailioParams, write
    from bench.sip_bench import _pcap
    from tests.cluster.kamailiod import KAMAILIO, options_ok

    n_taps = -(-calls // CALLS_PER_TAP)
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    secret = work / "panel-secret"
    secret.write_text(os.urandom(32).hex())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    taps: list[subprocess.Popen[str]] = []
    ports = []
    for i in range(n_taps):
        port = _free_port()
        ports.append(port)
        cfg = work / f"tap{i}.toml"
        cfg.write_text(TAP_CONFIG.format(data=work / f"tap{i}", secret=secret, port=port,
                                         rtp=RTP_BASE + i * RTP_SPAN, name=f"tap{i}", sbc=SBC))
        taps.append(subprocess.Popen([sys.executable, "-m", "bench.cluster_bench", "--tap",
                                      str(cfg)], cwd=ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(work / f"tap{i}.log", "w")))  # noqa: SIM115
    kproc = sniffer = None
    try:
        for t in taps:
            assert t.stdout is not None
            for line in t.stdout:  # pjsip's start-up lines come first
                if line.strip() == "ready":
                    break
            else:
                raise RuntimeError(f"a tap did not start; see {work}")
        kport = _free_port()
        params = KamailioParams(host="127.0.0.1", port=kport, tcp=False,
                                taps=tuple(f"127.0.0.1:{p}" for p in ports), children=4)
        kcfg, _ = write(params, work / "kamailio", "bench")
        kproc = subprocess.Popen([KAMAILIO, "-f", str(kcfg), "-DD", "-E", "-w", str(work),
                                  "-P", str(work / "kamailio.pid"), "-m", "128", "-M", "8"],
                                 stdout=subprocess.DEVNULL,
                                 stderr=open(work / "kamailio.log", "w"),  # noqa: SIM115
                                 start_new_session=True)
        deadline = time.monotonic() + 20
        while not options_ok("127.0.0.1", kport):
            if time.monotonic() > deadline:
                raise RuntimeError("kamailio did not start")
            time.sleep(0.2)
        time.sleep(3)  # a first round of OPTIONS probes: every tap up
        packets = int(seconds * 50)
        (work / "audio.pcap").write_bytes(_pcap(packets))
        sniffer = subprocess.Popen(
            [sys.executable, "-c", f"from bench.sip_bench import sniff; sniff({RTP_BASE}, "
             f"{RTP_BASE + n_taps * RTP_SPAN}, {seconds + 15})"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(0.5)
        sipp = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIO), "-m", str(calls), "-l", str(calls), "-r", "20",
             "-i", SBC, "-p", str(_free_port()), "-mp", "26200", "-d",
             str(int((seconds + 1) * 1000)), "-nostdin", "-key", "pad", "<!-- -->", "-key",
             "agent", "b", "-key", "spoof", SBC, "-timeout", f"{int(seconds) + 40}s",
             "-trace_stat", "-fd", "1", f"127.0.0.1:{kport}"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        time.sleep(calls / 20 + 1.5)  # every call set up
        for t in taps:
            assert t.stdin is not None
            t.stdin.write("hold\n")
            t.stdin.flush()
        sipp.wait(timeout=seconds + 60)
        arrivals = json.loads(sniffer.communicate(timeout=60)[0] or "{}")
        results = []
        for t in taps:
            assert t.stdin is not None and t.stdout is not None
            t.stdin.write("stop\n")
            t.stdin.flush()
            results.append(json.loads(t.stdout.read().strip().splitlines()[-1]))
            t.wait(30)
    finally:
        for t in taps:
            if t.poll() is None:
                t.kill()
        if kproc is not None:
            os.killpg(kproc.pid, 15)
            kproc.wait(10)
        if sniffer is not None and sniffer.poll() is None:
            sniffer.kill()
    lat, steady, received = [], [], 0
    for r in results:
        received += len({(p, q) for p, q, _ in r["frames"]})
        for p, q, t in r["frames"]:
            if (k := f"{p}:{q}") in arrivals:
                lat.append(1000 * (t - arrivals[k]))
                if t >= r["hold"]:
                    steady.append(lat[-1])
    a = np.array(lat) if lat else np.zeros(1)
    b = np.array(steady) if steady else np.zeros(1)
    intact = [_events_intact(work / f"tap{i}" / "assist.sqlite3") for i in range(n_taps)]
    answered = sum(r["calls"] for r in results)
    streams = sum(r["streams"] for r in results)
    out = {
        "calls": calls,
        "tap_processes": n_taps,
        "calls_answered": answered,
        "calls_per_tap": [r["calls"] for r in results],
        "seconds": seconds,
        "frames_expected": packets * streams,
        "frames_received": received,
        "frames_late": int((a > LATE_MS).sum()),
        # once every call is up: set-up (answering 4 calls a process at once) left out
        "frames_late_calls_up": int((b > LATE_MS).sum()),
        "frame_latency_ms_max_calls_up": round(float(b.max()), 1),
        "frame_latency_ms_p50": round(float(np.percentile(a, 50)), 1),
        "frame_latency_ms_p99": round(float(np.percentile(a, 99)), 1),
        "frame_latency_ms_max": round(float(a.max()), 1),
        "events_stored": sum(e for _, e, _ in intact),
        "calls_with_events_lost": sum(b for _, _, b in intact),
        "tap_cpu_pct_of_core": round(100 * sum(r["cpu"] for r in results), 1),
    }
    out["held"] = bool(answered == calls and out["frames_late_calls_up"] == 0
                       and out["calls_with_events_lost"] == 0)  # fmt: skip
    return out


def run(loads: tuple[int, ...] = (24, 40, 48)) -> dict[str, Any]:
    """The bench entry: each load once; `held_max` is the largest that held."""
    trials = {str(n): trial(n) for n in loads}
    held = [int(n) for n, r in trials.items() if r["held"]]
    return {"trials": trials, "held_max": max(held) if held else 0}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--tap":
        threading.current_thread().name = "tap"
        print(json.dumps(asyncio.run(_tap(sys.argv[2]))), flush=True)
    else:
        loads = tuple(int(x) for x in sys.argv[1].split(",")) if len(sys.argv) > 1 else (24, 40)
        print(json.dumps(run(loads), indent=2))
