"""Review routes on the panel server: one stored call, and an agent's score trend.

`GET /api/review/CALL_ID` and `GET /api/trend/AGENT_ID`, each with the panel token
in `Authorization: Bearer TOKEN`.  A supervisor token reads every call, an agent
token only the agent's own; another agent's call gets the same answer as a missing
one, so ids cannot be probed.  Reads run in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from assist.detectors.lexicon import lexical_cues
from assist.panel.auth import Claims, TokenError, verify_token
from assist.qa.rules import Rules, load_rules
from assist.qa.score import SCORED_TYPES, score_events
from assist.store.base import Reads
from assist.store.sqlite import Archive

PREFIX = "/api/"
TREND_CALLS = 50


class ReviewRoutes:
    def __init__(self, store: Reads | str | Path, secret: bytes, *, rules: Rules | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.archive = store if isinstance(store, Reads) else Archive(store)
        self._secret = secret
        self.rules = rules or load_rules()
        self._clock = clock

    def __call__(self, request: Request) -> Awaitable[Response] | None:
        """The response for an /api/ request, or None to leave it to the static files."""
        path = urlsplit(request.path).path
        if not path.startswith(PREFIX):
            return None
        return self._answer(path[len(PREFIX):], request.headers)

    async def _answer(self, rest: str, headers: Headers) -> Response:
        kind, _, ident = rest.partition("/")
        ident = unquote(ident)
        if kind not in ("review", "trend") or not ident or "/" in ident or len(ident) > 200:
            return _json(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": "no such page"})
        scheme, _, token = headers.get("Authorization", "").strip().partition(" ")
        try:
            claims = verify_token(self._secret, token.strip() if scheme.lower() == "bearer" else "",
                                  now=self._clock())
        except TokenError as exc:
            return _json(HTTPStatus.UNAUTHORIZED, {"error": "auth", "message": str(exc)})
        if kind == "trend" and not claims.may_see(ident):
            return _json(HTTPStatus.FORBIDDEN, {"error": "forbidden",
                                                "message": "an agent sees only their own trend"})
        work = self.review if kind == "review" else self.trend
        try:
            body = await asyncio.to_thread(work, ident, claims)
        except OSError as exc:
            return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "store", "message": str(exc)})
        if body is None:
            return _json(HTTPStatus.NOT_FOUND, {
                "error": "not_found", "message": "no such call among the calls you may see"})
        return _json(HTTPStatus.OK, body)

    def review(self, call_id: str, claims: Claims) -> dict[str, Any] | None:
        row = next((c for c in self.archive.calls() if c["call_id"] == call_id), None)
        if row is None or not claims.may_see(row["agent"]):
            return None
        events = self.archive.events(call_id)
        language = row.get("language") or self.rules.language
        cues = {e["seq"]: [{"kind": c.kind, "term": c.term}
                           for c in lexical_cues(str(e["evidence"].get("text", "")), language)]
                for e in events if e["type"] == "transcript.final" and e.get("party") == "customer"}
        return {"call": row, "events": events, "latency": self.archive.latencies(call_id),
                "cues": {k: v for k, v in cues.items() if v},
                "scorecard": score_events(events, self.rules).to_json(),
                "band": self.rules["pace"].params["band"] if "pace" in self.rules.rules else None}

    def trend(self, agent: str, claims: Claims) -> dict[str, Any]:
        calls = self.archive.calls(agent=agent)[-TREND_CALLS:]
        points = []
        for c in calls:
            card = score_events(self.archive.events(c["call_id"], types=SCORED_TYPES),
                                self.rules)
            points.append({"call_id": c["call_id"], "started_utc": c["started_utc"],
                           "score": card.score})
        return {"agent": agent, "calls": points}


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = Headers([
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Connection", "close"),
    ])
    return Response(status.value, status.phrase, headers, data)
