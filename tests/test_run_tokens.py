"""What `run` prints about the panel: tokens on a terminal or when asked, never into a log."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assist.panel.auth import verify_token

ROOT = Path(__file__).resolve().parents[1]


def start(tmp_path: Path, *extra: str, tty: bool = False) -> tuple[subprocess.Popen, Iterator[str]]:
    cfg = tmp_path / "assist.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    argv = [sys.executable, "-m", "assist", "--config", str(cfg), "run", "--port", "0",
            "--once", "--fast", *extra]
    if not tty:
        proc = subprocess.Popen(argv, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        return proc, iter(proc.stdout)
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)

    def lines() -> Iterator[str]:
        buf = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the process closed the terminal
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line.decode()

    return proc, lines()


def banner(lines: Iterator[str]) -> str:
    out = []
    for line in lines:
        out.append(line)
        if "replaying" in line:
            break
    return "\n".join(out)


@pytest.fixture
def stop():
    procs: list[subprocess.Popen] = []
    yield procs.append
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


def test_without_a_terminal_no_token_is_printed_only_how_to_get_one(tmp_path, stop) -> None:
    proc, lines = start(tmp_path)
    stop(proc)
    text = banner(lines)
    assert "token=" not in text
    url = re.search(r"running on (http://\S+)", text).group(1)
    (command,) = re.findall(r"python -m assist (.*token --agent \S+ --url \S+)", text)
    assert command.endswith(f"--url {url}")
    got = subprocess.run([sys.executable, "-m", "assist", *command.split()], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.strip()
    secret = bytes.fromhex((tmp_path / "data" / "panel-secret").read_text().strip())
    claims = verify_token(secret, got.split("token=", 1)[1], now=time.time())
    assert claims.agent == "agent-1001"  # the config's default call.agent


@pytest.mark.parametrize("how", ["flag", "terminal"])
def test_demo_tokens_are_printed_when_asked_and_live_an_hour(tmp_path, stop, how) -> None:
    proc, lines = start(tmp_path, *(["--show-tokens"] if how == "flag" else []),
                        tty=how == "terminal")
    stop(proc)
    text = banner(lines)
    tokens = dict(re.findall(r"(agent panel|supervisor view).*?\?token=(\S+)", text))
    assert set(tokens) == {"agent panel", "supervisor view"}
    secret = bytes.fromhex((tmp_path / "data" / "panel-secret").read_text().strip())
    for tok in tokens.values():
        life = verify_token(secret, tok, now=time.time()).exp - time.time()
        assert 3000 < life <= 3600
    assert "valid 60 min" in text
