"""The run service with `[fork]` configured: a forked call gives the same events as
the same audio replayed, and the config's mistakes are named with file and line."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from forkkit import run
from helpers import Collect
from websockets.asyncio.client import connect

from assist import config
from assist.asr.transcription import Transcription
from assist.call.hub import CallHub
from assist.errors import ConfigError
from assist.service import Service
from assist.taps.replay import replay
from assist.taps.wav import read_call

DEMO = Path(__file__).resolve().parents[1] / "assist" / "demo" / "demo_call.wav"
START = datetime(2026, 1, 1, 9, tzinfo=UTC)

FORK_TOML = """data_dir = "{data}"
[asr]
enabled = false

[prompts]
enabled = false

[fork]
enabled = true
host = "127.0.0.1"
port = 0
max_rate = 5000     # this test sends faster than real time
max_ahead = 60.0

[[fork.sources]]
name = "fs"
kind = "audio_fork"
path = "/fork/fs"
sources = ["127.0.0.0/8"]
username = "fs"
password = "pw-123456"
agent_key = "agentId"
"""


def _comparable(wires: list[dict]) -> list[tuple]:
    # audio.health is the tap's report on how the audio came, not on what it says
    return [(w["type"], w.get("party"), w["t"], json.dumps(w["evidence"], sort_keys=True))
            for w in wires if w["type"] not in ("call.started", "call.ended", "audio.health")]


def test_a_forked_call_gives_the_events_of_the_same_audio_replayed(tmp_path):
    path = tmp_path / "assist.toml"
    path.write_text(FORK_TOML.format(data=tmp_path / "data"), encoding="utf-8")
    cfg = config.load(path)
    with wave.open(str(DEMO)) as w:
        stereo = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    seconds = 30
    stereo = stereo[:seconds * 8000 * 2]

    async def replayed() -> list[dict]:
        got = Collect()
        hub = CallHub(cfg.loop, [got], language=cfg.call.language,
                      transcription=Transcription(cfg.asr))
        await hub.transcription.load()
        short = tmp_path / "short.wav"
        with wave.open(str(short), "wb") as w:
            w.setnchannels(2), w.setsampwidth(2), w.setframerate(8000)
            w.writeframes(stereo.tobytes())
        await replay(read_call(short), hub, "r1", speed=0, agent="a-7", start_utc=START)
        return got.wires

    async def forked() -> list[dict]:
        svc = Service(cfg, host="127.0.0.1", port=0)
        got = Collect()
        svc.hub._publishers.append(got)
        await svc.start()
        try:
            auth = "Basic " + base64.b64encode(b"fs:pw-123456").decode()
            async with connect(f"ws://127.0.0.1:{svc.fork.port}/fork/fs",
                               additional_headers={"Authorization": auth}) as ws:
                await ws.send(json.dumps({"callSid": "c1", "mixType": "stereo",
                                          "sampleRate": 8000, "agentId": "a-7"}))
                raw = stereo.tobytes()
                for i in range(0, len(raw), 640):
                    await ws.send(raw[i:i + 640])
            while not any(w["type"] == "call.ended" for w in got.wires):
                await asyncio.sleep(0.01)
        finally:
            await svc.stop()
        return got.wires

    want, got = run(replayed()), run(forked())
    started = next(w for w in got if w["type"] == "call.started")
    assert started["call_id"] == "fs-c1"
    assert started["evidence"]["agent"] == "a-7"
    assert started["evidence"]["source"] == "fork:fs"
    assert _comparable(got) == _comparable(want) and len(_comparable(want)) > 10
    assert next(w for w in got if w["type"] == "call.ended")["evidence"]["reason"] == "hangup"
    health = {w["party"]: w["evidence"] for w in got if w["type"] == "audio.health"}
    assert {p: (e["problem"], e["final"], e["packets"]) for p, e in health.items()} == {
        "customer": ("ok", True, 1500), "agent": ("ok", True, 1500)}  # 30 s in 20 ms messages


def test_a_forked_party_without_audio_shows_on_the_floor_and_in_calls_show(tmp_path):
    import subprocess
    import sys

    from assist.panel.auth import issue_token
    from tests.browser import ARGS, CHROMIUM, HAVE_CHROMIUM

    path = tmp_path / "assist.toml"
    path.write_text(FORK_TOML.format(data=tmp_path / "data"), encoding="utf-8")
    cfg = config.load(path)
    t = np.arange(8000) / 8000
    voice = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    stereo = np.stack([voice, np.zeros_like(voice)], axis=1)  # the agent's channel is dead
    marker: list[str] = []

    async def floor(url: str, token: str) -> None:
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = await browser.new_page(viewport={"width": 1366, "height": 768})
            await pg.goto(f"{url}?token={token}")
            chip = pg.locator("table.floor tr[data-call=fs-c2] .chip.audio.no_audio")
            await chip.first.wait_for(timeout=60000)
            marker.append(await chip.first.inner_text())
            await browser.close()

    async def go() -> None:
        svc = Service(cfg, host="127.0.0.1", port=0)
        got = Collect()
        svc.hub._publishers.append(got)
        await svc.start()
        try:
            browser = None
            if HAVE_CHROMIUM:
                pytest.importorskip("playwright.async_api")
                token = issue_token(svc.secret, role="supervisor", agent=None, now=time.time())
                browser = asyncio.create_task(floor(svc.server.url, token))
            auth = "Basic " + base64.b64encode(b"fs:pw-123456").decode()
            async with connect(f"ws://127.0.0.1:{svc.fork.port}/fork/fs",
                               additional_headers={"Authorization": auth}) as ws:
                await ws.send(json.dumps({"callSid": "c2", "mixType": "stereo",
                                          "sampleRate": 8000, "agentId": "a-7"}))
                i = 0
                while not (any(w["type"] == "audio.health" for w in got.wires)
                           and (browser is None or browser.done())):
                    await ws.send(stereo[i % 50 * 160:][:160].tobytes())  # 20 ms, real time
                    i += 1
                    await asyncio.sleep(0.02)
            while not any(w["type"] == "call.ended" for w in got.wires):
                await asyncio.sleep(0.01)
            if browser is not None:
                await browser
        finally:
            await svc.stop()

    asyncio.run(asyncio.wait_for(go(), 240))  # a hang guard, not a speed check
    if HAVE_CHROMIUM:
        assert marker == ["坐席无音频"]  # zh-CN first: "no audio: agent"
    root = Path(__file__).resolve().parents[1]
    shown = subprocess.run([sys.executable, "-m", "assist", "--config", str(path), "calls",
                            "show", "fs-c2"], cwd=root, capture_output=True, text=True,
                           timeout=60).stdout
    assert ("no_audio: no audio from the agent stream 5 s after the fork opened (only "
            "digital silence on its channel)") in shown
    lines = {ln.split()[1]: ln for ln in shown.splitlines() if ln.startswith("audio ")}
    assert lines["agent"].split()[2:6] == ["messages", lines["customer"].split()[3], "loss", "0"]
    assert lines["agent"].endswith("level -inf dBFS  no_audio")
    assert lines["customer"].endswith("dBFS  ok") and "level -15 dBFS" in lines["customer"]


@pytest.mark.parametrize("body, where, what", [
    ("[fork]\nenabled = true\n", "1: fork.sources", "enabled without sources"),
    ("[fork]\nport = 70000\n", "2: fork.port", "must be 0..65535"),
    ("[fork]\nmax_rate = \"fast\"\n", "2: fork.max_rate", "must be a number"),
    ("[fork]\nspeed = 1\n", "2: fork.speed", "unknown key"),
    ('[[fork.sources]]\nname = "x"\nlanguage = "fr"\nkind = "audio_fork"\n',
     "3: fork.sources[0].language", "must be one of zh-CN, en-US, ko-KR"),
    ('[[fork.sources]]\nname = "x"\nkind = "sipx"\n', "3: fork.sources[0].kind",
     "must be one of audio_fork, audiohook, twilio"),
    ('[[fork.sources]]\nname = "g"\nkind = "audiohook"\napi_key = "k"\n',
     "1: fork.sources[0].client_secret", "needs client_secret"),
    ('[[fork.sources]]\nname = "g"\nkind = "audiohook"\napi_key = "k"\n'
     'client_secret = "not base64!"\n', "5: fork.sources[0].client_secret", "base64"),
    ('[[fork.sources]]\nname = "t"\nkind = "twilio"\nauth_token = "x"\n'
     'public_url = "https://a.example/x?y"\n', "5: fork.sources[0].public_url", "wss://"),
    ('[[fork.sources]]\nname = "f"\nkind = "audio_fork"\n', "1: fork.sources[0].sources",
     "needs an allow-list"),
    ('[[fork.sources]]\nname = "f"\nkind = "audio_fork"\nsources = ["10.0.0.300"]\n',
     "4: fork.sources[0].sources", "not an IP address"),
    ('[[fork.sources]]\nname = "f"\nkind = "audio_fork"\nsources = ["10.0.0.1"]\n'
     'channels = ["agent"]\n', "5: fork.sources[0].channels", "stereo channel order"),
    ('[[fork.sources]]\nname = "f"\nkind = "audio_fork"\nsources = ["10.0.0.1"]\n'
     'api_key = "k"\n', "5: fork.sources[0].api_key", "for audiohook sources"),
    ('[[fork.sources]]\nname = "t"\nkind = "twilio"\nauth_token = "x"\n'
     'public_url = "wss://a.example"\ntracks = { inbound = "agent", outbound = "agent" }\n',
     "6: fork.sources[0].tracks", "map Twilio tracks"),
    ('[[fork.sources]]\nname = "a"\nkind = "audio_fork"\nsources = ["10.0.0.1"]\n'
     '[[fork.sources]]\nname = "a"\nkind = "audio_fork"\nsources = ["10.0.0.2"]\n',
     "6: fork.sources[1].name", "duplicate name"),
    ("[fork]\nmax_ahead = 0\n", "2: fork.max_ahead", "more than 0"),
    ('[fork]\ntls_cert = "a.pem"\n', "2: fork.tls_cert", "go together"),
])
def test_config_mistakes_name_file_key_and_line(tmp_path, body, where, what):
    path = tmp_path / "assist.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value).startswith(f"{path}:{where}: "), str(e.value)
    assert what in str(e.value)


def test_fork_is_off_by_default_and_parses_sources(tmp_path):
    assert config.load(None).fork.enabled is False
    path = tmp_path / "assist.toml"
    path.write_text(
        '[fork]\nenabled = true\n[[fork.sources]]\nname = "gc"\nkind = "audiohook"\n'
        'api_key = "k"\nclient_secret = "c2VjcmV0"\nagent_key = "customConfig.agentId"\n'
        'agent_pattern = "^agent-(\\\\d+)$"\nagents = { "7" = "seven" }\n', encoding="utf-8")
    fork = config.load(path).fork
    src = fork.sources[0]
    assert (src.path, src.client_secret) == ("/audiohook/gc", b"secret")
    assert src.agent_of({"customConfig": {"agentId": "agent-7"}}) == "seven"
    assert src.agent_of({"customConfig": {"agentId": "agent-9"}}) == "9"
    assert src.agent_of({"customConfig": {"agentId": "nobody"}}) is None
    assert fork.source_at("/audiohook/gc?x=1") is src


def test_the_run_command_starts_the_listener_only_when_configured(tmp_path):
    import re
    import subprocess
    import sys

    from websockets.exceptions import InvalidStatus

    root = Path(__file__).resolve().parents[1]
    path = tmp_path / "assist.toml"
    path.write_text(FORK_TOML.format(data=tmp_path / "data"), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "assist", "--config", str(path), "run",
                             "--port", "0"], cwd=root, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    port = None
    try:
        for line in proc.stdout:
            m = re.search(r"media forks: 127\.0\.0\.1:(\d+), audio_fork /fork/fs", line)
            port = port or (int(m.group(1)) if m else None)
            if "waiting for calls" in line:  # no demo replay once forks are configured
                break
        assert port, "the listener was not announced"

        async def probe() -> None:
            url = f"ws://127.0.0.1:{port}/fork/fs"
            with pytest.raises(InvalidStatus) as e:
                async with connect(url):
                    pass
            assert e.value.response.status_code == 401
            auth = "Basic " + base64.b64encode(b"fs:pw-123456").decode()
            async with connect(url, additional_headers={"Authorization": auth}) as ws:
                await ws.send(json.dumps({"callSid": "live"}))
        run(probe())
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
