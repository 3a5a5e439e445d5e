"""Kamailio in front of three tap processes, sipp as the SBC.

The SBC sends SIPREC calls to Kamailio's port only.  Kamailio spreads them by
call load (at most 4 a tap), record-routes the dialog so ACK and BYE reach the
tap holding the call, and vouches for the SBC's address in X-Assist-Source.
Each call carries its own agent id (a1, a2, ...), so its store row says which
tap took it.  Customer: 440 Hz for the first 2.5 s; agent: 1000 Hz after it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.cluster.kamailiod import Kamailio, have_kamailio
from tests.cluster.tapd import SBC, SBC_AUTH, STRANGER, TapProcess
from tests.sip.rtp import tone, write_pcap
from tests.sip.sipkit import free_port, rtp_block, run_sipp, statuses, wait_until, warning_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (sip-tester)"),
    pytest.mark.skipif(not have_kamailio(), reason="needs kamailio"),
]
SCENARIO = str(Path(__file__).parent / "scenarios" / "siprec_proxied.xml")
SWITCH = 2.5  # s: the customer's tone stops and the agent's starts
TAP_CALLS = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster")
    secret = work / "panel-secret"
    secret.write_text("ab" * 32)
    taps = [TapProcess(f"tap{i}", work, free_port(), rtp_block(),
                       secret, proxy="127.0.0.1") for i in (1, 2, 3)]  # fmt: skip
    proxy = Kamailio.in_front_of(work, [t.address for t in taps], TAP_CALLS)
    try:
        for t in taps:
            t.start()
        proxy.start()
        yield SimpleNamespace(proxy=proxy, taps=taps, work=work)
    finally:
        for t in taps:
            t.stop()
        proxy.stop()


def sbc_audio(workdir: Path, seconds: float) -> None:
    customer, agent = tone(440.0, seconds), tone(1000.0, seconds)
    customer[int(SWITCH * 8000):] = 0
    agent[: int(SWITCH * 8000)] = 0
    workdir.mkdir(parents=True, exist_ok=True)
    write_pcap(workdir / "audio.pcap", [(0, customer), (2, agent)])


def place(cluster, workdir: Path, *, calls: int, agent: str, seconds: float, ip: str = SBC,
          spoof: str = SBC, background: bool = False, extra: list[str] | None = None):  # fmt: skip
    sbc_audio(workdir, seconds - 0.5)
    return run_sipp(SimpleNamespace(port=cluster.proxy.port), SCENARIO, workdir, ip=ip,
                    calls=calls, duration_ms=int(seconds * 1000), background=background,
                    keys={"agent": agent, "spoof": spoof}, extra=extra, timeout=60)  # fmt: skip


def stored(cluster, prefix: str) -> dict[str, dict]:
    """agent -> its call, over every tap's store."""
    out: dict[str, dict] = {}
    for t in cluster.taps:
        out.update({a: c for a, c in t.calls().items() if a and a.startswith(prefix)})
    return out


def numbered(prefix: str, n: int) -> set[str]:
    return {f"{prefix}{i}" for i in range(1, n + 1)}  # sipp numbers calls from 1


def ended(cluster, agents: set[str]) -> dict[str, dict]:
    """These agents' calls, once each has ended in its tap's store."""

    def done() -> bool:
        calls = stored(cluster, "")
        return all(calls.get(a, {}).get("reason") for a in agents)

    wait_until(done, 30)
    return {a: c for a, c in stored(cluster, "").items() if a in agents}


def tap_of(cluster, name: str) -> TapProcess:
    return next(t for t in cluster.taps if t.name == name)


def assert_tapped_right(tap: TapProcess, call_id: str) -> None:
    assert_parties_right(tap.events(call_id))


def assert_parties_right(events: list[dict]) -> None:
    """Each party's spurt is its own tone at its own time: the streams were not crossed."""
    spurts = {(e["party"]): e["evidence"] for e in events if e["type"] == "metrics"}
    # sipp sends the agent's stream to the customer's port + 2: say which ports answered
    assert set(spurts) == {"customer", "agent"}, (spurts, events[0]["evidence"].get("tap"))
    c, a = spurts["customer"], spurts["agent"]
    # Call time comes from the media clock: when a busy machine delays the sender, the
    # tap's jitter buffer fills in and a spurt can last longer, never shorter.
    assert c["start"] < 0.5 and c["duration"] >= SWITCH - 0.5
    assert a["start"] >= SWITCH - 0.5 and a["start"] > c["start"] + 1.0
    assert c["high_ratio"] < 0.1 < 0.4 < a["high_ratio"]  # 440 Hz vs 1000 Hz


def test_calls_spread_a_dead_tap_is_skipped_and_taken_back(cluster) -> None:
    work = cluster.work / "spread"
    n = len(cluster.taps) * TAP_CALLS
    sipp = place(cluster, work / "a", calls=n, agent="a", seconds=8.0, background=True)
    assert wait_until(lambda: len(stored(cluster, "a")) == n, 60), stored(cluster, "a")
    first = stored(cluster, "a")
    per_tap = {t.name: sum(1 for c in first.values() if c["tap"] == t.name)
               for t in cluster.taps}  # fmt: skip
    assert per_tap == {t.name: TAP_CALLS for t in cluster.taps}  # call load: 4 each

    victim = cluster.taps[1]
    down = f"tap sip:{victim.address};transport=udp is down"
    up = f"tap sip:{victim.address};transport=udp is up"
    downs, ups = len(cluster.proxy.lines(down)), len(cluster.proxy.lines(up))
    victim.kill()
    out, err = sipp.communicate(timeout=90)
    survivors = {a: c for a, c in first.items() if c["tap"] != victim.name}
    now = ended(cluster, set(survivors))
    for agent, call in survivors.items():
        assert now[agent]["reason"] == "hangup", (agent, now[agent])
        assert_tapped_right(tap_of(cluster, call["tap"]), call["call_id"])
    assert statuses(work / "a").count("SIP/2.0 200 OK") >= n

    # Kamailio's probes find the dead tap; new calls go to the other two only.
    assert wait_until(lambda: len(cluster.proxy.lines(down)) > downs, 20), \
        cluster.proxy.log()[-2000:]
    n_b = (len(cluster.taps) - 1) * TAP_CALLS
    res = place(cluster, work / "b", calls=n_b, agent="b", seconds=4.0)
    assert res.returncode == 0, res.stdout[-2000:]
    second = ended(cluster, numbered("b", n_b))
    assert len(second) == n_b
    assert victim.name not in {c["tap"] for c in second.values()}
    assert all(c["reason"] == "hangup" for c in second.values())

    # Restarted, it finds its calls cut short, and Kamailio sends it calls again.
    victim.start()
    cut = {a: c for a, c in victim.calls().items() if a.startswith("a")}
    assert len(cut) == TAP_CALLS
    assert all("stopped before it ended" in c["reason"] for c in cut.values())
    assert wait_until(lambda: len(cluster.proxy.lines(up)) > ups, 20), \
        cluster.proxy.log()[-2000:]
    res = place(cluster, work / "c", calls=n, agent="c", seconds=4.0)
    assert res.returncode == 0, res.stdout[-2000:]
    third = ended(cluster, numbered("c", n))
    assert len(third) == n, statuses(work / "c")  # sipp counts a refused call as done
    assert sum(1 for c in third.values() if c["tap"] == victim.name) == TAP_CALLS, third
    for call in third.values():
        assert call["reason"] == "hangup"
        assert_tapped_right(tap_of(cluster, call["tap"]), call["call_id"])


def test_a_sender_cannot_vouch_for_itself(cluster) -> None:
    """A stranger's INVITE naming the SBC in X-Assist-Source: Kamailio replaces the
    header with the stranger's own address, and a tap ignores the header from anyone
    but the proxy."""
    work = cluster.work / "spoof"
    via = place(cluster, work / "via-proxy", calls=1, agent="s", seconds=2.0, ip=STRANGER,
                spoof=SBC)  # fmt: skip
    assert "SIP/2.0 403 Forbidden" in statuses(work / "via-proxy"), via.stdout[-2000:]
    assert f"source {STRANGER}" in (warning_of(work / "via-proxy", 403) or "")

    direct = work / "direct"
    sbc_audio(direct, 1.0)
    tap = cluster.taps[0]
    run_sipp(SimpleNamespace(port=tap.port), SCENARIO, direct, ip=STRANGER, calls=1,
             keys={"agent": "s", "spoof": SBC})  # fmt: skip
    assert "SIP/2.0 403 Forbidden" in statuses(direct)
    assert f"source {STRANGER}" in (warning_of(direct, 403) or "")
    assert not stored(cluster, "s")


def test_digest_challenge_passes_through_the_proxy(cluster) -> None:
    """401 from whichever tap, the retry may reach another: the taps share the nonce key."""
    work = cluster.work / "auth"
    res = place(cluster, work, calls=3, agent="d", seconds=3.0, ip=SBC_AUTH,
                extra=["-au", "sbc-east", "-ap", "Circle Of Life"])  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:]
    got = statuses(work)
    assert got.count("SIP/2.0 401 Unauthorized") == 3 and got.count("SIP/2.0 200 OK") >= 3
    calls = ended(cluster, numbered("d", 3))
    assert len(calls) == 3 and all(c["reason"] == "hangup" for c in calls.values())
