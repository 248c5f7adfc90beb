"""INSTransformer: the Index of Non-Stationarity against oracles and an independent implementation.

Signals are short (0.25-0.5 s at 8 kHz) and surrogates few where the property allows, so the
file runs in seconds. Every random quantity is seeded, so each figure below is deterministic.
"""

import pickle

import numpy as np
import pytest
import scipy.signal
import scipy.special
import scipy.stats
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import clone

from sklearn_metricaudio.evaluation import format_ins_table, plot_ins
from sklearn_metricaudio.features.ins import (INSTransformer, default_scales,
                                              draw_surrogate_phases, hermite_tapers)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 8000


def _t(n=4000):
    return np.arange(n) / SR


def _chirp(seed, n=4000):
    t, rng = _t(n), np.random.default_rng(seed)
    return np.sin(2 * np.pi * (100 * t + 3000 * t ** 2)) + 0.01 * rng.standard_normal(n)


def _burst(seed, n=4000):
    t, rng = _t(n), np.random.default_rng(seed)
    return rng.standard_normal(n) * (np.abs(t - t[-1] / 2) < 0.05)


def _fm(seed, fm=12.0, dev=600.0, n=4000):
    """Sinusoidal FM around 1.5 kHz, +-dev Hz at fm Hz, with a weak noise floor."""
    t, rng = _t(n), np.random.default_rng(seed)
    phase0 = rng.uniform(0, 2 * np.pi)
    return (np.sin(2 * np.pi * 1500 * t + dev / fm * np.sin(2 * np.pi * fm * t + phase0))
            + 0.05 * rng.standard_normal(n))


# ----------------------------------------------------------------------------- tapers
@pytest.mark.parametrize("n", [17, 19, 101, 881, 4715])
def test_hermite_tapers_orthonormal(n):
    h = hermite_tapers(n, 5)
    assert h.shape == (5, n)
    gram_error = np.abs(h @ h.T - np.eye(5)).max()
    assert gram_error < (1e-6 if n == 17 else 5e-8)   # sampling, truncation at +-5
    for k in range(5):                                  # even, odd, even, ...
        np.testing.assert_allclose(h[k][::-1], (-1) ** k * h[k], atol=1e-12)
    # the definition, written independently: H_k(t) exp(-t^2/2) on [-5, 5], unit norm
    t = np.linspace(-5, 5, n)
    ref = np.stack([scipy.special.eval_hermite(k, t) * np.exp(-t * t / 2) for k in range(5)])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(h, ref, atol=1e-12)


# ----------------------------------------------------------------------------- reference
def _reference_thetas(x, scales, phases, K=5, floor=1e-10):
    """Straightforward per-surrogate numpy/scipy implementation of the authors' steps."""
    x = np.asarray(x, dtype=np.float64)
    x = (x - x.mean()) / x.std(ddof=1)
    N = x.size
    X = np.fft.fft(x)
    signals = [scipy.signal.hilbert(x)]
    for ph in phases:                                   # the authors' phasemodul
        A = np.zeros(N)
        A[1:(N + 1) // 2] = np.abs(X[1:(N + 1) // 2])
        phase = np.zeros(N)
        phase[1:(N + 1) // 2] = ph
        signals.append(scipy.signal.hilbert(np.real(np.fft.ifft(2 * A * np.exp(1j * phase)))))
    thetas = np.empty((len(scales), len(signals)))
    for s, scale in enumerate(scales):
        Nh = 2 * int(np.floor(N * scale / 2 + 0.5)) - 1
        M = 1 << (Nh - 1).bit_length()
        hop = (Nh + 1) // 8
        t = np.linspace(-5, 5, Nh)
        h = np.stack([scipy.special.eval_hermite(k, t) * np.exp(-t * t / 2) for k in range(K)])
        h /= np.linalg.norm(h, axis=1, keepdims=True)
        for j, z in enumerate(signals):
            frames = sliding_window_view(z, Nh)[::hop]  # fully inside the clip
            S = np.mean([np.abs(np.fft.fft(frames * h[k], n=M, axis=-1)[:, :M // 2]) ** 2
                         for k in range(K)], axis=0)
            S = np.maximum(S, floor)
            mean = S.mean(axis=0)
            p, q = S / S.sum(axis=1, keepdims=True), mean / mean.sum()
            log_ratio = np.log(S / mean)
            c = ((p - q) * log_ratio).sum(axis=1) * (1 + np.abs(log_ratio).sum(axis=1))
            thetas[s, j] = np.var(c, ddof=1)
    return thetas


def test_batched_path_equals_per_surrogate_reference():
    X = np.stack([np.random.default_rng(3).standard_normal(2000), _fm(0, n=2000)])
    J = 8
    phases = draw_surrogate_phases(X.shape[1], J, random_state=11)
    scales = [0.01, 0.05, 0.2, 0.5]
    d = INSTransformer(scales=scales, n_surrogates=J, sr=SR).transform_details(
        X, surrogate_phases=phases)
    for i in range(len(X)):
        th = _reference_thetas(X[i], scales, phases)
        # float32 FFTs against float64: agreement to a few 1e-6
        np.testing.assert_allclose(d.theta[i], th[:, 0], rtol=2e-5)
        np.testing.assert_allclose(d.theta_surrogates[i], th[:, 1:], rtol=2e-5)
        mean = th[:, 1:].mean(axis=1)
        np.testing.assert_allclose(d.ins[i], np.sqrt(th[:, 0] / mean), rtol=2e-5)
    # the chunking does not change the result
    for batch_size in (1, 4):
        d2 = INSTransformer(scales=scales, n_surrogates=J, sr=SR,
                            batch_size=batch_size).transform_details(X, surrogate_phases=phases)
        np.testing.assert_allclose(d2.theta_surrogates, d.theta_surrogates, rtol=1e-5)


def test_gamma_threshold_matches_scipy_fit():
    x = np.random.default_rng(0).standard_normal((1, 2000))
    d = INSTransformer(n_surrogates=20, sr=SR, random_state=0).transform_details(x)
    for s in range(len(d.scales)):
        theta_s = d.theta_surrogates[0, s]
        shape, loc, scale = scipy.stats.gamma.fit(theta_s, floc=0)
        assert loc == 0
        np.testing.assert_allclose([d.gamma_shape[0, s], d.gamma_scale[0, s]], [shape, scale],
                                   rtol=1e-12)
        gamma = scipy.stats.gamma.ppf(0.95, shape, scale=scale)
        np.testing.assert_allclose(d.threshold[0, s], np.sqrt(gamma / theta_s.mean()),
                                   rtol=1e-12)
        np.testing.assert_allclose(d.ins[0, s], np.sqrt(d.theta[0, s] / theta_s.mean()),
                                   rtol=1e-12)
        assert d.nonstationary[0, s] == (d.ins[0, s] > d.threshold[0, s])
    # alpha moves the threshold the right way
    d01 = INSTransformer(n_surrogates=20, sr=SR, random_state=0, alpha=0.01).transform_details(x)
    assert np.all(d01.threshold > d.threshold)
    np.testing.assert_array_equal(d01.ins, d.ins)


# ----------------------------------------------------------------------------- oracles
def test_white_noise_is_stationary_and_near_one():
    # 24 clips x 8 scales = 192 decisions; the nominal false-alarm rate is 5 % per scale
    X = np.random.default_rng(2024).standard_normal((24, 2000))
    d = INSTransformer(n_surrogates=30, sr=SR, random_state=0).transform_details(X)
    assert 0.85 < np.median(d.ins) < 1.15                      # observed 0.95
    assert d.threshold.min() > 1.0 and d.threshold.max() < 2.0  # observed 1.18-1.50
    assert d.nonstationary.mean() <= 0.12                      # observed 0.052 (10/192)
    flagged = d.nonstationary.sum(axis=1)
    assert np.mean(flagged <= 2) >= 0.9                        # stationary at most scales
    assert np.all(d.max_ins < 2.5)


@pytest.mark.parametrize("make", [_chirp, _burst], ids=["chirp", "burst"])
def test_chirp_and_burst_are_nonstationary_at_every_scale(make):
    X = np.stack([make(seed) for seed in range(3)])
    d = INSTransformer(n_surrogates=20, sr=SR, random_state=0).transform_details(X)
    assert d.nonstationary.all()
    assert d.is_nonstationary.all()
    assert np.all(d.ins > 10 * d.threshold)                    # observed >= 43x
    assert np.all(d.ins > 20)                                  # observed 55-13485


def test_sinusoidal_fm_peaks_at_intermediate_scales():
    X = np.stack([_fm(seed) for seed in range(3)])
    d = INSTransformer(n_surrogates=20, sr=SR, random_state=0).transform_details(X)
    n_scales = len(d.scales)
    assert np.all((d.max_index > 0) & (d.max_index < n_scales - 1))
    assert np.all(d.max_ins > 5 * d.ins[:, 0])                 # observed 12x
    assert np.all(d.max_ins > 5 * d.ins[:, -1])                # observed 17x
    # the peak moves to shorter windows when the modulation is faster
    slow = INSTransformer(n_surrogates=20, sr=SR, random_state=0).transform_details(
        np.stack([_fm(0, fm=4.0), _fm(0, fm=16.0)]))
    assert slow.max_scale[0] > slow.max_scale[1]


def test_gain_invariance_and_reproducibility():
    x = _fm(1, n=2000)
    est = INSTransformer(n_surrogates=10, sr=SR, random_state=5)
    ref = est.transform(x[None])
    for gain in (1e-4, 0.3, 1e3):
        np.testing.assert_allclose(est.transform((gain * x)[None]), ref, rtol=1e-5)
    np.testing.assert_array_equal(est.transform(x[None]), ref)           # same random_state
    assert not np.allclose(INSTransformer(n_surrogates=10, sr=SR, random_state=6)
                           .transform(x[None]), ref, rtol=1e-6)
    # a clip's result does not depend on the other clips in X, nor on its position
    X = np.stack([np.random.default_rng(0).standard_normal(2000), x.astype(np.float32)])
    both = est.transform(X)
    np.testing.assert_allclose(both[1], ref[0], rtol=1e-5)
    np.testing.assert_allclose(est.transform(X[::-1])[0], both[1], rtol=1e-5)


def test_random_state_accepts_generator_and_randomstate():
    x = np.random.default_rng(0).standard_normal((1, 2000))
    kw = dict(scales=[0.05], n_surrogates=5, sr=SR)
    a = INSTransformer(random_state=np.random.default_rng(3), **kw).transform(x)
    b = INSTransformer(random_state=np.random.default_rng(3), **kw).transform(x)
    np.testing.assert_array_equal(a, b)
    rs = np.random.RandomState(0)
    c1 = INSTransformer(random_state=rs, **kw).transform(x)
    assert np.isfinite(c1).all()
    phases = draw_surrogate_phases(2000, 5, 7)
    assert phases.shape == (5, 999) and phases.min() >= 0 and phases.max() < 2 * np.pi
    np.testing.assert_array_equal(phases, draw_surrogate_phases(2000, 5, 7))


# ----------------------------------------------------------------------------- bad input
def test_bad_input_errors():
    x = np.random.default_rng(0).standard_normal((2, 2000))
    est = INSTransformer(n_surrogates=5, sr=SR)
    with pytest.raises(ValueError, match=r"clip\(s\) \[1\] of X are constant"):
        est.transform(np.stack([x[0], np.zeros(2000)]))
    with pytest.raises(ValueError, match="constant"):
        est.transform(np.full((1, 2000), 0.5, dtype=np.float32))
    bad = x.copy()
    bad[0, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.transform(bad)
    bad[0, 10] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.transform(bad)
    # 800 samples: the smallest default scale 0.01 gives a 7-sample window
    with pytest.raises(ValueError, match=r"too short for scale 0.01.*at least 1700 samples"):
        est.transform(x[:, :800])
    with pytest.raises(ValueError, match="at least 1700 samples"):
        est.fit(x[:, :1699])
    est.fit(x[:, :1700])
    for scales in ([0.0, 0.1], [0.1, 1.0], [-0.2], [1.5], [0.1, np.nan]):
        with pytest.raises(ValueError, match=r"scales must lie in \(0, 1\)"):
            INSTransformer(scales=scales).fit()
    with pytest.raises(ValueError, match="non-empty"):
        INSTransformer(scales=[]).fit()
    with pytest.raises(ValueError, match="leaves 1 analysis frame"):
        INSTransformer(scales=[0.95], n_surrogates=5, sr=SR).transform(x)
    for bad_j in (1, 0, -3):
        with pytest.raises(ValueError, match="n_surrogates"):
            INSTransformer(n_surrogates=bad_j).fit()
    for bad_alpha in (0, 1, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            INSTransformer(alpha=bad_alpha).fit()
    with pytest.raises(ValueError, match="n_tapers"):
        INSTransformer(n_tapers=0).fit()
    with pytest.raises(ValueError, match="AudioLoader"):
        est.transform(["a.wav", "b.wav"])
    with pytest.raises(ValueError, match="surrogate_phases"):
        est.transform_details(x, surrogate_phases=np.zeros((5, 10)))
    with pytest.raises(ValueError, match="device"):
        INSTransformer(device="tpu").transform(x)


def test_more_tapers_need_longer_windows():
    x = np.random.default_rng(0).standard_normal((1, 2000))
    scales = [0.0085, 0.1]                                # a 17-sample window at 0.0085
    INSTransformer(scales=scales, n_tapers=5, n_surrogates=3, sr=SR).transform(x)
    with pytest.raises(ValueError, match="would hold 17 samples, and at least 19 are needed for "
                                         "8 Hermite tapers"):
        INSTransformer(scales=scales, n_tapers=8, n_surrogates=3, sr=SR).transform(x)


# ----------------------------------------------------------------------------- sklearn API
def test_sklearn_api_clone_params_pickle():
    est = INSTransformer(scales=[0.02, 0.2], n_surrogates=6, sr=SR, random_state=1)
    params = est.get_params()
    assert params == {"scales": [0.02, 0.2], "n_surrogates": 6, "n_tapers": 5, "alpha": 0.05,
                      "sr": SR, "device": "cpu", "batch_size": None, "random_state": 1}
    c = clone(est)
    assert c is not est and c.get_params() == params
    c.set_params(n_surrogates=7)
    assert est.n_surrogates == 6
    x = np.random.default_rng(0).standard_normal((2, 2000)).astype(np.float32)
    out = est.fit_transform(x)
    assert out.shape == (2, 2) and out.dtype == np.float64
    np.testing.assert_array_equal(est.scales_, [0.02, 0.2])
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.transform(x), out)
    np.testing.assert_array_equal(restored.scales_, est.scales_)
    assert est.get_feature_names_out().tolist() == ["ins_0.02", "ins_0.2"]
    assert INSTransformer().fit().scales_.shape == (8,)
    np.testing.assert_allclose(INSTransformer().fit().scales_, default_scales())


def test_transform_uses_the_fitted_scales():
    x = np.random.default_rng(0).standard_normal((1, 2000))
    est = INSTransformer(scales=[0.02, 0.2], n_surrogates=4, sr=SR, random_state=0).fit(x)
    fitted = est.transform(x)
    est.set_params(scales=[0.1])               # takes effect at the next fit, not before
    np.testing.assert_array_equal(est.transform(x), fitted)
    assert est.get_feature_names_out().tolist() == ["ins_0.02", "ins_0.2"]
    assert est.fit(x).transform(x).shape == (1, 1)
    # unfitted, the transformer is stateless and reads the parameter
    assert INSTransformer(scales=[0.1], n_surrogates=4, sr=SR).transform(x).shape == (1, 1)


def test_in_a_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = np.stack([np.random.default_rng(0).standard_normal(2000), _chirp(0, n=2000)])
    pipe = make_pipeline(INSTransformer(scales=[0.05, 0.2], n_surrogates=6, sr=SR,
                                        random_state=0),
                         FunctionTransformer(np.log))
    out = pipe.fit_transform(X)
    assert out.shape == (2, 2) and out[1].min() > out[0].max()


# The scikit-learn common checks for INSTransformer live in tests/test_transformer_checks.py,
# with the other waveform transformers.


# ----------------------------------------------------------------------------- reporting
def test_format_table_and_plot(tmp_path):
    X = np.stack([np.random.default_rng(0).standard_normal(2000), _chirp(0, n=2000)])
    d = INSTransformer(scales=[0.02, 0.1, 0.4], n_surrogates=8, sr=SR,
                       random_state=0).transform_details(X)
    table = format_ins_table(d, index=1)
    lines = table.splitlines()
    assert lines[0].split() == ["scale", "T_h", "(ms)", "INS", "threshold", "verdict"]
    assert len(lines) == 1 + 3 + 1
    assert all(line.endswith("non-stationary") for line in lines[1:4])
    assert "0.0200" in lines[1] and f"{d.window_ms[0]:.1f}" in lines[1]
    assert lines[-1].startswith("max INS") and "non-stationary" in lines[-1]
    np.testing.assert_allclose(d.window_ms, 1000 * d.window_length / SR)
    np.testing.assert_array_equal(d.window_length, [39, 199, 799])
    png = plot_ins(X, SR, d, tmp_path / "fig" / "ins.png", index=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in png.parent.iterdir()) == ["ins.png"]   # no temp file left


def test_cuda_matches_cpu():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X = np.stack([_fm(0, n=2000), np.random.default_rng(0).standard_normal(2000)])
    kw = dict(n_surrogates=10, sr=SR, random_state=0)
    cpu = INSTransformer(**kw).transform_details(X)
    gpu = INSTransformer(device="cuda", **kw).transform_details(X)
    np.testing.assert_allclose(gpu.theta_surrogates, cpu.theta_surrogates, rtol=1e-4)
    np.testing.assert_allclose(gpu.ins, cpu.ins, rtol=1e-4)
