"""Errors a user sees as one clear line (no traceback) from the command line."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: the message says what is wrong and what to do."""


class ConfigError(UserError):
    """A bad config value.  `where` names the file, key and, when known, the line."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


def check(section: str, params: object, checks: list[tuple[str, bool, str]]) -> None:
    """Raise ConfigError for the first failed (key, ok, what it must be) of a params object."""
    for key, ok, want in checks:
        if not ok:
            raise ConfigError(f"{section}.{key}", f"must be {want}, got {getattr(params, key)!r}")
