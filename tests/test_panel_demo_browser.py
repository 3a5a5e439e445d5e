"""The demo call's real events on the panel and the floor, at a laptop's 1366×768 and in
a 390 px side panel: what is on screen at each moment of the call.

The page's clock is paused (Playwright's fake clock), so the panel's call time is the
newest event's: each check sees exactly the call time the events say, however slow
the machine.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM, needs_chromium

from assist.panel.auth import issue_token
from assist.panel.server import AssistServer

playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
pytestmark = [pytest.mark.integration, needs_chromium]
ROOT = Path(__file__).resolve().parents[1]
SECRET = b"d" * 32
AGENT = "agent-1001"
SHOTS = Path("build/screenshots")
GRACE = 4.0  # model.js: an ended interruption's alert and cards stay this long

# Everything the checks need from the page, read in one go (no element can go stale
# between two reads).
STATE = """() => {
  const box = (el) => { if (!el) return null; const b = el.getBoundingClientRect();
    return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; };
  const mood = document.querySelector("[data-test=mood]");
  const pace = document.querySelector("[data-test=pace]");
  return {
    vh: innerHeight,
    alerts: [...document.querySelectorAll(".alert")].map((a) => ({kind: a.dataset.kind,
      cls: a.className, text: a.querySelector(".alert-title").textContent, ...box(a)})),
    cards: [...document.querySelectorAll(".card")].map((c) => ({id: c.dataset.id, ...box(c)})),
    mood: mood && {level: mood.dataset.level, alarm: !!mood.querySelector(".trend.alarm"),
      trend: mood.querySelector(".trend").dataset.trend, ...box(mood)},
    pace: pace && {cpm: pace.dataset.cpm, shown: pace.querySelector(".big b")?.textContent,
      ...box(pace)},
  };
}"""


@pytest.fixture(scope="module")
def demo() -> list[dict]:
    r = subprocess.run([sys.executable, "-m", "assist", "replay",
                        str(ROOT / "assist" / "demo" / "demo_call.wav"), "--json", "--fast",
                        "--start", "2026-01-01T09:00:00Z", "--call-id", "demo1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def token(role="agent", agent=AGENT):
    return issue_token(SECRET, role=role, agent=agent, now=time.time())


async def open_page(browser, server, tok, width, height=768):
    pg = await browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    await pg.clock.install()
    await pg.goto(f"{server.url}?token={tok}")
    await pg.wait_for_selector("#status[data-state=live]")
    await pg.clock.pause_at(await pg.evaluate("Date.now()") + 1000)
    return pg, errors


async def shown(pg, seq):
    await pg.wait_for_function(f"() => window.__assist.shown.some(s => s.seq === {seq})")


def check_screen(s: dict, t: float, flags: dict) -> None:
    """What must hold on the agent's screen at call time `t`."""
    where = f"at {t} s: {s}"
    alerts, cards = s["alerts"], s["cards"]
    assert len(alerts) <= 2 and len(cards) <= 2, where
    # The most urgent thing, and the customer's mood and the agent's pace, above the fold.
    for el in alerts[:1] + cards[:1] + [s["mood"], s["pace"]]:
        assert el["bottom"] <= s["vh"], where
    for upper, lower in zip(alerts + cards, (alerts + cards)[1:], strict=False):
        assert upper["bottom"] <= lower["top"] + 0.5, where  # stacked, never overlapping
    cut_on, cut_off = flags["interruption"], flags["interruption.end"]
    if cut_on <= t < cut_off:
        assert alerts[0]["kind"] in ("interruption", "anger") and "live" in alerts[0]["cls"], where
    if t >= cut_off + GRACE:
        assert "interruption" not in [a["kind"] for a in alerts], where
        assert flags["interruption_card"] not in [c["id"] for c in cards], where
    if s["mood"]["level"] == "angry":
        assert alerts and alerts[0]["kind"] in ("anger", "interruption"), where
    if s["mood"]["level"] == "calm":
        assert not s["mood"]["alarm"], where  # no red "rising" under a calm mood
    for a in alerts:
        if a["kind"] == "drift":  # the alert quotes the meter's number
            assert s["pace"]["shown"] in a["text"], where


def flag_times(demo: list[dict]) -> dict:
    (cut,) = [e for e in demo if e["type"] == "interruption"]
    (end,) = [e for e in demo if e["type"] == "interruption.end"]
    (card,) = [e for e in demo if e["type"] == "suggestion"
               and e["evidence"]["reason"]["seq"] == cut["seq"]]
    return {"interruption": cut["t"], "interruption.end": end["t"],
            "interruption_card": card["evidence"]["id"]}


@pytest.mark.parametrize("width", [1366, 390])
def test_the_demo_call_never_piles_up_and_its_numbers_agree(demo, width):
    flags = flag_times(demo)

    async def go():
        server = AssistServer("127.0.0.1", 0, secret=SECRET)
        await server.start()
        async with playwright.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg, errors = await open_page(browser, server, token(), width)
            await pg.wait_for_selector("[data-test=waiting-for]")
            assert AGENT in await pg.inner_text("[data-test=waiting-for]")
            seen_kinds, checked = set(), 0
            times = sorted({e["t"] for e in demo if e["type"] != "call.ended"})
            i = 0
            for t in times:
                while i < len(demo) and demo[i]["t"] <= t and demo[i]["type"] != "call.ended":
                    server.publish(demo[i], agent=AGENT, arrival=None)
                    i += 1
                await shown(pg, demo[i - 1]["seq"])
                s = await pg.evaluate(STATE)
                if s["mood"] is None:
                    continue  # before the call's panel is up
                check_screen(s, t, flags)
                seen_kinds |= {a["kind"] for a in s["alerts"]}
                checked += 1
                if width == 1366 and abs(t - 40.02) < 0.01:
                    await shot(pg, "demo-agent-zh.png")
            assert checked > 30
            assert {"interruption", "drift", "anger"} <= seen_kinds
            await browser.close()
            assert errors == [], errors
        await server.stop()

    asyncio.run(asyncio.wait_for(go(), 240))


def test_english_cards_say_why_in_english(demo):
    async def go():
        server = AssistServer("127.0.0.1", 0, secret=SECRET)
        await server.start()
        async with playwright.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg, errors = await open_page(browser, server, token(), 390)
            await pg.click("#lang")
            upto = [e for e in demo if e["t"] <= 40.1]
            for e in upto:
                server.publish(e, agent=AGENT, arrival=None)
            await shown(pg, upto[-1]["seq"])
            whys = await pg.locator(".card .why").all_inner_texts()
            assert whys and all(w.startswith("Why: ") for w in whys)
            assert not any("\u4e00" <= ch <= "\u9fff" for w in whys for ch in w), whys
            await browser.close()
            assert errors == [], errors
        await server.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


def test_the_floor_shows_what_each_call_went_through_and_rows_open_it(demo):
    async def go():
        server = AssistServer("127.0.0.1", 0, secret=SECRET)
        await server.start()
        async with playwright.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg, errors = await open_page(browser, server, token("supervisor", None), 1366)
            # One call finished (it went angry and stayed so until it ended) and
            # another agent's is still on, with the same events up to its interruption.
            for e in demo:
                server.publish(e, agent=AGENT, arrival=None)
            live = [dict(e, call_id="live2") for e in demo if e["t"] <= 38.0]
            live[0] = dict(live[0], evidence=dict(live[0]["evidence"], agent="agent-1002"))
            for e in live:
                server.publish(e, agent="agent-1002", arrival=None)
            ended = pg.locator("table.floor.ended tr[data-call=demo1]")
            await ended.wait_for()
            chips = await ended.locator(".chip").all_inner_texts()
            assert "生气" in chips and "紧张" not in chips  # the worst it reached
            cards = len({e["evidence"]["id"] for e in demo if e["type"] == "suggestion"})
            assert "打断 ×1" in chips and "语速偏快" in chips and f"建议 {cards}" in chips, chips
            row = pg.locator("table.floor:not(.ended) tr[data-call=live2]")
            await row.wait_for()
            assert "打断 ×1" in await row.inner_text()
            # Rows say they open the call: pointer, a title and a visible "open" cell.
            assert await row.evaluate("r => getComputedStyle(r).cursor") == "pointer"
            assert "live2" in await row.get_attribute("title")
            assert "查看" in await row.locator("td.open").inner_text()
            # The two tables' columns line up.
            cols = await pg.evaluate("""() => [...document.querySelectorAll('table.floor')]
                .map(t => [...t.tHead.rows[0].cells]
                     .map(c => Math.round(c.getBoundingClientRect().left)))""")
            assert len(cols) == 2 and cols[0] == cols[1], cols
            await shot(pg, "demo-floor-zh.png")
            await ended.click()
            await pg.wait_for_selector(".callid >> text=demo1")
            await browser.close()
            assert errors == [], errors
        await server.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


def test_without_a_token_the_page_says_how_to_get_one_in_one_language():
    async def go():
        server = AssistServer("127.0.0.1", 0, secret=SECRET)
        await server.start()
        async with playwright.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = await browser.new_page(viewport={"width": 1366, "height": 768})
            await pg.goto(server.url)
            help_ = pg.locator("[data-test=signin]")
            await help_.wait_for()
            status = await pg.inner_text("#status")
            assert status == "无法登录：地址中没有登录令牌"
            text = await help_.inner_text()
            assert "python -m assist token --agent" in text and "班长" in text
            await pg.click("#lang")
            await pg.wait_for_selector("[data-test=signin] >> text=Ask your supervisor")
            assert await pg.inner_text("#status") == (
                "Cannot sign in: no sign-in token in the address")
            assert not any("\u4e00" <= ch <= "\u9fff"
                           for ch in await pg.inner_text("[data-test=signin]"))
            await browser.close()
        await server.stop()

    asyncio.run(asyncio.wait_for(go(), 60))


async def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / name), full_page=False)
