"""A tap keeps its RTP ports inside `[sip] rtp_port_range`, reusing them as calls end,
so a firewall can name them; every call answered after the ports wrap carries both
parties' audio.  sipp plays the SBC, the tap is `python -m assist run`."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.cluster.tapd import SBC, TapProcess
from tests.cluster.test_kamailio_cluster import SCENARIO, assert_parties_right, sbc_audio
from tests.sip.sipkit import free_port, rtp_block, run_sipp, wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (sip-tester)")]
RANGE = 16  # the least allowed: four two-party calls at once, two ports a stream


def answered_ports(tap: TapProcess, call_id: str) -> list[int]:
    started = tap.events(call_id)[0]
    return sorted(int(a.rsplit(":", 1)[1]) for a in started["evidence"]["tap"]["rtp"].values())


def test_ports_stay_in_the_range_and_calls_after_the_wrap_carry_both_parties(
        tmp_path: Path) -> None:  # fmt: skip
    base = rtp_block()
    (tmp_path / "secret").write_text("ef" * 32)
    tap = TapProcess("tap", tmp_path, free_port(), base, tmp_path / "secret",
                     proxy="127.0.0.250", rtp_ports=RANGE)  # fmt: skip
    tap.start()
    try:
        rounds: list[set[int]] = []
        for prefix in ("a", "b"):  # four calls at once fill the range; the next four wrap
            work = tmp_path / prefix
            sbc_audio(work, 4.5)
            done = run_sipp(SimpleNamespace(port=tap.port), SCENARIO, work, ip=SBC, calls=4,
                            duration_ms=5000, keys={"agent": prefix, "spoof": SBC},
                            timeout=60)  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
            agents = {f"{prefix}{i}" for i in range(1, 5)}

            def ended(agents: set[str] = agents) -> bool:
                return all(tap.calls().get(a, {}).get("reason") for a in agents)

            assert wait_until(ended, 30), tap.calls()
            ports: set[int] = set()
            for a in sorted(agents):
                call_id = tap.calls()[a]["call_id"]
                assert_parties_right(tap.events(call_id))
                got = answered_ports(tap, call_id)
                assert len(got) == 2 and all(base <= p < base + RANGE - 1 for p in got), got
                ports |= set(got)
            rounds.append(ports)
        assert len(rounds[0]) == 8  # every stream its own port pair
        assert rounds[1] & rounds[0]  # ports were used again
    finally:
        tap.stop()
    assert "Traceback" not in tap.stderr(), tap.stderr()[-3000:]
