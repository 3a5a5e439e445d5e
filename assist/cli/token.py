"""`python -m assist token`: print a signed panel token for an agent or a supervisor."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from assist.panel.auth import DEFAULT_TTL, Role, issue_token, load_or_create_secret

DEFAULT_SECRET_FILE = Path("data") / "panel-secret"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m assist token",
                                description="Print a signed token for the panel.")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", metavar="ID", help="an agent: sees only their own calls")
    who.add_argument("--supervisor", action="store_true", help="a supervisor: sees every call")
    p.add_argument("--ttl", type=float, default=DEFAULT_TTL,
                   help=f"seconds until the token expires (default {DEFAULT_TTL:.0f})")
    p.add_argument("--secret-file", type=Path, default=DEFAULT_SECRET_FILE,
                   help=f"signing secret, created if missing (default {DEFAULT_SECRET_FILE})")
    p.add_argument("--url", default=None,
                   help="print the panel URL with the token, e.g. http://127.0.0.1:8765/")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.ttl <= 0:
        print("error: --ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    if args.agent is not None and not args.agent.strip():
        print("error: --agent needs a non-empty id", file=sys.stderr)
        return 2
    try:
        secret = load_or_create_secret(args.secret_file)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    role: Role = "supervisor" if args.supervisor else "agent"
    token = issue_token(secret, role=role, agent=args.agent, ttl=args.ttl, now=time.time())
    print(f"{args.url.rstrip('/')}/?token={token}" if args.url else token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
