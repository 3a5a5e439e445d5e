"""The loopback SIPREC client (sip.loopback) fed from the fixture files here."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sip import loopback
from sip.loopback import Outcome, Reply, alaw, play

__all__ = ["FIX", "Outcome", "Reply", "Uac", "alaw"]

FIX = Path(__file__).parent / "fixtures"


class Uac(loopback.Uac):
    """A fixture's name (a file under fixtures/) or the message itself."""

    def invite_only(self, message: str | bytes) -> Reply:
        return super().invite_only(_text(message))

    def call(self, message: str | bytes, *args, **kwargs) -> Outcome:
        return super().call(_text(message), *args, **kwargs)

    def call_losing_first_ack(self, message: str | bytes, tones: list[float],
                              seconds: float) -> tuple[Outcome, Reply]:  # fmt: skip
        """A call whose first ACK is lost on the way (UDP): the tones start on the 200,
        and only the 200's retransmission (T1, 0.5 s on) is ACKed.  Returns the
        answer and its retransmission."""
        self._lose_ack = True
        out = self.offer(_text(message), len(tones))
        if out.final.status != 200:
            return out, out.final
        player = threading.Thread(target=play, args=([(self, tones)], seconds))
        player.start()
        try:
            again = self._recv()
            self._send(self._request("ACK", self._cseq, self._dialog))
        finally:
            player.join()
            time.sleep(1.0)  # what the tap's jitter buffer still holds reaches the call
            self.hang_up()
        return out, again

    def _send(self, data: bytes) -> None:
        if getattr(self, "_lose_ack", False) and data.startswith(b"ACK "):
            self._lose_ack = False
            return
        super()._send(data)


def _text(message: str | bytes) -> bytes:
    return (FIX / message).read_bytes() if isinstance(message, str) else message
