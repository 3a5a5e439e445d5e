"""Playing the media-fork platforms against a real ForkServer on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from assist.frames import Frame
from assist.taps.fork import ForkParams, ForkServer, ForkSource

CUSTOMER_HZ, AGENT_HZ = 440.0, 1000.0


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))  # a hang guard, not a speed check


def tone(hz: float, seconds: float, rate: int, amp: float = 8000.0) -> np.ndarray:
    n = int(seconds * rate)
    return (amp * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.int16)


def dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * rate / len(pcm))


class Recorder:
    """A CallSink that keeps what each call got, for asserting on."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.ended: dict[str, str] = {}
        self._changed = asyncio.Event()

    def start_call(self, call_id: str, **kw: Any) -> None:
        self.calls[call_id] = {**kw, "frames": {"customer": [], "agent": []}}
        self._changed.set()

    def feed(self, call_id: str, frame: Frame) -> None:
        self.calls[call_id]["frames"][frame.party].append(frame)

    def audio_health(self, call_id: str, party: str | None, evidence: dict[str, Any]) -> None:
        self.calls[call_id].setdefault("health", []).append((party, evidence))
        self._changed.set()

    def end_call(self, call_id: str, reason: str = "hangup") -> None:
        self.ended[call_id] = reason
        self._changed.set()

    async def wait(self, pred: Any) -> None:
        while not pred():
            self._changed.clear()
            await self._changed.wait()

    async def wait_ended(self, call_id: str | None = None) -> str:
        await self.wait(lambda: (call_id in self.ended) if call_id else bool(self.ended))
        return self.ended[call_id or next(iter(self.ended))]

    def health(self, call_id: str, *, final: bool | None = None) -> list[tuple[Any, ...]]:
        """The call's audio.health reports as (party, problem, evidence)."""
        return [(p, e["problem"], e) for p, e in self.calls.get(call_id, {}).get("health", [])
                if final is None or e["final"] == final]

    async def wait_health(self, call_id: str, party: str | None, problem: str) -> dict[str, Any]:
        """The first report of `problem` for `party` (the looks come every 5 s)."""
        def found() -> bool:
            return any(p == party and pr == problem for p, pr, _ in self.health(call_id))
        await self.wait(found)
        return next(e for p, pr, e in self.health(call_id) if p == party and pr == problem)

    def pcm(self, call_id: str, party: str) -> np.ndarray:
        frames = self.calls[call_id]["frames"][party]
        return np.concatenate([f.pcm for f in frames]) if frames else np.zeros(0, np.int16)

    def assert_contiguous(self, call_id: str) -> None:
        """Frames are 20 ms, stamped with call time from the sample count."""
        for party, frames in self.calls[call_id]["frames"].items():
            for i, f in enumerate(frames):
                assert len(f.pcm) == f.rate // 50, party
                assert abs(f.t - i * 0.02) < 1e-9, (party, i, f.t)


async def server(*sources: ForkSource, sink: Any = None, clock: Any = None,
                 **params: Any) -> tuple[ForkServer, Recorder]:
    rec = sink or Recorder()
    kw = {"clock": clock} if clock else {}
    srv = ForkServer(ForkParams(enabled=True, host="127.0.0.1", port=0, sources=sources,
                                **params), rec, **kw)
    await srv.start()
    return srv, rec
