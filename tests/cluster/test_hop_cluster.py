"""Two tap processes and one analysis process on a real Redis, sipp as the SBC.

Each tap holds SIP and RTP only and sends frames over the Unix socket; the
analysis process runs the calls and puts their events on `assist:events`.
Per call the agent is PREFIX + sipp's call number; customer: 440 Hz for the
first 2.5 s, agent: 1000 Hz after it, so crossed streams would show.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections import defaultdict
from json import loads
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from tests.cluster import chaind
from tests.cluster.redisd import REDIS_SERVER, RedisD
from tests.cluster.tapd import SBC, TapProcess
from tests.cluster.test_kamailio_cluster import SCENARIO, assert_parties_right, sbc_audio
from tests.sip.sipkit import free_port, rtp_block, run_sipp, statuses, wait_until, warning_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (sip-tester)"),
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server"),
]
NO_PROXY = "127.0.0.250"  # the taps trust no proxy here: sipp talks to them directly


@pytest.fixture(scope="module")
def hop(tmp_path_factory):
    work = tmp_path_factory.mktemp("hop")
    secret = work / "panel-secret"
    secret.write_text("cd" * 32)
    rd = RedisD(work / "redis").start()
    # Unix socket paths are short (107 bytes): not under pytest's deep tmp folder.
    sockdir = tempfile.TemporaryDirectory(prefix="assist-hop-")
    sock = Path(sockdir.name) / "analysis.sock"
    analysis = chaind.analysis(work, rd.url, sock, name="an1")
    taps = [TapProcess(f"tap{i}", work, free_port(), rtp_block(),
                       secret, proxy=NO_PROXY,
                       extra=f'role = "tap"\nanalysis_socket = "{sock}"')
            for i in (1, 2)]  # fmt: skip
    try:
        analysis.start()
        for t in taps:
            t.start()
        assert wait_until(lambda: len(lines(analysis, "connected")) >= 2, 30), analysis.log()
        yield SimpleNamespace(redis=rd, analysis=analysis, taps=taps, work=work, socket=sock,
                              r=redis.Redis.from_url(rd.url, decode_responses=True))
    finally:
        for t in taps:
            t.stop()
        analysis.stop()
        rd.stop()
        sockdir.cleanup()
    for t in taps:
        assert "Traceback" not in t.stderr(), t.stderr()[-3000:]
    assert "Traceback" not in analysis.log(), analysis.log()[-3000:]


def lines(proc: chaind.RoleProcess, words: str) -> list[str]:
    return [ln for ln in proc.log().splitlines() if words in ln]


def place(tap: TapProcess, workdir: Path, *, calls: int, agent: str, seconds: float,
          background: bool = False):  # fmt: skip
    sbc_audio(workdir, seconds - 0.5)
    return run_sipp(SimpleNamespace(port=tap.port), SCENARIO, workdir, ip=SBC, calls=calls,
                    duration_ms=int(seconds * 1000), background=background,
                    keys={"agent": agent, "spoof": SBC}, timeout=60)  # fmt: skip


def calls(hop, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """agent -> its call's events, in stream order (agents starting with prefix)."""
    by_call: dict[str, list[dict[str, Any]]] = defaultdict(list)
    agent_of: dict[str, str] = {}
    for _id, fields in hop.r.xrange("assist:events"):
        if fields["agent"].startswith(prefix):
            by_call[fields["call"]].append(loads(fields["wire"]))
            agent_of[fields["call"]] = fields["agent"]
    return {agent_of[c]: evs for c, evs in by_call.items()}


def ended(hop, prefix: str, n: int, timeout: float = 60) -> dict[str, list[dict[str, Any]]]:
    def done() -> bool:
        got = calls(hop, prefix)
        return len(got) == n and all(e[-1]["type"] == "call.ended" for e in got.values())

    assert wait_until(done, timeout, 0.2), {a: e[-1]["type"] for a, e in
                                           calls(hop, prefix).items()}
    return calls(hop, prefix)


def reason(events: list[dict[str, Any]]) -> str:
    assert events[-1]["type"] == "call.ended"
    return str(events[-1]["evidence"]["reason"])


def tap_of(events: list[dict[str, Any]]) -> str:
    return str(events[0]["evidence"]["tap"]["tap_process"])


def assert_in_order(events: list[dict[str, Any]]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "call.started"


def one_call(hop, tap: TapProcess, agent: str) -> None:
    """A 4 s call on this tap is answered, analysed and ends as a hangup."""
    r = place(tap, hop.work / agent, calls=1, agent=agent, seconds=4.0)
    assert r.returncode == 0, r.stdout[-2000:]
    events = ended(hop, agent, 1)[f"{agent}1"]
    assert tap_of(events) == tap.name and reason(events) == "hangup"
    assert_parties_right(events)


def test_calls_of_two_taps_reach_the_analysis_process_and_the_stream(hop) -> None:
    one, two = hop.taps
    a = place(one, hop.work / "a", calls=2, agent="a", seconds=5.0, background=True)
    b = place(two, hop.work / "b", calls=1, agent="b", seconds=5.0, background=True)
    # Meanwhile a peer that speaks no protocol at all: closed alone, with one clear line.
    assert wait_until(lambda: len(calls(hop, "a")) == 2 and calls(hop, "b"), 30)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(hop.socket))
        s.sendall(b"\x16\x03\x01\x02\x00" + bytes(range(256)) * 4)
        s.settimeout(10)
        assert s.recv(100) == b""
    assert a.wait(60) == 0 and b.wait(60) == 0
    got = {**ended(hop, "a", 2), **ended(hop, "b", 1)}
    assert {agent: tap_of(e) for agent, e in got.items()} == \
        {"a1": "tap1", "a2": "tap1", "b1": "tap2"}
    for events in got.values():
        assert_in_order(events)
        assert_parties_right(events)
        assert reason(events) == "hangup"
        assert events[-1]["evidence"]["duration"] == pytest.approx(4.5, abs=0.6)
    bad = lines(hop.analysis, "not the hop protocol")
    assert len(bad) == 1 and "closing it" in bad[0]


def test_a_killed_tap_ends_its_calls_and_the_other_taps_call_goes_on(hop) -> None:
    one, two = hop.taps
    k = place(one, hop.work / "k1", calls=2, agent="k", seconds=20.0, background=True)
    m = place(two, hop.work / "m1", calls=1, agent="m", seconds=20.0, background=True)
    try:
        assert wait_until(lambda: len(calls(hop, "k")) == 2 and calls(hop, "m"), 30)
        # The kill comes once the agent's tone has begun: well before the calls' end.
        assert wait_until(lambda: any(e["type"] == "talk.start" and e["party"] == "agent"
                                      for e in calls(hop, "m")["m1"]), 20)
        one.kill()
        lost = ended(hop, "k", 2, timeout=20)
        assert {a: reason(e) for a, e in lost.items()} == \
            {"k1": "tap process tap1 lost", "k2": "tap process tap1 lost"}
        for events in lost.values():
            assert_in_order(events)
        assert calls(hop, "m")["m1"][-1]["type"] != "call.ended"  # still running
        assert m.wait(60) == 0
        survivor = ended(hop, "m", 1)["m1"]
        assert_in_order(survivor)
        assert_parties_right(survivor)
        assert reason(survivor) == "hangup"
        # Its frames kept coming after the kill: the call's time reached its full length.
        assert survivor[-1]["evidence"]["duration"] == pytest.approx(19.5, abs=0.6)
    finally:
        k.kill()  # its dialogs died with the tap; sipp would wait out its timeouts
        k.wait(10)
    one.start()
    assert wait_until(lambda: len(lines(hop.analysis, "tap process tap1 connected")) >= 2, 30)
    one_call(hop, one, "n")


def test_with_no_analysis_process_a_tap_refuses_calls_with_the_reason(hop) -> None:
    tap = hop.taps[1]
    was = len(tap.stderr().splitlines())
    hop.analysis.stop()
    assert wait_until(lambda: "lost the analysis process" in
                      "\n".join(tap.stderr().splitlines()[was:]), 20), tap.stderr()[-2000:]
    work = hop.work / "down"
    place(tap, work, calls=1, agent="x", seconds=2.0)
    assert "SIP/2.0 503 Service Unavailable" in statuses(work)
    why = warning_of(work, 503) or ""
    assert "cannot analyse calls now" in why and str(hop.socket) in why
    assert not calls(hop, "x")

    hop.analysis.start()
    assert wait_until(lambda: "taking calls" in "\n".join(tap.stderr().splitlines()[was:]),
                      30), tap.stderr()[-2000:]
    one_call(hop, tap, "y")


def test_the_tap_process_loads_no_model_and_serves_no_panel(hop) -> None:
    out = "".join(hop.taps[1].output)
    assert "assist tap tap2: frames to the analysis process" in out
    assert "http://" not in out
    proc = subprocess.run(["ps", "-o", "rss=", "-p", str(hop.taps[1].proc.pid)],
                          capture_output=True, text=True, check=True)
    assert int(proc.stdout) < 300_000  # KB: a speech model alone is ~800 MB


def test_a_killed_analysis_process_ends_its_calls_when_it_starts_again(hop) -> None:
    tap = hop.taps[0]
    p = place(tap, hop.work / "z1", calls=1, agent="z", seconds=14.0, background=True)
    try:
        assert wait_until(lambda: any(e["type"] == "talk.start" and e["party"] == "customer"
                                      for e in calls(hop, "z").get("z1", [])), 30)
        hop.analysis.kill()
        assert calls(hop, "z")["z1"][-1]["type"] != "call.ended"  # nobody ended it
        hop.analysis.start()
        events = ended(hop, "z", 1, timeout=30)["z1"]
        assert reason(events) == "analysis process an1 lost"
        assert_in_order(events)
        assert events[-1]["t"] == events[-2]["t"]  # ended at the last thing it knew of
        assert p.wait(60) == 0  # the call itself went on in SIP to its end
    finally:
        if p.poll() is None:
            p.kill()
    assert calls(hop, "z")["z1"] == events  # nothing came after the end
    assert "ending 1 call(s) the previous analysis process an1 left open" in hop.analysis.log()
    one_call(hop, tap, "w")  # and the restarted process takes calls


def test_a_second_analysis_process_serves_its_own_taps_and_dies_alone(hop) -> None:
    """One analysis process per core: each tap names one; losing one leaves the other's
    calls alone, and both publish to the same stream."""
    sockdir = tempfile.TemporaryDirectory(prefix="assist-hop2-")
    sock = Path(sockdir.name) / "analysis2.sock"
    second = chaind.analysis(hop.work, hop.redis.url, sock, name="an2")
    tap = TapProcess("tap3", hop.work, free_port(), rtp_block(),
                     hop.work / "panel-secret", proxy=NO_PROXY,
                     extra=f'role = "tap"\nanalysis_socket = "{sock}"')
    try:
        second.start()
        tap.start()
        assert wait_until(lambda: lines(second, "tap process tap3 connected"), 30)
        p = place(tap, hop.work / "s1", calls=1, agent="s", seconds=14.0, background=True)
        q = place(hop.taps[0], hop.work / "u1", calls=1, agent="u", seconds=8.0,
                  background=True)
        assert wait_until(lambda: calls(hop, "s") and calls(hop, "u"), 30)
        by = {f["agent"]: f["by"] for _id, f in hop.r.xrange("assist:events")
              if f["agent"] in ("s1", "u1")}
        assert by == {"s1": "an2", "u1": "an1"}
        assert wait_until(lambda: any(e["type"] == "talk.start" and e["party"] == "customer"
                                      for e in calls(hop, "s")["s1"]), 30)
        second.kill()
        assert q.wait(60) == 0
        survivor = ended(hop, "u", 1)["u1"]
        assert_in_order(survivor)
        assert_parties_right(survivor)
        assert reason(survivor) == "hangup"
        second.start()
        lost = ended(hop, "s", 1, timeout=30)["s1"]
        assert reason(lost) == "analysis process an2 lost"
        assert p.wait(60) == 0
    finally:
        tap.stop()
        second.stop()
        sockdir.cleanup()
    assert "Traceback" not in tap.stderr() and "Traceback" not in second.log()
