"""`assist trunks check CONFIG`: validate the trunks and show what each will accept."""

from __future__ import annotations

import argparse
import sys

from assist.errors import UserError
from sip.trunks import Trunk, load_trunks


def describe(t: Trunk) -> dict[str, str]:
    if t.mode == "siprec":
        rules = []
        if t.agent_aor:
            rules.append(f"agent AoR ~ {t.agent_aor.pattern}")
        if t.customer_aor:
            rules.append(f"customer AoR ~ {t.customer_aor.pattern}")
        if t.caller_role:
            rules.append(f"caller is {t.caller_role}")
        fallback = []
        if t.labels:
            fallback.append("labels " + ",".join(f"{k}={v}" for k, v in t.labels))
        if t.order:
            fallback.append("order " + ",".join(t.order))
        roles = "; ".join(rules) or "-"
        roles += " | no metadata: " + ("; ".join(fallback) if fallback else "refuse")
    else:
        values = ",".join(f"{k}={v}" for k, v in t.role_values)
        roles = (f"pair by {t.call_header}, role by {t.role_header} ({values}), "
                 f"agent id by {t.agent_header}, wait {t.pair_timeout:g}s")  # fmt: skip
    return {
        "trunk": t.name,
        "mode": t.mode,
        "sources": ",".join(str(n) for n in t.sources),
        "transport": t.transport,
        "auth": f"digest (realm {t.realm}, user {t.username})" if t.auth else "none",
        "language": t.language or "-",
        "roles": roles,
    }


def table(trunks: tuple[Trunk, ...]) -> str:
    rows = [describe(t) for t in trunks]
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip()]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols).rstrip() for r in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="assist trunks", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="validate trunks and print what each accepts")
    check.add_argument("config", help="TOML file with [[trunks]] or [trunks.NAME] sections")
    args = parser.parse_args(argv)
    try:
        trunks = load_trunks(args.config)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(trunks))
    print(f"{len(trunks)} trunk(s) OK; other sources get 403 Forbidden.")
    if any(t.auth for t in trunks):
        print("Trunks with digest: INVITEs without valid credentials get 401, wrong ones 403.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
