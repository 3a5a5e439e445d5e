"""Command line: `python -m assist COMMAND`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from assist import __version__
from assist.config import Config, load, load_coaching
from assist.errors import UserError
from assist.events import QUIET_TYPES, dumps

log = logging.getLogger("assist")


def _speed(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v <= 1000:
        raise argparse.ArgumentTypeError("speed must be 0 (as fast as possible) to 1000")
    return v


def _utc(text: str) -> datetime:
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


class _Printer:
    """Publishes to stdout: JSON lines, or one readable line per notable event."""

    @staticmethod
    def _brief(wire: dict[str, Any]) -> str:
        ev = wire["evidence"]
        if wire["type"] == "suggestion":
            return f"[{ev.get('priority')}] {ev.get('text')}  ({ev.get('reason', {}).get('type')})"
        return " ".join(f"{k}={v}" for k, v in ev.items() if k not in ("thresholds", "rise"))

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def publish(self, wire: dict[str, Any], *, agent: str | None, arrival: float | None) -> None:
        if self.as_json:
            print(dumps(wire), flush=True)
        elif wire["type"] not in QUIET_TYPES:
            party = wire.get("party", "")
            ev = self._brief(wire)
            print(f"{wire['t']:8.2f}s  {party:8}  {wire['type']:18} {ev}", flush=True)


def setup_logging(verbose: bool) -> None:
    """INFO for our own news; websockets logs every page load and close at INFO (two
    lines a request), so it speaks only of problems unless --verbose."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("websockets").setLevel(logging.DEBUG if verbose else logging.WARNING)


def cmd_replay(args: argparse.Namespace, cfg: Config) -> int:
    from assist.call.hub import CallHub
    from assist.taps.replay import new_call_id, replay
    from assist.taps.wav import read_call

    rec = read_call(args.call)
    speed = 0.0 if args.fast else args.speed
    start = args.start or datetime.now(UTC)
    call_id = args.call_id or new_call_id(f"replay-{rec.path.stem}", start)

    async def go() -> None:
        from assist.asr.transcription import Transcription

        tr = Transcription(cfg.asr, realtime=speed == 1.0)
        await tr.load()
        hub = CallHub(cfg.loop, [_Printer(args.json)], language=cfg.call.language,
                      transcription=tr, coaching=load_coaching(cfg), per_agent=cfg.agents)
        await replay(rec, hub, call_id, speed=speed, agent=args.agent or cfg.call.agent,
                     language=cfg.call.language, start_utc=start)
        await hub.drain()

    asyncio.run(go())
    return 0


def cmd_run(args: argparse.Namespace, cfg: Config) -> int:
    from assist.service import run

    speed = 0.0 if args.fast else args.speed
    return asyncio.run(run(cfg, args.call, speed=speed, once=args.once, host=args.host,
                           port=args.port, demo=not args.no_demo,
                           show_tokens=True if args.show_tokens else None))


def cmd_token(args: argparse.Namespace, cfg: Config) -> int:
    from assist.cli import token as token_cli

    rest = list(args.rest)
    if not any(a.startswith("--secret-file") for a in rest):
        rest = ["--secret-file", str(cfg.secret_path), *rest]
    if not any(a.startswith("--ttl") for a in rest):
        rest = ["--ttl", str(cfg.auth.token_ttl), *rest]
    return token_cli.main(rest)


def cmd_calls(args: argparse.Namespace, cfg: Config) -> int:
    from assist.cli import calls
    from assist.store import open_archive

    return calls.main(args.rest, lambda: open_archive(cfg), review_base=_panel_base(cfg))


def cmd_trunks(args: argparse.Namespace, cfg: Config) -> int:
    if args.rest[:1] == ["test-call"]:
        from assist.cli import testcall

        return testcall.main(args.rest[1:], cfg)
    from sip import trunks_cli

    return trunks_cli.main(args.rest)


def cmd_cluster(args: argparse.Namespace, cfg: Config) -> int:
    from assist.cluster import cli

    return cli.main(args.rest, cfg)


def _panel_base(cfg: Config) -> str:
    scheme = "https" if cfg.server.tls_cert else "http"
    return f"{scheme}://{cfg.server.host}:{cfg.server.port}/"


def cmd_qa(args: argparse.Namespace, cfg: Config) -> int:
    from assist.cli import qa

    return qa.main(args.rest, cfg)


def cmd_config_check(args: argparse.Namespace, cfg: Config) -> int:
    # `run` would also stop on the playbooks the config names: check them here too.
    coaching = load_coaching(cfg)
    books = f"{len(coaching.books.entries)} playbook entries" if coaching else "coaching off"
    print(f"{cfg.path}: ok ({books}, {len(cfg.trunks)} trunk(s))")
    for agent, params in sorted(cfg.agents.items()):
        own = [n for n in ("interruption", "pace", "anger", "silence")
               if getattr(params, n) != getattr(cfg.loop, n)]
        print(f"  agent {agent}: own {', '.join(own) or 'nothing (same as the service)'}")
    if cfg.cluster.clustered or cfg.kamailio.taps or cfg.cluster.postgres_url:
        from assist.cluster.check import explain

        report = explain(cfg, probe=not args.offline)
        print("\n".join(report.lines))
        for w in report.warnings:
            print(f"warning: {cfg.path}: {w}")
    return 0


def _module_main(module: str) -> Any:
    """A command whose own parser lives in `module.main(argv)`."""

    def run(args: argparse.Namespace, cfg: Config) -> int:
        return int(importlib.import_module(module).main(args.rest))

    return run


# Commands with a parser of their own: name, help, handler.
PASSTHROUGH = (
    ("token", "print a panel token (token --agent ID | --supervisor)", cmd_token),
    ("models", "list or download speech models (models --help)",
     _module_main("assist.cli.models")),
    ("prompts", "check playbooks, try phrase rules (prompts --help)",
     _module_main("assist.cli.prompts")),
    ("calls", "review stored calls (calls list | calls show ID)", cmd_calls),
    ("qa", "QA scorecards (qa report --agent ID --since DATE | qa propose | qa check)", cmd_qa),
    ("trunks", "check SIP trunks (trunks check CONFIG | --config FILE trunks test-call)",
     cmd_trunks),
    ("cluster", "render engine configs (cluster kamailio-cfg --out DIR)", cmd_cluster),
)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m assist",
                                 description="Real-time agent assist for call centres.")
    ap.add_argument("--version", action="version", version=f"assist {__version__}")
    ap.add_argument("--config", metavar="FILE", help="TOML config (default: built-in defaults)")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    rp = sub.add_parser("replay", help="replay a stereo WAV call (L customer, R agent)")
    rp.add_argument("call", help="stereo 16-bit PCM WAV, 8 or 16 kHz")
    rp.add_argument("--json", action="store_true", help="print every event as a JSON line")
    rp.add_argument("--speed", type=_speed, default=1.0,
                    help="replay speed: 1 real time (default), N times faster, 0 flat out")
    rp.add_argument("--fast", action="store_true", help="as fast as possible (same as --speed 0)")
    rp.add_argument("--start", type=_utc, help="UTC start of the call, ISO 8601 (default: now)")
    rp.add_argument("--call-id", help="call id (default: from the file name and start)")
    rp.add_argument("--agent", help="agent id (default: call.agent in the config)")
    rp.set_defaults(func=cmd_replay)

    run = sub.add_parser("run", help="run the service: panel, store, taps; replays the demo call")
    run.add_argument("call", nargs="?", help="stereo WAV to replay (default: the bundled demo)")
    run.add_argument("--speed", type=_speed, default=1.0, help="replay speed (default 1)")
    run.add_argument("--fast", action="store_true", help="replay as fast as possible")
    run.add_argument("--once", action="store_true", help="replay once and stop")
    run.add_argument("--no-demo", action="store_true",
                     help="do not replay the demo call (off by default when trunks exist)")
    run.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    run.add_argument("--port", type=int, help="listen port (default: server.port, 8765; 0 any)")
    run.add_argument("--show-tokens", action="store_true",
                     help="print panel addresses with tokens even when stdout is not a "
                          "terminal (a journal or a log keeps them)")
    run.set_defaults(func=cmd_run)

    for name, text, handler in PASSTHROUGH:
        pt = sub.add_parser(name, help=text, add_help=False)
        pt.add_argument("rest", nargs=argparse.REMAINDER)
        pt.set_defaults(func=handler)

    cp = sub.add_parser("config", help="check a config file")
    cp.add_argument("action", choices=["check"])
    cp.add_argument("--offline", action="store_true",
                    help="do not try Redis, PostgreSQL, the analysis socket or the taps")
    cp.set_defaults(func=cmd_config_check)
    return ap


def _passthrough_at(argv: list[str]) -> int | None:
    """Index of a pass-through command word, skipping the global options before it.

    argparse's REMAINDER drops options that come first (`token --supervisor`), so
    these commands take everything after their name as it is.
    """
    names = {name for name, _, _ in PASSTHROUGH}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--config":
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            return i if word in names else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = build_parser()
    at = _passthrough_at(argv)
    if at is None:
        args = ap.parse_args(argv)
    else:
        args = ap.parse_args(argv[:at + 1])
        args.rest = argv[at + 1:]
    setup_logging(args.verbose)
    if args.command is None:
        ap.print_help()
        return 2
    try:
        cfg = load(args.config)
        return int(args.func(args, cfg) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
