"""The store: calls and their events kept for review.

SQLite under `data_dir` by default; PostgreSQL when `[cluster] postgres_url` is set.
Both offer the same reads (`calls`, `events`, `latencies`, `purge`) and the
same Publisher (`publish`, `flush`, `close`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assist.errors import UserError
from assist.store.base import Reads

if TYPE_CHECKING:
    from assist.config import Config


def _postgres() -> Any:
    try:
        from assist.store import postgres
    except ImportError as e:
        raise UserError(f"cluster.postgres_url is set but PostgreSQL support is not installed "
                        f"({e}); pip install 'assist[cluster]'") from None
    return postgres


def where(cfg: Config) -> str:
    """The store's address for messages: the SQLite file, or the URL without its password."""
    if cfg.cluster.postgres_url:
        return str(_postgres().describe(cfg.cluster.postgres_url))
    return str(cfg.store_path)


def open_store(cfg: Config) -> Any:
    """The Publisher that keeps this process's events; UserError when it cannot open."""
    if cfg.cluster.postgres_url:
        return _postgres().PostgresStore(cfg.cluster.postgres_url)
    from assist.store.sqlite import Store

    try:
        return Store(cfg.store_path)
    except Exception as e:
        raise UserError(f"{cfg.store_path}: cannot open the store ({e}); check the "
                        "data_dir setting and the folder's permissions") from None


def open_archive(cfg: Config, *, check: bool = True) -> Reads:
    """The store for reading; with `check`, UserError unless it holds a readable store."""
    if cfg.cluster.postgres_url:
        archive = _postgres().PostgresArchive(cfg.cluster.postgres_url)
        if check:
            archive.check()
        return archive
    import sqlite3

    from assist.store.sqlite import Archive

    path = cfg.store_path
    if check and not path.exists():
        raise UserError(f"{path}: no store yet; `python -m assist run` creates it")
    sq = Archive(path)
    if check:
        try:
            sq.calls()
        except sqlite3.DatabaseError as e:
            raise UserError(f"{path}: not a readable store ({e})") from None
    return sq
