"""MFCCStats and LogMelPatches against librosa and scipy, computed independently."""

import pickle

import librosa
import numpy as np
import pytest
import scipy.stats
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import clone

from sklearn_metricaudio import LogMelPatches, MFCCStats
from sklearn_metricaudio.features.mfcc import window_statistics

SR = 22050


def _signals(rng, n=3, seconds=1.5):
    t = np.arange(int(SR * seconds)) / SR
    chirp = np.sin(2 * np.pi * (200 * t + 900 * t ** 2))
    noise = rng.standard_normal(t.size)
    burst = noise * (np.abs(t - 0.7) < 0.2)
    # every recording has a noise floor; without one, bands 100 dB down are float32 round-off
    floor = 1e-3 * rng.standard_normal((3, t.size))
    return (np.stack([chirp, noise, burst]) + floor)[:n].astype(np.float32)


def _librosa_mfcc(y):
    # the paper's settings written out for librosa: 21.3 ms = 470 samples, 50 % overlap
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, win_length=470, hop_length=235,
                                         n_mels=40)
    return librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=25)


def _reference_stats(mfcc):
    """275 columns from a librosa MFCC matrix with numpy/scipy, window by window."""
    w = sliding_window_view(mfcc, 5, axis=1)  # (25, windows, 5)
    d1 = np.diff(w, axis=-1)
    d2 = np.diff(w, n=2, axis=-1)
    blocks = [w[..., 2], w.min(-1), w.max(-1), np.median(w, -1), w.mean(-1),
              scipy.stats.skew(w, axis=-1), scipy.stats.kurtosis(w, axis=-1),
              d1.mean(-1), d1.var(-1), d2.mean(-1), d2.var(-1)]
    return np.concatenate([b.T for b in blocks], axis=1)


def test_mfcc_stats_match_librosa_and_scipy(rng):
    X = _signals(rng)
    F = MFCCStats().fit_transform(X)
    for i in range(len(X)):
        ref = _reference_stats(_librosa_mfcc(X[i]))
        assert F[i].shape == ref.shape == (ref.shape[0], 275)
        # Tolerances (float32 FFT against librosa's): values in dB (MFCC, order statistics,
        # means of values and differences) 2e-3; skewness and kurtosis 5e-3; the variances of
        # differences (dB**2, up to 5e4) 0.05 + 1e-4 relative.
        blocks = F[i].reshape(-1, 11, 25), ref.reshape(-1, 11, 25)
        values = [0, 1, 2, 3, 4, 7, 9]
        np.testing.assert_allclose(blocks[0][:, values], blocks[1][:, values], atol=2e-3)
        np.testing.assert_allclose(blocks[0][:, 5:7], blocks[1][:, 5:7], atol=5e-3)
        np.testing.assert_allclose(blocks[0][:, [8, 10]], blocks[1][:, [8, 10]], rtol=1e-4,
                                   atol=0.05)


def test_window_statistics_on_a_ramp():
    """Hand-checkable: MFCC k at frame t equals (k + 1) * t."""
    import torch

    t = np.arange(8, dtype=np.float64)
    mfcc = torch.tensor(np.stack([(k + 1) * t for k in range(3)]))[None]  # (1, 3, 8)
    S = window_statistics(mfcc, context=5)[0].numpy()  # (4 windows, 33)
    assert S.shape == (4, 33)
    blocks = S.reshape(4, 11, 3)  # (windows, stat, coef)
    for w in range(4):
        slope = np.arange(1, 4)
        np.testing.assert_allclose(blocks[w, 0], slope * (w + 2))       # centre frame
        np.testing.assert_allclose(blocks[w, 1], slope * w)             # min
        np.testing.assert_allclose(blocks[w, 2], slope * (w + 4))       # max
        np.testing.assert_allclose(blocks[w, 3], slope * (w + 2))       # median
        np.testing.assert_allclose(blocks[w, 4], slope * (w + 2))       # mean
        np.testing.assert_allclose(blocks[w, 5], 0, atol=1e-12)         # skew of a ramp
        np.testing.assert_allclose(blocks[w, 6], -1.3)                  # 6.8 / 2**2 - 3
        np.testing.assert_allclose(blocks[w, 7], slope)                 # delta mean
        np.testing.assert_allclose(blocks[w, 8], 0, atol=1e-12)         # delta var
        np.testing.assert_allclose(blocks[w, 9], 0, atol=1e-12)         # delta2 mean
        np.testing.assert_allclose(blocks[w, 10], 0, atol=1e-12)        # delta2 var


def test_constant_window_has_zero_skew_and_kurtosis():
    import torch

    S = window_statistics(torch.full((1, 2, 6), -100.0), context=5)[0].numpy()
    assert np.isfinite(S).all()
    np.testing.assert_array_equal(S.reshape(2, 11, 2)[:, 5:7], 0)


def test_silence_gives_exact_features_whatever_shares_its_batch(rng):
    """Digital silence is a constant -100 dB log-mel frame: MFCC 1-24 and every statistic but
    those of MFCC 0 are exactly 0 (the DCT rows 1-24 sum to 0), alone or beside other clips,
    in batches of any size. Computed as a plain matrix product, the -100 dB offsets cancel
    only up to round-off (1.4e-5 here), which changes with the BLAS kernel that a batch size
    selects (AVX-512 machines: 3.1e-6 in one batch, 0 in another)."""
    X = np.concatenate([np.zeros((1, SR), np.float32), _signals(rng, seconds=1.0)])
    alone = MFCCStats().fit_transform(X[:1])[0].reshape(-1, 11, 25)
    assert np.isfinite(alone).all()
    np.testing.assert_array_equal(alone[:, :, 1:], 0.0)
    np.testing.assert_allclose(alone[:, 0:5, 0], -100 * np.sqrt(40), rtol=1e-6)
    np.testing.assert_array_equal(alone[:, 5:, 0], 0.0)  # moments of a constant
    for batch_size in (1, 3, 4):
        batch = MFCCStats(batch_size=batch_size).fit_transform(X)[0].reshape(-1, 11, 25)
        np.testing.assert_array_equal(batch, alone)


def test_feature_names_and_frame_count():
    est = MFCCStats()
    names = est.get_feature_names_out()
    assert len(names) == 275 and len(set(names)) == 275
    assert names[125] == "mfcc0_skew" and names[150] == "mfcc0_kurtosis"
    n = 2 * SR
    F = est.transform(np.zeros((1, n), dtype=np.float32) + 0.1)
    assert F.shape[1] == (1 + n // 235) - 4


def test_window_statistics_do_not_depend_on_the_rest_of_the_clip(rng):
    """No clip-relative dB floor: loudening the second half leaves the first half alone."""
    y = 0.01 * rng.standard_normal(2 * SR).astype(np.float32)
    loud = y.copy()
    loud[SR:] *= 1000.0
    A, B = MFCCStats().transform(np.stack([y, loud]))
    first = (SR - 512) // 235 - 4  # windows whose frames end before the change
    np.testing.assert_allclose(A[:first], B[:first], atol=1e-3)
    assert not np.allclose(A[-10:], B[-10:], atol=1.0)


def test_mfcc_input_errors():
    with pytest.raises(ValueError, match="too short.*MFCCStats"):
        MFCCStats().transform(np.zeros((1, 300), dtype=np.float32))
    with pytest.raises(ValueError, match="n_mfcc=41 cannot exceed n_mels=40"):
        MFCCStats(n_mfcc=41).fit()
    X = np.zeros((1, SR), dtype=np.float32)
    X[0, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MFCCStats().transform(X)
    with pytest.raises(ValueError, match="window_seconds"):
        MFCCStats(window_seconds=-1).fit()


@pytest.mark.parametrize("hop", [None, 512])
def test_logmel_matches_librosa(rng, hop):
    X = _signals(rng, seconds=3.0)
    est = LogMelPatches(segment_seconds=1.0) if hop is None else LogMelPatches(hop_length=hop)
    hop = hop or 256  # the default
    P = est.fit_transform(X)
    f = est.frames_per_segment
    assert f == round(SR / hop)
    assert P.shape == (3, 3, 128, f)
    for i in range(len(X)):
        S = librosa.power_to_db(
            librosa.feature.melspectrogram(y=X[i], sr=SR, n_fft=1024, hop_length=hop, n_mels=128),
            top_db=None)
        ref = np.stack([S[:, k * f:(k + 1) * f] for k in range(3)])
        np.testing.assert_allclose(P[i], ref, atol=0.01)  # dB


def test_logmel_patch_frames_and_too_short(rng):
    X = _signals(rng, n=2, seconds=4.0)
    # center=True: 1 + 88200 // hop frames -> 345 at hop 256 (2 patches), 173 at 512 (1 patch)
    assert LogMelPatches(patch_frames=128).fit_transform(X).shape == (2, 2, 128, 128)
    P = LogMelPatches(patch_frames=128, hop_length=512).fit_transform(X)
    assert P.shape == (2, 1, 128, 128)
    with pytest.raises(ValueError, match="too short.*LogMelPatches"):
        LogMelPatches(segment_seconds=5.0).transform(X)


def test_cuda_request_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        LogMelPatches(device="cuda").transform(np.zeros((1, SR), dtype=np.float32))


@pytest.mark.parametrize("est", [MFCCStats(n_mfcc=13, context=3), LogMelPatches(n_mels=64)])
def test_transformers_clone_and_pickle(est, rng):
    X = _signals(rng, n=2)
    assert clone(est).get_params() == est.get_params()
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(X), est.transform(X))
    # stateless: transform works without fit and equals fit_transform
    np.testing.assert_array_equal(clone(est).fit_transform(X), est.transform(X))
