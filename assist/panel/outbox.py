"""What one panel connection is owed: live texts and catch-up read from call history.

Rules:
- Live texts wait in a bounded queue.  Past `limit` the oldest droppable text (a
  stale partial transcript) goes first; past `hard_limit` texts or `max_chars`
  characters the connection has stalled and must close (it resumes later).
- Catch-up is never copied: a `Cursor` is a call's history plus the last seq sent,
  read one event at a time as the writer asks.  A connection holds at most one
  cursor per call, so whatever a client asks for, its catch-up costs a few dozen
  bytes per call.
- While a call is catching up, its live events are not queued: the cursor reads
  them from the history in order, then the call goes live again.  Nothing is sent
  twice and nothing is lost.
- The writer alternates between live texts and catch-up, so neither starves;
  calls catch up one after another, in the order they were asked for.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class CallLog:
    """A call's events as panels get them, in seq order; partials kept apart, newest only."""

    call_id: str
    agent: str | None
    active: bool = True
    last_seq: int = 0
    seqs: list[int] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    partials: dict[str, tuple[int, str]] = field(default_factory=dict)

    def append(self, seq: int, typ: str, text: str, max_events: int) -> None:
        self.seqs.append(seq)
        self.types.append(typ)
        self.texts.append(text)
        excess = len(self.seqs) - max_events
        if excess > max_events // 16:  # trim in steps, not one event at a time
            del self.seqs[:excess], self.types[:excess], self.texts[:excess]

    def next_after(self, seq: int, only: frozenset[str] | None) -> tuple[int, str] | None:
        """The first event after `seq` (of the types in `only`, when given)."""
        i = bisect_right(self.seqs, seq)
        if only is not None:
            while i < len(self.types) and self.types[i] not in only:
                i += 1
        best = (self.seqs[i], self.texts[i]) if i < len(self.seqs) else None
        if only is None:
            for s, text in self.partials.values():
                if s > seq and (best is None or s < best[0]):
                    best = (s, text)
        return best

    def summary(self) -> dict[str, object]:
        return {"call_id": self.call_id, "agent": self.agent, "active": self.active,
                "last_seq": self.last_seq}


@dataclass
class Cursor:
    """Catch-up of one call for one connection: `head` first, then events after `pos`."""

    call: CallLog
    pos: int
    only: frozenset[str] | None = None
    head: str | None = None

    def step(self) -> str | None:
        if self.head is not None:
            text, self.head = self.head, None
            return text
        nxt = self.call.next_after(self.pos, self.only)
        if nxt is None:
            return None
        self.pos = nxt[0]
        return nxt[1]


class Outbox:
    """Bounded queue of JSON texts plus catch-up cursors for one connection.

    One producer (the event loop) and one writer task; nothing here blocks.
    """

    def __init__(self, limit: int = 256, hard_limit: int = 1024,
                 max_chars: int = 500_000) -> None:
        if not 1 <= limit <= hard_limit:
            raise ValueError(f"need 1 <= limit <= hard_limit, got {limit}, {hard_limit}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        self.limit, self.hard_limit, self.max_chars = limit, hard_limit, max_chars
        self._items: deque[tuple[bool, str, str | None]] = deque()  # droppable, text, call
        self._chars = 0
        self._per_call: Counter[str | None] = Counter()  # queued texts of each call
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._ready = asyncio.Event()
        self._cursor_turn = False
        self.dropped = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def chars(self) -> int:
        return self._chars

    def put(self, text: str, droppable: bool = False, call_id: str | None = None) -> bool:
        """Queue `text`; False once the connection must be closed (never blocks).

        A text of a call that is catching up is left to its cursor.
        """
        if self.overflowed:
            return False
        if call_id is not None and call_id in self.cursors:
            return True
        if len(self._items) >= self.limit:
            for i, (old_droppable, old, old_call) in enumerate(self._items):
                if old_droppable:
                    del self._items[i]
                    self._chars -= len(old)
                    self._uncount(old_call)
                    self.dropped += 1
                    break
            else:
                if droppable:
                    self.dropped += 1
                    return True
        if len(self._items) >= self.hard_limit or self._chars + len(text) > self.max_chars:
            self.overflowed = True
            self._ready.set()
            return False
        self._items.append((droppable, text, call_id))
        self._chars += len(text)
        self._per_call[call_id] += 1
        self._ready.set()
        return True

    def _uncount(self, call_id: str | None) -> None:
        self._per_call[call_id] -= 1
        if not self._per_call[call_id]:
            del self._per_call[call_id]

    def catch_up(self, cursor: Cursor) -> None:
        """Send `cursor`'s call from its position; replaces any catch-up of that call.

        Texts of the call still queued are dropped: the cursor reads them again
        from the history, in order.
        """
        call_id = cursor.call.call_id
        if self._per_call[call_id] > 0:
            kept = [item for item in self._items if item[2] != call_id]
            self._items = deque(kept)
            self._chars = sum(len(t) for _, t, _ in kept)
            del self._per_call[call_id]
        self.cursors.pop(call_id, None)
        self.cursors[call_id] = cursor
        self._ready.set()

    def forget(self, call_id: str) -> None:
        """The call left the history: nothing more of it to catch up."""
        self.cursors.pop(call_id, None)

    def _next_cursor_text(self) -> str | None:
        while self.cursors:
            call_id, cursor = next(iter(self.cursors.items()))
            text = cursor.step()
            if text is not None:
                return text
            del self.cursors[call_id]  # caught up: the call is live again
        return None

    def _next_item(self) -> str | None:
        if not self._items:
            return None
        _, text, call_id = self._items.popleft()
        self._chars -= len(text)
        self._uncount(call_id)
        return text

    def next_text(self) -> str | None:
        """The next text to send now, or None when there is none yet."""
        order = ((self._next_cursor_text, self._next_item) if self._cursor_turn
                 else (self._next_item, self._next_cursor_text))
        self._cursor_turn = not self._cursor_turn
        for source in order:
            text = source()
            if text is not None:
                return text
        return None

    async def get(self) -> str | None:
        """The next text, or None when the outbox overflowed and the link must close."""
        while True:
            if self.overflowed:
                return None
            text = self.next_text()
            if text is not None:
                return text
            self._ready.clear()
            await self._ready.wait()
