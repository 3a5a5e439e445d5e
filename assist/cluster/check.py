"""What `config check` says about a cluster config: role, listeners, peers, problems.

Rules:
- `contradictions(cfg)` are settings that cannot work together (a tap that
  answers no trunk, a tap behind Kamailio with no UDP listener, a socket path
  longer than Unix allows).  The loader raises the first, so `run` stops on it
  exactly as `config check` does.
- `explain(cfg)` describes what this process listens on and connects to; with
  `probe` it also tries each peer once, with short timeouts.  A peer that does
  not answer now is a warning, never an error: processes start in any order.
- Nothing here changes anything: probes connect and close.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from assist.cluster.kamailio import split_hostport
from assist.errors import ConfigError

if TYPE_CHECKING:
    from assist.config import Config

T = TypeVar("T")
PROBE_TIMEOUT = 2.0  # s per peer
UNIX_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL

ROLE_TEXT = {
    "embedded": "one process: SIP or replay, analysis, panel and store together",
    "tap": "SIP and RTP of at most 4 calls; frames go to the machine's analysis process",
    "analysis": "sessions, detectors, coach and recognition for the taps on this machine; "
                "events to Redis",
    "gateway": "panel server fed from the Redis event stream",
    "writer": "events from the Redis stream into PostgreSQL",
}


def analysis_socket(cfg: Config) -> Path:
    """Where a machine's taps hand frames to its analysis process."""
    return Path(cfg.cluster.analysis_socket or Path(cfg.data_dir) / "analysis.sock")


def contradictions(cfg: Config) -> list[ConfigError]:
    """Settings that cannot work together, each naming its key."""
    c, out = cfg.cluster, []
    if c.role == "tap" and not cfg.trunks and not cfg.fork.enabled:
        out.append(ConfigError("cluster.role", "a tap answers only the SBCs its [[trunks]] "
                               "name, and there are none; add a trunk with the SBC's address"))
    if c.proxies and c.role in ("tap", "embedded") and cfg.trunks and cfg.sip.udp_port == 0:
        out.append(ConfigError("sip.udp_port", "Kamailio (cluster.proxies) relays to the taps "
                               "over UDP; give this tap a udp_port"))
    if c.role in ("tap", "analysis"):
        path = str(analysis_socket(cfg))
        if len(os.fsencode(path)) > UNIX_PATH_MAX:
            key = "cluster.analysis_socket" if c.analysis_socket else "data_dir"
            out.append(ConfigError(key, f"the analysis socket {path} is longer than the "
                                   f"{UNIX_PATH_MAX} bytes a Unix socket path may have; "
                                   "set cluster.analysis_socket to a shorter path"))
    k = cfg.kamailio
    if (k.host, k.port) in [split_hostport(t) for t in k.taps]:
        out.append(ConfigError("kamailio.taps", f"lists Kamailio's own {k.host}:{k.port}; "
                               "INVITEs would loop"))
    return out


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, label: str, text: str) -> None:
        self.lines.append(f"  {label:<12} {text}")

    def warn(self, key: str, text: str) -> None:
        self.warnings.append(f"{key}: {text}")


# -- probes: each returns None when the peer answered, else why not ------------------
def probe_redis(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT,
                                      socket_timeout=PROBE_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    except (ValueError, redis.RedisError) as e:
        return str(e) or type(e).__name__
    return None


def probe_postgres(url: str) -> str | None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=int(PROBE_TIMEOUT) + 1,
                        application_name="assist config check").close()
    except psycopg.Error as e:
        text = str(e).strip()
        return text.splitlines()[0] if text else type(e).__name__
    return None


def probe_unix(path: Path) -> str | None:
    if not path.exists():
        return "no socket there"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(PROBE_TIMEOUT)
        try:
            s.connect(str(path))
        except OSError as e:
            return e.strerror or str(e)
    return None


def probe_sip(hostport: str) -> str | None:
    """An OPTIONS over UDP, as Kamailio's dispatcher probes a tap."""
    host, port = split_hostport(hostport) or ("", 0)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(PROBE_TIMEOUT)
        try:
            s.connect((host, port))
            me_host, me_port = s.getsockname()[:2]
            branch = uuid.uuid4().hex
            uri_host = f"[{host}]" if family == socket.AF_INET6 else host
            via_host = f"[{me_host}]" if family == socket.AF_INET6 else me_host
            s.send((f"OPTIONS sip:{uri_host}:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {via_host}:{me_port};branch=z9hG4bK{branch}\r\n"
                    f"From: <sip:check@{via_host}>;tag={branch[:8]}\r\n"
                    f"To: <sip:{uri_host}:{port}>\r\nCall-ID: {branch}\r\nCSeq: 1 OPTIONS\r\n"
                    "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())
            answer = s.recv(4096)
        except TimeoutError:
            return "no answer to OPTIONS"
        except OSError as e:
            return e.strerror or str(e)
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    return None if status.startswith("SIP/2.0 2") else f"answered {status!r}"


class _Probes:
    """Runs the probes at once (each may take PROBE_TIMEOUT), results by name."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.jobs: dict[str, Future[str | None]] = {}
        self.pool = ThreadPoolExecutor(8) if enabled else None

    def want(self, name: str, fn: Callable[[T], str | None], arg: T) -> None:
        if self.pool is not None:
            self.jobs[name] = self.pool.submit(fn, arg)

    def result(self, name: str) -> str | None | bool:
        """None: answered; text: why not; False: not probed."""
        job = self.jobs.get(name)
        return False if job is None else job.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _state(got: str | None | bool, ok: str = "reachable") -> str:
    if got is False:
        return "not probed"
    return ok if got is None else "NOT reachable: see the warning"


def explain(cfg: Config, *, probe: bool = True) -> Report:
    """What this process is, listens on and connects to, and what looks wrong."""
    from assist.cluster.bus import where as redis_where
    from assist.store import where as store_where

    c, k, r = cfg.cluster, cfg.kamailio, Report()
    name = c.name or f"{socket.gethostname()}-{c.role}"
    sock = analysis_socket(cfg)
    uses_redis = c.role in ("analysis", "gateway", "writer")
    uses_pg = bool(c.postgres_url) and c.role in ("embedded", "gateway", "writer")
    probes = _Probes(probe)
    if uses_redis:
        probes.want("redis", probe_redis, c.redis_url)
    if uses_pg:
        probes.want("postgres", probe_postgres, c.postgres_url)
    if c.role == "tap":
        probes.want("socket", probe_unix, sock)
    for tap in k.taps:
        probes.want(tap, probe_sip, tap)
    try:
        r.add("role", f"{c.role} ({ROLE_TEXT[c.role]})")
        if c.clustered:
            r.add("name", name + ("" if c.name else "  (cluster.name unset: host and role)"))
        _listens(cfg, r, sock)
        _connects(cfg, r, probes, sock, redis_where, store_where(cfg))
        _kamailio(cfg, r, probes)
    finally:
        probes.close()
    _warnings(cfg, r)
    return r


def _listens(cfg: Config, r: Report, sock: Path) -> None:
    c, sp = cfg.cluster, cfg.sip
    if c.role in ("embedded", "gateway"):
        scheme = "https" if cfg.server.tls_cert else "http"
        r.add("listens on", f"panel {scheme}://{cfg.server.host}:{cfg.server.port}/")
    if c.role in ("embedded", "tap") and cfg.trunks:
        r.add("listens on", f"SIP {sp.host} udp {sp.udp_port or 'off'}, tcp "
              f"{sp.tcp_port or 'off'}; RTP {_rtp_ports(cfg)}; {len(cfg.trunks)} trunk(s)")
    if c.role in ("embedded", "tap") and cfg.fork.enabled:
        r.add("listens on", f"media forks {cfg.fork.host}:{cfg.fork.port}")
    if c.role == "analysis":
        r.add("listens on", f"analysis socket {sock} (frames from this machine's taps)")
    if c.role == "gateway":
        r.add("tokens", f"checked with {cfg.secret_path} (the same file on every gateway)")
    if c.proxies and c.role in ("embedded", "tap"):
        r.add("trusts", "X-Assist-Source from " + ", ".join(c.proxies) + " (cluster.proxies)")


def _connects(cfg: Config, r: Report, probes: _Probes, sock: Path,
              redis_where: Callable[[str], str],
              store: str) -> None:
    c = cfg.cluster
    if c.role == "tap":
        got = probes.result("socket")
        listens = _state(got, "an analysis process listens")
        r.add("connects to", f"analysis socket {sock} ({listens})")
        if got:
            r.warn("cluster.analysis_socket", f"no analysis process answers on {sock} now "
                   f"({got}); until one does, this tap answers INVITEs with 503 (Kamailio tries "
                   "another tap); start the machine's role = \"analysis\" process")
    if c.role in ("analysis", "gateway", "writer"):
        url = redis_where(c.redis_url)
        got = probes.result("redis")
        what = {"analysis": "publishes events, reads feedback",
                "gateway": "reads events, publishes feedback",
                "writer": "reads events as consumer group writer"}[c.role]
        r.add("connects to", f"Redis {url}: {what} ({_state(got)})")
        if got:
            r.warn("cluster.redis_url", f"Redis at {url} does not answer now ({got})")
    if c.role == "embedded":
        r.add("stores", f"calls in {store}" + (f" ({_state(probes.result('postgres'))})"
                                               if c.postgres_url else ""))
    elif c.role in ("gateway", "writer") and c.postgres_url:
        got = probes.result("postgres")
        what = "writes calls" if c.role == "writer" else "reads calls for review pages"
        r.add("connects to", f"PostgreSQL {store}: {what} ({_state(got)})")
    if c.postgres_url and (got := probes.result("postgres")):
        r.warn("cluster.postgres_url", f"PostgreSQL at {store} does not answer now ({got})")


def _kamailio(cfg: Config, r: Report, probes: _Probes) -> None:
    k = cfg.kamailio
    if not k.taps:
        return
    r.add("kamailio", f"on {k.host}:{k.port} (udp{', tcp' if k.tcp else ''}), at most "
          f"{k.tap_calls} call(s) per tap; render with `cluster kamailio-cfg --out DIR`")
    for tap in k.taps:
        got = probes.result(tap)
        r.add("", f"tap {tap}: {_state(got, 'answers OPTIONS')}")
        if got:
            r.warn("kamailio.taps", f"tap {tap} does not answer OPTIONS now ({got}); "
                   "Kamailio marks it down until it does")


def _rtp_ports(cfg: Config) -> str:
    sp = cfg.sip
    if not sp.rtp_port:
        return "on any free port"
    return f"{sp.rtp_port}-{sp.rtp_port + sp.rtp_port_range - 1}"


def _warnings(cfg: Config, r: Report) -> None:
    """Settings that work but are probably not what was meant."""
    c, k, sp = cfg.cluster, cfg.kamailio, cfg.sip
    if c.role in ("analysis", "gateway", "writer") and cfg.trunks:
        r.warn("trunks", f"a {c.role} process answers no SIP; its [[trunks]] are not used")
    if c.role == "tap":
        if not c.name:
            r.warn("cluster.name", "unset: taps on one machine would share the name a dead "
                   "tap's calls are ended with; name each (tap1, tap2, ...)")
        if cfg.trunks and not c.proxies:
            r.warn("cluster.proxies", "empty: calls relayed by Kamailio are judged by "
                   "Kamailio's own address, not the SBC's; list Kamailio's address")
        elif k.taps and k.host not in c.proxies:
            r.warn("cluster.proxies", f"does not list kamailio.host {k.host}, so this tap "
                   "does not believe the X-Assist-Source it adds")
        mine = {f"{sp.host}:{sp.udp_port}", f"[{sp.host}]:{sp.udp_port}"}
        if k.taps and cfg.trunks and not mine & set(k.taps):
            r.warn("kamailio.taps", f"does not list this tap ({sp.host}:{sp.udp_port}); "
                   "Kamailio rendered from this file will not send it calls")
    if c.role == "gateway" and not c.postgres_url:
        r.warn("cluster.postgres_url", "unset: review pages read this gateway's own SQLite "
               "store, which no cluster process writes; give it the writer's postgres_url")
    if c.role in ("analysis", "embedded"):
        _models(cfg, r)


def _models(cfg: Config, r: Report) -> None:
    if not cfg.asr.enabled:
        r.add("recognition", "off ([asr] enabled = false): acoustic flags only")
        return
    for lang, path in sorted(cfg.asr.models.items()):
        there = Path(path).is_dir()
        r.add("recognition", f"{lang}: {path}" + ("" if there else " (not there)"))
        if not there and cfg.cluster.role == "analysis":
            r.warn(f"asr.models.{lang}", f"no model folder at {path}: {lang} calls get "
                   "acoustic flags only (`python -m assist models` downloads one)")
