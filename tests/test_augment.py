"""The audio deformations, each against an independent reference.

Time stretch and pitch shift: a tone burst's duration and frequency measured from the
output, and librosa's ``effects.time_stretch`` / ``effects.pitch_shift(res_type="fft")``
(the functions MUDA calls) clip by clip. Compression: the steady-state levels that the
presets' transfer curves give, worked out by hand, and a plain per-sample transcription
of sox's ``compand``. Background noise: the SNR measured from ``output - input``.
"""

import pickle

import librosa
import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_metricaudio.augment import (
    DRC_PRESETS,
    PS1,
    PS2,
    BackgroundNoise,
    Deformation,
    DynamicRangeCompression,
    PitchShift,
    TimeStretch,
    paper_deformations,
)
from sklearn_metricaudio.augment.time_stretch import (
    _phase_advance,
    phase_vocoder_frames,
    stft_batch,
    vocoder_input,
)
from sklearn_metricaudio.datasets import make_backgrounds
from sklearn_metricaudio.features.audio import fix_length

SR = 8000


def tone_burst(freq=500.0, *, sr=SR, before=0.5, burst=1.0, total=4.0, ramp=0.01):
    """Silence, a sine burst of ``burst`` s with short linear ramps, silence."""
    n = int(total * sr)
    t = np.arange(int(burst * sr)) / sr
    env = np.minimum(1.0, np.minimum(t, burst - t) / ramp)
    x = np.zeros(n)
    start = int(before * sr)
    x[start:start + t.size] = 0.5 * env * np.sin(2 * np.pi * freq * t)
    return x.astype(np.float32)


def burst_duration(y, sr=SR, frame=0.005):
    """Seconds during which the frame RMS is above half its maximum."""
    m = int(frame * sr)
    rms = np.sqrt((y[: y.size // m * m].reshape(-1, m).astype(np.float64) ** 2).mean(axis=1))
    return (rms > 0.5 * rms.max()).sum() * frame


def peak_frequency(y, sr=SR):
    """Frequency (Hz) of the largest spectral peak, refined by parabolic interpolation."""
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / y.size


def rel_rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b ** 2)))


@pytest.fixture(scope="module")
def clips():
    """Three 1.5-s clips at 16 kHz: a noise burst, a chirp, modulated noise.

    Each over a white-noise floor 40 dB down. Without one, bins in deep spectral nulls
    (a chirp's far bins) hold float rounding noise, whose phase advances the vocoder
    accumulates: float32 and float64 runs of the same algorithm then differ by O(1) once
    the chirp reaches those bins, though both are valid stretches.
    """
    rng = np.random.default_rng(1)
    sr, n = 16000, 24000
    t = np.arange(n) / sr
    X = np.stack([0.1 * rng.standard_normal(n) * (t > 0.3),
                  0.2 * np.sin(2 * np.pi * (300 + 800 * t) * t),
                  0.1 * rng.standard_normal(n) * np.sin(2 * np.pi * 2 * t) ** 2])
    return (X + 0.001 * rng.standard_normal(X.shape)).astype(np.float32), sr


# --------------------------------------------------------------------------- time stretch
@pytest.mark.parametrize("rate", [0.81, 0.93, 1.07, 1.23])
def test_time_stretch_scales_the_duration_by_one_over_rate_and_keeps_the_pitch(rate):
    x = tone_burst()
    # zeros after a sped-up clip (pad="repeat" would bring the burst back at the end)
    ts = TimeStretch([rate], sr=SR, n_fft=512, hop_length=128, pad="constant")
    y = ts.fit_transform(x[None])[0, 0]
    assert burst_duration(x) == pytest.approx(1.0, abs=0.011)
    # the onset and offset are smeared by up to a hop (16 ms) each, as with librosa
    assert burst_duration(y) == pytest.approx(1.0 / rate, abs=0.03)
    assert peak_frequency(y) == pytest.approx(500.0, abs=1.0)


def test_time_stretch_equals_librosa_clip_by_clip(clips):
    """Batched output == librosa.effects.time_stretch per clip, then fix_length.

    librosa is run in float64: our float32 phases accumulate modulo 2 pi and land close to
    it. Measured (max |diff| / clip RMS, relative RMS of the difference): noise clips
    2e-5, 4e-6; the chirp (whose weak bins carry less precise phases) 6e-4, 1.2e-4, for
    time stretch and pitch shift alike. librosa's own float32 run is 6e-3 to 2e-2 (max)
    away from its float64 one: its float32 accumulator holds phases of up to 1e5 rad.
    """
    X, sr = clips
    for pad in ("repeat", "constant"):
        ts = TimeStretch(sr=sr, pad=pad, batch_size=2)
        Y = ts.transform(X)
        for i, x in enumerate(X):
            rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
            for k, (_, rate) in enumerate(ts.variants()):
                ref = fix_length(librosa.effects.time_stretch(x.astype(np.float64), rate=rate),
                                 X.shape[1], pad)
                assert np.abs(Y[i, k] - ref).max() < 1e-3 * rms
                assert rel_rms(Y[i, k], ref) < 3e-4


def test_our_phase_vocoder_equals_torchaudios(clips):
    """torchaudio's vocoder (a test dependency, the second implementation) against ours."""
    functional = pytest.importorskip("torchaudio.functional",
                                     reason="torchaudio is in the test extra")
    X, _ = clips
    x = torch.from_numpy(X)
    spec = stft_batch(x, 1024, 256)
    vin = vocoder_input(spec, 1024, 256)
    for rate in (0.81, 1.0, 1.23):
        ours = phase_vocoder_frames(vin, rate).transpose(1, 2)
        ref = functional.phase_vocoder(spec, rate, _phase_advance(1024, 256, x.device))
        assert ours.shape == ref.shape
        assert float((ours - ref).abs().max() / ref.abs().max()) < 1e-4


# --------------------------------------------------------------------------- pitch shift
@pytest.mark.parametrize("semitones", PS1 + PS2)
def test_pitch_shift_moves_the_frequency_and_keeps_the_duration(semitones):
    x = tone_burst()
    y = PitchShift([semitones], sr=SR, n_fft=512, hop_length=128).fit_transform(x[None])[0, 0]
    assert peak_frequency(y) == pytest.approx(500.0 * 2 ** (semitones / 12), abs=1.0)
    assert burst_duration(y) == pytest.approx(1.0, abs=0.03)


def test_pitch_shift_equals_librosa_with_fft_resampling(clips):
    """Batched output == librosa.effects.pitch_shift(res_type="fft") per clip (float64, as above).

    Measured: the same differences as the time stretch's (the resampling is exact to float32).
    """
    X, sr = clips
    ps = PitchShift(PS1 + PS2, sr=sr, pad="constant", batch_size=2)
    Y = ps.transform(X)
    for i, x in enumerate(X):
        rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
        for k, (_, steps) in enumerate(ps.variants()):
            ref = librosa.effects.pitch_shift(x.astype(np.float64), sr=sr, n_steps=steps,
                                              res_type="fft")
            assert np.abs(Y[i, k] - ref).max() < 1e-3 * rms
            assert rel_rms(Y[i, k], ref) < 3e-4


# --------------------------------------------------------------------------- compression
# Steady-state output level (dBFS) for inputs at -50 and -10 dBFS, read off each preset's
# curve by hand: (-50, -10) dBFS in -> out.
DRC_EXPECTED = {
    "music standard": (-43 + 5 * 12 / 24, -21 + 11 / 21),  # -40.5, -20.48
    "film standard": (-44.0, -21 + 11 / 21),
    "speech": (-35.0, -21 + 11 / 21),
    "radio": (-20 + 10 / 3 - 5, -20 + 50 / 3 - 5),  # gain -5: -21.67, -8.33
    "film light": (-47 + 3 * 6 / 12, -21 + 11 / 21),
    "music light": (-53 + 15 * 12 / 24, -21 + 11 * 10 / 21),  # -45.5, -15.76
}


def test_compression_presets_reach_their_curves_steady_state_levels():
    sr = 2000
    quiet, loud = 10 ** (-50 / 20), 10 ** (-10 / 20)
    sign = np.where(np.arange(15 * sr) % 2, 1.0, -1.0)  # |x| constant: a square wave
    x = (sign * np.where(np.arange(15 * sr) < 12 * sr, quiet, loud)).astype(np.float32)
    drc = DynamicRangeCompression(list(DRC_EXPECTED), sr=sr)
    Y = drc.fit_transform(x[None])[0]

    def level(y, a, b):
        return 20 * np.log10(np.abs(y[int(a * sr):int(b * sr)]).mean())

    assert level(x, 10.5, 11.5) == pytest.approx(-50, abs=1e-4)
    for k, (_, name) in enumerate(drc.variants()):
        lo, hi = DRC_EXPECTED[name]
        assert level(Y[k], 10.5, 11.5) == pytest.approx(lo, abs=0.5), name
        assert level(Y[k], 14.0, 14.8) == pytest.approx(hi, abs=0.5), name
        # the 40 dB between the bursts shrink to what the curve says
        assert level(Y[k], 14.0, 14.8) - level(Y[k], 10.5, 11.5) == pytest.approx(hi - lo, abs=0.5)


def sox_compand(x, sr, preset):
    """sox's compand, one sample at a time (its flow and drain), without the soft knee."""
    pts = np.asarray(preset.points, dtype=float)

    def coef(seconds):
        return 1 - np.exp(-1 / (sr * seconds)) if seconds > 1 / sr else 1.0

    def gain(v):
        level = 20 * np.log10(max(v, 1e-30))
        if level >= pts[-1, 0]:
            (x0, y0), (x1, y1) = pts[-2], pts[-1]
            out = y1 + (level - x1) * (y1 - y0) / (x1 - x0)
        elif level <= pts[0, 0]:
            out = level + pts[0, 1] - pts[0, 0]
        else:
            out = np.interp(level, pts[:, 0], pts[:, 1])
        return 10 ** ((out - level + preset.gain_db) / 20)

    a, d = coef(preset.attack), coef(preset.decay)
    v = 10 ** (preset.initial_db / 20)
    delay = int(preset.delay * sr)
    buffer, out = [], []
    for s in x.astype(float):
        v += (abs(s) - v) * (a if abs(s) > v else d)
        buffer.append(s)
        if len(buffer) > delay:
            out.append(buffer.pop(0) * gain(v))
    out += [s * gain(v) for s in buffer]  # drain: the last level
    return np.clip(out, -1, 1)


def test_compression_equals_a_per_sample_transcription_of_sox():
    rng = np.random.default_rng(0)
    sr = 8000
    t = np.arange(4000) / sr
    X = np.stack([0.8 * rng.standard_normal(t.size) * (t > 0.2) * (t < 0.3) + 0.01 * np.sin(900 * t),
                  0.3 * np.sin(2 * np.pi * 200 * t) * (t > 0.1)]).astype(np.float32)
    drc = DynamicRangeCompression(sorted(DRC_PRESETS), sr=sr)
    Y = drc.fit_transform(X)
    for i, x in enumerate(X):
        for k, (_, name) in enumerate(drc.variants()):
            np.testing.assert_allclose(Y[i, k], sox_compand(x, sr, DRC_PRESETS[name]),
                                       atol=2e-6, rtol=1e-4, err_msg=name)


# --------------------------------------------------------------------------- background
def test_background_noise_hits_the_snr():
    rng = np.random.default_rng(0)
    X = (0.1 * rng.standard_normal((5, 4000))).astype(np.float32)
    backgrounds = [rng.standard_normal(9000), 0.01 * rng.standard_normal(4000),
                   np.sin(np.arange(1500) / 7.0)]  # longer, equal and shorter than a clip
    for snr in (-5.0, 0.0, 10.0, 20.0):
        Y = BackgroundNoise(backgrounds, snr_db=snr, sr=SR, random_state=0).fit_transform(X)
        noise = Y - X[:, None]
        measured = 10 * np.log10((X[:, None].astype(np.float64) ** 2).mean(-1)
                                 / (noise.astype(np.float64) ** 2).mean(-1))
        np.testing.assert_allclose(measured, snr, atol=0.1)


def test_background_noise_snr_range_and_defaults():
    rng = np.random.default_rng(0)
    X = (0.1 * rng.standard_normal((20, 2000))).astype(np.float32)
    bg = BackgroundNoise(snr_db=(0.0, 20.0), sr=SR, random_state=0)
    Y = bg.fit_transform(X)
    assert Y.shape == (20, 4, 2000) and bg.variants() == [("BG", i) for i in range(4)]
    noise = Y - X[:, None]
    snr = 10 * np.log10((X[:, None] ** 2).mean(-1) / (noise ** 2).mean(-1))
    assert snr.min() >= -0.01 and snr.max() <= 20.01 and snr.std() > 3


def test_a_background_shorter_than_the_clip_is_looped():
    rng = np.random.default_rng(0)
    X = (0.1 * rng.standard_normal((3, 5000))).astype(np.float32)
    short = rng.standard_normal(1200)
    noise = BackgroundNoise([short], sr=SR, random_state=3).fit_transform(X)[:, 0] - X
    np.testing.assert_allclose(noise[:, 1200:2400], noise[:, :1200], atol=1e-6)
    # and starts at a random point of the loop: the noise is the tiled background, scaled
    for row in noise:
        start = int(np.argmax([np.dot(row[:200], np.roll(short, -o)[:200]) for o in range(1200)]))
        segment = np.resize(np.roll(short, -start), 5000)
        scale = np.dot(row, segment) / np.dot(segment, segment)
        np.testing.assert_allclose(row, scale * segment, atol=1e-6)


def test_background_noise_is_reproducible_and_batch_independent():
    rng = np.random.default_rng(0)
    X = (0.1 * rng.standard_normal((6, 3000))).astype(np.float32)
    bgs = [rng.standard_normal(20000), rng.standard_normal(5000)]
    a = BackgroundNoise(bgs, sr=SR, random_state=1, batch_size=1).fit_transform(X)
    b = BackgroundNoise(bgs, sr=SR, random_state=1, batch_size=4).fit_transform(X)
    c = BackgroundNoise(bgs, sr=SR, random_state=2).fit_transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)  # other offsets


def test_a_silent_clip_is_returned_unchanged():
    X = np.zeros((2, 1000), dtype=np.float32)
    X[1] = 0.1
    Y = BackgroundNoise([np.ones(3000)], sr=SR, random_state=0).fit_transform(X)
    np.testing.assert_array_equal(Y[0, 0], 0.0)
    assert np.abs(Y[1, 0] - 0.1).max() > 0.01


def test_make_backgrounds():
    B = make_backgrounds(4000, sr=SR, random_state=0)
    assert B.shape == (4, 4000) and B.dtype == np.float32
    np.testing.assert_allclose(np.sqrt((B.astype(np.float64) ** 2).mean(1)), 0.1, rtol=1e-4)
    np.testing.assert_array_equal(B, make_backgrounds(4000, sr=SR, random_state=0))
    assert not np.allclose(B, make_backgrounds(4000, sr=SR, random_state=1))
    with pytest.raises(ValueError, match="n_samples"):
        make_backgrounds(0)


# --------------------------------------------------------------------------- the contract
def small_deformations(backgrounds=None):
    return [TimeStretch(sr=SR, n_fft=256, hop_length=64),
            PitchShift(PS2, sr=SR, n_fft=256, hop_length=64),
            DynamicRangeCompression(sr=SR),
            BackgroundNoise(backgrounds, sr=SR, random_state=0)]


@pytest.fixture(scope="module")
def short_clips():
    rng = np.random.default_rng(0)
    t = np.arange(2000) / SR
    return np.stack([0.3 * np.sin(2 * np.pi * f * t) * rng.uniform(0.2, 1, t.size)
                     for f in (200, 450, 1300)]).astype(np.float32)


def test_length_contract_and_variant_names(short_clips):
    names = {"TS": [0.81, 0.93, 1.07, 1.23], "PS": list(PS2),
             "DRC": ["music standard", "film standard", "speech", "radio"], "BG": [0, 1, 2, 3]}
    for est in small_deformations():
        Y = est.fit_transform(short_clips)
        assert isinstance(est, Deformation)
        assert Y.shape == (3, 4, 2000) and Y.dtype == np.float32
        assert est.n_variants == 4
        assert est.variants() == [(est.family, p) for p in names[est.family]]
        assert np.isfinite(Y).all()


def test_pad_repeat_tiles_a_shortened_clip_and_constant_pads_zeros(short_clips):
    x = short_clips[:1]
    rep = TimeStretch([1.23], sr=SR, n_fft=256, hop_length=64).fit_transform(x)[0, 0]
    zero = TimeStretch([1.23], sr=SR, n_fft=256, hop_length=64, pad="constant").transform(x)[0, 0]
    m = round(2000 / 1.23)
    np.testing.assert_array_equal(rep[:m], zero[:m])
    np.testing.assert_array_equal(zero[m:], 0.0)
    np.testing.assert_array_equal(rep[m:], rep[:2000 - m])


def test_paper_deformations():
    deformations = paper_deformations(16000, random_state=0)
    assert [name for name, _ in deformations] == ["TS", "PS1", "PS2", "DRC", "BG"]
    assert sum(d.n_variants for _, d in deformations) == 20
    assert dict(deformations)["PS1"].semitones == PS1
    assert dict(deformations)["PS2"].semitones == PS2
    assert all(d.sr == 16000 and d.random_state == 0 for _, d in deformations)


def test_batch_size_does_not_change_the_output(short_clips):
    for est in small_deformations():
        a = clone(est).set_params(batch_size=1).transform(short_clips)
        b = clone(est).set_params(batch_size=2).transform(short_clips)
        np.testing.assert_allclose(a, b, atol=1e-6, err_msg=type(est).__name__)


def test_clone_get_params_and_pickle_give_the_same_output(short_clips):
    for est in small_deformations([np.random.default_rng(0).standard_normal(3000)]):
        Y = est.transform(short_clips)
        twin = type(est)(**est.get_params())
        for other in (clone(est), twin, pickle.loads(pickle.dumps(est))):
            np.testing.assert_array_equal(other.transform(short_clips), Y)


def test_int16_clips_are_scaled_as_pcm(short_clips):
    pcm = np.round(short_clips * 32767).astype(np.int16)
    drc = DynamicRangeCompression(sr=SR)
    np.testing.assert_allclose(drc.transform(pcm), drc.transform(pcm / 32768.0), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu(short_clips):
    for est in small_deformations():
        cpu = est.transform(short_clips)
        gpu = clone(est).set_params(device="cuda").transform(short_clips)
        np.testing.assert_allclose(gpu, cpu, atol=1e-4, err_msg=type(est).__name__)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("est", [TimeStretch(), PitchShift()])
def test_a_clip_shorter_than_the_stretch_window_is_refused(est):
    with pytest.raises(ValueError, match=r"1000 samples .* n_fft=2048"):
        est.fit(np.zeros((2, 1000), dtype=np.float32))
    with pytest.raises(ValueError, match=r"1000 samples .* n_fft=2048"):
        est.transform(np.zeros((2, 1000), dtype=np.float32))


@pytest.mark.parametrize("est, name", [(TimeStretch(rates=()), "rates"),
                                       (PitchShift(semitones=[]), "semitones"),
                                       (DynamicRangeCompression(presets=[]), "presets"),
                                       (BackgroundNoise(backgrounds=[]), "backgrounds")])
def test_empty_variant_lists_are_refused(est, name, short_clips):
    with pytest.raises(ValueError, match=f"{name} is empty"):
        est.fit()
    with pytest.raises(ValueError, match=f"{name} is empty"):
        est.transform(short_clips)


@pytest.mark.parametrize("rates", [(0.0,), (1.0, -1.0), (np.nan,)])
def test_bad_rates_are_refused(rates):
    with pytest.raises(ValueError, match="rates must hold"):
        TimeStretch(rates).fit()


def test_bad_parameters_name_themselves():
    with pytest.raises(ValueError, match="'semitones' parameter"):
        PitchShift(semitones="up").fit()
    with pytest.raises(ValueError, match=r"hop_length=2048 must be smaller than n_fft=2048"):
        TimeStretch(hop_length=2048).fit()
    with pytest.raises(ValueError, match="snr_db"):
        BackgroundNoise(snr_db=(10.0, 0.0)).fit()
    with pytest.raises(ValueError, match="pad"):
        TimeStretch(pad="reflect").fit()


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"presets\[1\]='rock' .*'film light'.*'speech'"):
        DynamicRangeCompression(["radio", "rock"]).fit()


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 100)), r"backgrounds\[1\] must be 1-D"),
    (np.zeros(0), r"backgrounds\[1\] is empty"),
    (np.array([0.1, np.nan]), r"backgrounds\[1\] holds NaN"),
    (np.zeros(100), r"backgrounds\[1\] is silent"),
    ("/no/such/file.wav", "not found"),
])
def test_bad_backgrounds_are_named(bad, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        BackgroundNoise([np.ones(100), bad]).fit()


def test_backgrounds_from_files(tmp_path):
    import soundfile as sf

    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 16000)
    sf.write(tmp_path / "bg.wav", noise, 16000)  # resampled to SR=8000 on the way in
    X = np.full((1, 2000), 0.1, dtype=np.float32)
    Y = BackgroundNoise([tmp_path / "bg.wav"], snr_db=0.0, sr=SR, random_state=0).fit_transform(X)
    assert Y.shape == (1, 1, 2000)
    assert 10 * np.log10(0.01 / ((Y[0, 0] - X[0]) ** 2).mean()) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("est", small_deformations())
def test_file_names_are_refused_with_a_pointer_to_the_loader(est):
    with pytest.raises(ValueError, match="put an AudioLoader before it"):
        est.transform(["a.wav", "b.wav"])


def test_cuda_without_a_gpu_says_so(short_clips):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        DynamicRangeCompression(sr=SR, device="cuda").transform(short_clips)
