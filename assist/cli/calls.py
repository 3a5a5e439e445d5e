"""`python -m assist calls`: review what the store kept (numbers already masked there)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from assist.errors import UserError
from assist.store.base import Reads

FLAGS = ("interruption", "pace.drift", "anger", "phrase", "suggestion", "feedback",
         "transcript.final", "call.started", "call.ended", "audio.health")


def audio_line(ev: dict, unit: str = "packets") -> str:
    """One stream's audio-health figures: packets (a fork's media messages), seconds,
    loss, level, problem."""
    rtp = (f"{unit} -  loss -" if ev.get("packets") is None
           else f"{unit} {ev['packets']}  loss {ev.get('loss')}")
    level = "-inf" if ev.get("level_db") is None else f"{ev['level_db']:.0f}"
    return f"{rtp}  {ev.get('seconds', 0):.1f} s  level {level} dBFS  {ev.get('problem')}"


def unit_of(events: list[dict]) -> str:
    """What a call's audio.health counts: RTP packets, or a media fork's messages."""
    started = next((e for e in events if e["type"] == "call.started"), None)
    source = str(started["evidence"].get("source", "")) if started else ""
    return "messages" if source.startswith("fork:") else "packets"


def _line(e: dict, unit: str = "packets") -> str:
    ev = e["evidence"]
    kind = e["type"]
    if kind == "transcript.final":
        what = ev.get("text", "")
    elif kind == "suggestion":
        what = f"[{ev.get('priority')}] {ev.get('text')}"
    elif kind == "anger":
        what = f"{ev.get('previous')} -> {ev.get('level')} (score {ev.get('score')})"
    elif kind == "interruption":
        what = f"agent cut in at {ev.get('onset')} s"
    elif kind == "audio.health":
        what = ev.get("detail", "") if not ev.get("final") else "end: " + audio_line(ev, unit)
        if not ev.get("final") and ev.get("problem") != "identical":
            what = f"{ev.get('problem')}: {what}"
    elif kind == "pace.drift":
        what = f"{ev.get('direction')} {ev.get('cpm')}/min (band {ev.get('band')})"
    else:
        what = " ".join(f"{k}={v}" for k, v in ev.items() if k not in ("words", "rise"))
    return f"{e['t']:8.2f}s  {e.get('party', ''):8}  {kind:17} {what}"


def review_url(base: str, call_id: str) -> str:
    """The call's review page on the panel server (the token comes from the panel or `token`)."""
    return f"{base.rstrip('/')}/review.html?call={quote(call_id, safe='')}"


def main(argv: list[str], open_store: Callable[[], Reads],
         review_base: str | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m assist calls",
                                 description="Review stored calls and their flags.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="calls in the store, oldest first")
    ls.add_argument("--agent", help="only this agent's calls")
    sh = sub.add_parser("show", help="one call's flags, transcripts and cards")
    sh.add_argument("call_id")
    sh.add_argument("--all", action="store_true", help="every event, not only the notable")
    sh.add_argument("--json", action="store_true", help="events as JSON lines")
    pg = sub.add_parser("purge", help="delete calls older than N days, transcripts included")
    pg.add_argument("--days", type=int, required=True, help="keep this many days (>= 1)")
    args = ap.parse_args(argv)
    store = open_store()
    if args.cmd == "purge":
        if args.days < 1:
            raise UserError("--days must be 1 or more")
        cutoff = datetime.now(UTC) - timedelta(days=args.days)
        stamp = cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        n = store.purge(stamp)
        print(f"deleted {n} call(s) started before {stamp}")
        return 0
    if args.cmd == "list":
        calls = store.calls(agent=args.agent)
        for c in calls:
            dur = "live" if c["duration"] is None else f"{c['duration']:.0f} s"
            print(f"{c['call_id']:40} {c['agent'] or '-':12} {c['started_utc']}  {dur:>8}  "
                  f"{c['reason'] or ''}")
        print(f"{len(calls)} call(s)")
        return 0
    events = store.events(args.call_id)
    if not events:
        raise UserError(f"no call {args.call_id!r} in {store.where}; "
                        "`python -m assist calls list` shows them")
    unit = unit_of(events)
    for e in events:
        if args.json:
            print(json.dumps(e, ensure_ascii=False))
        elif args.all or e["type"] in FLAGS:
            print(_line(e, unit))
    if not args.json:
        for e in events:  # the end-of-call summary, a line per stream
            if e["type"] == "audio.health" and e["evidence"].get("final"):
                print(f"audio {e.get('party', ''):8}  {audio_line(e['evidence'], unit)}")
    if review_base and not args.json:
        print(f"review: {review_url(review_base, args.call_id)}  "
              "(open from the panel, or add &token= from `python -m assist token --supervisor`)")
    return 0
