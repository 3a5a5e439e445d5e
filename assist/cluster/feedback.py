"""Panel feedback from `assist:feedback` to the coaches of this process's calls.

Rules (the stream's contract is in assist/cluster/bus.py):
- Every analysis process reads the whole stream from where it was when the
  process started; an entry for a call it does not hold is another process's
  and is skipped without a word.
- An entry whose agent is not the call's agent is refused (the gateway checks
  this too; isolation does not rest on one place).  Malformed entries and
  unknown cards are logged, a few at a time, and skipped.
- Redis going away is logged once; reading goes on from the last entry read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis

from assist.cluster.bus import FEEDBACK_STREAM, RETRY_FIRST, RETRY_MAX, where
from assist.errors import UserError

if TYPE_CHECKING:
    from assist.call.hub import CallHub

log = logging.getLogger(__name__)
BLOCK_MS = 1000
LOGGED = 20  # refused entries logged one by one; after that every 1000th


class FeedbackReader:
    def __init__(self, url: str, hub: CallHub) -> None:
        self.url = url
        self.hub = hub
        self.handed = 0
        self.refused = 0
        self.last: str | None = None  # id of the last entry read; None: not yet placed

    async def run(self, stop: asyncio.Event) -> None:
        client = aioredis.from_url(self.url, decode_responses=True, socket_timeout=5,
                                   socket_connect_timeout=5)
        delay, down = RETRY_FIRST, False
        try:
            while not stop.is_set():
                try:
                    if self.last is None:
                        newest: Any = await client.xrevrange(FEEDBACK_STREAM, count=1)
                        self.last = str(newest[0][0]) if newest else "0-0"
                    got: Any = await client.xread({FEEDBACK_STREAM: self.last}, count=100,
                                             block=BLOCK_MS)
                except (redis.RedisError, OSError) as e:
                    if not down:
                        down = True
                        log.error("feedback: Redis %s unreachable (%s); retrying",
                                  where(self.url), e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                if down:
                    down = False
                    log.warning("feedback: Redis %s reachable again", where(self.url))
                delay = RETRY_FIRST
                for _stream, entries in got or ():
                    for entry_id, fields in entries:
                        self.last = entry_id
                        self.hand(fields)
        finally:
            await client.aclose()

    def hand(self, fields: dict[str, str]) -> None:
        """One entry to the coach of its call, if that call is ours."""
        call = fields.get("call")
        session = self.hub.sessions.get(call) if isinstance(call, str) else None
        if session is None:
            return
        suggestion, action = fields.get("suggestion"), fields.get("action")
        agent = fields.get("agent") or None
        if not isinstance(suggestion, str) or not isinstance(action, str):
            self._refuse(f"call {call}: an entry without suggestion or action")
        elif agent != session.agent:
            self._refuse(f"call {call}: feedback from agent {agent!r}, not the call's agent")
        else:
            try:
                self.hub.feedback(session.call_id, suggestion, action, agent)
            except (UserError, ValueError) as e:
                self._refuse(f"call {call}: {e}")
            else:
                self.handed += 1

    def _refuse(self, why: str) -> None:
        self.refused += 1
        if self.refused <= LOGGED or self.refused % 1000 == 0:
            log.warning("feedback refused (%d so far): %s", self.refused, why[:300])
