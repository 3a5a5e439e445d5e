"""Audio health through the running service: a SIPREC call from sipp whose stream
carries no RTP, or the same audio twice, raises `audio.health` for the admin to see in
`calls show` and on the supervisor's floor; a normal call raises no problem."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assist.panel.auth import issue_token, load_or_create_secret
from tests.browser import ARGS, HAVE_CHROMIUM
from tests.browser import CHROMIUM as CHROMIUM_PATH
from tests.sip.rtp import tone, write_pcap
from tests.sip.sipkit import run_sipp, wait_until
from tests.sip.test_sip_service import ROOT
from tests.sip.test_sip_service import service as service  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration
SECONDS = 12.0  # longer than the 5 s health check, with room for a late start on a busy machine


def place_call(service, work: Path, flows) -> None:
    work.mkdir(parents=True)
    write_pcap(work / "audio.pcap", flows)
    from types import SimpleNamespace

    done = run_sipp(SimpleNamespace(port=service.port), "siprec_uac.xml", work,
                    duration_ms=int(SECONDS * 1000) + 500, timeout=40)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def cli(service, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "assist", "--config", str(service.config),
                          "calls", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def ended_calls(service) -> list[str]:
    return [ln.split()[0] for ln in cli(service, "list").splitlines()
            if ln.startswith("sip-") and " live" not in ln]  # fmt: skip


def stored(service, before: list[str]) -> tuple[str, list[dict]]:
    """The call placed since `before`, once the store holds its end."""
    assert wait_until(lambda: len(ended_calls(service)) > len(before), timeout=30)
    (call_id,) = [c for c in ended_calls(service) if c not in before]
    events = [json.loads(ln) for ln in cli(service, "show", call_id, "--json").splitlines()]
    return call_id, [e for e in events if e["type"] == "audio.health"]


def test_a_stream_without_rtp_is_an_event_on_the_floor_and_in_calls_show(service,
                                                                          tmp_path):
    secret = load_or_create_secret(service.data / "panel-secret")
    sup = issue_token(secret, role="supervisor", agent=None, now=time.time())
    marker: list[str] = []

    async def floor(ready: asyncio.Event) -> None:
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM_PATH, args=ARGS)
            pg = await browser.new_page(viewport={"width": 1366, "height": 768})
            await pg.goto(f"{service.url}?token={sup}")
            await pg.wait_for_selector("#status[data-state=live]")
            ready.set()
            chip = pg.locator("table.floor tr[data-call^=sip-] .chip.audio.no_rtp")
            await chip.first.wait_for(timeout=40000)
            marker.append(await chip.first.inner_text())
            await browser.close()

    async def go() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(floor(ready))
        await asyncio.wait_for(ready.wait(), 40)
        # Only the customer's flow: the agent's stream is answered and gets no RTP.
        await asyncio.to_thread(place_call, service, tmp_path / "sipp",
                                [(0, tone(440, SECONDS))])  # fmt: skip
        await asyncio.wait_for(task, 60)

    before = ended_calls(service)
    if HAVE_CHROMIUM:
        pytest.importorskip("playwright.async_api")
        asyncio.run(go())
        assert marker == ["坐席无音频"]  # zh-CN first: "no audio: agent"
    else:
        place_call(service, tmp_path / "sipp", [(0, tone(440, SECONDS))])
    call_id, health = stored(service, before)
    problems = [(e.get("party"), e["evidence"]["problem"]) for e in health
                if not e["evidence"]["final"]]  # fmt: skip
    assert problems == [("agent", "no_rtp")]
    ev = next(e["evidence"] for e in health if not e["evidence"]["final"])
    assert ev["packets"] == 0 and ev["level_db"] is None
    final = {e["party"]: e["evidence"] for e in health if e["evidence"]["final"]}
    assert final["agent"]["problem"] == "no_rtp" and final["agent"]["packets"] == 0
    assert final["customer"]["problem"] == "ok" and final["customer"]["packets"] >= 150
    shown = cli(service, "show", call_id)
    assert "no_rtp: no audio from the agent stream" in shown
    lines = {ln.split()[1]: ln for ln in shown.splitlines() if ln.startswith("audio ")}
    assert lines["agent"].split()[2:5] == ["packets", "0", "loss"]
    assert lines["agent"].endswith("level -inf dBFS  no_rtp")
    assert lines["customer"].endswith("ok") and "level -inf" not in lines["customer"]


def test_the_same_audio_on_both_streams_is_an_event(service, tmp_path):
    before = ended_calls(service)
    same = tone(440, SECONDS)
    place_call(service, tmp_path / "sipp", [(0, same), (2, same)])
    call_id, health = stored(service, before)
    (ev,) = [e for e in health if not e["evidence"]["final"]]
    assert ev["evidence"]["problem"] == "identical" and "party" not in ev
    assert "both streams carry the same audio" in cli(service, "show", call_id)


def test_a_normal_call_raises_no_problem_and_is_summarised(service, tmp_path):
    before = ended_calls(service)
    place_call(service, tmp_path / "sipp", [(0, tone(440, SECONDS)), (2, tone(1000, SECONDS))])
    call_id, health = stored(service, before)
    assert all(e["evidence"]["final"] for e in health), health
    assert {e["party"]: e["evidence"]["problem"] for e in health} == {
        "customer": "ok", "agent": "ok"}
    for e in health:
        assert e["evidence"]["packets"] >= 150 and e["evidence"]["level_db"] > -40
