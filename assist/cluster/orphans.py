"""Calls an analysis process left open when it died (kill -9, a crash, a power cut).

Nothing else can end them: the taps still hold the calls in SIP but publish
nothing, and gateways and the writer only relay what is on the stream.  So when
an analysis process starts, before it takes frames, it reads `assist:events`
for calls whose entries it published itself (`by`, its process name) and that
have no `call.ended`, and ends each one there, numbered after its last event,
with the reason `analysis process NAME lost`.  Panels, the floor and the store
then see the call end like any other.  A tap whose hop broke does not send those
calls again: they go on in SIP unanalysed (assist/cluster/hop.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis

from assist.cluster.bus import EVENTS_STREAM, BadEntry, connect, parse_entry
from assist.events import Event, to_wire

log = logging.getLogger(__name__)
PAGE = 2000  # entries read per XRANGE


@dataclass(slots=True)
class Open:
    """A call's last event, as far as the stream still holds it."""

    call_id: str
    seq: int
    t: float
    utc: str
    agent: str | None


def open_calls(r: redis.Redis, by: str, stream: str = EVENTS_STREAM) -> list[Open]:
    """The calls `by` published that have no call.ended on the stream, oldest first."""
    found: dict[str, Open] = {}
    ended: set[str] = set()
    start = "-"
    while True:
        page: Any = r.xrange(stream, min=start, count=PAGE)  # decode_responses: str
        for _id, fields in page:
            if fields.get("by") != by:
                continue
            try:
                wire, agent = parse_entry(fields)
            except BadEntry:
                continue
            call = wire["call_id"]
            if wire["type"] == "call.ended":
                ended.add(call)
                found.pop(call, None)
            elif call not in ended and (call not in found or wire["seq"] > found[call].seq):
                found[call] = Open(call, wire["seq"], float(wire.get("t") or 0.0),
                                   str(wire.get("utc") or ""), agent)  # fmt: skip
        if len(page) < PAGE:
            return list(found.values())
        start = "(" + page[-1][0]


def ending(call: Open, reason: str) -> dict[str, Any]:
    """The call.ended event that closes `call`, as the session would have sent it."""
    try:
        start = datetime.fromisoformat(call.utc.replace("Z", "+00:00")) - timedelta(seconds=call.t)
    except ValueError:
        start = datetime.fromtimestamp(0).astimezone()
    event = Event("call.ended", call.call_id, call.t, None,
                  {"agent": call.agent, "duration": round(call.t, 3), "reason": reason})
    return to_wire(event, call.seq + 1, start)


def orphan_endings(url: str, by: str, stream: str = EVENTS_STREAM) -> list[Open]:
    """The calls `by` left open, read from the stream (blocking: run it in a thread).
    A stream that cannot be read is logged and left alone: the calls stay open, and
    the process starts all the same."""
    try:
        r = connect(url)
        try:
            calls = open_calls(r, by, stream)
        finally:
            r.close()
    except redis.RedisError as e:
        log.warning("could not look for calls a previous %s left open: %s", by, e)
        return []
    if calls:
        log.warning("ending %d call(s) the previous analysis process %s left open: %s",
                    len(calls), by, ", ".join(c.call_id for c in calls[:10]))
    return calls


def reason_lost(by: str) -> str:
    return f"analysis process {by} lost"
