"""Agent speech rate: shown continuously, drift flagged only when sustained."""

from __future__ import annotations

import pytest
from audio import Track, syllables
from helpers import evidence, run_session

from assist.detectors.pace import PaceDetector, PaceParams
from assist.errors import ConfigError
from assist.events import Event


def speak(det: PaceDetector, turns: list[tuple[float, float, float]]) -> list[Event]:
    """Turns of (start, end, characters per minute) cut into 2 s spurts, 0.4 s apart."""
    out: list[Event] = []
    for start, end, cpm in turns:
        t = start
        while t < end - 1e-9:
            e = min(end, t + 2.0)
            out += det.feed(t, e, cpm * (e - t) / 60.0, e + 0.3)
            t = e + 0.4
    return out


def test_pace_counts_pauses_inside_a_turn_but_not_between_turns() -> None:
    det = PaceDetector("c1", PaceParams(window=60, min_speech=1))
    det.use_words(True)  # units are characters as they are (no syllable model)
    # Two 2 s spurts 0.5 s apart: 10 syllables in 4.5 s of turn time = 133/min.
    det.feed(0.0, 2.0, 5, 2.3)
    (pace,) = det.feed(2.5, 4.5, 5, 4.8)
    assert pace.evidence["cpm"] == pytest.approx(60 * 10 / 4.5, abs=0.1)
    # A new turn 5 s later: the silence between turns is left out.
    (pace,) = det.feed(9.5, 11.5, 5, 11.8)
    assert pace.evidence["cpm"] == pytest.approx(60 * 15 / 6.5, abs=0.1)


def test_calm_speech_near_target_raises_no_drift() -> None:
    got = speak(PaceDetector("c1", PaceParams()), [(0, 30, 140), (40, 80, 160)])
    assert [e for e in got if e.type == "pace.drift"] == []
    assert all(72 <= e.evidence["cpm"] <= 210 for e in got if e.type == "pace")


def test_sustained_fast_speech_drifts_once_and_rearms() -> None:
    det = PaceDetector("c1", PaceParams())
    calm = speak(det, [(0, 24, 140)])
    fast = speak(det, [(30, 60, 300)])
    drifts = [e for e in calm + fast if e.type == "pace.drift"]
    assert len(drifts) == 1
    d = drifts[0]
    assert d.evidence["direction"] == "fast" and d.evidence["kind"] == "band"
    assert d.evidence["cpm"] > 210 and d.evidence["sustained"] >= 8.0
    # Fast speech began at 30 s: the flag needs the window to fill and the
    # sustain time to pass, but well within the fast stretch.
    assert 38 <= d.t <= 56
    back = speak(det, [(70, 100, 140)])
    assert [e for e in back if e.type == "pace.drift"] == []
    again = speak(det, [(110, 140, 300)])
    assert len([e for e in again if e.type == "pace.drift"]) == 1


def test_slow_speech_drifts_slow() -> None:
    got = speak(PaceDetector("c1", PaceParams()), [(0, 40, 50)])
    (drift,) = [e.evidence for e in got if e.type == "pace.drift"]
    assert drift["direction"] == "slow"


def test_departure_from_own_pace_drifts_within_the_band() -> None:
    det = PaceDetector("c1", PaceParams(high=3.0))  # band up to 360: only "self" can fire
    det.use_words(True)
    speak(det, [(0, 30, 110)])
    assert det.baseline == pytest.approx(110, rel=0.2)
    got = speak(det, [(40, 80, 200)])
    (drift,) = [e.evidence for e in got if e.type == "pace.drift"]
    assert drift["kind"] == "self" and drift["direction"] == "fast"


def test_bad_band_is_refused() -> None:
    with pytest.raises(ConfigError, match="pace.high"):
        PaceParams(high=0.9)


def test_syllable_rate_on_audio_follows_the_syllable_train() -> None:
    rate = 8000
    a = Track(rate, 30)
    for k in range(6):  # six 3 s phrases at 4 syllables/s, 0.5 s apart: one turn
        a.put(1.0 + 3.5 * k, syllables(3.0, rate, per_second=4, pitch=120, seed=k))
    c = Track(rate, 30)
    got = run_session(c.x, a.x, rate)
    paces = evidence(got, "pace")
    assert paces, "a pace reading after enough agent speech"
    # 72 syllables over 20.5 s of turn time is 211/min.
    assert paces[-1]["cpm"] == pytest.approx(60 * 72 / 20.5, rel=0.12)
    assert paces[-1]["source"] == "acoustic"


def test_pace_falls_back_to_syllables_when_the_agents_recogniser_fails() -> None:
    from helpers import START

    from assist.call.session import CallSession, LoopParams
    from assist.frames import Frame

    class Recognisers:  # stands in for the Vosk workers; only the agent's failure matters
        closed: list[str] = []
        flush_limit = 30.0

        def feed(self, frame, talking):
            pass

        def on_event(self, event, t):
            if event.type == "transcription" and event.party is not None:
                self.closed.append(event.party)

        def close(self, t):
            pass

        async def idle(self):
            pass

    rec = Recognisers()

    class Transcription:
        def start(self, call_id, language, rate, emit):
            return rec, Event("transcription", call_id, 0.0, None,
                              {"enabled": True, "model": "m", "language": language})

    got: list[Event] = []
    s = CallSession("c1", 8000, LoopParams(), start_utc=START,
                    emit=lambda wire, e: got.append(e), agent="a1",
                    transcription=Transcription())
    s.start()
    s.inject(Event("transcription", "c1", 0.5, "agent",
                   {"enabled": False, "reason": "agent: recogniser failed"}))
    assert rec.closed == ["agent"]
    from audio import Track, pcm16
    a = pcm16(Track(8000, 12).put(1.0, syllables(9.0, 8000, per_second=4, pitch=120)).x)
    quiet = pcm16(Track(8000, 12).x)
    for i in range(0, len(a) - 160 + 1, 160):
        s.feed(Frame("customer", quiet[i:i + 160], 8000, i / 8000))
        s.feed(Frame("agent", a[i:i + 160], 8000, i / 8000))
    paces = [e.evidence for e in got if e.type == "pace"]
    assert paces and all(p["source"] == "acoustic" for p in paces)


def test_a_baseline_of_zero_units_never_divides_by_zero() -> None:
    # Noise the VAD calls speech but with no syllables: the baseline measures 0/min.
    det = PaceDetector("c1", PaceParams())
    got = speak(det, [(0, 40, 0)]) + speak(det, [(45, 80, 150)])
    paces = [e for e in got if e.type == "pace"]
    assert paces and paces[-1].evidence["baseline"] == 0.0
    assert all(e.evidence.get("self") is None for e in got if e.type == "pace.drift")


def test_the_pace_model_maps_nuclei_to_characters_and_bad_files_are_refused(tmp_path) -> None:
    from assist.detectors.pace_model import PaceModel, load_model

    shipped = load_model()
    assert shipped.slope > 1.0  # counts compress with tempo: the model widens them again
    assert shipped.cpm(0.0) == 0.0
    assert shipped.cpm(150.0) < shipped.cpm(300.0) < shipped.cpm(400.0)
    m = PaceModel(0.0, 1.0)
    assert m.cpm(217.0) == pytest.approx(217.0)
    path = tmp_path / "m.json"
    path.write_text(PaceModel(0.1, 2.0).to_json(), encoding="utf-8")
    # An acoustic reading goes through the model; the baseline too.
    det = PaceDetector("c1", PaceParams(model=str(path), min_speech=1))
    (pace,) = det.feed(0.0, 2.0, 10, 2.3)  # 300 nuclei a minute
    assert pace.evidence["cpm"] == pytest.approx(300 * 2.718281828 ** 0.1, abs=0.2)
    det.use_words(True)  # recognised characters are taken as they are
    (pace,) = det.feed(2.5, 4.5, 10, 4.8)
    assert pace.evidence["cpm"] == pytest.approx(60 * 20 / 4.5, abs=0.1)
    steep = tmp_path / "steep.json"
    steep.write_text('{"pivot": 300, "intercept": 0, "slope": 9}', encoding="utf-8")
    with pytest.raises(ConfigError, match="pace.model"):
        PaceDetector("c1", PaceParams(model=str(steep)))
    with pytest.raises(ConfigError, match="pace.model"):
        PaceDetector("c1", PaceParams(model=str(tmp_path / "missing.json")))


def test_a_chunk_cut_in_the_hangover_times_pace_to_the_last_voiced_frame() -> None:
    """A 2 s chunk boundary that falls in the talk's hangover ends that chunk past the
    speech (anger scores it as it is); pace's stopwatch stops at the last voiced frame,
    so the talk's speaking time is its spurt's, not up to 0.3 s more."""
    from audio import pcm16

    from assist.call.pipeline import LoopParams, PartyPipeline
    from assist.frames import samples_per_frame

    rate = 8000
    a = Track(rate, 5)
    a.put(1.0, syllables(1.9, rate, per_second=4, pitch=120, seed=3))
    x = pcm16(a.x)
    n = samples_per_frame(rate)
    pipe = PartyPipeline("agent", rate, n, LoopParams())
    steps = [pipe.feed(i / rate, x[i:i + n]) for i in range(0, len(x) - n + 1, n)]
    steps.append(pipe.finish())
    chunks = [c for s in steps for c in s.chunks]
    (spurt,) = [s.spurt for s in steps if s.spurt is not None]
    assert len(chunks) == 1 and chunks[0].end > spurt.end + 0.05  # cut in the hangover
    assert chunks[0].speech_end == pytest.approx(spurt.end)
    det = PaceDetector("c1", PaceParams(min_speech=1.0))
    (pace,) = det.feed(chunks[0].start, chunks[0].speech_end, chunks[0].vowel_nuclei, 3.5)
    assert pace.evidence["window"] == pytest.approx(spurt.duration, abs=0.01)
