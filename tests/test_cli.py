"""The command line as the README shows it: every command's options reach it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from assist.panel.auth import load_or_create_secret, verify_token

ROOT = Path(__file__).resolve().parents[1]


def assist(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assist", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60)


def test_token_options_after_the_command_word_reach_it(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    r = assist("--config", str(cfg), "token", "--agent", "1001", "--url",
               "http://127.0.0.1:8765/")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert url.startswith("http://127.0.0.1:8765/?token=")
    # Signed with the service's own secret in the config's data folder.
    secret = load_or_create_secret(tmp_path / "data" / "panel-secret")
    claims = verify_token(secret, url.split("token=", 1)[1], now=time.time())
    assert (claims.role, claims.agent) == ("agent", "1001")
    sup = assist("--config", str(cfg), "token", "--supervisor")
    assert sup.returncode == 0 and sup.stdout.strip()


def test_each_command_answers_its_own_help() -> None:
    for command in ("token", "models", "prompts", "calls", "trunks", "replay", "run"):
        r = assist(command, "--help")
        assert r.returncode == 0, (command, r.stderr)
        assert "usage:" in r.stdout


def test_no_command_shows_what_there_is() -> None:
    r = assist()
    assert r.returncode == 2 and "replay" in r.stdout and "trunks" in r.stdout


def test_auth_section_sets_the_token_lifetime_and_secret_file(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    secret_file = tmp_path / "keys" / "panel.key"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[auth]\ntoken_ttl = 600\n'
                   f'secret_file = "{secret_file}"\n', encoding="utf-8")
    before = time.time()
    r = assist("--config", str(cfg), "token", "--supervisor")
    assert r.returncode == 0, r.stderr
    claims = verify_token(load_or_create_secret(secret_file), r.stdout.strip(), now=time.time())
    assert before + 600 - 1 <= claims.exp <= time.time() + 600
    assert not (tmp_path / "data" / "panel-secret").exists()


def test_every_command_exits_2_on_a_user_error(tmp_path: Path) -> None:
    """One convention: 2 for a usage or user error (as argparse does), with a message."""
    bad_book = tmp_path / "books"
    bad_book.mkdir()
    (bad_book / "x.toml").write_text("[[entries]]\nid = 3\n", encoding="utf-8")
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")
    cases = {
        "unknown option": ["replay", "--no-such-option"],
        "missing recording": ["replay", str(tmp_path / "none.wav")],
        "bad config": ["--config", str(tmp_path / "none.toml"), "config", "check"],
        "unknown model": ["models", "download", "no-such-model", "--dir", str(tmp_path)],
        "bad playbook": ["prompts", "check", str(bad_book)],
        "bad token lifetime": ["token", "--agent", "a", "--ttl", "-1"],
        "unusable secret file": ["token", "--agent", "a", "--secret-file",
                                 str(blocked / "secret")],
        "missing trunks file": ["trunks", "check", str(tmp_path / "none.toml")],
        "unknown call": ["--config", str(tmp_path / "a.toml"), "calls", "show", "nope"],
    }
    (tmp_path / "a.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    for what, args in cases.items():
        r = assist(*args)
        assert r.returncode == 2, (what, r.returncode, r.stderr)
        assert r.stderr.strip() and "Traceback" not in r.stderr, (what, r.stderr)


def test_page_loads_are_not_logged_line_by_line(tmp_path: Path) -> None:
    """A request is worth no INFO lines; our own INFO news still shows."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "assist", "--config", str(cfg), "run",
                             "--port", str(port)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.lstrip().startswith("store:"):  # printed once the service is up
                break
        for path in ("/", "/style.css", "/app.js"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
                assert r.status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "INFO assist.call.hub: call" in err
    assert "websockets" not in err, err


def test_config_check_checks_what_run_would_stop_on(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[coach]\nmax_active = 2\n", encoding="utf-8")
    r = assist("--config", str(good), "config", "check")
    assert r.returncode == 0 and r.stdout.startswith(f"{good}: ok ("), r.stderr
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "bad.toml").write_text('language = "zh-CN"\n[[entry]]\nid = "X"\n',
                                                 encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text('[prompts]\ndirs = ["site"]\n[anger]\nattak = 1\n', encoding="utf-8")
    r = assist("--config", str(bad), "config", "check")
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {bad}:4: anger.attak: unknown key 'attak'; did you "
                               "mean 'attack'? known: ")
    assert r.stderr.count("\n") == 1
    bad.write_text('[prompts]\ndirs = ["site"]\n', encoding="utf-8")
    r = assist("--config", str(bad), "config", "check")
    assert r.returncode == 2 and f"{tmp_path / 'site' / 'bad.toml'}:3: entry ?: `id` must be" \
        in r.stderr, r.stderr
