"""Forked calls: a PBX without SIPREC sends one ordinary call per party.

Legs carry a header naming the conversation (trunk `call_header`) and one naming
the party (`role_header`, its values mapped by `role_values`).  The `Pairer`
is sans-I/O: legs and time in, `Start`/`End` out.

- A call starts when both legs are answered, or `pair_timeout` after the
  first, with whichever legs are up; a late leg then joins the running call.
- A second leg with a role already present is refused.
- The call ends when its last leg hangs up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sip.siprec import Refusal, SipMessage, agent_id
from sip.trunks import Trunk


@dataclass(frozen=True, slots=True)
class Leg:
    key: str  # the pairing header's value
    role: str
    agent: str | None


@dataclass(frozen=True, slots=True)
class Start:
    key: str
    agent: str | None
    legs: tuple[tuple[str, int], ...]  # (role, leg id)
    at: float


@dataclass(frozen=True, slots=True)
class Join:
    key: str
    role: str
    leg: int
    at: float


@dataclass(frozen=True, slots=True)
class End:
    key: str
    reason: str


def leg_from(msg: SipMessage, trunk: Trunk) -> Leg:
    key = msg.header(trunk.call_header)
    if not key or not key.strip():
        raise Refusal(400, f"forked call without a {trunk.call_header} header to pair it")
    value = msg.header(trunk.role_header) or ""
    role = trunk.role_of_value(value)
    if role is None:
        raise Refusal(400, f"{trunk.role_header}: {value!r} is not a known role value")
    agent = msg.header(trunk.agent_header)
    if not agent and role == "agent":
        uri = re.search(r"<([^>]+)>", msg.header("from") or "")
        aor = uri.group(1) if uri else None
        agent = agent_id(aor, trunk) if aor else None
    return Leg(key.strip(), role, agent.strip() if agent else None)


@dataclass
class _Pending:
    first_at: float
    legs: dict[str, int] = field(default_factory=dict)  # role -> leg id (answered)
    offered: set[str] = field(default_factory=set)  # roles seen, answered or not
    agent: str | None = None
    started: bool = False


class Pairer:
    def __init__(self, pair_timeout: float) -> None:
        self.timeout = pair_timeout
        self._calls: dict[str, _Pending] = {}

    def offer(self, leg: Leg, now: float) -> None:
        """An INVITE arrived: raise Refusal if this role is already present."""
        call = self._calls.setdefault(leg.key, _Pending(now))
        if leg.role in call.offered:
            raise Refusal(488, f"a {leg.role} leg for this call is already connected")
        call.offered.add(leg.role)

    def answered(self, leg: Leg, leg_id: int, now: float) -> list[Start | Join]:
        call = self._calls.setdefault(leg.key, _Pending(now))
        call.offered.add(leg.role)
        call.legs[leg.role] = leg_id
        call.agent = call.agent or leg.agent
        if call.started:
            return [Join(leg.key, leg.role, leg_id, now)]
        if len(call.legs) == 2:
            call.started = True
            return [Start(leg.key, call.agent, tuple(sorted(call.legs.items())), now)]
        return []

    def tick(self, now: float) -> list[Start]:
        out = []
        for key, call in self._calls.items():
            if not call.started and call.legs and now - call.first_at >= self.timeout:
                call.started = True
                out.append(Start(key, call.agent, tuple(sorted(call.legs.items())), now))
        return out

    def gone(self, leg: Leg, leg_id: int | None, reason: str) -> list[End]:
        """A leg ended (hung up, or was refused before it was answered)."""
        call = self._calls.get(leg.key)
        if call is None:
            return []
        if leg_id is not None and call.legs.get(leg.role) == leg_id:
            del call.legs[leg.role]
        call.offered.discard(leg.role)
        if call.legs or call.offered:
            return []
        del self._calls[leg.key]
        return [End(leg.key, reason)] if call.started else []
