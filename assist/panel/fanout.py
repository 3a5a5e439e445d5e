"""Fan-out of call events to panel connections, without sockets.

Rules:
- Every call keeps its events in memory (stale partial transcripts excepted) so a
  panel that reconnects gets exactly the events after the last seq it saw.
- An agent connection sees every event of the calls where it is the agent.  A
  supervisor sees the "floor" (call start/end and flags) of every call, and every
  event of the calls it has opened.
- Each connection has a bounded outbox.  When it is full, the oldest partial
  transcript goes first; flags and suggestions are never dropped.  A connection
  whose outbox still overflows (the browser stalled) is told to go away and
  resumes later from its last seq, so the call itself is never slowed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from assist.events import DROPPABLE, FLOOR_TYPES, dumps
from assist.panel.auth import Claims


class Outbox:
    """Bounded queue of JSON texts for one connection (one producer, one writer task)."""

    def __init__(self, limit: int = 256, hard_limit: int = 1024) -> None:
        if not 1 <= limit <= hard_limit:
            raise ValueError(f"need 1 <= limit <= hard_limit, got {limit}, {hard_limit}")
        self.limit, self.hard_limit = limit, hard_limit
        self._items: deque[tuple[bool, str]] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0
        self.overflowed = False
        self._backlog = 0  # catch-up items, which the hard limit does not count

    def put_backlog(self, text: str) -> None:
        """Catch-up after (re)connecting: texts already held in history, never dropped."""
        self._items.append((False, text))
        self._backlog += 1
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, text: str, droppable: bool = False) -> bool:
        """Queue `text`; False once the connection must be closed (never blocks)."""
        if self.overflowed:
            return False
        if len(self._items) >= self.limit:
            for i, (old_droppable, _) in enumerate(self._items):
                if old_droppable:
                    del self._items[i]
                    self.dropped += 1
                    break
            else:
                if droppable:
                    self.dropped += 1
                    return True
                if len(self._items) >= self.hard_limit + self._backlog:
                    self.overflowed = True
                    self._ready.set()
                    return False
        self._items.append((droppable, text))
        self._ready.set()
        return True

    async def get(self) -> str | None:
        """The next text, or None when the outbox overflowed and the link must close."""
        while not self._items and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return None
        if self._backlog:
            self._backlog -= 1
        return self._items.popleft()[1]


@dataclass
class CallLog:
    call_id: str
    agent: str | None
    active: bool = True
    last_seq: int = 0
    # (seq, type, text) in seq order; partials are kept apart, only the newest per party.
    events: deque[tuple[int, str, str]] = field(default_factory=deque)
    partials: dict[str, tuple[int, str]] = field(default_factory=dict)
    started: dict[str, Any] | None = None

    def after(self, seq: int, floor_only: bool = False) -> list[str]:
        out = [(s, text) for s, typ, text in self.events
               if s > seq and (not floor_only or typ in FLOOR_TYPES)]
        if not floor_only:
            out += [(s, text) for s, text in self.partials.values() if s > seq]
            out.sort(key=lambda item: item[0])
        return [text for _, text in out]

    def summary(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "agent": self.agent, "active": self.active,
                "last_seq": self.last_seq}


class Link:
    """One authenticated connection as the fan-out sees it."""

    def __init__(self, claims: Claims, outbox: Outbox) -> None:
        self.claims = claims
        self.outbox = outbox
        self.opened: set[str] = set()  # calls a supervisor sees in full


def event_text(wire: dict[str, Any]) -> str:
    return '{"type":"event","event":' + dumps(wire) + "}"


class Fanout:
    """Routes each published event to the links allowed to see it; keeps call history."""

    def __init__(self, *, keep_ended: int = 200, max_events: int = 100_000) -> None:
        self.calls: OrderedDict[str, CallLog] = OrderedDict()
        self.keep_ended = keep_ended
        self.max_events = max_events
        self._by_agent: dict[str, set[Link]] = {}
        self._floor: set[Link] = set()
        self._opened: dict[str, set[Link]] = {}
        self.overflowed: list[Link] = []  # links the shell must close

    # -- links ------------------------------------------------------------
    def add(self, link: Link) -> None:
        if link.claims.role == "supervisor":
            self._floor.add(link)
        else:
            self._by_agent.setdefault(link.claims.agent or "", set()).add(link)

    def remove(self, link: Link) -> None:
        self._floor.discard(link)
        peers = self._by_agent.get(link.claims.agent or "")
        if peers is not None:
            peers.discard(link)
            if not peers:
                del self._by_agent[link.claims.agent or ""]
        for call_id in link.opened:
            self._opened.get(call_id, set()).discard(link)
        link.opened.clear()

    def visible(self, link: Link) -> list[CallLog]:
        return [c for c in self.calls.values() if link.claims.may_see(c.agent)]

    def resume(self, link: Link, last_seen: dict[str, int], opened: list[str]) -> None:
        """Queue what `link` missed: events after `last_seen[call]`, whole active calls it
        never saw.  Runs in one step with registration, so nothing slips between."""
        if link.claims.role == "supervisor":
            for call_id in opened:
                if call_id in self.calls:
                    link.opened.add(call_id)
                    self._opened.setdefault(call_id, set()).add(link)
        for call in self.visible(link):
            if call.call_id not in last_seen and not call.active:
                continue
            floor_only = link.claims.role == "supervisor" and call.call_id not in link.opened
            for text in call.after(last_seen.get(call.call_id, 0), floor_only):
                link.outbox.put_backlog(text)

    def open(self, link: Link, call_id: str, after: int) -> bool:
        """A supervisor opens one call: everything after `after`, then live."""
        call = self.calls.get(call_id)
        if call is None or link.claims.role != "supervisor":
            return False
        link.opened.add(call_id)
        self._opened.setdefault(call_id, set()).add(link)
        # Tells the page to start this call's seq count again from `after`.
        link.outbox.put_backlog(dumps({"type": "opened", "call_id": call_id, "after": after}))
        for text in call.after(after):
            link.outbox.put_backlog(text)
        return True

    def close_call_view(self, link: Link, call_id: str) -> None:
        link.opened.discard(call_id)
        self._opened.get(call_id, set()).discard(link)

    # -- events -----------------------------------------------------------
    def publish(self, wire: dict[str, Any], agent: str | None) -> str:
        call_id, typ, seq = wire["call_id"], wire["type"], int(wire["seq"])
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = CallLog(call_id, agent)
        if call.agent is None:
            call.agent = agent or (wire.get("evidence") or {}).get("agent")
        text = event_text(wire)
        if typ == "transcript.partial":
            call.partials[wire.get("party") or ""] = (seq, text)
        else:
            if typ == "transcript.final":
                call.partials.pop(wire.get("party") or "", None)
            call.events.append((seq, typ, text))
            if len(call.events) > self.max_events:
                call.events.popleft()
        call.last_seq = max(call.last_seq, seq)
        if typ == "call.started":
            call.started, call.active = wire, True
        elif typ == "call.ended":
            call.active = False
            self.calls.move_to_end(call_id)
            self._forget_old_calls()
        droppable = typ in DROPPABLE
        full = self._opened.get(call_id, set())
        for link in self._by_agent.get(call.agent or "", ()) if call.agent else ():
            self._push(link, text, droppable)
        for link in full:
            self._push(link, text, droppable)
        if typ in FLOOR_TYPES:
            for link in self._floor:
                if link not in full:
                    self._push(link, text, droppable)
        return text

    def _push(self, link: Link, text: str, droppable: bool) -> None:
        if not link.outbox.put(text, droppable) and link not in self.overflowed:
            self.overflowed.append(link)

    def _forget_old_calls(self) -> None:
        ended = [c for c in self.calls.values() if not c.active]
        for call in ended[: max(0, len(ended) - self.keep_ended)]:
            del self.calls[call.call_id]
            self._opened.pop(call.call_id, None)
