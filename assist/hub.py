"""What a tap (WAV replay, SIP) talks to: start a call, feed frames, end it.

All three methods run on the asyncio event loop and return at once; a tap on
another thread hands off with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

from typing import Any, Protocol

from assist.frames import Frame


class CallSink(Protocol):
    def start_call(
        self,
        call_id: str,
        *,
        agent: str | None,
        rate: int,
        language: str | None = None,
        source: str = "replay",
        meta: dict[str, Any] | None = None,
    ) -> None: ...

    def feed(self, call_id: str, frame: Frame) -> None: ...

    def end_call(self, call_id: str, reason: str = "hangup") -> None: ...


class Publisher(Protocol):
    """Where serialised events go (websocket fan-out, store).  Must never block."""

    def publish(self, wire: dict[str, Any], *, agent: str | None, arrival: float | None) -> None: ...
