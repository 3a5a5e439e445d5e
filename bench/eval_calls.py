"""The detectors on calls built from real speech, scored through the default path.

Not part of the test suite: it needs the development folder (CASIA sentences of four
speakers, FLEURS read clips), which a fresh clone does not have.

Calls are built the way real calls go, two channels (L customer, R agent), 8 kHz:
- the customer is one CASIA speaker: turns of one to three sentences with pauses of
  0.2-0.8 s inside; angry calls start angry or after 1-5 s of calm; calm calls are that
  speaker's neutral sentences;
- the agent is FLEURS read speech: replies 0.3-1.2 s after the customer's turn; some
  replies start 0.3-2.5 s before the customer's turn ends, in a pause or mid-word (an
  overlap); backchannels of 0.2-0.6 s (cut from FLEURS speech) inside customer turns;
- each party bleeds into the other's channel at -25 dB (half the calls with a 60-150 ms
  echo delay), and both lines carry noise at about -60 dBFS.

Every call runs through a CallSession with the default config's parameters, the path
`python -m assist replay --json --fast` takes (no recognition model is loaded by
default), and is scored from the events it emits.  Anger is scored with speakers held
out: a learned model (`bench/fit_anger.py`) is fitted on three CASIA speakers and the
fourth is scored, in turn.  Pace is scored on FLEURS clips at three tempos.

    python -m bench.eval_calls --data ../shared/data
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.eval_shared import (
    DataError,
    equalise,
    read_manifest,
    read_wav,
    roc_auc,
    speech_frames,
    speech_runs,
)

RATE = 8000
BLEED_DB = -25.0
NOISE_DBFS = -60.0
TEMPOS = (0.8, 1.0, 1.25)
MIN_CUT = 1.0  # overlaps this long or longer must be flagged
GREY = 0.8  # overlaps from here to MIN_CUT may go either way (VAD dating)
SETTLE = 0.35  # talk end is known one hangover (0.3 s) after the last voiced frame
FRAME = 0.02  # the product's frame
LATE = 0.05  # a flag this long after its decision point is late (the target)


def to_8k(pcm: np.ndarray, rate: int) -> np.ndarray:
    from assist.call.offline import to_telephone

    return to_telephone(pcm, rate)[0].astype(np.float64)


def stretch(x: np.ndarray, tempo: float) -> np.ndarray:
    """Faster (tempo > 1) or slower speech by overlap-add with waveform-similar
    alignment (WSOLA), pitch kept."""
    if tempo == 1.0:
        return x
    win, hop_out = 320, 160  # 40 ms windows at 8 kHz
    hop_in = hop_out * tempo
    w = np.hanning(win)
    n_out = int(len(x) / tempo)
    y = np.zeros(n_out + win)
    norm = np.zeros(n_out + win)
    tol = 80
    prev = 0
    k = 0
    while True:
        pos = int(k * hop_in)
        if pos + win + tol >= len(x) or k * hop_out + win > len(y):
            break
        if k:
            # the start near `pos` most like the natural continuation of the last piece
            want = x[prev + hop_out: prev + hop_out + win]
            lo, hi = max(0, pos - tol), min(len(x) - win, pos + tol)
            best = max(range(lo, hi, 4), key=lambda s: float(np.dot(x[s:s + win], want)))
            pos = best
        o = k * hop_out
        y[o:o + win] += x[pos:pos + win] * w
        norm[o:o + win] += w
        prev = pos
        k += 1
    norm[norm < 1e-3] = 1.0
    return (y / norm)[:n_out]


@dataclass
class Clip:
    pcm: np.ndarray  # float, 8 kHz
    speech: tuple[float, float]  # first and last speech, seconds into the clip
    gaps: list[tuple[float, float]]  # pauses of 0.15 s or more inside the speech

    @property
    def dur(self) -> float:
        return len(self.pcm) / RATE


def clip_of(pcm16: np.ndarray, rate: int, level: bool, runs: bool = False) -> Clip:
    """A clip trimmed to its speech.  With `runs`, speech is runs of 120 ms or more (as
    the reference rate's span is measured): a lone click or breath frame outside the
    words is cut off instead of stretching the speech to it."""
    if level:
        pcm16 = equalise(pcm16, rate)
    x = to_8k(pcm16, rate)
    sp = (speech_runs if runs else speech_frames)(x.astype(np.int16), RATE)
    idx = np.flatnonzero(sp)
    if len(idx) == 0:
        raise DataError("a clip without speech")
    first, last = idx[0] * 0.03, (idx[-1] + 1) * 0.03
    gaps = []
    run = None
    for i in range(idx[0], idx[-1] + 1):
        if not sp[i] and run is None:
            run = i
        elif sp[i] and run is not None:
            if (i - run) * 0.03 >= 0.15:
                gaps.append((run * 0.03, i * 0.03))
            run = None
    # trim leading/trailing silence to 50 ms so the call's timing is ours
    a = max(0, int((first - 0.05) * RATE))
    b = min(len(x), int((last + 0.05) * RATE))
    off = a / RATE
    return Clip(x[a:b], (first - off, last - off), [(g0 - off, g1 - off) for g0, g1 in gaps])


@dataclass
class Sentence:
    start: float
    end: float
    angry: bool
    emotion: str


@dataclass
class Call:
    name: str
    speaker: str
    customer: np.ndarray
    agent: np.ndarray
    sentences: list[Sentence] = field(default_factory=list)
    overlaps: list[tuple[float, float]] = field(default_factory=list)  # agent start, turn end
    backchannels: list[tuple[float, float]] = field(default_factory=list)
    calm: bool = True

    # Per 20 ms frame of each party's clean source (before bleed and noise): voiced by
    # the product's own VAD.  The decision point is dated on these, the grid the VAD
    # sees, rather than on the clips' 30 ms speech frames.
    voiced: dict[str, np.ndarray] = field(default_factory=dict)

    def onset(self, a0: float) -> float:
        """The agent's first voiced 20 ms frame of the overlap that starts at a0 (the
        clip's speech start, on its 30 ms grid)."""
        v = self.voiced["agent"]
        k0 = max(0, int((a0 - 0.05) / FRAME))
        for k in range(k0, min(len(v), k0 + 10)):
            if v[k]:
                return k * FRAME
        return a0

    def decision(self, a0: float) -> float:
        """When the overlap that began at a0 reaches MIN_CUT by the rule the detector
        documents (docs/detectors.md): from the agent's onset to the earlier of the two
        parties' ends, a party's end being their last voiced frame's, or now while
        their pause is shorter than the VAD's hangover (inside their talk).  Dated on the
        clean sources' 20 ms frames."""
        from assist.audio.vad import VadParams

        hold = VadParams().hangover
        onset = self.onset(a0)
        last = {p: -1.0 for p in self.voiced}
        n = min(len(v) for v in self.voiced.values())
        for k in range(int(onset / FRAME), n):
            t = (k + 1) * FRAME
            for p, v in self.voiced.items():
                if v[k]:
                    last[p] = t
            ends = [t if t - e < hold - 1e-9 else e for e in last.values()]
            if min(ends) - onset >= MIN_CUT - 1e-9:
                return t
        return onset + MIN_CUT

    @property
    def dur(self) -> float:
        return len(self.customer) / RATE


class Builder:
    """Lays clips on two tracks, then adds bleed and noise."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.cust: list[tuple[float, np.ndarray]] = []
        self.agent: list[tuple[float, np.ndarray]] = []
        self.t = 0.5

    def put(self, track: list, t: float, x: np.ndarray) -> None:
        track.append((t, x))

    def clean(self) -> tuple[np.ndarray, np.ndarray]:
        """The customer's and the agent's clips laid on their tracks, before bleed and
        noise."""
        end = max(t + len(x) / RATE for t, x in self.cust + self.agent) + 0.8
        n = int(end * RATE)
        tracks = []
        for clips in (self.cust, self.agent):
            y = np.zeros(n)
            for t, x in clips:
                i = int(t * RATE)
                y[i:i + len(x)] += x[: n - i]
            tracks.append(y)
        return tracks[0], tracks[1]

    def render(self, name: str, speaker: str) -> Call:
        c, a = self.clean()
        n = len(c)
        voiced = {p: clean_voicing(y) for p, y in (("customer", c), ("agent", a))}
        g = 10 ** (BLEED_DB / 20)
        delay = 0 if self.rng.random() < 0.5 else int(self.rng.uniform(0.06, 0.15) * RATE)
        c2 = c + g * np.roll(a, delay)
        a2 = a + g * np.roll(c, delay)
        out = []
        for y in (c2, a2):
            noise = self.rng.normal(0, 32768 * 10 ** (NOISE_DBFS / 20), n)
            hum = (32768 * 10 ** ((NOISE_DBFS - 6) / 20)
                   * np.sin(2 * np.pi * 50 * np.arange(n) / RATE))
            out.append(np.clip(np.rint(y + noise + hum), -32768, 32767).astype(np.int16))
        return Call(name, speaker, out[0], out[1], voiced=voiced)


def clean_voicing(y: np.ndarray) -> np.ndarray:
    """Per 20 ms frame of a clean track: voiced by the product's VAD (webrtcvad and its
    level floor), with no bleed or line noise to gate."""
    from assist.audio.vad import VadParams, VoiceDetector

    vad = VoiceDetector(RATE, VadParams())
    n = int(FRAME * RATE)
    pcm = np.clip(np.rint(y), -32768, 32767).astype(np.int16)
    frames = [pcm[i:i + n] for i in range(0, len(pcm) - n + 1, n)]
    return np.array([vad.is_voiced(f, float(np.mean(f.astype(np.float64) ** 2)))
                     for f in frames], dtype=bool)


def backchannel(fleurs: list[Clip], rng: np.random.Generator) -> np.ndarray:
    """0.2-0.6 s of voiced speech cut from a FLEURS clip, faded in and out (嗯, 对, 好的)."""
    clip = fleurs[int(rng.integers(len(fleurs)))]
    d = rng.uniform(0.2, 0.6)
    s0, s1 = clip.speech
    for _ in range(50):
        a = rng.uniform(s0, max(s0, s1 - d))
        if not any(g0 < a + d and a < g1 for g0, g1 in clip.gaps):
            break
    x = clip.pcm[int(a * RATE): int((a + d) * RATE)].copy()
    fade = np.minimum(1.0, np.minimum(np.arange(len(x)), np.arange(len(x))[::-1]) / (0.03 * RATE))
    return x * fade


def build_call(name: str, speaker: str, turns: list[list[tuple[Clip, str]]],
               fleurs: list[Clip], rng: np.random.Generator, overlap_p: float = 0.5,
               backchannel_p: float = 0.5) -> Call:
    """Customer turns (lists of (clip, emotion)), each answered by the agent."""
    b = Builder(rng)
    sentences: list[Sentence] = []
    overlaps: list[tuple[float, float]] = []
    backs: list[tuple[float, float]] = []
    t = 0.5
    for turn in turns:
        # the customer's turn: sentences with 0.2-0.8 s pauses between their speech
        points: list[tuple[float, str]] = []  # candidate agent starts: pauses, mid-word
        starts = []
        for i, (clip, emo) in enumerate(turn):
            if i:
                pause = rng.uniform(0.2, 0.8)
                p0 = t
                t += pause
                points.append((rng.uniform(p0, t), "pause"))
            at = t - clip.speech[0]
            b.put(b.cust, at, clip.pcm)
            s = Sentence(at + clip.speech[0], at + clip.speech[1], emo == "angry", emo)
            sentences.append(s)
            starts.append(s)
            # mid-word: inside speech, not in a gap
            for _ in range(5):
                m = rng.uniform(clip.speech[0] + 0.2, clip.speech[1] - 0.1)
                if not any(g0 - 0.05 < m < g1 + 0.05 for g0, g1 in clip.gaps):
                    points.append((at + m, "word"))
                    break
            t = at + clip.speech[1]
        turn_end = t
        turn_start = starts[0].start
        reply = fleurs[int(rng.integers(len(fleurs)))]
        want = rng.uniform(0.3, 2.5)
        ok = [p for p, _ in points if 0.3 <= turn_end - p <= 2.5 and p - turn_start >= 0.6]
        a0 = min(ok, key=lambda p: abs(turn_end - p - want)) if ok else 0.0
        # an overlap is the agent talking on: a reply that pauses early is no overlap
        fluent = [c for c in fleurs if not any(
            g0 - c.speech[0] < turn_end - a0 + 0.3 for g0, g1 in c.gaps if g1 - g0 >= 0.25)]
        if ok and fluent and rng.random() < overlap_p:
            reply = fluent[int(rng.integers(len(fluent)))]
            overlaps.append((a0, turn_end))
        else:
            a0 = turn_end + rng.uniform(0.3, 1.2)
            # backchannels only where no overlap: inside the customer's speech
            if rng.random() < backchannel_p and turn_end - turn_start > 1.5:
                for _ in range(10):
                    bc = backchannel(fleurs, rng)
                    bt = rng.uniform(turn_start + 0.6, turn_end - 0.3 - len(bc) / RATE)
                    if bt > turn_start + 0.5:
                        b.put(b.agent, bt, bc)
                        backs.append((bt, bt + len(bc) / RATE))
                        break
        b.put(b.agent, a0 - reply.speech[0], reply.pcm)
        t = max(turn_end, a0 - reply.speech[0] + reply.speech[1]) + rng.uniform(0.4, 1.2)
    call = b.render(name, speaker)
    call.sentences, call.overlaps, call.backchannels = sentences, overlaps, backs
    call.calm = not any(s.angry for s in sentences)
    return call


def run_call(call: Call, loop: Any) -> list[dict]:
    """The call through a CallSession with the given LoopParams: its wire events."""
    from assist.call.session import CallSession
    from assist.frames import Frame, samples_per_frame

    events: list[dict] = []
    s = CallSession(call.name, RATE, loop, start_utc=datetime(2026, 1, 1, tzinfo=UTC),
                    emit=lambda wire, _e: events.append(wire))
    s.start()
    n = samples_per_frame(RATE)
    for i in range(0, len(call.customer) - n + 1, n):
        t = i / RATE
        s.feed(Frame("customer", call.customer[i:i + n], RATE, t, 0.0))
        s.feed(Frame("agent", call.agent[i:i + n], RATE, t, 0.0))
    s.end("end of recording")
    return events


# --- data ------------------------------------------------------------------------------


def load_casia(data: Path, level: bool) -> dict[str, dict[str, list[tuple[int, Clip]]]]:
    folder = data / "casia_dev"
    rows = read_manifest(folder / "manifest.csv", ("file", "speaker", "emotion", "text_id"))
    out: dict[str, dict[str, list[tuple[int, Clip]]]] = {}
    for r in rows:
        pcm, rate = read_wav(folder / r["file"])
        out.setdefault(r["speaker"], {}).setdefault(r["emotion"], []).append(
            (int(r["text_id"]), clip_of(pcm, rate, level)))
    for spk in out.values():
        for v in spk.values():
            v.sort(key=lambda p: p[0])
    return out


def load_fleurs(data: Path) -> list[tuple[dict, np.ndarray, int]]:
    folder = data / "fleurs_dev"
    rows = read_manifest(folder / "manifest.csv", ("file", "n_han_chars", "rate_usable"))
    return [(r, *read_wav(folder / r["file"])) for r in rows]


def agent_clips(fleurs: list[tuple[dict, np.ndarray, int]]) -> list[Clip]:
    return [clip_of(equalise(pcm, rate), rate, False) for _, pcm, rate in fleurs]


# --- scoring ---------------------------------------------------------------------------


def sentence_scores(call: Call, events: list[dict]) -> list[float | None]:
    """Per customer sentence: the anger score reported with the spurt that holds the
    sentence's end (None when there is none, or it carried no score)."""
    metrics = [e["evidence"] for e in events
               if e["type"] == "metrics" and e["party"] == "customer"]
    out: list[float | None] = []
    for s in call.sentences:
        holding = [m for m in metrics
                   if m["start"] <= s.end and m["start"] + m["duration"] >= s.end - 0.15]
        out.append(holding[0]["anger"] if holding else None)
    return out


def angry_in_time(call: Call, events: list[dict]) -> list[bool]:
    """Per angry sentence: did the level reach "angry" by the sentence's end (plus the
    talk state's settling time)?  Compared on the events' millisecond grid: a flag at
    exactly the deadline is in time (compared as floats, a deadline a hair under
    the rounded event time, 2.7399999999999998 for a 2.74 s flag, turned 1-6% of the
    sentences into misses by 2e-16 s)."""
    angry = [e["t"] for e in events if e["type"] == "anger" and e["evidence"]["level"] == "angry"]
    return [any(round(t, 3) <= round(s.end + SETTLE, 3) for t in angry)
            for s in call.sentences if s.angry]


def score_talkover(call: Call, events: list[dict]) -> dict:
    flags = [e for e in events if e["type"] == "interruption"]
    ends = [e for e in events if e["type"] == "interruption.end"]
    res = {"pos": 0, "hit": 0, "grey": 0, "flags": len(flags), "tp": 0, "fa": 0,
           "short_flagged": 0, "back_flagged": 0, "late": [], "disagree": 0, "missed": [],
           "late_flags": []}
    used = set()
    for a0, e0 in call.overlaps:
        d = e0 - a0
        match = [i for i, f in enumerate(flags) if a0 - 0.3 <= f["evidence"]["onset"] <= e0]
        if d >= MIN_CUT:
            res["pos"] += 1
            if not match:
                res["missed"].append((call.name, round(a0, 2), round(d, 2)))
            else:
                res["hit"] += 1
                f = flags[match[0]]
                late = f["t"] - call.decision(a0)
                res["late"].append(late)
                if late > LATE + 1e-9:
                    # the onset the detector dated against the clean source's: where
                    # they differ, the agent's first frames went unseen
                    res["late_flags"].append((call.name, round(call.onset(a0), 2),
                                              f["evidence"]["onset"], round(1000 * late)))
        for i in match:
            used.add(i)
            if d >= MIN_CUT:
                res["tp"] += 1
            elif d >= GREY:
                res["grey"] += 1
            else:
                res["short_flagged"] += 1
    for b0, b1 in call.backchannels:
        for i, f in enumerate(flags):
            if b0 - 0.3 <= f["evidence"]["onset"] <= b1:
                used.add(i)
                res["back_flagged"] += 1
    res["fa"] = len(flags) - len(used)
    for f in flags:
        end = [e for e in ends if e["evidence"]["onset"] == f["evidence"]["onset"]]
        if end and end[0]["evidence"]["overlap"] < f["evidence"]["overlap"] - 1e-6:
            res["disagree"] += 1
    return res


def pace_figures(fleurs: list[tuple[dict, np.ndarray, int]], loop: Any,
                 rng: np.random.Generator, fit_points: dict | None = None) -> dict:
    """Agent turns of two usable FLEURS clips (0.3-0.7 s apart) at each tempo, every
    ordered pair of two different clips (8 clips: 56 turns a tempo, so r within a tempo
    rests on more than a handful of points); the pace
    reading at the turn's end against the characters said over the stretch of speaking
    time the reading covers (its `window`: pauses under `turn_gap` kept, longer ones left
    out, as the detector's rules say).  With `fit_points` (bench.fit_pace), each turn is
    read by a pace model fitted without its two clips (held out), otherwise by `loop`'s."""
    import tempfile

    usable = [(r, pcm, rate) for r, pcm, rate in fleurs if r["rate_usable"].strip() == "1"]
    out: dict[str, Any] = {}
    allp, allr = [], []
    for tempo in TEMPOS:
        est, ref = [], []
        clips = [(int(r["n_han_chars"]),
                  clip_of(stretch(to_8k(equalise(pcm, rate), rate), tempo).astype(np.int16),
                          RATE, False, runs=True)) for r, pcm, rate in usable]
        pairs = [(i, j) for i in range(len(clips)) for j in range(len(clips)) if i != j]
        for i, j in pairs:
            (n1, c1), (n2, c2) = clips[i], clips[j]
            turn_loop = loop
            if fit_points is not None:
                turn_loop = held_out_pace(loop, fit_points, {usable[i][0]["file"],
                                          usable[j][0]["file"]},
                                          Path(tempfile.gettempdir()))
            call, parts = pace_turn(f"pace-{tempo}-{i}-{j}", (c1, n1), (c2, n2), rng,
                                    loop.pace.turn_gap)
            paces = [e for e in run_call(call, turn_loop) if e["type"] == "pace"]
            if paces:
                est.append(paces[-1]["evidence"]["cpm"])
                ref.append(rate_over_last(parts, paces[-1]["evidence"]["window"]))
        e, r = np.array(est), np.array(ref)
        out[f"tempo {tempo}"] = pace_stats(e, r)
        allp += est
        allr += ref
    out["all"] = pace_stats(np.array(allp), np.array(allr))
    return out


def pace_turn(name: str, first: tuple[Clip, int], second: tuple[Clip, int],
              rng: np.random.Generator, turn_gap: float
              ) -> tuple[Call, list[tuple[float, float, float]]]:
    """An agent turn of two clips (with their characters) 0.3-0.7 s apart, on a line
    with noise and hum, and its speaking parts (`speaking_parts`, the pause between the
    clips kept with no characters)."""
    (c1, n1), (c2, n2) = first, second
    b = Builder(rng)
    t1 = 0.5 - c1.speech[0]
    b.put(b.agent, t1, c1.pcm)
    t2 = 0.5 + (c1.speech[1] - c1.speech[0]) + rng.uniform(0.3, 0.7) - c2.speech[0]
    b.put(b.agent, t2, c2.pcm)
    b.put(b.cust, 0.1, np.zeros(10))
    parts = (speaking_parts(c1, t1, n1, turn_gap)
             + [(t1 + c1.speech[1], t2 + c2.speech[0], 0.0)]
             + speaking_parts(c2, t2, n2, turn_gap))
    return b.render(name, "fleurs"), parts


def held_out_pace(loop: Any, fit_points: dict, held: set[str], tmp: Path) -> Any:
    """`loop` with the vowel-band dip and pace model fitted on every clip but `held`."""
    from bench.fit_pace import choose

    train = {f for p in next(iter(fit_points.values())) for f in p.files} - held
    dip, model = choose(fit_points, train)
    # one file per process and fold: two runs at once must not read each other's
    path = tmp / f"pace-heldout-{os.getpid()}-{'-'.join(sorted(held))}.json"
    path.write_text(model.to_json(), encoding="utf-8")
    return replace(loop, nuclei=replace(loop.nuclei, vowel_dip_db=dip),
                   pace=replace(loop.pace, model=str(path)))


def speaking_parts(clip: Clip, at: float, chars: int,
                   turn_gap: float) -> list[tuple[float, float, float]]:
    """A clip placed at call time `at` as (start, end, characters) pieces of speaking
    time: its span with pauses of `turn_gap` or more left out, the characters spread
    evenly over what is left."""
    edges = [clip.speech[0]]
    for g0, g1 in clip.gaps:
        if g1 - g0 >= turn_gap:
            edges += [g0, g1]
    edges.append(clip.speech[1])
    pieces = [(at + a, at + b) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    total = sum(b - a for a, b in pieces)
    return [(a, b, chars * (b - a) / total) for a, b in pieces]


def rate_over_last(parts: list[tuple[float, float, float]], window: float) -> float:
    """Characters a minute over the last `window` seconds of speaking time in `parts`
    (or all of it when shorter)."""
    left, chars, used = window, 0.0, 0.0
    for a, b, n in reversed(parts):
        take = min(b - a, left)
        if take <= 0:
            break
        chars += n * take / (b - a)
        used += take
        left -= take
    return 60.0 * chars / used


def pace_stats(e: np.ndarray, r: np.ndarray) -> dict:
    const = np.full_like(r, r.mean())
    return {"n": len(e), "mape_pct": round(100 * float(np.mean(np.abs(e - r) / r)), 1),
            "r": round(float(np.corrcoef(e, r)[0, 1]), 3) if len(e) > 2 else None,
            "bias_pct": round(100 * float(np.mean(e / r - 1)), 1),
            "mape_constant_pct": round(100 * float(np.mean(np.abs(const - r) / r)), 1)}


# --- the benchmark ---------------------------------------------------------------------

LoopFor = Callable[[list[str], Path], Any]  # training speakers, data folder -> LoopParams


def default_loop(train: list[str], data: Path) -> Any:
    from assist.config import Config

    return Config().loop


def held_out_loop(train: list[str], data: Path) -> Any:
    """The default LoopParams with the anger model fitted on `train` only."""
    import tempfile

    from assist.config import Config

    loop = Config().loop
    try:
        from bench.fit_anger import fit_model
    except ImportError:  # a tree without a learned model: its defaults as they are
        return loop
    model = fit_model(data, train)
    # One file per process: two runs at once (of different trees) must not read each
    # other's fold models.
    path = (Path(tempfile.gettempdir())
            / f"anger-heldout-{os.getpid()}-{'-'.join(sorted(train))}.json")
    path.write_text(model.to_json(), encoding="utf-8")
    return replace(loop, anger=replace(loop.anger, model=str(path)))


def anger_calls(spk: str, clips: dict[str, list[tuple[int, Clip]]], fleurs: list[Clip],
                rng: np.random.Generator) -> list[Call]:
    calls = []
    neutral = [c for _, c in clips["neutral"]]
    for k, (tid, angry) in enumerate(clips["angry"]):
        lead: list[tuple[Clip, str]] = []
        if k % 2:  # every other call: 1-5 s of calm first
            want = rng.uniform(1.0, 5.0)
            got = 0.0
            for c in rng.permutation(len(neutral)):
                if got >= want:
                    break
                lead.append((neutral[c], "neutral"))
                got += neutral[c].speech[1] - neutral[c].speech[0]
        turns = [lead + [(angry, "angry")]] if lead else [[(angry, "angry")]]
        if rng.random() < 0.5 and len(turns[0]) > 2:
            turns = [turns[0][:-2], turns[0][-2:]]
        calls.append(build_call(f"{spk}-angry-{tid}", spk, turns, fleurs, rng))
    for j in range(3):  # calm calls: the speaker's neutral sentences, shuffled
        order = rng.permutation(len(neutral))
        turns, i = [], 0
        while i < len(order):
            n = int(rng.integers(1, 4))
            turns.append([(neutral[o], "neutral") for o in order[i:i + n]])
            i += n
        calls.append(build_call(f"{spk}-calm-{j}", spk, turns, fleurs, rng))
    return calls


def evaluate(data: Path, loop_for: LoopFor = held_out_loop, seed: int = 12,
             log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    fleurs_raw = load_fleurs(data)
    fleurs = agent_clips(fleurs_raw)
    result: dict[str, Any] = {}
    talk: dict[str, Any] = {}
    for mode in ("raw", "equalised"):
        casia = load_casia(data, level=mode == "equalised")
        speakers = sorted(casia)
        scores: list[float] = []
        labels: list[int] = []
        in_time: list[bool] = []
        calm_alerts = {"tense": 0, "angry": 0}
        calm_s = 0.0
        nulls = 0
        rng = np.random.default_rng(seed)
        for spk in speakers:
            loop = loop_for([s for s in speakers if s != spk], data)
            for call in anger_calls(spk, casia[spk], fleurs, rng):
                events = run_call(call, loop)
                log(f"  {mode} {call.name}: {call.dur:.1f} s")
                for s, v in zip(call.sentences, sentence_scores(call, events), strict=True):
                    if s.emotion not in ("angry", "neutral"):
                        continue
                    if v is None:
                        nulls += 1
                    scores.append(0.0 if v is None else float(v))
                    labels.append(int(s.angry))
                in_time += angry_in_time(call, events)
                if call.calm:
                    calm_s += call.dur
                    for e in events:
                        if e["type"] == "anger" and e["evidence"]["previous"] == "calm":
                            calm_alerts[e["evidence"]["level"]] += 1
                if mode == "raw":
                    r = score_talkover(call, events)
                    for k, v in r.items():
                        talk[k] = talk.get(k, [] if isinstance(v, list) else 0) + v
                    talk["seconds"] = talk.get("seconds", 0.0) + call.dur
        result[f"anger_{mode}"] = {
            "auc_angry_vs_neutral": round(roc_auc(scores, labels), 3),
            "sentences": len(scores), "angry": sum(labels), "null_scores": nulls,
            "angry_within_sentence_pct": round(100 * float(np.mean(in_time)), 1),
            "calm_minutes": round(calm_s / 60, 1),
            "false_alerts_per_10min": {k: round(v * 600 / calm_s, 2)
                                       for k, v in calm_alerts.items()}}
    late = np.array(talk.pop("late") or [math.nan])
    log(f"missed overlaps: {talk.pop('missed')}")
    late_flags = talk.pop("late_flags")
    log("flags over 50 ms late (call, clean onset, flagged onset, ms): " + str(late_flags))
    flags_ok = talk["tp"] + talk["fa"] + talk["short_flagged"] + talk["back_flagged"]
    result["talkover"] = {
        "overlaps_1s_or_more": talk["pos"],
        "recall": round(talk["hit"] / max(1, talk["pos"]), 3),
        "precision": round(talk["tp"] / max(1, flags_ok), 3),
        "backchannels_flagged": talk["back_flagged"],
        "short_overlaps_flagged": talk["short_flagged"],
        "grey_0.8_1s_flagged": talk["grey"],
        "false_alarms_per_5min": round(talk["fa"] * 300 / talk["seconds"], 2),
        "end_below_flag": talk["disagree"],
        # min: a flag before its decision point (the product's VAD heard the agent
        # before the clean source's did) is as far off as one after it
        "flag_after_decision_ms": {"p50": round(1000 * float(np.nanmedian(late))),
                                   "max": round(1000 * float(np.nanmax(late))),
                                   "min": round(1000 * float(np.nanmin(late))),
                                   "over_50": len(late_flags)},
        "minutes": round(talk["seconds"] / 60, 1)}
    from bench.fit_pace import training_points

    result["pace"] = pace_figures(fleurs_raw, default_loop([], data), np.random.default_rng(seed),
                                  training_points(data))
    return result


def print_table(res: dict) -> None:
    from bench.__main__ import _flatten

    rows: list[tuple[str, str]] = []
    _flatten("", res, rows)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def run(data: Path) -> dict:
    """For `make bench`: the figures, or why they were skipped."""
    if not (data / "casia_dev").is_dir() or not (data / "fleurs_dev").is_dir():
        return {"skipped": f"no development data at {data} (casia_dev/, fleurs_dev/)"}
    return evaluate(data, log=lambda s: None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.eval_calls",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        res = evaluate(args.data, seed=args.seed,
                       log=(lambda s: None) if args.quiet else
                       (lambda s: print(s, file=sys.stderr)))
    except DataError as e:
        print(f"eval_calls: {e}", file=sys.stderr)
        return 2
    print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
