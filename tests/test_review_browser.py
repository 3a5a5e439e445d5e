"""The review page in real Chromium: opened from the floor, the demo call's flags in place."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM, needs_chromium
from stored import demo_timeline, demo_wires, store_calls

from assist.panel.auth import issue_token
from assist.panel.review import ReviewRoutes
from assist.panel.server import AssistServer

playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
pytestmark = [pytest.mark.integration, needs_chromium]
SECRET = b"r" * 32
SHOTS = Path("build/screenshots")


def spans(kind: str) -> list[tuple[float, float]]:
    """The demo script's utterances of one style (its known timeline), as (start, end)."""
    return [(u["start"], u["end"]) for u in demo_timeline()["utterances"] if u["style"] == kind]


def test_review_page_opens_from_the_floor_with_the_three_flags_at_their_call_times(tmp_path):
    wires = demo_wires("demo1")
    store_calls(tmp_path / "s.sqlite3", [wires])
    first = {}
    for w in wires:
        if w["type"] in ("interruption", "pace.drift") or (
                w["type"] == "anger" and w["evidence"]["previous"] == "calm"):
            first.setdefault(w["type"], w["t"])
    assert set(first) == {"interruption", "pace.drift", "anger"}
    # The flags fall where the demo's script puts their causes.
    fast, angry = spans("fast"), spans("angry")
    a4 = fast[1]
    assert a4[0] < first["interruption"] < a4[0] + 2.0  # the agent cuts into c3
    assert fast[0][0] < first["pace.drift"] < a4[1]  # the two fast turns
    # The synthetic voice reads raised against the prior at first; the angry stretch
    # itself is flagged "angry" from calm inside it.
    rises = [w["t"] for w in wires if w["type"] == "anger" and w["evidence"]["level"] == "angry"
             and w["evidence"]["previous"] == "calm" and w["t"] > angry[0][0]]
    assert rises and rises[0] < angry[-1][1]

    async def go():
        server = AssistServer("127.0.0.1", 0, secret=SECRET,
                              routes=ReviewRoutes(tmp_path / "s.sqlite3", SECRET))
        await server.start()
        errors: list[str] = []
        try:
            async with playwright.async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                pg = await browser.new_page(viewport={"width": 1280, "height": 900})
                pg.on("pageerror", lambda e: errors.append(str(e)))
                sup = issue_token(SECRET, role="supervisor", now=time.time())
                await pg.goto(f"{server.url}?token={sup}")
                await pg.wait_for_selector("#status[data-state=live]")
                for w in wires:  # the call runs and ends while the floor watches
                    server.publish(w, agent="agent-1001")
                link = pg.locator("tr[data-call=demo1] a[data-review]")
                await link.wait_for()
                await link.click()
                await pg.wait_for_selector("#status[data-state=ready]")
                assert "/review.html" in pg.url and "token" not in pg.url
                svg = pg.locator("svg.timeline")
                box = await svg.bounding_box()
                dur, x0, x1, width = [float(await svg.get_attribute(k) or "nan") for k in
                                      ("data-duration", "data-x0", "data-x1", "data-width")]
                for kind, t in first.items():
                    flag = pg.locator(f"g.flag[data-kind='{kind}']").first
                    assert float(await flag.get_attribute("data-t")) == t
                    dot = await flag.locator("circle").bounding_box()
                    drawn = (dot["x"] + dot["width"] / 2 - box["x"]) * width / box["width"]
                    assert abs(drawn - (x0 + t / dur * (x1 - x0))) < 3, (kind, t, drawn)
                # Talk lanes with the overlap the interruption made, and the cards.
                assert await pg.locator("rect.overlap").count() >= 1
                assert await pg.locator("g.card[data-kind=suggestion]").count() == sum(
                    w["type"] == "suggestion" for w in wires)
                assert await pg.locator("#scorecard tr[data-rule=interruptions].fail").count() == 1
                # How the cards were received, per flag kind (none clicked on the demo).
                anger_cards = sum(w["type"] == "suggestion" and w["evidence"]["reason"]["type"]
                                  == "anger" for w in wires)
                row = pg.locator("#scorecard table.feedback tr[data-kind=anger] td")
                assert await row.all_inner_texts() == ["客户情绪", str(anger_cards), "0", "0",
                                                       str(anger_cards)]
                await pg.locator("#trend circle.dot.this").wait_for()
                assert await pg.locator("table.events tr[data-type=interruption]").count() == 1
                SHOTS.mkdir(parents=True, exist_ok=True)
                await pg.screenshot(path=str(SHOTS / "review-zh.png"), full_page=True)
                # Another agent's token is refused on the same page.
                other = issue_token(SECRET, role="agent", agent="agent-2002", now=time.time())
                pg2 = await browser.new_page()
                pg2.on("pageerror", lambda e: errors.append(str(e)))
                await pg2.goto(f"{server.url}review.html?call=demo1&token={other}")
                await pg2.wait_for_selector("#status[data-state=error]")
                assert await pg2.locator("p.error[data-status='404']").count() == 1
                assert await pg2.locator("svg.timeline").count() == 0
                await browser.close()
        finally:
            await server.stop()
        assert errors == [], errors

    asyncio.run(asyncio.wait_for(go(), 90))
