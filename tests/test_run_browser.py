"""`python -m assist run` end to end: the demo call live in a real browser.

What a user sees after `make run`: the agent panel fills with the demo call's talk
lanes and its three kinds of flag, with suggestion cards, as the call plays.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM, needs_chromium

ROOT = Path(__file__).resolve().parents[1]
playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
pytestmark = [pytest.mark.integration, needs_chromium]
# The service is a separate process sharing the machine: on a busy one its first
# events can take a while.  These bound a hang; they are not what is tested.
SLOW = 120_000


@pytest.fixture
def service(tmp_path: Path):
    cfg = tmp_path / "assist.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "assist", "--config", str(cfg), "run",
                             "--port", "0", "--speed", "6", "--show-tokens"], cwd=ROOT,
                            text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    urls: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"(agent panel|supervisor view).*?(https?://\S+)", line)
        if m:
            urls[m.group(1).split()[0]] = m.group(2)
        if len(urls) == 2:
            break
    try:
        yield urls, tmp_path / "data"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        assert proc.returncode == 0


def test_the_demo_call_appears_live_with_every_flag(service) -> None:
    urls, data = service
    shots = ROOT / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)

    async def go() -> None:
        async with playwright.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            errors: list[str] = []
            pg = await browser.new_page(viewport={"width": 400, "height": 1100})
            pg.on("pageerror", lambda e: errors.append(str(e)))
            await pg.goto(urls["agent"])
            await pg.wait_for_selector("[data-test=timer]", timeout=SLOW)
            await pg.wait_for_selector(".lane.customer .spurt", timeout=SLOW)
            # 84 s of call at 6x: every flag within about 15 s, in the order they come
            # (an interruption's alert leaves a few seconds after it ended).
            await pg.wait_for_selector(".alert[data-kind=interruption]", timeout=SLOW)
            await pg.wait_for_selector(".alert[data-kind=drift]", timeout=SLOW)
            await pg.wait_for_selector("[data-test=mood][data-level=angry]", timeout=SLOW)
            # The synthetic voice reads raised at first (scored against the prior from
            # its first spurt), so the "angry" card may have been shown and gone by now:
            # wait for a card rather than expect one on screen at this instant.
            await pg.wait_for_selector(".card", timeout=SLOW)
            assert "agent-1001" in await pg.inner_text("main") or await pg.locator(
                ".callid").count() == 1
            await pg.screenshot(path=str(shots / "run-agent.png"), full_page=True)
            sup = await browser.new_page(viewport={"width": 1000, "height": 700})
            await sup.goto(urls["supervisor"])
            await sup.wait_for_selector("text=agent-1001", timeout=SLOW)
            await sup.screenshot(path=str(shots / "run-floor.png"), full_page=True)
            await browser.close()
            assert errors == [], errors

    asyncio.run(asyncio.wait_for(go(), 400))
    assert (data / "assist.sqlite3").exists()


def test_an_agents_taboo_phrase_reaches_the_page_from_the_real_spotter_and_coach() -> None:
    """Transcripts in, through the real phrase spotter and coach, out on the agent's page."""
    import time as _time

    from helpers import START

    from assist.call.hub import CallHub
    from assist.call.session import LoopParams
    from assist.config import Config, load_coaching
    from assist.events import Event
    from assist.panel.auth import issue_token
    from assist.panel.server import AssistServer

    secret = b"s" * 32

    async def go() -> None:
        server = AssistServer("127.0.0.1", 0, secret=secret)
        await server.start()
        hub = CallHub(LoopParams(), [server], coaching=load_coaching(Config()))
        token = issue_token(secret, role="agent", agent="1001", now=_time.time())
        async with playwright.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = await browser.new_page(viewport={"width": 400, "height": 1000})
            await pg.goto(f"{server.url}?token={token}")
            await pg.wait_for_selector("#status[data-state=live]")
            hub.start_call("c1", agent="1001", rate=8000, start_utc=START)
            s = hub.sessions["c1"]
            for i, text in enumerate(["你", "你 别", "你 别 激动 嘛"]):
                s.inject(Event("transcript.partial", "c1", 10.0 + 0.3 * i, "agent",
                               {"text": text, "start": 10.0, "end": 10.0 + 0.3 * i}))
            alert = pg.locator(".alert[data-kind=phrase]")
            await alert.wait_for(timeout=SLOW)
            assert "激动" in await alert.inner_text()
            card = pg.locator(".card").first
            await card.wait_for()
            assert "激动" not in await card.locator(".say").inner_text()
            await browser.close()
        await server.stop()

    asyncio.run(asyncio.wait_for(go(), 60))
