"""The panel and the floor view in real headless Chromium, fed through the real server."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM, needs_chromium

from assist.panel.auth import issue_token
from assist.panel.demo import demo_script, wires
from assist.panel.server import AssistServer

playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
pytestmark = [pytest.mark.integration, needs_chromium]
SECRET = b"b" * 32
SHOTS = Path("build/screenshots")


def token(role="agent", agent="1001"):
    return issue_token(SECRET, role=role, agent=agent, now=time.time())


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 60))


@asynccontextmanager
async def stack(**server_kw):
    server = AssistServer("127.0.0.1", 0, secret=SECRET, **server_kw)
    await server.start()
    errors: list[str] = []
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        async def page(tok, width=400, lang=None, paused=False):
            pg = await browser.new_page(viewport={"width": width, "height": 1000})
            pg.on("pageerror", lambda e: errors.append(str(e)))
            if paused:  # the panel's call time is then the newest event's, however slow
                await pg.clock.install()
            await pg.goto(f"{server.url}?token={tok}" + (f"&lang={lang}" if lang else ""))
            await pg.wait_for_selector("#status[data-state=live]")
            if paused:
                await pg.clock.pause_at(await pg.evaluate("Date.now()") + 1000)
            return pg

        try:
            yield server, page
        finally:
            await browser.close()
            await server.stop()
    assert errors == [], errors


def publisher(server, events, agent):
    """Publish `events` one by one on demand, as the loop would."""
    queue = wires(events)

    def until(pred):
        while queue:
            w = queue.pop(0)
            server.publish(w, agent=agent, arrival=None)
            if pred(w):
                return w
        raise AssertionError("script ran out")

    return until


async def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / name), full_page=True)


def test_agent_panel_shows_the_call_as_it_happens_and_sends_feedback():
    feedback = []

    async def go():
        async with stack(on_feedback=lambda *a: feedback.append(a)) as (server, page):
            pg = await page(token(), paused=True)
            await pg.wait_for_selector("[data-test=quiet]")
            assert "等待来电" in await pg.inner_text("main")
            assert "坐席 1001" in await pg.inner_text("[data-test=waiting-for]")
            step = publisher(server, demo_script("call-7", "1001"), "1001")

            step(lambda w: w["type"] == "call.started")
            await pg.wait_for_selector("[data-test=timer]")
            assert await pg.inner_text(".callid") == "call-7"

            step(lambda w: w["type"] == "transcript.final")
            line = pg.locator(".line.customer:not(.partial) .text")
            await line.first.wait_for()
            assert "1234****5678" in await line.first.inner_text()
            assert await pg.locator(".lane.customer .spurt").count() == 1

            w = step(lambda w: w["type"] == "interruption")
            alert = pg.locator(".alert[data-kind=interruption]")
            await alert.wait_for()
            assert f"data-seq=\"{w['seq']}\"" in await alert.evaluate("e => e.outerHTML")
            assert await pg.locator(".lane.agent .over").count() == 1
            step(lambda w: w["type"] == "interruption.end")
            await pg.wait_for_function(
                "() => document.querySelector('.alert[data-kind=interruption]')"
                ".textContent.includes('2.6')")

            step(lambda w: w["type"] == "suggestion" and w["evidence"]["id"] == "s-wait-1")
            await pg.wait_for_selector(".card[data-id=s-wait-1]")
            # The phrase spotter's words and the better ones, as it sends them.
            phrase = await pg.inner_text(".alert[data-kind=phrase]")
            assert "这不可能" in phrase and "您说的情况我明白了" in phrase
            assert await pg.get_attribute("[data-test=mood]", "data-level") == "angry"
            assert "非常抱歉" in await pg.inner_text(".card[data-id=s-calm-1] .say")
            # The two most urgent alerts stack in flow, none over another; the rest wait.
            boxes = await pg.evaluate("""() => [...document.querySelectorAll('.alert')]
                .map(a => { const b = a.getBoundingClientRect(); return [b.top, b.bottom]; })""")
            assert len(boxes) == 2
            for upper, lower in zip(boxes, boxes[1:], strict=False):
                assert upper[1] <= lower[0] + 0.5
            assert await pg.locator("[data-test=more-alerts]").count() == 1
            await shot(pg, "panel-zh.png")

            await pg.click(".card[data-id=s-calm-1] .use")
            await pg.wait_for_selector(".card[data-id=s-calm-1]", state="detached")
            while not feedback:  # the server's callback runs once its message is read
                await asyncio.sleep(0.02)
            assert feedback == [("call-7", "s-calm-1", "used", "1001")]

            step(lambda w: w["type"] == "pace.drift")
            await pg.wait_for_selector(".alert[data-kind=drift]")
            assert await pg.get_attribute("[data-test=pace]", "data-cpm") == "190"

            await pg.click("#lang")
            await pg.wait_for_selector("text=Too fast: 190 chars/min")
            assert "Customer mood" in await pg.inner_text("main")
            await shot(pg, "panel-en.png")

            step(lambda w: w["type"] == "call.ended")
            await pg.wait_for_selector("[data-test=quiet]")
            assert "call-7" in await pg.inner_text("[data-test=quiet]")
            # Every event published was applied exactly once, in order.
            shown = await pg.evaluate("window.__assist.shown.map(s => s.seq)")
            assert shown == list(range(1, len(shown) + 1))

    run(go())


def test_transcription_off_is_said_with_its_reason():
    async def go():
        async with stack() as (server, page):
            pg = await page(token())
            server.publish({"v": 1, "call_id": "c", "seq": 1, "t": 0, "utc": "", "type":
                            "call.started", "evidence": {"agent": "1001"}}, agent="1001",
                           arrival=None)
            server.publish({"v": 1, "call_id": "c", "seq": 2, "t": 0, "utc": "", "type":
                            "transcription", "evidence": {"enabled": False,
                                                          "reason": "未找到识别模型"}},
                           agent="1001", arrival=None)
            off = pg.locator("[data-test=transcript-off]")
            await off.wait_for()
            assert await off.inner_text() == "转写关闭：未找到识别模型"
            # With a code the agent reads a short reason; the admin's stays in the tooltip.
            server.publish({"v": 1, "call_id": "c", "seq": 3, "t": 0, "utc": "", "type":
                            "transcription", "evidence": {
                                "enabled": False, "code": "no_model",
                                "reason": "ASR model folder models/x not found: run make model"}},
                           agent="1001", arrival=None)
            await pg.wait_for_function("() => document.querySelector("
                                       "'[data-test=transcript-off]').textContent"
                                       ".includes('未安装识别模型')")
            assert "make model" in await off.get_attribute("title")

    run(go())


def test_a_card_leaves_when_the_state_that_raised_it_is_outdated():
    from assist.events import Event
    from assist.panel.demo import _anger, _card

    c = "c-again"
    script = [
        Event("call.started", c, 0.0, None, {"agent": "1001", "language": "zh-CN",
                                             "sample_rate": 8000, "source": "test"}),
        Event("anger", c, 20.0, "customer", _anger("angry", "tense", 0.8)),
        Event("suggestion", c, 20.1, "agent", _card("s-calm-1", 90, "我向您道歉", "anger", 20.0,
                                                    "customer angry", 60.0)),
        Event("anger", c, 40.0, "customer", _anger("calm", "angry", 0.2)),
        Event("suggestion", c, 40.1, "agent", _card("s-settled-1", 50, "我们来看解决方案",
                                                    "anger", 40.0, "customer calm", 60.0)),
        # Angry again while the angry card cools down: no new card, and the "settled"
        # card must not stay on screen.
        Event("anger", c, 45.0, "customer", _anger("angry", "calm", 0.8)),
    ]

    async def go():
        async with stack() as (server, page):
            pg = await page(token(), paused=True)
            step = publisher(server, script, "1001")
            step(lambda w: w["evidence"].get("id") == "s-settled-1")
            await pg.wait_for_selector(".card[data-id=s-settled-1]")
            assert await pg.locator(".card[data-id=s-calm-1]").count() == 0
            step(lambda w: w["t"] == 45.0)
            await pg.wait_for_selector(".card[data-id=s-settled-1]", state="detached")
            assert await pg.get_attribute("[data-test=mood]", "data-level") == "angry"

    run(go())


def test_an_agent_token_never_sees_another_agents_call():
    async def go():
        async with stack() as (server, page):
            pg = await page(token(agent="1001"))
            other = wires(demo_script("theirs", "1002"))
            mine = wires(demo_script("mine", "1001"))
            for w in other[:20]:
                server.publish(w, agent="1002", arrival=None)
            for w in mine[:5]:
                server.publish(w, agent="1001", arrival=None)
            await pg.wait_for_function("() => window.__assist.shown.length >= 5")
            await asyncio.sleep(0.3)
            seen = await pg.evaluate("[...new Set(window.__assist.shown.map(s => s.call_id))]")
            assert seen == ["mine"]
            assert await pg.inner_text(".callid") == "mine"
            # Asking for it by name gets the same answer as a call that does not exist.
            reply = await pg.evaluate("""() => new Promise(done => {
                const ws = new WebSocket(`ws://${location.host}/ws`);
                ws.onopen = () => ws.send(JSON.stringify({type: "hello", v: 1,
                    token: sessionStorage.getItem("assist.token"), resume: {theirs: 0}}));
                const got = [];
                ws.onmessage = m => { const msg = JSON.parse(m.data); got.push(msg);
                  if (got.length === 1) ws.send(JSON.stringify({type: "subscribe",
                      call_id: "theirs"}));
                  if (msg.type === "error") done(got); };
            })""")
            assert [c["call_id"] for c in reply[0]["calls"]] == ["mine"]
            assert reply[-1]["code"] == "not_found"
            assert {m["event"]["call_id"] for m in reply if m["type"] == "event"} == {"mine"}
            assert "theirs" not in str(reply)

    run(go())


def test_supervisor_sees_every_call_most_urgent_first_and_opens_one():
    async def go():
        async with stack() as (server, page):
            calm = wires(demo_script("calm-call", "1002"))[:12]  # before any flag
            hot = wires(demo_script("hot-call", "1001"))
            for w in calm:
                server.publish(w, agent="1002", arrival=None)
            for w in hot:
                if w["type"] == "pace.drift":
                    break
                server.publish(w, agent="1001", arrival=None)
            pg = await page(token(role="supervisor", agent=None), width=1000)
            rows = pg.locator("table.floor tbody tr")
            await pg.wait_for_function("() => document.querySelectorAll('table.floor tbody tr')"
                                       ".length === 2")
            assert [await r.get_attribute("data-call") for r in await rows.all()] == [
                "hot-call", "calm-call"]
            assert "生气" in await rows.first.inner_text()
            await shot(pg, "floor-zh.png")
            await rows.first.click()
            await pg.wait_for_selector(".callid >> text=hot-call")
            await pg.wait_for_selector(".line.agent")  # the full stream, from history
            assert await pg.locator(".card .use").count() == 0  # looking, not acting
            await pg.wait_for_selector(".lane.agent .over")  # the interruption, on the lane
            await shot(pg, "floor-open-zh.png")
            await pg.click(".back")
            await pg.wait_for_selector("table.floor")
            # The calm call ends: it leaves the live list for the just-ended one.
            for w in wires(demo_script("calm-call", "1002"))[12:]:
                server.publish(w, agent="1002", arrival=None)
            await pg.wait_for_selector("table.floor.ended tr[data-call=calm-call]")
            live = pg.locator("table.floor:not(.ended) tbody tr")
            assert [await r.get_attribute("data-call") for r in await live.all()] == ["hot-call"]

    run(go())


def test_page_shows_reconnecting_and_resumes_without_loss_or_duplicates():
    async def go():
        async with stack() as (server, page):
            pg = await page(token())
            script = wires(demo_script("c9", "1001"))
            finals = [w["seq"] for w in script if w["type"] == "transcript.final"]
            for w in script[:15]:
                server.publish(w, agent="1001", arrival=None)
            await pg.wait_for_function("() => window.__assist.shown.length === 15")
            port = server.port
            await server.stop()  # the network drops: the page must notice and retry
            await pg.wait_for_selector("#status[data-state=reconnecting]")
            assert "重新连接" in await pg.inner_text("#status") or "重连" in await pg.inner_text(
                "#status")
            for w in script[15:-1]:  # the call goes on meanwhile
                server.publish(w, agent="1001", arrival=None)
            server.port = port
            await server.start()
            await pg.wait_for_selector("#status[data-state=live]", timeout=20_000)
            await pg.wait_for_function(
                f"() => window.__assist.shown.some(s => s.seq === {script[-2]['seq']})")
            shown = await pg.evaluate("window.__assist.shown.map(s => s.seq)")
            assert len(shown) == len(set(shown)), "an event was applied twice"
            assert set(finals) <= set(shown), "a final transcript line was lost"
            lost = {w["seq"] for w in script[:-1]} - set(shown)
            assert all(w["type"] == "transcript.partial" for w in script if w["seq"] in lost)
            texts = await pg.locator(".line:not(.partial) .text").all_inner_texts()
            assert len(texts) == len(finals)

    run(go())
