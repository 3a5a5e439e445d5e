"""One call's recognisers: fed by party, a failed one closed, all closed and flushed at the end."""

from __future__ import annotations

import asyncio

import numpy as np

from assist.asr.transcription import CallRecognizers
from assist.events import Event
from assist.frames import Frame


class Worker:
    """Stands in for a Vosk worker (PartyRecognizer): records what it is asked."""

    def __init__(self) -> None:
        self.fed: list[tuple[float, bool]] = []
        self.closed_at: float | None = None

    def feed(self, frame: Frame, talking: bool) -> None:
        self.fed.append((frame.t, talking))

    def close(self, t: float) -> None:
        self.closed_at = t

    def idle(self) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def frame(party, t):
    return Frame(party, np.zeros(160, np.int16), 8000, t)


def test_each_party_feeds_its_own_and_a_failed_one_is_closed_and_left_out():
    cust, agent = Worker(), Worker()
    recs = CallRecognizers({"customer": cust, "agent": agent})  # type: ignore[dict-item]
    recs.feed(frame("customer", 0.0), True)
    recs.feed(frame("agent", 0.0), False)
    recs.on_event(Event("transcription", "c1", 1.0, None,
                        {"enabled": True, "model": "m", "language": "zh-CN"}), 1.0)
    assert cust.closed_at is None and agent.closed_at is None
    recs.on_event(Event("transcription", "c1", 1.5, "agent",
                        {"enabled": False, "reason": "agent: recogniser failed"}), 1.52)
    assert agent.closed_at == 1.52 and cust.closed_at is None
    recs.feed(frame("agent", 1.6), True)  # its audio is no longer recognised
    recs.feed(frame("customer", 1.6), True)
    assert agent.fed == [(0.0, False)] and cust.fed == [(0.0, True), (1.6, True)]
    recs.close(9.0)
    assert cust.closed_at == 9.0 and agent.closed_at == 1.52
    asyncio.run(recs.idle())
