"""The run command takes a real SIPREC call from sipp and the agent's panel sees its flags.

sipp plays the SBC: a SIPREC INVITE with metadata naming agent 8107, and two RTP
streams cut from the demo call where the agent talks over the customer.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from assist.panel.auth import issue_token, load_or_create_secret
from tests.browser import ARGS, CHROMIUM
from tests.sip.rtp import write_pcap
from tests.sip.sipkit import RTP_BLOCK, free_port, rtp_block, run_sipp

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assist" / "demo" / "demo_call.wav"
TIMELINE = DEMO.with_suffix(".json")
LEAD_S = 8.6  # the slice starts this long before the agent cuts in
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (sip-tester)")]


def demo_slice(start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(DEMO)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    a, b = int(start * 8000), int(end * 8000)
    return pcm[a:b, 0].copy(), pcm[a:b, 1].copy()


SBC_TRUNK = """[[trunks]]
name = "sbc"
sources = ["127.0.0.1"]
language = "zh-CN"
agent_aor = '^sip:(?P<agent>8\\d{3})@'
"""


@contextmanager
def running_service(tmp_path: Path, trunks: str = SBC_TRUNK) -> Iterator[SimpleNamespace]:
    """`assist run` with these trunks on free SIP/RTP ports, until it is waiting for calls."""
    sip_port, rtp_port = free_port(), rtp_block()
    cfg = tmp_path / "assist.toml"
    cfg.write_text(f"""data_dir = "{tmp_path / 'data'}"
[sip]
host = "127.0.0.1"
udp_port = {sip_port}
tcp_port = {sip_port}
rtp_port = {rtp_port}
rtp_port_range = {RTP_BLOCK}

{trunks}""", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "assist", "--config", str(cfg), "run",
                             "--port", "0"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    url = None
    for line in proc.stdout:
        m = re.search(r"running on (http://\S+)", line)
        url = url or (m.group(1) if m else None)
        if "waiting for calls" in line:
            break
    assert url, "the service did not start"
    try:
        yield SimpleNamespace(url=url, port=sip_port, data=tmp_path / "data", config=cfg)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def service(tmp_path: Path):
    with running_service(tmp_path) as svc:
        yield svc


def test_a_siprec_call_reaches_the_agents_panel_with_its_flags(service, tmp_path) -> None:
    from websockets.asyncio.client import connect

    onset = json.loads(TIMELINE.read_text("utf-8"))["flags"]["interruption"]["onset"]
    customer, agent = demo_slice(onset - LEAD_S, onset - LEAD_S + 14.0)
    work = tmp_path / "sipp"
    work.mkdir()
    write_pcap(work / "audio.pcap", [(0, customer), (2, agent)])
    secret = load_or_create_secret(service.data / "panel-secret")
    token = issue_token(secret, role="agent", agent="8107", now=time.time())
    ws_url = service.url.replace("http", "ws") + "ws"
    got: list[dict] = []

    seen_on_page: list[str] = []

    async def page(ready: asyncio.Event) -> None:
        """The agent's real panel in Chromium, if the machine has it."""
        try:
            from playwright.async_api import async_playwright
        except ImportError:
            ready.set()
            return
        if not Path(CHROMIUM).exists():
            ready.set()
            return
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = await browser.new_page(viewport={"width": 400, "height": 1000})
            await pg.goto(f"{service.url}?token={token}")
            await pg.wait_for_selector("#status[data-state=live]")
            ready.set()
            await pg.wait_for_selector("[data-test=timer]", timeout=20000)
            await pg.wait_for_selector(".alert[data-kind=interruption]", timeout=30000)
            seen_on_page.append(await pg.inner_text(".callid"))
            await browser.close()

    async def go() -> None:
        ready = asyncio.Event()
        browser = asyncio.create_task(page(ready))
        await ready.wait()
        async with connect(ws_url, origin=service.url.rstrip("/")) as ws:
            await ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))
            sipp = await asyncio.to_thread(run_sipp, SimpleNamespace(port=service.port),
                                           "siprec_uac.xml", work, duration_ms=14500,
                                           background=True)
            try:
                async with asyncio.timeout(40):
                    async for raw in ws:
                        msg = json.loads(raw)
                        if msg["type"] == "event":
                            got.append(msg["event"])
                            if msg["event"]["type"] == "call.ended":
                                break
            finally:
                sipp.wait(timeout=30)
        await asyncio.wait_for(browser, 30)

    asyncio.run(go())
    types = [e["type"] for e in got]
    assert types[0] == "call.started" and types[-1] == "call.ended"
    started = got[0]["evidence"]
    assert started["agent"] == "8107" and started["source"] == "sip"
    # Which trunk, and how the roles were decided, with the customer's number masked.
    assert started["tap"]["trunk"] == "sbc" and started["tap"]["basis"] == "metadata"
    assert "13800138000" not in json.dumps(started)
    assert {e["party"] for e in got if e["type"] == "talk.start"} == {"customer", "agent"}
    (cut,) = [e for e in got if e["type"] == "interruption"]
    # The demo's cut-in is LEAD_S into this call, give or take the jitter buffer.
    assert cut["evidence"]["onset"] == pytest.approx(LEAD_S, abs=0.4)
    assert any(e["type"] == "suggestion" and e["evidence"]["reason"]["type"] == "interruption"
               for e in got)
    if Path(CHROMIUM).exists():  # the live page showed this call and its interruption
        assert seen_on_page == [got[0]["call_id"]]


def test_a_sip_port_in_use_stops_the_service_with_a_clear_error(tmp_path) -> None:
    import socket

    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    cfg = tmp_path / "assist.toml"
    cfg.write_text(f"""data_dir = "{tmp_path / 'data'}"
[sip]
host = "127.0.0.1"
udp_port = {port}
tcp_port = 0
rtp_port = {rtp_block()}

{SBC_TRUNK}""", encoding="utf-8")
    try:
        done = subprocess.run([sys.executable, "-m", "assist", "--config", str(cfg), "run",
                               "--port", "0"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    finally:
        busy.close()
    assert done.returncode == 2, done.stderr[-2000:]
    assert "SIP endpoint failed to start: Address already in use" in done.stderr
    assert "Assertion" not in done.stderr and "Traceback" not in done.stderr


def test_the_first_invite_after_start_is_screened_like_every_other(tmp_path) -> None:
    """The receive module learns pjsip's layout from the first request: that request
    must get the tap's own reason too, not the SIP stack's bare refusal."""
    from tests.sip.uac import FIX, Uac

    srtp = (FIX / "rfc7865.sip").read_bytes().replace(b"RTP/AVP", b"RTP/SAVP")
    with running_service(tmp_path) as svc:
        uac = Uac(svc.port, "udp", ip="127.0.0.1")
        try:
            first = uac.call(srtp, [440.0, 1000.0]).final
        finally:
            uac.close()
    assert first.status == 488
    assert "offers SRTP (RTP/SAVP)" in (first.header("warning") or "")
