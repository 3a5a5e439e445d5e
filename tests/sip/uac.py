"""The loopback SIPREC client (sip.loopback) fed from the fixture files here."""

from __future__ import annotations

from pathlib import Path

from sip import loopback
from sip.loopback import Outcome, Reply, alaw

__all__ = ["FIX", "Outcome", "Reply", "Uac", "alaw"]

FIX = Path(__file__).parent / "fixtures"


class Uac(loopback.Uac):
    """A fixture's name (a file under fixtures/) or the message itself."""

    def invite_only(self, message: str | bytes) -> Reply:
        return super().invite_only(_text(message))

    def call(self, message: str | bytes, *args, **kwargs) -> Outcome:
        return super().call(_text(message), *args, **kwargs)


def _text(message: str | bytes) -> bytes:
    return (FIX / message).read_bytes() if isinstance(message, str) else message
