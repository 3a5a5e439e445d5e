"""WAV replay: a tap that feeds a recorded call as if it were live.

Call time comes from sample counts, so real time, `speed` N and as fast as
possible (speed 0) all give the same events at the same call times.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime

from assist.call.hub import CallHub
from assist.frames import Frame
from assist.taps.wav import Recording


def new_call_id(stem: str, start: datetime) -> str:
    """A fresh id for a replayed call: the file, the UTC date and time, a random suffix.

    Two replays of one file at the same second (a daily run, a restart) still differ;
    pass a fixed id (`--call-id`) for events that must repeat byte for byte.
    """
    return f"{stem}-{start.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


async def replay(rec: Recording, hub: CallHub, call_id: str, *, speed: float = 1.0,
                 agent: str | None = None, language: str | None = None,
                 start_utc: datetime | None = None) -> None:
    loop = asyncio.get_running_loop()
    hub.start_call(call_id, agent=agent, rate=rec.rate, language=language,
                   source=f"replay:{rec.path.name}", start_utc=start_utc)
    t0 = loop.time()
    reason = "end of recording"
    try:
        for i, (t, customer, agent_pcm) in enumerate(rec.frames()):
            if speed > 0:
                delay = t0 + t / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % 25 == 0:
                await asyncio.sleep(0)  # let the server push while we race ahead
            now = time.monotonic()
            hub.feed(call_id, Frame("customer", customer, rec.rate, t, now))
            hub.feed(call_id, Frame("agent", agent_pcm, rec.rate, t, now))
    except asyncio.CancelledError:
        reason = "stopped"
        raise
    finally:
        hub.end_call(call_id, reason)
