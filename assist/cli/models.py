"""`python -m assist models list|download`: what is installed, and fetching more."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assist.asr import model_store
from assist.errors import UserError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assist models", description="Vosk speech models")
    p.add_argument("--manifest", type=Path, default=model_store.MANIFEST, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="known models, installed or missing")
    ls.add_argument("--dir", type=Path, default=None, help="models folder (default: models/)")
    dl = sub.add_parser("download", help="download, verify and unpack a model")
    dl.add_argument("id", nargs="?", help="model id (default: the manifest's default)")
    dl.add_argument("--dir", type=Path, default=None, help="models folder (default: models/)")
    dl.add_argument("--url", help="fetch from this URL instead (a mirror)")
    dl.add_argument(
        "--allow-unverified",
        action="store_true",
        help="unpack even though the manifest pins no sha256 for this model",
    )
    return p


def _list(entries: list[model_store.ModelEntry], models_dir: Path) -> int:
    rows = [("model", "lang", "size", "sha256", "status")]
    for e in entries:
        folder = models_dir / e.id
        status = f"installed {folder}" if model_store.is_installed(folder) else "missing"
        name = e.id + (" (default)" if e.default else "")
        rows.append((name, e.language, e.size_text, "pinned" if e.sha256 else "NOT PINNED", status))
    known = {e.id for e in entries}
    if models_dir.is_dir():
        for d in sorted(models_dir.iterdir()):
            if d.name not in known and not d.name.startswith(".") and model_store.is_installed(d):
                rows.append((d.name, "?", "", "", f"installed {d} (not in manifest)"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    print("\nDownload one with: make model MODEL=<model>.  [asr] models.<lang> in the config")
    print("may point at any Vosk model folder instead.")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        entries = model_store.read_manifest(args.manifest)
        models_dir = args.dir or args.manifest.parent
        if args.cmd == "list":
            return _list(entries, models_dir)
        entry = model_store.find(entries, args.id)
        model_store.download(
            entry, models_dir, url=args.url, allow_unverified=args.allow_unverified
        )
        return 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
