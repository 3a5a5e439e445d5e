"""`assist trunks test-call` on a forked trunk, against the running service: two legs
with the trunk's own pairing and role headers pair into one call and each party
hears its own leg's tone (exit 0); a PBX whose role values are the other way round
from role_values, and a role value the trunk does not know, each give exit 1 and
what to change; options of the other mode are a usage error (exit 2)."""

from __future__ import annotations

import shutil

import pytest

from tests.sip.test_sip_service import running_service
from tests.sip.test_trunk_test_call import party_line, test_call

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (sip-tester)")]
PBX_TRUNK = """[[trunks]]
name = "pbx"
mode = "forked"
sources = ["127.0.0.1"]
call_header = "X-Conversation"
role_header = "X-Leg"
role_values = { caller = "customer", callee = "agent" }
agent_header = "X-Agent"
"""


@pytest.fixture(scope="module")
def pbx(tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("svc"), PBX_TRUNK) as svc:
        yield svc


def test_a_forked_trunk_passes_with_its_own_headers_and_each_party_hears_its_leg(pbx):
    done = test_call(pbx.config, "--agent-id", "8107")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "test call on forked trunk pbx" in out and "paired by X-Conversation: " in out
    assert "customer X-Leg: caller with 90 Hz, agent X-Leg: callee (X-Agent: 8107)" in out
    assert "INVITE for the customer: 200 OK" in out and "INVITE for the agent: 200 OK" in out
    assert "legs: paired into one call, agent id 8107" in out
    customer, agent = party_line(out, "customer"), party_line(out, "agent")
    assert "heard the customer's tone (90 Hz)" in customer and customer.endswith(" ok")
    assert "heard the agent's tone (130 Hz)" in agent and agent.endswith(" ok")
    for line in (customer, agent):
        assert int(line.split("packets ")[1].split()[0]) >= 300  # 8 s of 20 ms packets
    assert out.splitlines()[-1].startswith("OK: both legs answered and paired, roles right")
    assert "Traceback" not in done.stderr


def test_a_pbx_sending_the_role_values_the_other_way_round_swaps_the_roles(pbx):
    done = test_call(pbx.config, "--customer-value", "callee", "--agent-value", "caller")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "roles swapped: the service took the customer's leg (X-Leg: callee) for the agent" in out
    assert "role_values of trunk pbx read 'callee' as agent and 'caller' as customer" in out
    assert "heard the agent's tone" in party_line(out, "customer")
    assert "heard the customer's tone" in party_line(out, "agent")
    assert out.splitlines()[-1].startswith("FAILED")
    assert "Traceback" not in done.stderr


def test_a_role_value_the_trunk_does_not_know_is_refused_with_what_to_add(pbx):
    done = test_call(pbx.config, "--agent-value", "supervisor")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "INVITE for the agent: 400 Bad Request" in out
    assert ("the agent leg was refused with 400: X-Leg: 'supervisor' is not a known role "
            "value") in out
    assert "add 'supervisor' = \"agent\" if your PBX sends it" in out
    assert "INVITE for the customer: 200 OK, ACKed; BYE sent at once" in out
    assert out.splitlines()[-1].startswith("FAILED (1 problem(s)")
    assert "Traceback" not in done.stderr


def test_options_of_the_other_mode_are_a_usage_error(tmp_path):
    cfg = tmp_path / "assist.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n\n{PBX_TRUNK}', encoding="utf-8")
    done = test_call(cfg, "--agent-aor", "sip:8107@pbx.example")
    assert done.returncode == 2
    assert "error: --agent-aor: not for trunk pbx, which is in forked mode" in done.stderr
    assert "--agent-value" in done.stderr and "Traceback" not in done.stderr
    done = test_call(cfg, "--trunk", "sbc")
    assert done.returncode == 2
    assert "error: no trunk named 'sbc' (trunks: pbx)" in done.stderr
