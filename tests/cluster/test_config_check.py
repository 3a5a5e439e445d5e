"""`config check` on cluster configs: each process's role, what it listens on and
connects to (tried for real), and contradictions that stop the load with file and line."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assist.cluster.check import explain
from assist.config import load
from assist.errors import ConfigError
from tests.cluster import postgresd, redisd
from tests.cluster.postgresd import Postgres

redis_server = redisd.redis_server
postgres_server = postgresd.postgres_server
pg_url = postgresd.pg_url
ROOT = Path(__file__).resolve().parents[2]
TRUNK = """
[[trunks]]
name = "sbc"
sources = ["127.0.0.7"]
agent_aor = '^sip:(?P<agent>[a-z0-9]+)@'
"""


def check(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assist", "--config", str(config), "config",
                           "check", *extra], cwd=ROOT, text=True, capture_output=True,
                          timeout=60)  # fmt: skip


def write(tmp_path: Path, text: str, name: str = "assist.toml") -> Path:
    p = tmp_path / name
    p.write_text(f'data_dir = "{tmp_path / "data"}"\n[prompts]\nenabled = false\n{text}',
                 encoding="utf-8")
    return p


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sip_answerer() -> Iterator[int]:
    """A UDP port that answers any request with 200 OK, as a live tap answers a probe."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    stop = threading.Event()
    seen: list[bytes] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(4096)
            except TimeoutError:
                continue
            seen.append(data)
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            keep = [h for h in head[1:] if h.split(b":")[0] in (b"Via", b"From", b"To",
                                                                 b"Call-ID", b"CSeq")]
            s.sendto(b"\r\n".join([b"SIP/2.0 200 OK", *keep, b"Content-Length: 0", b""]) +
                     b"\r\n", peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield int(s.getsockname()[1])
    finally:
        stop.set()
        t.join(2)
        s.close()
        assert all(d.startswith(b"OPTIONS sip:") for d in seen), seen


def test_a_gateway_names_its_peers_and_finds_them(tmp_path: Path, redis_server: redisd.RedisD,
                                                   pg_url: str) -> None:  # fmt: skip
    pg = pg_url.replace("postgres@", "postgres:hunter2@")
    cfg = write(tmp_path, f'[server]\nport = 8800\n[cluster]\nrole = "gateway"\nname = "gw1"\n'
                          f'redis_url = "{redis_server.url}"\npostgres_url = "{pg}"\n')
    r = check(cfg)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"{cfg}: ok (coaching off, 0 trunk(s))\n")
    assert "  role         gateway (panel server fed from the Redis event stream)" in out
    assert "  name         gw1\n" in out
    assert "listens on   panel http://127.0.0.1:8800/" in out
    assert f"Redis {redis_server.url}: reads events, publishes feedback (reachable)" in out
    assert "reads calls for review pages (reachable)" in out
    assert f"tokens       checked with {tmp_path / 'data' / 'panel-secret'} (the same file on " \
           "every gateway)" in out
    assert "hunter2" not in out and "warning" not in out, out

    redis_server.stop()
    r = check(cfg)
    assert r.returncode == 0, r.stderr  # a peer that is down now is not a config error
    assert f"warning: {cfg}: cluster.redis_url: Redis at {redis_server.url} does not answer " \
        "now" in r.stdout, r.stdout
    r = check(cfg, "--offline")
    assert r.returncode == 0 and "(not probed)" in r.stdout and "warning" not in r.stdout


def test_a_tap_finds_its_analysis_socket_and_kamailio_its_taps(tmp_path: Path,
                                                               sip_answerer: int) -> None:
    sock_path = tmp_path / "a.sock"
    dead = closed_port()
    text = (f'[sip]\nhost = "127.0.0.1"\nudp_port = {sip_answerer}\ntcp_port = 0\n'
            f'[cluster]\nrole = "tap"\nname = "tap1"\nproxies = ["127.0.0.1"]\n'
            f'analysis_socket = "{sock_path}"\n[kamailio]\nport = 5999\n'
            f'taps = ["127.0.0.1:{sip_answerer}", "127.0.0.1:{dead}"]\n{TRUNK}')
    cfg = load(write(tmp_path, text))
    r = explain(cfg)
    lines = "\n".join(r.lines)
    assert f"SIP 127.0.0.1 udp {sip_answerer}, tcp off; RTP 4000-4999; 1 trunk(s)" in lines
    assert "X-Assist-Source from 127.0.0.1 (cluster.proxies)" in lines
    assert f"analysis socket {sock_path} (NOT reachable" in lines
    assert f"tap 127.0.0.1:{sip_answerer}: answers OPTIONS" in lines
    assert f"tap 127.0.0.1:{dead}: NOT reachable" in lines
    warned = {w.split(":", 1)[0] for w in r.warnings}
    assert warned == {"cluster.analysis_socket", "kamailio.taps"}, r.warnings
    assert any("no socket there" in w for w in r.warnings)

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(sock_path))
        listener.listen()
        r = explain(cfg)
    assert f"analysis socket {sock_path} (an analysis process listens)" in "\n".join(r.lines)
    assert not any(w.startswith("cluster.analysis_socket") for w in r.warnings)
    # Left behind by a killed process: the file is there, nobody listens.
    assert any("refused" in w for w in explain(cfg).warnings if "analysis" in w)


def test_likely_mistakes_are_warnings(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, f'[sip]\nhost = "127.0.0.1"\nudp_port = 5071\n'
                               f'[cluster]\nrole = "tap"\n[kamailio]\nhost = "127.0.0.2"\n'
                               f'taps = ["127.0.0.1:5072"]\n{TRUNK}'))
    warned = {w.split(":", 1)[0]: w for w in explain(cfg, probe=False).warnings}
    assert set(warned) == {"cluster.name", "cluster.proxies", "kamailio.taps"}, warned
    assert "judged by Kamailio's own address" in warned["cluster.proxies"]
    assert "does not list this tap (127.0.0.1:5071)" in warned["kamailio.taps"]

    cfg = load(write(tmp_path, f'[cluster]\nrole = "gateway"\nname = "gw"\n{TRUNK}', "gw.toml"))
    warned = {w.split(":", 1)[0]: w for w in explain(cfg, probe=False).warnings}
    assert set(warned) == {"trunks", "cluster.postgres_url"}, warned
    assert "review pages read this gateway's own SQLite store" in warned["cluster.postgres_url"]


def test_analysis_and_writer_say_what_they_serve(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    cfg = load(write(tmp_path, f'[cluster]\nrole = "analysis"\nname = "an1"\n'
                               f'analysis_socket = "{sock}"\n[asr]\nenabled = false\n'))
    lines = "\n".join(explain(cfg, probe=False).lines)
    assert f"listens on   analysis socket {sock} (frames from this machine's taps)" in lines
    assert "Redis redis://127.0.0.1:6379/0: publishes events, reads feedback" in lines
    assert "recognition  off" in lines

    cfg = load(write(tmp_path, '[cluster]\nrole = "writer"\nname = "w1"\n'
                               'postgres_url = "postgresql://a:pw@db.example/assist"\n', "w.toml"))
    lines = "\n".join(explain(cfg, probe=False).lines)
    assert "reads events as consumer group writer" in lines
    assert "PostgreSQL postgresql://a@db.example/assist: writes calls" in lines
    assert "pw" not in lines.replace("PostgreSQL", "")


@pytest.mark.parametrize(("text", "line", "key", "words"), [
    ('[cluster]\nrole = "tap"\n', 5, "cluster.role", "a tap answers only the SBCs"),
    (f'[sip]\nudp_port = 0\ntcp_port = 5071\n[cluster]\nrole = "tap"\nproxies = ["127.0.0.1"]\n'
     f'{TRUNK}', 5, "sip.udp_port", "relays to the taps over UDP"),
    ('[cluster]\nrole = "analysis"\nanalysis_socket = "/' + "x" * 120 + '"\n', 6,
     "cluster.analysis_socket", "longer than the 107 bytes"),
    ('[kamailio]\nhost = "127.0.0.1"\nport = 5060\ntaps = ["127.0.0.1:5060"]\n', 7,
     "kamailio.taps", "INVITEs would loop"),
    ('[cluster]\nrole = "writer"\n', 4, "cluster.postgres_url", "the writer keeps calls in "
     "PostgreSQL"),
])  # fmt: skip
def test_contradictions_stop_the_load_at_their_line(tmp_path: Path, text: str, line: int,
                                                    key: str, words: str) -> None:
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(cfg)
    assert err.value.where == f"{cfg}:{line}: {key}", err.value
    assert words in err.value.message
    r = check(cfg)
    assert r.returncode == 2 and r.stderr == f"error: {err.value}\n" and not r.stdout


def test_an_embedded_config_says_nothing_of_clusters(tmp_path: Path) -> None:
    r = check(write(tmp_path, "[coach]\nmax_active = 2\n"))
    assert r.returncode == 0 and r.stdout.count("\n") == 1, r.stdout


def test_postgres_is_tried_with_the_url_given(tmp_path: Path,
                                              postgres_server: Postgres) -> None:
    url = postgres_server.url("no_such_db")
    cfg = load(write(tmp_path, f'[cluster]\npostgres_url = "{url}"\n'))
    r = explain(cfg)
    assert any("PostgreSQL" in w and "no_such_db" in w and "does not exist" in w
               for w in r.warnings), r.warnings
    assert f"stores       calls in {url}" in "\n".join(r.lines)
