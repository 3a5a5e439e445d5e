"""The panel page served by a gateway, in real Chromium, shows a call tapped elsewhere."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM, needs_chromium
from stored import demo_wires

from assist.cluster.bus import RedisPublisher
from tests.cluster import redisd
from tests.cluster.gatewayd import Gateway

playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
pytestmark = [pytest.mark.integration, needs_chromium]
redis_server = redisd.redis_server
SLOW = 120_000  # bounds a hang on a busy machine; not what is tested


def test_the_agent_page_on_a_gateway_shows_the_calls_flags(
        tmp_path: Path, redis_server: redisd.RedisD) -> None:
    gw = Gateway(tmp_path, redis_server.url, "gw").start()
    # The demo call as an analysis process publishes it, still live (no call.ended).
    pub = RedisPublisher(redis_server.url, maxlen=10_000)
    for w in demo_wires("live1"):
        if w["type"] != "call.ended":
            pub.publish(w, agent="agent-1001", arrival=None)
    assert pub.flush(30)
    pub.close()
    page_url = f"{gw.url}?token={gw.token(agent='agent-1001')}"

    async def go() -> None:
        async with playwright.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            errors: list[str] = []
            pg = await browser.new_page(viewport={"width": 400, "height": 1100})
            pg.on("pageerror", lambda e: errors.append(str(e)))
            await pg.goto(page_url)
            await pg.wait_for_selector(".lane.customer .spurt", timeout=SLOW)
            # The call's anger flag (its cards have expired by the call's last event).
            await pg.wait_for_selector("[data-test=mood][data-level=angry]", timeout=SLOW)
            await browser.close()
            assert errors == []

    try:
        asyncio.run(go())
    finally:
        gw.stop()
