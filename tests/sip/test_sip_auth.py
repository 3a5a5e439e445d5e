"""Digest authentication of a trunk's INVITEs, with real sipp as the SBC: the 401
round trip re-sends the whole SIPREC INVITE, multipart body included."""

from __future__ import annotations

import re

import pytest

from sip.digest import parse_digest
from tests.sip.sipkit import (
    AGENT_HZ,
    CUSTOMER_HZ,
    assert_ended_in_order,
    assert_party_audio,
    run_sipp,
    statuses,
    two_tone_pcap,
    wait_until,
)

pytestmark = pytest.mark.integration

AUTH_IP = "127.0.0.5"  # the sbc-auth trunk in sipkit.TRUNKS
USER, PASSWORD = "sbc-east", "Circle Of Life"


def finals(workdir):
    return [s.split()[1] for s in statuses(workdir) if not s.startswith("SIP/2.0 1")]


def challenges(workdir):
    text = (workdir / "messages.log").read_text(errors="replace")
    return [ln.split(":", 1)[1].strip() for ln in text.splitlines()
            if ln.lower().startswith("www-authenticate:")]  # fmt: skip


def test_right_credentials_tap_the_call(tap, tmp_path, caplog):
    before = len(tap.sink.order)
    two_tone_pcap(tmp_path, seconds=2.0)
    r = run_sipp(tap, "siprec_auth.xml", tmp_path, ip=AUTH_IP, duration_ms=2400,
                 extra=["-au", USER, "-ap", PASSWORD])  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:] + (tmp_path / "messages.log").read_text()[-3000:]
    assert finals(tmp_path)[:2] == ["401", "200"]
    (www,) = challenges(tmp_path)
    p = parse_digest(www)
    assert (p["realm"], p["algorithm"], p["qop"]) == ("tap.example", "MD5", "auth")
    assert "stale" not in p
    log = (tmp_path / "messages.log").read_text(errors="replace")
    assert "Authorization: Digest" in log and 'qop=auth' in log.replace('"', "")
    assert wait_until(lambda: [c.ended for c in tap.sink.new_calls(before)] == ["hangup"])
    (call,) = tap.sink.new_calls(before)
    assert call.meta["trunk"] == "sbc-auth" and call.meta["basis"] == "metadata"
    assert call.agent == "8107"
    assert_party_audio(call, "customer", CUSTOMER_HZ)
    assert_party_audio(call, "agent", AGENT_HZ)
    assert_ended_in_order(call)
    assert f"digest user {USER} accepted on trunk sbc-auth" in caplog.text
    assert PASSWORD not in caplog.text
    assert tap.idle()


def test_wrong_password_gets_403_and_nothing_tapped(tap, tmp_path, caplog):
    before = len(tap.sink.order)
    r = run_sipp(tap, "siprec_auth.xml", tmp_path, ip=AUTH_IP,
                 extra=["-au", USER, "-ap", "Circle Of Strife"])  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:] + (tmp_path / "messages.log").read_text()[-3000:]
    assert finals(tmp_path) == ["401", "403"]
    assert tap.idle()
    assert tap.sink.new_calls(before) == []
    line = next(ln for ln in caplog.text.splitlines()
                if "wrong digest credentials" in ln and AUTH_IP in ln)
    assert f"wrong digest credentials for user '{USER}'" in line
    assert re.search(r"\b403\b", line), line
    sent = (tmp_path / "messages.log").read_text(errors="replace")
    response = next(ln for ln in sent.splitlines() if ln.startswith("Authorization:"))
    digest_response = parse_digest(response.split(":", 1)[1])["response"]
    assert digest_response not in caplog.text and "Strife" not in caplog.text


def test_no_credentials_get_only_401(tap, tmp_path):
    before = len(tap.sink.order)
    two_tone_pcap(tmp_path)
    r = run_sipp(tap, "siprec_uac.xml", tmp_path, ip=AUTH_IP, calls=2)
    assert r.returncode == 0, r.stderr[-2000:]
    assert finals(tmp_path) == ["401", "401"]
    nonces = [parse_digest(w)["nonce"] for w in challenges(tmp_path)]
    assert len(set(nonces)) <= 2 and all(nonces)
    assert tap.idle()
    assert tap.sink.new_calls(before) == []
    assert tap.server.refused.get(401, 0) >= 2
