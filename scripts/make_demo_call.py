#!/usr/bin/env python3
"""Build the bundled demo call: assist/demo/demo_call.wav and its timeline demo_call.json.

A broadband-bill complaint in Mandarin, synthesised with espeak-ng, one voice per party:
left channel = customer, right channel = agent, 8 kHz 16-bit stereo (a telephone tap).
The call walks through every acoustic flag the product raises:

1. calm opening: the customer's calm turns are the baseline for anger.  Calm turns are
   spoken at a normal articulation rate with natural pauses between phrases (each phrase
   synthesised on its own, joined by 0.35-0.7 s of silence inside the turn), not as slowed,
   drawn-out syllables: that is how calm telephone speech sounds and what the syllable
   counter is fitted to;
2. the agent speaks far too fast for two turns (over 20 s of speech);
3. the agent talks over the customer for about 3 s (plus one short 嗯 backchannel
   earlier, which must not count as an interruption);
4. the customer gets angry (+9 dB, higher and wider pitch, faster, lexical cues) and the
   agent answers with a taboo phrase from the training deck (你别激动嘛);
5. the agent calms the call with the deck's phrases and closes.

Deterministic: the same espeak-ng version gives the same bytes (the only randomness is
seeded line noise).  Run from the repository root:

    python scripts/make_demo_call.py [--out-dir assist/demo]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
SEED = 20240611
NOISE_DBFS = -55.0  # line noise floor on both channels, so VAD sees a realistic floor
CALM_DBFS = -27.0  # active speech level of calm turns (a typical telephone level)
ANGRY_GAIN_DB = 9.0  # angry turns are this much louder than calm ones
BACKCHANNEL_DBFS = -30.0
PEAK_LIMIT_DBFS = -1.0
# espeak's pulse-like voicing has an 18 dB crest factor: a soft knee tames the few peaks
# that would otherwise clip the +9 dB angry turns.
KNEE_DBFS, CEILING_DBFS = -7.0, -1.5
TURN_GAP = 0.3  # silence between turns, seconds
# Pauses inside a phrased turn ("/" in the text ends a phrase), by what ends the phrase
# before them: a clause (，), a sentence (。？！) or nothing (a breath inside a clause).
PAUSE_S = {"，": 0.6, "。": 0.7, "？": 0.7, "！": 0.7}
BREATH_S = 0.45
OUT_DIR = Path(__file__).resolve().parent.parent / "assist" / "demo"

# espeak-ng's plain `cmn` voice reads many multi-character words as English-spelled
# pinyin in 1.51; `cmn-latn-pinyin` speaks them as Mandarin.
BASE_VOICE = "cmn-latn-pinyin"


@dataclass(frozen=True)
class Style:
    # espeak voice variant.  Both parties use female variants: the syllable counter reads
    # espeak's male ones (m1-m8) at 1.3-1.8 nuclei per syllable, f3/f5 at 1.05-1.2.
    variant: str
    speed: int  # espeak -s (its "words per minute")
    pitch: int  # espeak -p, 0..99
    pitch_range: int  # SSML prosody range, percent of the voice's normal range
    level_dbfs: float  # active speech level after mixing
    phrased: bool = False  # one espeak call per phrase, joined by pauses (PAUSE_S)


STYLES: dict[tuple[str, str], Style] = {
    ("customer", "calm"): Style("f3", 150, 48, 100, CALM_DBFS, phrased=True),
    ("customer", "angry"): Style("f3", 180, 78, 190, CALM_DBFS + ANGRY_GAIN_DB, phrased=True),
    ("agent", "calm"): Style("f5", 150, 40, 100, CALM_DBFS, phrased=True),
    ("agent", "fast"): Style("f5", 190, 40, 100, CALM_DBFS),
    ("agent", "backchannel"): Style("f5", 150, 40, 100, BACKCHANNEL_DBFS),
}


@dataclass(frozen=True)
class Line:
    key: str
    party: str
    style: str
    text: str  # "/" ends a phrase: a pause follows it in phrased styles
    # Placement: by default TURN_GAP after everything so far has ended.
    at: tuple[str, float] | None = None  # (key, seconds after that line's start)
    overlap: tuple[str, float] | None = None  # (key, seconds before that line's end)

    @property
    def said(self) -> str:
        return self.text.replace("/", "")


DIALOGUE: tuple[Line, ...] = (
    Line("a1", "agent", "calm", "您好，/请问/有什么可以帮您？"),
    Line("c1", "customer", "calm", "你好，/我家宽带/这个月/多扣了五十块钱。"),
    Line("bc", "agent", "backchannel", "嗯", at=("c1", 2.6)),
    Line("a2", "agent", "calm", "好的，/请问户主/怎么称呼？"),
    Line("c2", "customer", "calm", "户主姓王，/是幸福小区/的宽带。"),
    Line(
        "a3",
        "agent",
        "fast",
        "查到了，多出来的五十块是极速加速包增值业务，"
        "上个月通过短信确认开通的，每月自动续费，所以账单多了一项。",
    ),
    Line("c3", "customer", "calm", "什么短信？/我从来没收到过，也没同意开通。"),
    Line(
        "a4",
        "agent",
        "fast",
        "系统里是有记录的，回复确认就算开通了，不需要的话现在帮您退订，"
        "下个月就不扣了，本月的费用按规定是不能退的。",
        overlap=("c3", 3.0),
    ),
    Line("c4", "customer", "angry", "你凭什么打断我说话！/这就是乱扣费，我要投诉！/马上给我退款！"),
    Line("a5", "agent", "calm", "你别/激动嘛。"),
    Line(
        "c5",
        "customer",
        "angry",
        "我能不激动吗？/叫你们领导来接电话！/不给我解决，我就找媒体曝光你们！",
    ),
    Line("a6", "agent", "calm", "谢谢您告诉我，/我向您道歉，/马上为您/退订退款。"),
    Line("c6", "customer", "calm", "好吧，/谢谢，/再见。"),
    Line("a7", "agent", "calm", "不客气，/再见！"),
)

TABOO = "你别激动嘛"
ANGER_CUES = ("我要投诉", "退款", "领导", "曝光")
CALMING = ("谢谢您告诉我", "我向您道歉", "这是我们的责任")
HAN = re.compile(r"[\u4e00-\u9fff]")


def espeak_version() -> str:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split("Data at")[0].strip()


def synthesise(text: str, style: Style) -> tuple[np.ndarray, int]:
    ssml = f'<speak><prosody range="{style.pitch_range}%">{text}</prosody></speak>'
    cmd = [
        "espeak-ng",
        "-m",
        "-v",
        f"{BASE_VOICE}+{style.variant}",
        "-a",
        "50",
        "-s",
        str(style.speed),
        "-p",
        str(style.pitch),
        "--stdout",
        ssml,
    ]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    # espeak streams a 44-byte header whose lengths are unknown: read it by hand.
    if raw[:4] != b"RIFF" or raw[36:40] != b"data":
        raise RuntimeError("espeak-ng wrote no WAV header; is it espeak-ng 1.5x?")
    rate = int.from_bytes(raw[24:28], "little")
    pcm = np.frombuffer(raw[44:], dtype="<i2").astype(np.float64) / 32768.0
    return pcm, rate


def voice(text: str, style: Style) -> np.ndarray:
    """One turn at RATE, before levelling: one espeak call, or one per phrase with pauses."""
    pieces = phrases(text) if style.phrased else [text.replace("/", "")]
    out: list[np.ndarray] = []
    for i, piece in enumerate(pieces):
        x, rate = synthesise(piece, style)
        out.append(resample(trim(x, rate), rate))
        if i < len(pieces) - 1:
            out.append(np.zeros(round(PAUSE_S.get(piece[-1], BREATH_S) * RATE)))
    return np.concatenate(out)


def phrases(text: str) -> list[str]:
    return [p for p in text.split("/") if p]


def trim(x: np.ndarray, rate: int, floor_db: float = -45.0) -> np.ndarray:
    """Cut leading and trailing silence, keeping 10 ms either side."""
    f = rate // 100
    n = len(x) // f
    rms = np.sqrt((x[: n * f].reshape(n, f) ** 2).mean(axis=1) + 1e-20)
    on = np.flatnonzero(20 * np.log10(rms) > floor_db)
    if len(on) == 0:
        raise RuntimeError("espeak-ng produced silence")
    return x[max(0, (on[0] - 1) * f) : min(len(x), (on[-1] + 2) * f)]


def resample(x: np.ndarray, rate_in: int, rate_out: int = RATE, half: int = 96) -> np.ndarray:
    """Band-limited resampling: a Kaiser-windowed sinc low-pass evaluated at each output
    instant (polyphase: one tap set per distinct fractional phase)."""
    from math import gcd

    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    fc = 0.92 * (rate_out / 2) / rate_in  # cutoff, cycles per input sample (3680 Hz)
    beta = 8.0
    j = np.arange(-half + 1, half + 1)
    phases = np.arange(up) / up
    d = phases[:, None] - j[None, :]  # distance from output instant to each tap
    win = np.i0(beta * np.sqrt(np.clip(1 - (d / half) ** 2, 0, None))) / np.i0(beta)
    bank = 2 * fc * np.sinc(2 * fc * d) * win
    bank /= bank.sum(axis=1, keepdims=True)  # unity gain at DC for every phase
    n_out = len(x) * up // down
    xp = np.concatenate([np.zeros(half), x, np.zeros(half + 1)])
    out = np.empty(n_out)
    step = 16384
    for s in range(0, n_out, step):
        n = np.arange(s, min(n_out, s + step))
        base, ph = np.divmod(n * down, up)
        idx = base[:, None] + j[None, :] + half
        out[n] = np.einsum("ij,ij->i", xp[idx], bank[ph])
    return out


def soft_limit(x: np.ndarray) -> np.ndarray:
    k, top = 10 ** (KNEE_DBFS / 20), 10 ** (CEILING_DBFS / 20)
    a = np.abs(x)
    over = a > k
    y = x.copy()
    y[over] = np.sign(x[over]) * (k + (top - k) * np.tanh((a[over] - k) / (top - k)))
    return y


def active_rms(x: np.ndarray, rate: int = RATE) -> float:
    """RMS over 20 ms frames within 30 dB of the loudest: the level of the speech itself."""
    f = rate // 50
    n = len(x) // f
    p = (x[: n * f].reshape(n, f) ** 2).mean(axis=1)
    return float(np.sqrt(p[p > p.max() * 1e-3].mean()))


def place(lines: tuple[Line, ...], clips: dict[str, np.ndarray]) -> dict[str, int]:
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    for ln in lines:
        if ln.at is not None:
            start = starts[ln.at[0]] + round(ln.at[1] * RATE)
        elif ln.overlap is not None:
            start = ends[ln.overlap[0]] - round(ln.overlap[1] * RATE)
        else:
            start = (max(ends.values()) if ends else 0) + round(TURN_GAP * RATE)
        starts[ln.key] = start
        ends[ln.key] = start + len(clips[ln.key])
    return starts


def build() -> tuple[np.ndarray, dict]:
    """Return (int16 samples shaped (n, 2): customer, agent) and the timeline."""
    clips: dict[str, np.ndarray] = {}
    spans: dict[str, float] = {}
    levels: dict[str, float] = {}
    for ln in DIALOGUE:
        style = STYLES[(ln.party, ln.style)]
        y = voice(ln.text, style)
        y = soft_limit(y * 10 ** (style.level_dbfs / 20) / active_rms(y))
        clips[ln.key] = y
        levels[ln.key] = round(20 * float(np.log10(active_rms(y))), 2)
        spans[ln.key] = len(y) / RATE
    starts = place(DIALOGUE, clips)
    total = max(starts[k] + len(c) for k, c in clips.items()) + round(0.6 * RATE)

    rng = np.random.default_rng(SEED)
    mix = rng.standard_normal((total, 2)) * 10 ** (NOISE_DBFS / 20)
    for ln in DIALOGUE:
        ch = 0 if ln.party == "customer" else 1
        s = starts[ln.key]
        mix[s : s + len(clips[ln.key]), ch] += clips[ln.key]
    peak = float(np.abs(mix).max())
    if peak >= 10 ** (PEAK_LIMIT_DBFS / 20):
        raise RuntimeError(f"peak {20 * np.log10(peak):.2f} dBFS is above {PEAK_LIMIT_DBFS} dBFS")
    pcm = np.rint(mix * 32768).astype(np.int16)
    return pcm, timeline(starts, spans, levels, total, peak)


def _r(x: float) -> float:
    return round(x, 3)


def timeline(
    starts: dict[str, int],
    spans: dict[str, float],
    levels: dict[str, float],
    total: int,
    peak: float,
) -> dict:
    utts = []
    by_key: dict[str, dict] = {}
    for ln in DIALOGUE:
        st = STYLES[(ln.party, ln.style)]
        start = starts[ln.key] / RATE
        n_han = len(HAN.findall(ln.said))
        u = {
            "id": ln.key,
            "party": ln.party,
            "start": _r(start),
            "end": _r(start + spans[ln.key]),
            "text": ln.said,
            "style": ln.style,
            "n_han": n_han,
            "cpm": round(n_han / spans[ln.key] * 60, 1),
            "level_dbfs": levels[ln.key],
            "espeak": {
                "voice": f"{BASE_VOICE}+{st.variant}",
                "s": st.speed,
                "p": st.pitch,
                "range_pct": st.pitch_range,
                "phrases": len(phrases(ln.text)) if st.phrased else 1,
            },
        }
        utts.append(u)
        by_key[ln.key] = u

    def group(keys: list[str]) -> dict:
        us = [by_key[k] for k in keys]
        speech = sum(u["end"] - u["start"] for u in us)
        chars = sum(u["n_han"] for u in us)
        return {
            "start": us[0]["start"],
            "end": us[-1]["end"],
            "utterances": keys,
            "speech_s": _r(speech),
            "cpm": round(chars / speech * 60, 1),
        }

    calm_agent = [ln.key for ln in DIALOGUE if ln.party == "agent" and ln.style == "calm"]
    fast = [ln.key for ln in DIALOGUE if ln.style == "fast"]
    angry = [ln.key for ln in DIALOGUE if ln.style == "angry"]
    first_angry = next(i for i, ln in enumerate(DIALOGUE) if ln.style == "angry")
    baseline = [
        ln.key for ln in DIALOGUE[:first_angry] if ln.party == "customer" and ln.style == "calm"
    ][:2]
    cut = next(ln for ln in DIALOGUE if ln.overlap is not None)
    cust, agent = by_key[cut.overlap[0]], by_key[cut.key]
    bc_line = next(ln for ln in DIALOGUE if ln.style == "backchannel")
    bc = by_key[bc_line.key]
    taboo = next(u for u in utts if u["party"] == "agent" and TABOO in u["text"])
    calming = next(u for u in utts if u["party"] == "agent" and CALMING[0] in u["text"])

    agent_calm = group(calm_agent)
    agent_fast = group(fast)
    flags = {
        "customer_baseline": group(baseline),
        "agent_calm_pace": {
            "utterances": calm_agent,
            "speech_s": agent_calm["speech_s"],
            "cpm": agent_calm["cpm"],
        },
        "agent_fast_pace": {
            **agent_fast,
            "ratio_to_calm": round(agent_fast["cpm"] / agent_calm["cpm"], 2),
        },
        "interruption": {
            "onset": agent["start"],
            "overlap_s": _r(min(cust["end"], agent["end"]) - agent["start"]),
            "overlap_end": _r(min(cust["end"], agent["end"])),
            "customer_since": cust["start"],
            "customer_talking_s": _r(agent["start"] - cust["start"]),
            "customer_utterance": cust["id"],
            "agent_utterance": agent["id"],
        },
        "backchannel": {
            "start": bc["start"],
            "end": bc["end"],
            "text": bc["text"],
            "during": bc_line.at[0],
            "is_interruption": False,
        },
        "customer_anger": {
            **group(angry),
            "gain_db": ANGRY_GAIN_DB,
            "cues": [c for c in ANGER_CUES if any(c in by_key[k]["text"] for k in angry)],
        },
        "taboo_phrase": {
            "text": TABOO,
            "utterance": taboo["id"],
            "start": taboo["start"],
            "end": taboo["end"],
        },
        "calming": {
            "utterance": calming["id"],
            "start": calming["start"],
            "phrases": [p for p in CALMING if p in calming["text"]],
        },
    }
    return {
        "generator": "scripts/make_demo_call.py",
        "espeak_ng": espeak_version(),
        "rate": RATE,
        "channels": ["customer", "agent"],
        "sample_width": 2,
        "samples": total,
        "duration_s": _r(total / RATE),
        "seed": SEED,
        "noise_dbfs": NOISE_DBFS,
        "peak_dbfs": round(20 * float(np.log10(peak)), 2),
        "utterances": utts,
        "flags": flags,
    }


def check(tl: dict) -> None:
    """Refuse to write a demo that no longer shows what it is meant to show."""
    f = tl["flags"]
    problems = []
    if not 60 <= tl["duration_s"] <= 90:
        problems.append(f"duration {tl['duration_s']} s is outside 60-90 s")
    if f["customer_baseline"]["speech_s"] < 10:
        problems.append("customer baseline is under 10 s")
    if not 120 <= f["agent_calm_pace"]["cpm"] <= 150:
        problems.append(f"calm agent pace {f['agent_calm_pace']['cpm']} cpm is outside 120-150")
    if f["agent_fast_pace"]["speech_s"] < 20 or f["agent_fast_pace"]["ratio_to_calm"] < 1.6:
        problems.append("fast agent stretch is under 20 s or under 1.6x the calm pace")
    it = f["interruption"]
    if it["overlap_s"] < 2 or it["customer_talking_s"] < 1.5:
        problems.append("interruption overlap under 2 s or customer not yet 1.5 s in")
    if f["backchannel"]["end"] - f["backchannel"]["start"] > 0.5:
        problems.append("backchannel is longer than 0.5 s")
    if f["customer_anger"]["speech_s"] < 15:
        problems.append("anger stretch is under 15 s")
    if problems:
        raise RuntimeError("demo call is off-spec: " + "; ".join(problems))


def write(out_dir: Path) -> tuple[Path, Path]:
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    pcm, tl = build()
    check(tl)
    out_dir.mkdir(parents=True, exist_ok=True)
    wav_path, json_path = out_dir / "demo_call.wav", out_dir / "demo_call.json"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.astype("<i2").tobytes())
    json_path.write_text(json.dumps(tl, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return wav_path, json_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    try:
        wav_path, json_path = write(args.out_dir)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"make_demo_call: {e}", file=sys.stderr)
        return 1
    print(f"wrote {wav_path} ({wav_path.stat().st_size} bytes) and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
