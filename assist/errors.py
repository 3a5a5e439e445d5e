"""Errors a user sees as one clear line (no traceback) from the command line."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: the message says what is wrong and what to do."""


class ConfigError(UserError):
    """A bad config value.  `where` names the file, line and key ("assist.toml:12: pace.low");
    a parameters object's own check names only "section.key", and the loader adds the rest."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message
