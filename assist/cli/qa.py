"""`python -m assist qa`: scorecards of stored calls, rules-file checks, threshold proposals."""

from __future__ import annotations

import argparse
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from assist.config import Config
from assist.errors import UserError
from assist.qa.period import Period, collect
from assist.qa.propose import propose
from assist.qa.rules import DEFAULT_RULES, load_rules
from assist.store import open_archive


def _stamp(text: str, flag: str) -> str:
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{flag} {text!r}: give a date like 2026-01-31 "
                        "or 2026-01-31T08:00Z") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _print(period: Period) -> None:
    s = period.summary()
    score = "-" if s["score"] is None else f"{s['score']:.1f}"
    print(f"agent {s['agent']}: {s['calls']} call(s) since {s['since']}, mean score {score}")
    for rid, r in s["rules"].items():
        rate = "not measured" if r["pass_rate"] is None else \
            f"{r['passed']}/{r['measured']} passed"
        mean = "" if r["mean"] is None else f"  mean {r['mean']}"
        print(f"  {rid:15} {r['title']:24} {rate:>16}{mean}   [{r['seed'][:40]}]")
    if s["feedback"]:
        print("  cards (shown / used / dismissed / ignored) per flag kind:")
        for kind, c in s["feedback"].items():
            print(f"    {kind:17} {c['shown']:4} {c['used']:4} {c['dismissed']:4} {c['ignored']:4}")
    for card in period.cards:
        cs = "-" if card.score is None else f"{card.score:.1f}"
        print(f"  {period.started[card.call_id]}  {card.call_id:36} {cs:>6}")


def _write(period: Period, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    name = f"qa-{period.agent}-{period.since[:10]}"
    jpath, cpath = out / f"{name}.json", out / f"{name}.csv"
    body = {**period.summary(), "scorecards": [c.to_json() for c in period.cards]}
    jpath.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    rules = [x.rule for x in period.cards[0].lines] if period.cards else []
    with cpath.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["call_id", "started_utc", "duration", "score",
                    *[f"{r}_{k}" for r in rules for k in ("value", "passed")]])
        for card in period.cards:
            cells: list[object] = []
            for x in card.lines:
                cells += ["" if x.value is None else x.value, "" if x.passed is None else x.passed]
            w.writerow([card.call_id, period.started[card.call_id], card.duration,
                        "" if card.score is None else card.score, *cells])
    return jpath, cpath


def main(argv: list[str], cfg: Config) -> int:
    ap = argparse.ArgumentParser(prog="python -m assist qa",
                                 description="QA scorecards (质检) from the stored calls.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, text in (("report", "an agent's scorecard over a period; writes CSV and JSON"),
                       ("propose", "per-agent pace/anger thresholds from card feedback")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--agent", required=True, help="the agent id")
        p.add_argument("--since", required=True, help="first day, e.g. 2026-01-01")
        p.add_argument("--until", help="up to (not including) this day")
        p.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="rules TOML file")
    sub.choices["report"].add_argument("--out", type=Path, default=Path("qa-reports"),
                                       help="folder for the CSV and JSON (default qa-reports)")
    ck = sub.add_parser("check", help="validate a rules file")
    ck.add_argument("file", type=Path, nargs="?", default=DEFAULT_RULES)
    args = ap.parse_args(argv)
    if args.cmd == "check":
        rules = load_rules(args.file)
        print(f"{args.file}: ok ({len(rules.rules)} rules)")
        return 0
    rules = load_rules(args.rules)
    since = _stamp(args.since, "--since")
    until = _stamp(args.until, "--until") if args.until else None
    period = collect(open_archive(cfg), rules, args.agent, since, until)
    if args.cmd == "propose":
        params = cfg.loop_for(args.agent)
        print(propose(period, params.pace, params.anger), end="")
        return 0
    _print(period)
    jpath, cpath = _write(period, args.out)
    print(f"wrote {cpath} and {jpath}")
    return 0
