"""`python -m assist cluster ...`: files the engines around the cluster start from."""

from __future__ import annotations

import argparse
from pathlib import Path

from assist.cluster.kamailio import write
from assist.config import Config


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m assist cluster",
                                description="Render the config of the engines a cluster uses.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    k = sub.add_parser("kamailio-cfg", help="write kamailio.cfg and dispatcher.list from "
                       "[kamailio]")
    k.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="folder for kamailio.cfg and dispatcher.list")
    return p


def main(argv: list[str], cfg: Config) -> int:
    args = parser().parse_args(argv)
    cfg_path, list_path = write(cfg.kamailio, args.out, cfg.path)
    k = cfg.kamailio
    print(f"wrote {cfg_path} and {list_path}: {len(k.taps)} tap(s), SIP on {k.host}:{k.port}"
          f" (udp{', tcp' if k.tcp else ''})")
    print(f"start: kamailio -f {cfg_path} -DD -E   (or the systemd unit in docs/operations.md)")
    if not cfg.cluster.proxies:
        print(f"each tap needs [cluster] proxies = [\"{k.host}\"] to trust its X-Assist-Source")
    return 0
