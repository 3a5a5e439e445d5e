"""`assist trunks test-call` against the running service: a loopback SIPREC call on a
trunk with digest credentials comes out right (exit 0, each party heard its own
tone); AoRs the trunk's rules read the other way round, a source the trunk does not
allow, and no service at all each give exit 1 and the reason, without a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sip.test_sip_service import ROOT, running_service

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (sip-tester)")]
AUTH_TRUNK = """[[trunks]]
name = "sbc"
sources = ["127.0.0.1"]
agent_aor = '^sip:(?P<agent>8\\d{3})@'
username = "rec"
password = "s3cret-test"
"""
ELSEWHERE = """[[trunks]]
name = "far"
sources = ["192.0.2.0/24"]
agent_aor = '^sip:(?P<agent>8\\d{3})@'
"""


@pytest.fixture(scope="module")
def sbc(tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("svc"), AUTH_TRUNK) as svc:
        yield svc


def test_call(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assist", "--config", str(config), "trunks",
                           "test-call", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


test_call.__test__ = False  # type: ignore[attr-defined]


def party_line(out: str, party: str) -> str:
    return next(ln for ln in out.splitlines() if ln.split()[:1] == [party])


def test_a_right_trunk_passes_and_each_party_heard_its_own_tone(sbc):
    done = test_call(sbc.config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INVITE: 200 OK" in done.stdout
    assert "digest: answered the 401 as user rec" in done.stdout
    assert "roles: right (by metadata), agent id 8111" in done.stdout
    customer, agent = party_line(done.stdout, "customer"), party_line(done.stdout, "agent")
    assert "heard the customer's tone (90 Hz)" in customer and customer.endswith(" ok")
    assert "heard the agent's tone (130 Hz)" in agent and agent.endswith(" ok")
    packets = int(customer.split("packets ")[1].split()[0])
    assert packets >= 300  # 8 s of 20 ms packets, less what the jitter buffer drops
    assert done.stdout.splitlines()[-1].startswith("OK: answered, roles right")
    assert "Traceback" not in done.stderr


def test_aors_the_rules_read_the_other_way_round_are_swapped_roles(sbc):
    done = test_call(sbc.config, "--agent-aor", "sip:13800138000@carrier.example",
                     "--customer-aor", "sip:8107@pbx.example")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "roles swapped" in done.stdout and "check agent_aor/customer_aor" in done.stdout
    assert "13800138000" not in done.stdout  # masked as the store keeps it
    assert "heard the agent's tone" in party_line(done.stdout, "customer")
    assert done.stdout.splitlines()[-1].startswith("FAILED")
    assert "Traceback" not in done.stderr


def test_a_source_the_trunk_does_not_allow_is_refused_with_what_to_change(tmp_path):
    with running_service(tmp_path, ELSEWHERE) as svc:
        done = test_call(svc.config)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "INVITE: 403" in done.stdout
    assert "source 127.0.0.1 (udp) is not allowed by any trunk" in done.stdout
    assert 'add "127.0.0.1" to sources of trunk far' in done.stdout
    assert "Traceback" not in done.stderr


def test_no_service_running_is_a_clear_error(tmp_path):
    cfg = tmp_path / "assist.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[sip]\nhost = "127.0.0.1"\n'
                   f"tcp_port = 9\nudp_port = 9\n\n{AUTH_TRUNK}", encoding="utf-8")  # fmt: skip
    done = test_call(cfg, "--transport", "tcp")
    assert done.returncode == 1
    assert "nothing listens on 127.0.0.1:9/tcp: is the service running" in done.stdout
    assert "Traceback" not in done.stderr

