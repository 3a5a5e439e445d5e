"""The models/ folder: a manifest of known Vosk models, and a resumable,
verified download that unpacks into models/<id>/.

A download goes to models/.downloads/<id>.zip.part; an interrupted one resumes
with an HTTP Range request.  The archive is checked against the manifest's
sha256 before anything is unpacked; an archive with no pinned digest is only
unpacked when the caller explicitly allows it.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import sys
import tomllib
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TextIO

from assist.asr.model import model_files_problem
from assist.errors import UserError

MANIFEST = Path(__file__).resolve().parents[2] / "models" / "manifest.toml"
CHUNK = 64 * 1024


class DownloadError(UserError):
    pass


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    language: str
    url: str
    size: int  # 0 = not known exactly
    size_text: str
    sha256: str  # "" = not pinned
    default: bool = False
    note: str = ""


def read_manifest(path: Path = MANIFEST) -> list[ModelEntry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"{path}: cannot read the model manifest ({e})") from e
    out = []
    for i, m in enumerate(data.get("model", [])):
        try:
            entry = ModelEntry(
                id=m["id"],
                language=m["language"],
                url=m["url"],
                size=int(m.get("size", 0)),
                size_text=m.get("size_text", ""),
                sha256=m.get("sha256", "").lower(),
                default=bool(m.get("default", False)),
                note=m.get("note", ""),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{path}: model entry {i + 1} is missing or has a bad {e}") from e
        if entry.sha256 and len(entry.sha256) != 64:
            raise UserError(f"{path}: model {entry.id}: sha256 must be 64 hex digits or empty")
        out.append(entry)
    return out


def find(entries: list[ModelEntry], model_id: str | None) -> ModelEntry:
    if model_id is None:
        defaults = [e for e in entries if e.default] or entries[:1]
        if not defaults:
            raise UserError("the model manifest lists no models")
        return defaults[0]
    for e in entries:
        if e.id == model_id:
            return e
    known = ", ".join(e.id for e in entries)
    raise UserError(f"unknown model {model_id!r}; known: {known}")


def is_installed(folder: Path) -> bool:
    return model_files_problem(folder) is None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


class Progress:
    """A one-line bar on a terminal; a line every 10% otherwise."""

    def __init__(self, out: TextIO, label: str) -> None:
        self.out, self.label, self._last = out, label, -1
        self.tty = hasattr(out, "isatty") and out.isatty()

    def update(self, done: int, total: int | None) -> None:
        mb = done / 1e6
        if not total:
            if self.tty:
                self.out.write(f"\r{self.label}: {mb:.1f} MB")
            return
        pct = min(100, done * 100 // total)
        if self.tty:
            bar = "#" * (pct * 30 // 100)
            self.out.write(f"\r{self.label}: [{bar:<30}] {pct:3d}% {mb:.1f}/{total / 1e6:.1f} MB")
        elif pct // 10 != self._last // 10:
            self.out.write(f"{self.label}: {pct}% {mb:.1f}/{total / 1e6:.1f} MB\n")
        self._last = pct
        self.out.flush()

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")


def fetch(url: str, part: Path, out: TextIO, timeout: float = 30.0) -> None:
    """Download `url` into `part`, resuming from what `part` already holds."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: already complete
            return
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"cannot reach {url} ({e}); check the network or pass --url") from e
    with resp:
        if have and resp.status == 206:
            out.write(f"resuming {part.name} at {have / 1e6:.1f} MB\n")
        elif have:  # the server ignored Range: start again
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done = have
        bar = Progress(out, part.name.removesuffix(".part"))
        try:
            with part.open("ab" if have else "wb") as f:
                while block := resp.read(CHUNK):
                    f.write(block)
                    done += len(block)
                    bar.update(done, total)
        except (OSError, http.client.HTTPException) as e:
            bar.finish()
            raise DownloadError(
                f"download interrupted at {done / 1e6:.1f} MB ({e}); run the same command "
                "again to resume"
            ) from e
        bar.finish()
    if total is not None and done < total:
        raise DownloadError(
            f"download interrupted at {done / 1e6:.1f} of {total / 1e6:.1f} MB; run the same "
            "command again to resume"
        )


def unpack(archive: Path, dest: Path) -> None:
    """Unpack a model zip into `dest`, dropping the archive's single top folder."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{archive} is not a zip archive ({e})") from e
    with zf:
        names = [PurePosixPath(n) for n in zf.namelist()]
        for n in names:
            if n.is_absolute() or ".." in n.parts:
                raise DownloadError(f"{archive}: refusing unsafe path {n} in the archive")
        tops = {n.parts[0] for n in names if n.parts}
        strip = len(tops) == 1 and all(len(n.parts) > 1 or str(n).endswith("/") for n in names)
        tmp = dest.with_name(f".{dest.name}.unpacking")
        shutil.rmtree(tmp, ignore_errors=True)
        for info, n in zip(zf.infolist(), names, strict=True):
            rel = PurePosixPath(*n.parts[1:]) if strip else n
            if not rel.parts or info.is_dir():
                continue
            target = tmp.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    problem = model_files_problem(tmp)
    if problem:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(f"{archive} does not hold a Vosk model: the unpacked folder {problem}")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


def download(
    entry: ModelEntry,
    models_dir: Path,
    *,
    url: str | None = None,
    allow_unverified: bool = False,
    out: TextIO = sys.stderr,
) -> Path:
    """Fetch, verify and unpack `entry`; returns the model folder."""
    dest = models_dir / entry.id
    if is_installed(dest):
        out.write(f"{entry.id} is already installed in {dest}\n")
        return dest
    dl = models_dir / ".downloads"
    dl.mkdir(parents=True, exist_ok=True)
    archive, part = dl / f"{entry.id}.zip", dl / f"{entry.id}.zip.part"
    if not archive.exists():
        fetch(url or entry.url, part, out)
        part.rename(archive)
    digest = sha256_of(archive)
    if entry.sha256 and digest != entry.sha256:
        archive.unlink()
        raise DownloadError(
            f"{entry.id}: sha256 mismatch (expected {entry.sha256}, got {digest}); the archive "
            "was deleted: run the command again, or check the URL"
        )
    if not entry.sha256:
        if not allow_unverified:
            raise DownloadError(
                f"{entry.id}: no sha256 is pinned in the manifest, so {archive} (sha256 {digest}) "
                "cannot be verified; check it, then pin it in models/manifest.toml or re-run "
                "with --allow-unverified"
            )
        out.write(f"warning: {entry.id} unpacked UNVERIFIED (sha256 {digest})\n")
    unpack(archive, dest)
    archive.unlink()
    out.write(f"{entry.id} installed in {dest.resolve()}\n")
    return dest
