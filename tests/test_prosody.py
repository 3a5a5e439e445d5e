"""Prosody per frame and per spurt, on synthetic audio at 8 and 16 kHz."""

from __future__ import annotations

import numpy as np
import pytest
from audio import noise, pcm16, silence, syllables

from assist.audio.prosody import FrameAnalyzer, NucleiParams, summarise
from assist.frames import samples_per_frame


def frames(x: np.ndarray, rate: int):
    analyzer = FrameAnalyzer(rate, samples_per_frame(rate))
    n = samples_per_frame(rate)
    pcm = pcm16(x)
    return [analyzer.feed(pcm[i:i + n]) for i in range(0, len(pcm) - n + 1, n)]


def tone(hz: float, seconds: float, rate: int, db: float = -20.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.sin(2 * np.pi * hz * t) * np.sqrt(2) * 10 ** (db / 20)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_a_tone_gives_its_level_and_pitch(rate):
    got = frames(tone(200.0, 1.0, rate, db=-20.0), rate)[2:]  # past the first window
    assert all(f.level_db == pytest.approx(-20.0, abs=0.5) for f in got)
    assert np.median([f.pitch_hz for f in got]) == pytest.approx(200.0, rel=0.03)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_silence_and_noise_have_no_pitch(rate):
    quiet = frames(silence(0.5, rate), rate)
    assert all(f.pitch_hz == 0.0 and f.level_db < -90 for f in quiet)
    hiss = frames(noise(0.5, rate, db=-40.0, seed=3), rate)
    assert sum(f.pitch_hz > 0 for f in hiss) <= len(hiss) // 10
    assert all(f.level_db == pytest.approx(-40.0, abs=2.0) for f in hiss)


def test_a_higher_voice_reads_higher_and_a_louder_one_louder():
    rate = 8000
    low = frames(syllables(2.0, rate, pitch=120, db=-26), rate)
    high = frames(syllables(2.0, rate, pitch=240, db=-14), rate)
    pitch = lambda fs: np.median([f.pitch_hz for f in fs if f.pitch_hz > 0])  # noqa: E731
    assert pitch(low) == pytest.approx(120, rel=0.1) and pitch(high) == pytest.approx(240, rel=0.1)
    assert max(f.level_db for f in high) > max(f.level_db for f in low) + 8


@pytest.mark.parametrize("per_second", [3.0, 5.0])
def test_a_spurt_counts_its_syllables(per_second):
    rate = 8000
    fs = frames(syllables(4.0, rate, per_second=per_second), rate)
    s = summarise(0.0, 4.0, fs, 0.02, NucleiParams())
    assert s.duration == 4.0
    assert s.nuclei == pytest.approx(4.0 * per_second, abs=2)
    assert s.syllables_per_min == pytest.approx(60 * per_second, rel=0.15)
    assert s.pitch_hz == pytest.approx(180, rel=0.1) and s.pitch_spread_st > 0


def test_a_silent_spurt_has_no_syllables_or_pitch():
    fs = frames(silence(1.0, 8000), 8000)
    s = summarise(0.0, 1.0, fs, 0.02, NucleiParams())
    assert s.nuclei == 0 and s.pitch_hz == 0.0 and s.voiced_s == 0.0


@pytest.mark.parametrize("per_second", [3.0, 5.0])
def test_the_vowel_band_count_follows_the_syllables(per_second):
    rate = 8000
    fs = frames(syllables(4.0, rate, per_second=per_second), rate)
    s = summarise(0.0, 4.0, fs, 0.02, NucleiParams())
    assert s.vowel_nuclei == pytest.approx(4.0 * per_second, abs=2)
    quiet = summarise(0.0, 1.0, frames(silence(1.0, 8000), 8000), 0.02, NucleiParams())
    assert quiet.vowel_nuclei == 0
