"""Debian's Chromium for the browser tests: where it is and how to start it quietly here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
# No network here: keep Chromium from reaching out (see the project's browser notes).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
needs_chromium = pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs Debian's chromium package")
