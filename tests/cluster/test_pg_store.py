"""Calls kept in PostgreSQL read back as SQLite keeps them: `calls`, `qa report`, review."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import START
from stored import demo_wires, store_calls

from assist.call.hub import CallHub
from assist.call.session import LoopParams
from assist.events import Event
from assist.panel.auth import Claims
from assist.panel.review import ReviewRoutes
from assist.store.postgres import PostgresArchive, PostgresStore
from tests.cluster.postgresd import BIN, Postgres, _as_postgres, pg_url, postgres_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"k" * 32


def assist(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assist", "--config", str(cfg), *args],
                          cwd=ROOT, text=True, capture_output=True, timeout=120)


def config(tmp_path: Path, name: str, url: str = "") -> Path:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(f'data_dir = "{tmp_path / name}"\n[cluster]\npostgres_url = "{url}"\n',
                   encoding="utf-8")
    return cfg


def pg_publish(url: str, calls: list[list[dict]]) -> None:
    store = PostgresStore(url)
    for wires in calls:
        for w in wires:
            store.publish(w, agent=None, arrival=None)
    store.close()


def test_the_demo_call_reads_back_from_postgresql_as_from_sqlite(
        tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    demo = demo_wires("demo1")
    other = [dict(w, call_id="demo2", evidence={**w["evidence"], "agent": "agent-2002"})
             if w["type"] == "call.started" else dict(w, call_id="demo2") for w in demo]
    store_calls(tmp_path / "lite" / "assist.sqlite3", [demo_wires("demo1"), other])
    pg_publish(pg_url, [demo, [dict(w) for w in other]])
    lite, pg = config(tmp_path, "lite"), config(tmp_path, "pg", pg_url)
    for args in (["calls", "list"], ["calls", "list", "--agent", "agent-1001"],
                 ["calls", "show", "demo1", "--all"], ["calls", "show", "demo2", "--json"]):
        a, b = assist(lite, *args), assist(pg, *args)
        assert a.returncode == b.returncode == 0, (args, a.stderr, b.stderr)
        assert a.stdout == b.stdout, args
    listed = assist(pg, "calls", "list", "--agent", "agent-1001").stdout
    assert "demo1" in listed and "demo2" not in listed and "1 call(s)" in listed
    shown = assist(pg, "calls", "show", "demo2", "--json").stdout.splitlines()
    assert [json.loads(x) for x in shown] == [dict(w, call_id="demo2") for w in other]
    # qa report writes the same scorecards from either store.
    reports = []
    for cfg in (lite, pg):
        out = tmp_path / f"qa-{cfg.stem}"
        r = assist(cfg, "qa", "report", "--agent", "agent-1001", "--since", "2026-01-01",
                   "--out", str(out))
        assert r.returncode == 0, r.stderr
        reports.append(json.loads((out / "qa-agent-1001-2026-01-01.json").read_text("utf-8")))
    assert reports[0] == reports[1] and reports[1]["calls"] == 1
    # Retention: the demo calls (January) are older than 30 days.
    r = assist(pg, "calls", "purge", "--days", "30")
    assert r.returncode == 0 and "deleted 2 call(s)" in r.stdout, r.stderr
    archive = PostgresArchive(pg_url)
    assert archive.calls() == [] and archive.events("demo1") == []


def test_review_shows_an_agent_only_their_own_calls(pg_url: str) -> None:  # noqa: F811
    demo = demo_wires("mine")
    theirs = [dict(w, call_id="theirs", evidence={**w["evidence"], "agent": "agent-7"})
              if w["type"] == "call.started" else dict(w, call_id="theirs") for w in demo]
    pg_publish(pg_url, [demo, theirs])
    archive = PostgresArchive(pg_url)
    routes = ReviewRoutes(archive, SECRET)
    me = Claims(role="agent", agent="agent-1001", exp=2e9)
    boss = Claims(role="supervisor", agent=None, exp=2e9)
    assert routes.review("theirs", me) is None
    mine = routes.review("mine", me)
    assert mine is not None and [e["seq"] for e in mine["events"]] == [w["seq"] for w in demo]
    assert routes.review("theirs", boss) is not None
    assert [c["call_id"] for c in archive.calls(agent="agent-7")] == ["theirs"]


def test_an_event_published_twice_is_one_row(pg_url: str, caplog) -> None:  # noqa: F811
    demo = demo_wires("twice")
    pg_publish(pg_url, [demo, demo[3:9]])
    events = PostgresArchive(pg_url).events("twice")
    assert [e["seq"] for e in events] == [w["seq"] for w in demo]
    assert [c["call_id"] for c in PostgresArchive(pg_url).calls()] == ["twice"]


def test_numbers_are_masked_before_they_reach_postgresql(
        pg_url: str, postgres_server: Postgres) -> None:  # noqa: F811
    store = PostgresStore(pg_url)
    hub = CallHub(LoopParams(), [store])
    hub.start_call("c1", agent="a7", rate=8000, start_utc=START)
    hub.sessions["c1"].inject(Event("transcript.final", "c1", 2.0, "customer",
                                    {"text": "我的号码是13812345678", "start": 0.5, "end": 2.0,
                                     "words": [{"w": "号码", "start": 0.8, "end": 1.0},
                                               {"w": "13812345678", "start": 1.1,
                                                "end": 2.0}]}))
    hub.end_call("c1", "hangup")
    store.close()
    (final,) = PostgresArchive(pg_url).events("c1", types=["transcript.final"])
    assert final["evidence"]["text"] == "我的号码是*******5678"
    assert final["evidence"]["words"][-1]["w"] == "*******5678"
    db = pg_url.rsplit("/", 1)[1]
    dump = subprocess.run(_as_postgres(str(BIN / "pg_dump"), "-h", str(postgres_server.folder),
                                       "-p", str(postgres_server.port), "-U", "postgres", db),
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert "*******5678" in dump and "13812345678" not in dump


def test_a_broken_postgres_url_is_one_clear_line(tmp_path: Path,
                                                 postgres_server: Postgres) -> None:  # noqa: F811
    from tests.cluster.postgresd import free_port

    closed = config(tmp_path, "closed", f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    missing = config(tmp_path, "missing", postgres_server.url("no_such_db"))
    for cfg in (closed, missing):
        for args in (["calls", "list"], ["qa", "report", "--agent", "a", "--since", "2026-01-01"],
                     ["run", "--once", "--fast", "--port", "0"]):
            r = assist(cfg, *args)
            assert r.returncode == 2, (cfg.stem, args, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr
            assert "cluster.postgres_url: cannot connect to postgresql://postgres@127.0.0.1" \
                in r.stderr, r.stderr
    empty = config(tmp_path, "empty", postgres_server.new_database())
    r = assist(empty, "calls", "list")
    assert r.returncode == 2 and "no calls stored there yet" in r.stderr and \
        "Traceback" not in r.stderr


def test_run_keeps_its_call_in_postgresql(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    cfg = config(tmp_path, "run", pg_url)
    r = assist(cfg, "run", "--once", "--fast", "--port", "0")
    assert r.returncode == 0, r.stderr
    assert "store: postgresql://postgres@127.0.0.1" in r.stdout
    (call,) = PostgresArchive(pg_url).calls()
    assert call["agent"] == "agent-1001" and call["ended_utc"] is not None
    events = PostgresArchive(pg_url).events(call["call_id"])
    assert [e["type"] for e in events] == [w["type"] for w in demo_wires("demo1")]
    assert not (tmp_path / "run" / "assist.sqlite3").exists()
