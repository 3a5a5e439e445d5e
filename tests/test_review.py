"""`python -m assist calls`: what a supervisor reads after the call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import START

from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.events import Event
from assist.store.sqlite import Store

ROOT = Path(__file__).resolve().parents[1]


def assist(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assist", "--config", str(cfg), "calls", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_calls_are_listed_per_agent_and_shown_with_their_flags(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "assist.sqlite3")
    hub = CallHub(LoopParams(), [store])
    for call_id, agent in (("c1", "1001"), ("c2", "1002")):
        hub.start_call(call_id, agent=agent, rate=8000, start_utc=START)
        s = hub.sessions[call_id]
        s.inject(Event("transcript.final", call_id, 3.0, "customer",
                       {"text": "我的卡号是6222021234567890", "start": 1.0, "end": 3.0}))
        s.inject(Event("interruption", call_id, 5.0, "agent",
                       {"onset": 4.0, "overlap": 1.0, "min_overlap": 1.0,
                        "customer_since": 1.0}))
        hub.end_call(call_id)
    store.close()
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'data_dir = "{data}"\n', encoding="utf-8")

    mine = assist(cfg, "list", "--agent", "1001")
    assert mine.returncode == 0 and "c1" in mine.stdout and "c2" not in mine.stdout
    shown = assist(cfg, "show", "c1")
    assert shown.returncode == 0
    assert "agent cut in at 4.0 s" in shown.stdout
    assert "************7890" in shown.stdout and "6222021234567890" not in shown.stdout
    missing = assist(cfg, "show", "nope")
    assert missing.returncode != 0 and "no call 'nope'" in missing.stderr


def test_no_store_yet_says_how_to_make_one(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "empty"}"\n', encoding="utf-8")
    r = assist(cfg, "list")
    assert r.returncode != 0 and "python -m assist run" in r.stderr and "Traceback" not in r.stderr


def test_purge_deletes_old_calls_with_their_transcripts(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    data = tmp_path / "data"
    store = Store(data / "assist.sqlite3")
    hub = CallHub(LoopParams(), [store])
    now = datetime.now(UTC)
    for call_id, start in (("old", now - timedelta(days=40)), ("new", now)):
        hub.start_call(call_id, agent="1001", rate=8000, start_utc=start)
        hub.sessions[call_id].inject(Event("transcript.final", call_id, 2.0, "customer",
                                           {"text": f"{call_id} 我要退款", "start": 0.0,
                                            "end": 2.0}))
        hub.end_call(call_id)
    store.close()
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'data_dir = "{data}"\n', encoding="utf-8")
    r = assist(cfg, "purge", "--days", "30")
    assert r.returncode == 0 and "deleted 1 call(s)" in r.stdout
    listed = assist(cfg, "list").stdout
    assert "new" in listed and "old " not in listed
    assert "old 我要退款" not in (data / "assist.sqlite3").read_bytes().decode("utf-8", "ignore")
