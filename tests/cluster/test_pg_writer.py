"""The writer role: Redis stream to PostgreSQL, every event once, whatever dies when."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import redis
from stored import demo_wires

from assist.cluster.bus import RedisPublisher
from assist.cluster.writer import GROUP, STREAM, StreamWriter
from assist.store.postgres import PostgresArchive
from tests.cluster import redisd
from tests.cluster.postgresd import (  # noqa: F401
    Postgres,
    free_port,
    own_postgres,
    pg_url,
    postgres_server,
)

ROOT = Path(__file__).resolve().parents[2]


redis_server = redisd.redis_server


@pytest.fixture
def redis_url(redis_server: redisd.RedisD) -> str:
    return redis_server.url


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def calls(n: int) -> list[list[dict]]:
    """`n` copies of the demo call under ids w00, w01, ..."""
    demo = demo_wires("demo")
    return [[dict(w, call_id=f"w{i:02}") for w in demo] for i in range(n)]


def xadd(r: redis.Redis, wires: list[dict]) -> None:
    """As a tap's publisher adds them."""
    url = "redis://{host}:{port}/{db}".format(**r.connection_pool.connection_kwargs)
    bus = RedisPublisher(url, maxlen=1_000_000)
    for w in wires:
        bus.publish(w, agent="agent-1001", arrival=None)
    assert bus.flush(timeout=60)
    bus.close()


def stored_rows(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as db:
        return [(c, s) for c, s in db.execute("SELECT call_id, seq FROM events")]


def count(url: str) -> int:
    try:
        with psycopg.connect(url) as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore
    except psycopg.errors.UndefinedTable:
        return 0


def pending(r: redis.Redis) -> int:
    return int(r.xpending(STREAM, GROUP)["pending"])


def writer_config(tmp_path: Path, redis_url: str, pg_url: str, name: str) -> Path:  # noqa: F811
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[cluster]\nrole = "writer"\n'
                   f'name = "{name}"\nredis_url = "{redis_url}"\npostgres_url = "{pg_url}"\n',
                   encoding="utf-8")
    return cfg


def start_writer(cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "assist", "--config", str(cfg), "run"],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def assert_every_event_once(url: str, expected: list[list[dict]]) -> None:
    rows = stored_rows(url)
    want = [(w["call_id"], w["seq"]) for c in expected for w in c]
    assert sorted(rows) == sorted(want)
    archive = PostgresArchive(url)
    assert [c["call_id"] for c in archive.calls()] == [c[0]["call_id"] for c in expected]
    for c in expected:
        assert archive.events(c[0]["call_id"]) == c
    ended = {c["call_id"]: c["reason"] for c in archive.calls()}
    assert set(ended.values()) == {expected[0][-1]["evidence"]["reason"]}


def test_a_writer_killed_mid_stream_and_restarted_stores_every_event_once(
        tmp_path: Path, redis_url: str, pg_url: str) -> None:  # noqa: F811
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    everything = calls(20)
    wires = [w for c in everything for w in c]
    xadd(r, wires[:2000])
    cfg = writer_config(tmp_path, redis_url, pg_url, "w1")
    first = start_writer(cfg)
    wait_for(lambda: count(pg_url) > 0 or first.poll() is not None, "the first rows")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert count(pg_url) < len(wires)
    xadd(r, wires[2000:])
    again = start_writer(cfg)
    wait_for(lambda: count(pg_url) == len(wires) and pending(r) == 0
             or again.poll() is not None, "every event in PostgreSQL")
    again.send_signal(signal.SIGTERM)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "Traceback" not in err and "assist writer w1" in out
    assert_every_event_once(pg_url, everything)


def test_entries_a_dead_writer_held_are_claimed_by_another(
        redis_url: str, pg_url: str) -> None:  # noqa: F811
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    (call,) = calls(1)
    alive = StreamWriter(r, pg_url, "alive", claim_idle=0)
    alive.setup()
    xadd(r, call)
    # Read by a writer that then died: pending to it, never acknowledged.
    r.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=len(call))
    assert pending(r) == len(call)
    assert alive.recover() == len(call)
    assert pending(r) == 0
    assert_every_event_once(pg_url, [call])
    alive.close()


def test_duplicate_and_broken_entries_in_the_stream(
        redis_url: str, pg_url: str, caplog) -> None:  # noqa: F811
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    (call,) = calls(1)
    w = StreamWriter(r, pg_url, "w", batch=40)
    w.setup()
    xadd(r, call[:60])
    r.xadd(STREAM, {"call": "x", "seq": "1", "agent": "", "arrival": "", "wire": "{not json"})
    r.xadd(STREAM, {"call": "x", "seq": "1", "agent": "", "arrival": ""})
    r.xadd(STREAM, {"call": "x", "seq": "1", "agent": "", "arrival": "",
                    "wire": json.dumps({"call_id": "x", "seq": "one", "type": "talk.start"})})
    xadd(r, call)  # the producer sent it all again, call.started included
    xadd(r, call[100:])
    while w.step():
        pass
    assert pending(r) == 0
    assert_every_event_once(pg_url, [call])
    assert w.written == len(call)
    skipped = [x.getMessage() for x in caplog.records if "not" in x.getMessage()]
    assert len(skipped) == 3 and not [x for x in caplog.records if x.exc_info]
    w.close()


def test_a_writer_with_nothing_to_talk_to_says_so(
        tmp_path: Path, redis_url: str, pg_url: str) -> None:  # noqa: F811
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    for cfg, what in ((writer_config(tmp_path, redis_url, closed, "a"),
                       "cluster.postgres_url: cannot connect to postgresql://postgres@127.0.0.1"),
                      (writer_config(tmp_path, f"redis://127.0.0.1:{free_port()}/0", pg_url,
                                     "b"), "cluster.redis_url: cannot reach Redis")):
        r = subprocess.run([sys.executable, "-m", "assist", "--config", str(cfg), "run"],
                           cwd=ROOT, text=True, capture_output=True, timeout=120)
        assert r.returncode == 2 and what in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_redis_that_restarted_empty_is_followed_again(
        redis_server: redisd.RedisD, pg_url: str, caplog) -> None:  # noqa: F811
    import threading

    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    (call,) = calls(1)
    w = StreamWriter(r, pg_url, "w", block_ms=100)
    w.setup()
    xadd(r, call[:50])
    runner = threading.Thread(target=w.run)
    runner.start()
    wait_for(lambda: count(pg_url) == 50, "the first events")
    redis_server.kill()  # back without persistence: no stream, no group
    redis_server.start()
    xadd(r, call[50:])
    wait_for(lambda: count(pg_url) == len(call) or not runner.is_alive(), "the rest")
    w.stop.set()
    runner.join(timeout=30)
    assert_every_event_once(pg_url, [call])
    assert any("group was gone" in x.getMessage() for x in caplog.records)
    w.close()


def test_events_wait_in_redis_while_postgresql_is_down(
        redis_url: str, own_postgres: Postgres, caplog) -> None:  # noqa: F811
    import threading

    url = own_postgres.new_database()
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    (call,) = calls(1)
    w = StreamWriter(r, url, "w", block_ms=100)
    w.setup()
    runner = threading.Thread(target=w.run)
    runner.start()
    xadd(r, call[:50])
    wait_for(lambda: count(url) == 50, "the first events")
    own_postgres.stop()
    xadd(r, call[50:])
    wait_for(lambda: any("the batch waits in Redis" in x.getMessage() for x in caplog.records),
             "the writer to notice")
    assert pending(r) > 0
    own_postgres.start()
    wait_for(lambda: pending(r) == 0 or not runner.is_alive(), "the batch to be written")
    w.stop.set()
    runner.join(timeout=30)
    assert_every_event_once(url, [call])
    w.close()
