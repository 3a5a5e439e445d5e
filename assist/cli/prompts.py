"""`python -m assist prompts ...`: check playbooks, and try the phrase rules on a sentence.

    prompts check [DIR ...]                  validate (default: the shipped prompts/)
    prompts spot [--dir DIR] [--language L] TEXT
                                             which agent phrases in TEXT would be flagged
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from assist.coach.playbook import DEFAULT_DIR, PlaybookError, load_playbooks
from assist.detectors.phrases import find_spots
from assist.errors import UserError
from assist.textnorm import normalize


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m assist prompts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate playbooks; report file, line and problem")
    check.add_argument("dirs", nargs="*", help=f"playbook folders in order (default {DEFAULT_DIR})")
    spot = sub.add_parser("spot", help="show which phrase rules a sentence triggers")
    spot.add_argument("--dir", action="append", dest="dirs", help="playbook folder (repeatable)")
    spot.add_argument("--language", default="zh-CN")
    spot.add_argument("text")
    args = parser.parse_args(argv)
    dirs = args.dirs or [DEFAULT_DIR]
    try:
        books = load_playbooks(dirs)
    except PlaybookError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''}; fix them and run the check again",
              file=sys.stderr)
        return 2  # a user error, like every command's
    if args.command == "check":
        per = Counter(e.language for e in books.entries)
        langs = ", ".join(f"{lang} {n}" for lang, n in sorted(per.items()))
        spots = sum(1 for e in books.entries if e.spot)
        print(f"ok: {len(books.entries)} entries ({langs}); {spots} phrase rules;"
              f" folders: {', '.join(str(d) for d in dirs)}")
        return 0
    try:
        rules = books.spot_rules(args.language)
        if not rules:
            raise UserError(f"no phrase rules for language {args.language!r}"
                            f" (have: {', '.join(books.languages)})")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    by_id = {r.id: r for r in rules}
    hits = find_spots(normalize(args.text, args.language), rules)
    for h in hits:
        print(f"{h.rule}: \"{h.matched}\" -> say instead: {by_id[h.rule].phrasings[0]}")
    if not hits:
        print("no phrase rule matches")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
