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


def _plain_features(rate: int, pcm: np.ndarray) -> list[tuple]:
    """The frame features written the plain way (np.fft, boolean masks, one log10
    each): the fast path must give exactly these numbers."""
    n = samples_per_frame(rate)
    ref = FrameAnalyzer(rate, n)  # only for its window, lags and band rows
    nfft = ref._nfft
    freqs = np.fft.rfftfreq(nfft, 1.0 / rate)
    speech = (freqs >= 80.0) & (freqs <= 3800.0)
    high_mask = (freqs >= 1000.0) & speech
    low_mid = (freqs >= 500.0) & (freqs < 1000.0)
    top = (freqs >= 2000.0) & (freqs <= 3800.0)

    def db(v: float) -> float:
        return 10.0 * float(np.log10(v + 1e-12))

    prev = np.zeros(n)
    out = []
    for i in range(0, len(pcm) - n + 1, n):
        cur = pcm[i:i + n].astype(np.float64)
        half = n // 2
        ms = float(np.dot(cur, cur)) / n
        sub = (db(float(np.dot(cur[:half], cur[:half])) / half / 32768.0**2),
               db(float(np.dot(cur[half:], cur[half:])) / (n - half) / 32768.0**2))
        x = np.concatenate((prev, cur))
        prev = cur
        x -= x.mean()
        spec = np.fft.rfft(x * ref._window, nfft)
        power = spec.real**2 + spec.imag**2
        band = float(power[speech].sum())
        high = float(power[high_mask].sum())
        r = np.fft.irfft(power, nfft)
        pitch, strength = 0.0, 0.0
        if r[0] > 0:
            lo, hi = ref._lag_lo, ref._lag_hi
            norm = r[lo:hi] / r[0] / ref._rw[lo:hi]
            k = int(np.argmax(norm))
            if norm[k] >= 0.45:
                lag = float(lo + k)
                if 0 < k < len(norm) - 1:
                    a, b, c = norm[k - 1], norm[k], norm[k + 1]
                    if a - 2 * b + c < 0:
                        lag += 0.5 * (a - c) / (a - 2 * b + c)
                pitch, strength = rate / lag, float(min(1.0, norm[k]))
        env = 10.0 * np.log10(ref._env @ power + 1e-3)
        shares = ((float(power[low_mid].sum()) / band, float(power[top].sum()) / band)
                  if band > 0 else (0.0, 0.0))
        out.append((db(ms / 32768.0**2), ms, pitch, high / band if band > 0 else 0.0, sub,
                    shares, tuple(env.tolist()), strength))
    return out


@pytest.mark.parametrize("rate", [8000, 16000])
def test_frame_features_are_exactly_the_plain_computation(rate):
    x = np.concatenate([silence(0.3, rate), syllables(1.5, rate), noise(0.5, rate, -40.0),
                        tone(180.0, 0.5, rate)])
    got = [(f.level_db, f.mean_square, f.pitch_hz, f.high_ratio, f.sub_db, f.bands,
            f.envelope, f.strength) for f in frames(x, rate)]
    want = _plain_features(rate, pcm16(x))
    assert any(g[2] > 0 for g in got) and any(g[2] == 0 for g in got)  # both kinds covered
    assert got == want  # bit for bit, not approximately


@pytest.mark.parametrize("per_second", [3.0, 5.0])
def test_the_vowel_band_count_follows_the_syllables(per_second):
    rate = 8000
    fs = frames(syllables(4.0, rate, per_second=per_second), rate)
    s = summarise(0.0, 4.0, fs, 0.02, NucleiParams())
    assert s.vowel_nuclei == pytest.approx(4.0 * per_second, abs=2)
    quiet = summarise(0.0, 1.0, frames(silence(1.0, 8000), 8000), 0.02, NucleiParams())
    assert quiet.vowel_nuclei == 0


def vowel(formant, seconds: float, rate: int, db: float = -20.0) -> np.ndarray:
    """A 150 Hz voice whose single formant sits at formant(t) Hz."""
    t = np.arange(int(seconds * rate)) / rate
    f = formant(t)
    x = sum(np.exp(-(((k * 150.0) - f) / 250.0) ** 2) * np.sin(2 * np.pi * k * 150.0 * t)
            for k in range(1, int(3600 / 150)))
    return x / np.sqrt(np.mean(x**2)) * 10 ** (db / 20)


def test_spectral_flux_follows_a_moving_spectrum_not_the_level():
    from assist.audio.prosody import VOICE_KEYS

    rate = 8000
    flux = VOICE_KEYS.index("flux")

    def of(x):
        return summarise(0.0, 2.0, frames(x, rate), 0.02, NucleiParams()).voice[flux]

    steady = of(vowel(lambda t: np.full_like(t, 700.0), 2.0, rate, db=-30.0))
    moving = of(vowel(lambda t: 1100.0 + 600.0 * np.sin(2 * np.pi * 4.0 * t), 2.0, rate,
                      db=-30.0))
    louder = of(vowel(lambda t: np.full_like(t, 700.0), 2.0, rate, db=-18.0))
    assert moving > 5.0 and steady < 1.0  # dB RMS between consecutive frames
    assert louder == pytest.approx(steady, abs=0.2)  # 12 dB louder, the same flux
    assert of(silence(2.0, rate)) == 0.0  # no voiced frames: no flux


def voiced_train(rate: int, attack_s: float, seconds: float = 2.0, db: float = -24.0,
                 per_second: float = 4.0) -> np.ndarray:
    """A 150 Hz voice in syllables whose level rises 20 dB over `attack_s` and then
    falls back over the rest of the syllable: a short attack is a syllable started hard."""
    t = np.arange(int(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * k * 150.0 * t) / k for k in range(1, 20))
    phase = (t * per_second) % 1.0 / per_second  # seconds into the syllable
    fall = 1.0 / per_second - attack_s
    env_db = np.where(phase < attack_s, -20.0 + 20.0 * phase / attack_s,
                      -20.0 * (phase - attack_s) / fall)
    env = 10 ** (env_db / 20)
    y = x * env
    return y / np.sqrt(np.mean(y[env > 0.5] ** 2)) * 10 ** (db / 20)


def test_onset_sharpness_follows_how_hard_syllables_start_not_the_level():
    from assist.audio.prosody import VOICE_KEYS

    rate = 8000
    onset = VOICE_KEYS.index("onset")

    def of(x):
        return summarise(0.0, 2.0, frames(x, rate), 0.02, NucleiParams()).voice[onset]

    hard = of(voiced_train(rate, 0.01))
    soft = of(voiced_train(rate, 0.08))
    louder = of(voiced_train(rate, 0.01, db=-12.0))
    assert hard > soft + 3.0  # dB from one 10 ms step to the next
    assert louder == pytest.approx(hard, abs=0.5)  # 12 dB louder, the same attack
    assert of(silence(2.0, rate)) == 0.0


def test_loud_flux_is_the_flux_of_the_louder_voiced_frames():
    from assist.audio.prosody import VOICE_KEYS

    rate = 8000
    flux, lflux = VOICE_KEYS.index("flux"), VOICE_KEYS.index("lflux")
    # A vowel whose formant moves only while it is loud (the second second, 10 dB up)
    t = np.arange(2 * rate) / rate
    steady = vowel(lambda t: np.full_like(t, 700.0), 1.0, rate, db=-34.0)
    moving = vowel(lambda t: 1100.0 + 600.0 * np.sin(2 * np.pi * 4.0 * t), 1.0, rate,
                   db=-24.0)
    x = np.concatenate((steady, moving))
    assert len(x) == len(t)
    s = summarise(0.0, 2.0, frames(x, rate), 0.02, NucleiParams())
    assert s.voice[lflux] > s.voice[flux] + 1.0  # the loud half moves, the quiet half not
    # the other way round: the quiet half moves
    y = np.concatenate((vowel(lambda t: 1100.0 + 600.0 * np.sin(2 * np.pi * 4.0 * t), 1.0,
                              rate, db=-34.0),
                        vowel(lambda t: np.full_like(t, 700.0), 1.0, rate, db=-24.0)))
    q = summarise(0.0, 2.0, frames(y, rate), 0.02, NucleiParams())
    assert q.voice[lflux] < q.voice[flux] - 1.0
    assert summarise(0.0, 2.0, frames(silence(2.0, rate), rate), 0.02,
                     NucleiParams()).voice[lflux] == 0.0
