import stat

import pytest

from assist.cli.token import main as token_main
from assist.panel.auth import TokenError, issue_token, load_or_create_secret, verify_token

SECRET = b"s" * 32
NOW = 1_700_000_000.0


def test_agent_token_round_trip_and_visibility():
    tok = issue_token(SECRET, role="agent", agent="1001", ttl=60, now=NOW)
    claims = verify_token(SECRET, tok, now=NOW + 59)
    assert (claims.role, claims.agent, claims.exp) == ("agent", "1001", NOW + 60)
    assert claims.may_see("1001")
    assert not claims.may_see("1002")
    assert not claims.may_see(None)


def test_supervisor_sees_every_call():
    claims = verify_token(SECRET, issue_token(SECRET, role="supervisor", now=NOW), now=NOW)
    assert claims.role == "supervisor"
    assert claims.may_see("1001") and claims.may_see(None)


@pytest.mark.parametrize(
    "token, reason",
    [
        (None, "missing token"),
        ("", "missing token"),
        ("abc", "malformed token"),
        ("a.b.c", "malformed token"),
        ("!!!.???", "malformed token"),
    ],
)
def test_malformed_tokens_are_refused(token, reason):
    with pytest.raises(TokenError, match=reason):
        verify_token(SECRET, token, now=NOW)


def test_expired_forged_and_tampered_tokens_are_refused():
    tok = issue_token(SECRET, role="agent", agent="1001", ttl=60, now=NOW)
    with pytest.raises(TokenError, match="expired"):
        verify_token(SECRET, tok, now=NOW + 60)
    with pytest.raises(TokenError, match="signature"):
        verify_token(b"t" * 32, tok, now=NOW)
    # Swap in a supervisor payload but keep the agent's signature.
    sup = issue_token(SECRET, role="supervisor", ttl=60, now=NOW)
    forged = sup.split(".")[0] + "." + tok.split(".")[1]
    with pytest.raises(TokenError, match="signature"):
        verify_token(SECRET, forged, now=NOW)


def test_issue_rejects_impossible_requests():
    with pytest.raises(ValueError, match="agent id"):
        issue_token(SECRET, role="agent", now=NOW)
    with pytest.raises(ValueError, match="role"):
        issue_token(SECRET, role="admin", now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        issue_token(SECRET, role="supervisor", ttl=0, now=NOW)


def test_secret_file_is_created_private_and_reused(tmp_path):
    path = tmp_path / "data" / "panel-secret"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first
    path.write_text("not hex\n")
    with pytest.raises(ValueError, match="delete it"):
        load_or_create_secret(path)


def test_token_command_prints_a_verifiable_token(tmp_path, capsys):
    secret_file = tmp_path / "secret"
    assert token_main(["--agent", "1001", "--ttl", "120", "--secret-file", str(secret_file)]) == 0
    tok = capsys.readouterr().out.strip()
    claims = verify_token(load_or_create_secret(secret_file), tok, now=__import__("time").time())
    assert (claims.role, claims.agent) == ("agent", "1001")
    assert token_main(["--supervisor", "--secret-file", str(secret_file),
                       "--url", "http://127.0.0.1:8765/"]) == 0
    assert capsys.readouterr().out.startswith("http://127.0.0.1:8765/?token=")
    assert token_main(["--supervisor", "--ttl", "-1", "--secret-file", str(secret_file)]) == 2
    assert "--ttl" in capsys.readouterr().err
