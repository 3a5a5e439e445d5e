"""Fan-out of call events to panel connections, without sockets.

Rules:
- Every call keeps its events in memory (stale partial transcripts excepted) so a
  panel that reconnects gets exactly the events after the last seq it saw; the
  newest `keep_ended` ended calls stay for a look back.
- An agent connection sees every event of the calls where it is the agent.  A
  supervisor sees the "floor" (call start/end and flags) of every call, and every
  event of the calls it has opened.
- Each connection has a bounded outbox (assist/panel/outbox.py).  When it is
  full, the oldest partial transcript goes first; flags and suggestions are never
  dropped.  A connection whose outbox still overflows (the browser stalled) is
  told to go away and resumes later from its last seq, so the call is never slowed.
- Catch-up (resume, a supervisor opening a call) is a cursor into the call's
  history, one per call and connection, never a copy: asking again re-aims it.
- A supervisor opens at most `max_opened` calls at once.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from assist.events import DROPPABLE, FLOOR_TYPES, dumps
from assist.panel.auth import Claims
from assist.panel.outbox import CallLog, Cursor, Outbox


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

    def __init__(self, *, keep_ended: int = 200, max_events: int = 100_000,
                 max_opened: int = 32) -> None:
        self.calls: OrderedDict[str, CallLog] = OrderedDict()
        self.keep_ended = keep_ended
        self.max_events = max_events
        self.max_opened = max_opened
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
        link.outbox.cursors.clear()

    def links(self) -> set[Link]:
        return self._floor.union(*self._by_agent.values())

    def visible(self, link: Link) -> list[CallLog]:
        return [c for c in self.calls.values() if link.claims.may_see(c.agent)]

    def resume(self, link: Link, last_seen: dict[str, int], opened: list[str]) -> None:
        """Catch `link` up: events after `last_seen[call]`, whole active calls it never
        saw.  Runs in one step with registration, so nothing slips between."""
        if link.claims.role == "supervisor":
            for call_id in opened:
                if call_id in self.calls and len(link.opened) < self.max_opened:
                    self._mark_open(link, call_id)
        floor = link.claims.role == "supervisor"
        for call in self.visible(link):
            # An agent's panel starts from their live call; a floor opened after a call
            # ended still shows it among the calls that just ended (floor events only).
            if call.call_id not in last_seen and not call.active and not floor:
                continue
            link.outbox.catch_up(Cursor(call, last_seen.get(call.call_id, 0),
                                        self._types_for(link, call.call_id)))

    def open(self, link: Link, call_id: str, after: int) -> bool:
        """A supervisor opens one call: everything after `after`, then live.

        False when the call is unknown or `link` already has `max_opened` calls open.
        """
        call = self.calls.get(call_id)
        if call is None or link.claims.role != "supervisor":
            return False
        if call_id not in link.opened and len(link.opened) >= self.max_opened:
            return False
        self._mark_open(link, call_id)
        # "opened" tells the page to start this call's seq count again from `after`.
        head = dumps({"type": "opened", "call_id": call_id, "after": after})
        link.outbox.catch_up(Cursor(call, after, None, head))
        return True

    def close_call_view(self, link: Link, call_id: str) -> None:
        link.opened.discard(call_id)
        self._opened.get(call_id, set()).discard(link)
        cursor = link.outbox.cursors.get(call_id)
        if cursor is not None:
            cursor.only = FLOOR_TYPES

    def _mark_open(self, link: Link, call_id: str) -> None:
        link.opened.add(call_id)
        self._opened.setdefault(call_id, set()).add(link)

    def _types_for(self, link: Link, call_id: str) -> frozenset[str] | None:
        """The event types `link` gets of a call: None for all of them."""
        if link.claims.role == "supervisor" and call_id not in link.opened:
            return FLOOR_TYPES
        return None

    # -- events -----------------------------------------------------------
    def publish(self, wire: dict[str, Any], agent: str | None, text: str | None = None) -> str:
        """Route `wire`; `text` is its event_text() when the caller already has it."""
        call_id, typ, seq = wire["call_id"], wire["type"], int(wire["seq"])
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = CallLog(call_id, agent)
        if call.agent is None:
            call.agent = agent or (wire.get("evidence") or {}).get("agent")
        text = text or event_text(wire)
        if typ == "transcript.partial":
            call.partials[wire.get("party") or ""] = (seq, text)
        else:
            if typ == "transcript.final":
                call.partials.pop(wire.get("party") or "", None)
            call.append(seq, typ, text, self.max_events)
        call.last_seq = max(call.last_seq, seq)
        if typ == "call.started":
            call.active = True
        elif typ == "call.ended":
            call.active = False
            self.calls.move_to_end(call_id)
            self._forget_old_calls()
        droppable = typ in DROPPABLE
        full = self._opened.get(call_id, set())
        for link in self._by_agent.get(call.agent or "", ()) if call.agent else ():
            self._push(link, text, droppable, call_id)
        for link in full:
            self._push(link, text, droppable, call_id)
        if typ in FLOOR_TYPES:
            for link in self._floor:
                if link not in full:
                    self._push(link, text, droppable, call_id)
        return text

    def _push(self, link: Link, text: str, droppable: bool, call_id: str) -> None:
        if not link.outbox.put(text, droppable, call_id) and link not in self.overflowed:
            self.overflowed.append(link)

    def _forget_old_calls(self) -> None:
        ended = [c for c in self.calls.values() if not c.active]
        gone = ended[: max(0, len(ended) - self.keep_ended)]
        for call in gone:
            del self.calls[call.call_id]
            for link in self._opened.pop(call.call_id, set()):
                link.opened.discard(call.call_id)
        if gone:
            for link in self.links():
                for call in gone:
                    link.outbox.forget(call.call_id)
