"""A scripted call as events, to see and test the panel without audio.

`python -m assist.panel.demo` serves the panel on loopback and plays the script
in a loop, printing an agent URL and a supervisor URL.  Tests and the panel
bench publish the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from assist.call.hub import Publisher
from assist.events import AngerEvidence, Event, PaceEvidence, Party, SuggestionEvidence, to_wire
from assist.evidence import AngerLevel
from assist.panel.auth import issue_token


def _speech(call_id: str, party: Party, start: float, end: float, text: str) -> list[Event]:
    """Talk start/end, growing partials, then the final line, as a recogniser would."""
    out = [Event("talk.start", call_id, start, party, {"onset": start})]
    step = max(1, len(text) // 4)
    for i in range(step, len(text), step):
        t = start + (end - start) * i / len(text)
        out.append(Event("transcript.partial", call_id, t, party,
                         {"text": text[:i], "start": start, "end": t}))
    out.append(Event("talk.end", call_id, end, party, {"start": start, "duration": end - start}))
    out.append(Event("transcript.final", call_id, end + 0.2, party,
                     {"text": text, "start": start, "end": end, "words": ()}))
    return out


def _anger(level: AngerLevel, previous: AngerLevel | None, score: float) -> AngerEvidence:
    return AngerEvidence(level, previous, score,
                         {"tense": (0.35, 0.5), "angry": (0.55, 0.7)}, {"level_db": 1.0})


def _pace(cpm: float, window: float) -> PaceEvidence:
    return PaceEvidence(cpm, 120, (90, 150), window, "words", None)


def _card(sid: str, priority: int, text: str, why: str, t: float, summary: str,
          cooldown: float) -> SuggestionEvidence:
    return SuggestionEvidence(
        sid, sid.rsplit("-", 1)[0], summary, priority, text, (text,),
        {"type": why, "t": t, "summary": summary}, cooldown, 60.0, t + 60.0, (), "000",
        "zh-CN")


def demo_script(call_id: str = "demo-1", agent: str = "1001", length: float = 40.0) -> list[Event]:
    """One call that raises every flag the panel shows, in call-time order."""
    c = call_id
    ev = [
        Event("call.started", c, 0.0, None,
              {"agent": agent, "language": "zh-CN", "sample_rate": 8000, "source": "demo"}),
        Event("transcription", c, 0.0, None, {"enabled": True, "reason": ""}),
        Event("anger", c, 0.1, "customer", _anger("calm", None, 0.1)),
    ]
    ev += _speech(c, "customer", 0.5, 4.0, "你好，我的快递三天了还没到，单号是1234****5678。")
    ev += _speech(c, "agent", 4.6, 7.4, "您好，请稍等，我帮您查询一下。")
    ev.append(Event("pace", c, 7.4, "agent", _pace(126.0, 2.8)))
    ev += _speech(c, "customer", 8.0, 14.0, "你们到底怎么回事！每次都这样，我要投诉！")
    ev.append(Event("anger", c, 10.5, "customer", _anger("tense", "calm", 0.55)))
    ev += _speech(c, "agent", 10.0, 12.6, "不是的，您听我说")
    ev.append(Event("interruption", c, 10.6, "agent",
                    {"onset": 10.0, "overlap": 0.6, "min_overlap": 0.6, "customer_since": 8.0}))
    ev.append(Event("interruption.end", c, 12.6, "agent", {"onset": 10.0, "overlap": 2.6,
                                                          "ended_by": "agent"}))
    ev.append(Event("phrase", c, 12.8, "agent",
                    {"rule": "taboo.not-possible", "matched": "这不可能",
                     "instead": "您说的情况我明白了", "title": "不说“不可能”", "seed": "004",
                     "final": False, "utterance_start": 10.0}))
    ev.append(Event("anger", c, 13.5, "customer", _anger("angry", "tense", 0.86)))
    ev.append(Event("suggestion", c, 13.6, "agent", _card(
        "s-calm-1", 90, "非常抱歉让您久等了，我完全理解您的心情，我马上为您处理。",
        "anger", 13.5, "客户情绪升级为生气：先处理情绪，再处理问题", 30.0)))
    ev.append(Event("suggestion", c, 13.7, "agent", _card(
        "s-wait-1", 60, "您可以先不挂机，我这边立即联系配送站。",
        "transcript.final", 14.2, "客户等待时间长", 60.0)))
    for i, t in enumerate((15.0, 18.0, 21.0, 24.0)):
        line = "我这边马上给您加急处理，今天之内一定送到您手上"[: 12 + i]
        ev += _speech(c, "agent", t, t + 2.4, line)
        ev.append(Event("pace", c, t + 2.4, "agent", _pace(170.0 + 10 * i, 5.2 + 2.4 * i)))
    ev.append(Event("pace.drift", c, 21.0 + 2.4, "agent", {
        "cpm": 190.0, "target": 120, "band": [90, 150], "direction": "fast", "kind": "band",
        "baseline": None, "sustained": 8.0, "source": "words"}))
    ev += _speech(c, "customer", 27.0, 30.0, "好吧，那你们尽快。")
    ev.append(Event("anger", c, 30.2, "customer", _anger("tense", "angry", 0.5)))
    ev.append(Event("call.ended", c, length, None, {"agent": agent, "duration": length,
                                                   "reason": "hangup"}))
    return sorted(ev, key=lambda e: e.t)


def wires(events: Iterable[Event], start_utc: datetime | None = None) -> list[dict[str, Any]]:
    start_utc = start_utc or datetime.now(UTC)
    return [to_wire(e, seq, start_utc) for seq, e in enumerate(events, start=1)]


async def play(publisher: Publisher, events: list[Event], agent: str | None,
               speed: float = 1.0) -> None:
    """Publish `events` at their call times (divided by `speed`), as the loop would."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for wire in wires(events):
        delay = t0 + wire["t"] / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        publisher.publish(wire, agent=agent, arrival=time.monotonic())


async def _serve(args: argparse.Namespace) -> None:
    from assist.panel.server import AssistServer

    secret = secrets.token_bytes(32)
    server = AssistServer(args.host, args.port, secret=secret,
                          on_feedback=lambda *a: print("feedback", *a, flush=True))
    await server.start()
    now = time.time()
    agent_url = f"{server.url}?token={issue_token(secret, role='agent', agent='1001', now=now)}"
    sup_url = f"{server.url}?token={issue_token(secret, role='supervisor', now=now)}"
    print(f"agent panel:     {agent_url}\nsupervisor view: {sup_url}", flush=True)
    n = 0
    while True:
        n += 1
        await play(server, demo_script(f"demo-{n}", "1001"), "1001", args.speed)
        await asyncio.sleep(5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m assist.panel.demo")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--speed", type=float, default=1.0)
    args = p.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
