"""The whole chain on loopback: SBC (sipp) -> Kamailio -> three tap processes ->
the machine's analysis process -> Redis -> two gateways (panels) and the writer
(PostgreSQL).

Every call has its own agent (a1, a2, ...) whose panel is open on both gateways with
an agent token.  The customer's tone is 440 Hz for the first 2.5 s, the agent's
1000 Hz after it, so each party's talk spurt (its `metrics` event) says whether the
streams were kept apart end to end.  One tap is killed with `kill -9` mid-call: its
calls end on the panels and in PostgreSQL with a reason naming it, the others go on,
Kamailio stops sending it calls and takes it back once it is restarted.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.cluster import chaind, postgresd
from tests.cluster.chaind import (
    PanelReader,
    agent_token,
    pg_calls,
    pg_events,
    pg_seq_counts,
    writer,
)
from tests.cluster.gatewayd import Gateway
from tests.cluster.kamailiod import Kamailio, have_kamailio
from tests.cluster.redisd import REDIS_SERVER, RedisD
from tests.cluster.streamkit import wait_for
from tests.cluster.tapd import SBC, TapProcess
from tests.cluster.test_kamailio_cluster import assert_parties_right, sbc_audio
from tests.sip.sipkit import free_port, rtp_block, run_sipp, statuses

postgres_server = postgresd.postgres_server
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (sip-tester)"),
    pytest.mark.skipif(not have_kamailio(), reason="needs kamailio"),
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (make system)"),
]
SCENARIO = str(Path(__file__).parent / "scenarios" / "siprec_proxied.xml")
TAP_CALLS = 4
N_TAPS = 3
CALLS = N_TAPS * TAP_CALLS


@pytest.fixture(scope="module")
def chain(tmp_path_factory, postgres_server):
    work = tmp_path_factory.mktemp("chain")
    secret_file = work / "panel-secret"  # the taps' (digest nonces)
    secret_file.write_text("ab" * 32)
    redis = RedisD(work / "redis").start()
    pg = postgres_server.new_database()
    # Unix socket paths are short (107 bytes): not under pytest's deep tmp folder.
    sockdir = tempfile.TemporaryDirectory(prefix="assist-chain-")
    sock = Path(sockdir.name) / "analysis.sock"
    an = chaind.analysis(work, redis.url, sock)
    taps = [TapProcess(f"tap{i}", work, free_port(), rtp_block(),
                       secret_file, proxy="127.0.0.1",
                       extra=f'role = "tap"\nanalysis_socket = "{sock}"')
            for i in range(1, N_TAPS + 1)]  # fmt: skip
    proxy = Kamailio.in_front_of(work, [t.address for t in taps], TAP_CALLS)
    (work / "gw").mkdir()
    gateways = [Gateway(work / "gw", redis.url, f"gw{i}") for i in (1, 2)]  # one data_dir
    for g in gateways:  # review pages read what the writer keeps
        g.config.write_text(g.config.read_text().replace(
            "[cluster]\n", f'[cluster]\npostgres_url = "{pg}"\n'), encoding="utf-8")
    secret = gateways[0].secret()  # both gateways' panel secret
    w = writer(work, redis.url, pg)
    try:
        w.start()
        an.start()
        for t in taps:
            t.start()
        for t in taps:  # a tap not yet connected to the analysis process answers 503
            wait_for(lambda t=t: connected(an, t.name) >= 1, 60, f"{t.name} on the hop")
        proxy.start()
        for g in gateways:
            g.start()
        yield SimpleNamespace(work=work, redis=redis, pg=pg, taps=taps, proxy=proxy,
                              gateways=gateways, analysis=an, writer=w, secret=secret)
    finally:
        for t in taps:
            t.stop()
        proxy.stop()
        for g in gateways:
            g.stop()
        an.stop()
        w.stop()
        redis.stop()
        sockdir.cleanup()


def place(chain, workdir: Path, *, calls: int, agent: str, seconds: float,
          background: bool = False):  # fmt: skip
    sbc_audio(workdir, seconds - 0.5)
    return run_sipp(SimpleNamespace(port=chain.proxy.port), SCENARIO, workdir, ip=SBC,
                    calls=calls, duration_ms=int(seconds * 1000), background=background,
                    keys={"agent": agent, "spoof": SBC}, timeout=90)  # fmt: skip


def connected(analysis, tap: str) -> int:
    """How often this tap has connected to the analysis process (its log says)."""
    return analysis.log().count(f"tap process {tap} connected")


def agents(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(1, n + 1)]  # sipp numbers calls from 1


def tap_of(chain, agent: str) -> str | None:
    """The tap that answered this agent's call, from its log line."""
    line = re.compile(rf"call \S+ started: agent {re.escape(agent)},")
    for t in chain.taps:
        if line.search(t.stderr()):
            return str(t.name)
    return None


def panels(chain, names: list[str]) -> dict[tuple[str, str], PanelReader]:
    """(agent, gateway) -> that agent's panel on that gateway."""
    return {(a, g.name): PanelReader(g.ws_url, agent_token(chain.secret, a), f"{a}@{g.name}")
            for a in names for g in chain.gateways}  # fmt: skip


def ended_on(panel: PanelReader) -> dict[str, Any] | None:
    """The panel's one call, once it has ended: (call id, its events)."""
    calls = panel.calls()
    if len(calls) != 1:
        return None
    (cid, evs), = calls.items()
    return {"call_id": cid, "events": evs} if evs[-1]["type"] == "call.ended" else None


def assert_once_in_postgres(chain, call_id: str, seen: list[dict[str, Any]]) -> None:
    """PostgreSQL holds seq 1..N once each, N the call.ended's seq, and what panels got."""
    counts = pg_seq_counts(chain.pg, [call_id])[call_id]
    seqs = [s for s, _ in counts]
    assert seqs == list(range(1, len(seqs) + 1)) and all(n == 1 for _, n in counts), counts
    stored = pg_events(chain.pg, call_id)
    assert stored[-1]["type"] == "call.ended" and stored[-1]["seq"] == len(seqs)
    assert [e["seq"] for e in seen] == seqs  # the panel got every one, in order, once
    assert [e["type"] for e in stored] == [e["type"] for e in seen]


def test_calls_reach_every_gateway_and_postgres_once_and_a_dead_tap_is_noticed(chain) -> None:
    work = chain.work / "calls"
    first = agents("a", CALLS)
    views = panels(chain, first)
    try:
        sipp = place(chain, work / "a", calls=CALLS, agent="a", seconds=12.0, background=True)
        wait_for(lambda: all(tap_of(chain, a) for a in first), 60, "every call answered")
        held = {a: tap_of(chain, a) for a in first}
        per_tap = {t.name: sum(1 for h in held.values() if h == t.name) for t in chain.taps}
        assert per_tap == {t.name: TAP_CALLS for t in chain.taps}, per_tap  # call load
        # Every panel has its call live before the tap dies.
        wait_for(lambda: all(p.events() for p in views.values()), 60, "every panel's call")

        victim = chain.taps[1]
        down = f"tap sip:{victim.address};transport=udp is down"
        up = f"tap sip:{victim.address};transport=udp is up"
        downs, ups = len(chain.proxy.lines(down)), len(chain.proxy.lines(up))
        victim.kill()
        sipp.communicate(timeout=120)

        cut = {a for a, h in held.items() if h == victim.name}
        got = {k: wait_for(lambda p=p: ended_on(p), 60, f"{k} ended") for k, p in views.items()}
        stored = wait_for(lambda: (c := pg_calls(chain.pg)) and all(
            c.get(a, {}).get("reason") for a in first) and c, 60, "every call ended in PostgreSQL")
        for a in first:
            mine = [got[(a, g.name)] for g in chain.gateways]
            assert mine[0]["call_id"] == mine[1]["call_id"] == stored[a]["call_id"]
            # Both gateways gave the same events, in seq order, each once.
            assert [e["seq"] for e in mine[0]["events"]] == [e["seq"] for e in mine[1]["events"]]
            end = mine[0]["events"][-1]["evidence"]["reason"]
            assert stored[a]["reason"] == end
            if a in cut:
                assert victim.name in end and end != "hangup", (a, end)
            else:
                assert end == "hangup", (a, end)
                assert_parties_right(mine[0]["events"])
            assert_once_in_postgres(chain, stored[a]["call_id"], mine[0]["events"])
    finally:
        for p in views.values():
            p.close()

    # Kamailio's probes find the dead tap; new calls go to the other two only.
    wait_for(lambda: len(chain.proxy.lines(down)) > downs, 30, "Kamailio marking the tap down")
    n_b = (N_TAPS - 1) * TAP_CALLS
    res = place(chain, work / "b", calls=n_b, agent="b", seconds=4.0)
    assert res.returncode == 0, res.stdout[-2000:]
    second = agents("b", n_b)
    wait_for(lambda: all(pg_calls(chain.pg).get(a, {}).get("reason") for a in second), 60,
             "the second round stored")
    assert victim.name not in {tap_of(chain, a) for a in second}
    assert all(pg_calls(chain.pg)[a]["reason"] == "hangup" for a in second)

    # Restarted, it takes calls again.
    victim.start()
    wait_for(lambda: connected(chain.analysis, victim.name) >= 2, 60, "the tap back on the hop")
    wait_for(lambda: len(chain.proxy.lines(up)) > ups, 30, "Kamailio marking the tap up")
    third = agents("c", CALLS)
    res = place(chain, work / "c", calls=CALLS, agent="c", seconds=4.0)
    assert res.returncode == 0, (res.stdout[-2000:], statuses(work / "c"))
    wait_for(lambda: all(pg_calls(chain.pg).get(a, {}).get("reason") for a in third), 60,
             "the third round stored")
    assert sum(1 for a in third if tap_of(chain, a) == victim.name) == TAP_CALLS
    for a in third:
        call = pg_calls(chain.pg)[a]
        assert call["reason"] == "hangup", (a, call)
        assert_parties_right(pg_events(chain.pg, call["call_id"]))
