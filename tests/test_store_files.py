"""The store on disk: private file modes, and a stored call never overwritten."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from helpers import make_event

from assist.events import to_wire
from assist.store.sqlite import Store
from assist.taps.replay import new_call_id

START = datetime(2026, 1, 1, 9, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def publish_call(store: Store, call_id: str, agent: str, text: str, start: datetime) -> None:
    events = [make_event("call.started", call_id, 0.0, None, agent=agent),
              make_event("transcript.final", call_id, 1.0, "customer", text=text, start=0.0,
                         end=1.0),
              make_event("call.ended", call_id, 2.0, None, agent=agent, duration=2.0,
                         reason="hangup")]
    for seq, e in enumerate(events, 1):
        store.publish(to_wire(e, seq, start), agent=agent, arrival=None)


def test_the_store_its_wal_and_its_folder_are_private(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "assist.sqlite3")
    publish_call(store, "c1", "1001", "你好", START)
    store.flush()
    files = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert files == ["assist.sqlite3", "assist.sqlite3-shm", "assist.sqlite3-wal"]
    for name in files:
        assert mode(tmp_path / "data" / name) == 0o600, name
    assert mode(tmp_path / "data") == 0o700
    store.close()


def test_the_panel_secret_folder_is_private(tmp_path: Path) -> None:
    from assist.panel.auth import load_or_create_secret

    load_or_create_secret(tmp_path / "new" / "panel-secret")
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "panel-secret") == 0o600


def test_a_call_under_an_id_already_stored_is_kept_beside_it(tmp_path: Path, caplog) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    publish_call(store, "daily-0900", "1001", "昨天的电话", START)
    store.close()
    # The next day, the same fixed-time run, and a new process.
    again = Store(path)
    publish_call(again, "daily-0900", "1001", "今天的电话", START.replace(day=2))
    publish_call(again, "daily-0900", "1001", "又一次", START.replace(day=3))
    again.close()
    ids = [c["call_id"] for c in again.calls()]
    assert ids == ["daily-0900", "daily-0900~2", "daily-0900~3"]
    texts = [[e["evidence"]["text"] for e in again.events(i) if e["type"] == "transcript.final"]
             for i in ids]
    assert texts == [["昨天的电话"], ["今天的电话"], ["又一次"]]
    assert all(e["call_id"] == "daily-0900~2" for e in again.events("daily-0900~2"))
    assert [c["reason"] for c in again.calls()] == ["hangup"] * 3
    assert sum("already stored" in r.getMessage() for r in caplog.records) == 2
    assert not [r for r in caplog.records if r.exc_info]


def test_replay_ids_carry_the_date_and_differ_at_the_same_second() -> None:
    a, b = new_call_id("demo_call", START), new_call_id("demo_call", START)
    assert a.startswith("demo_call-20260101T090000Z-") and a != b
