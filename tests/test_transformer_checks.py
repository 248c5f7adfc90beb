"""scikit-learn's common checks for the waveform transformers, and what they cannot reach.

The common checks feed clips of 1-10 samples. The spectral transformers run them at tiny
settings (a 2-sample window at 100 Hz), where each clip is long enough, so every check runs
for real. The expected failures left are structural, and strict (``xfail_strict``): the
transformers are stateless over clips of any length, so there is no ``n_features_in_`` for
``transform`` to enforce; and a 1-sample clip holds no analysis window. The INS needs
windows of at least 17 samples for its Hermite tapers, so it runs the checks that need no
data, and the explicit tests below cover, at real clip lengths and for all three
transformers, what the data checks would have tested. The deformations (waveforms in, every
variant out) run them too, at a 2-sample STFT; and MetricAugmentationSelector as a classifier,
with a stand-in metric.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_metricaudio import (AudioLoader, BackgroundNoise, DynamicRangeCompression,
                                 INSTransformer, LogMelPatches, MetricAugmentationSelector,
                                 MFCCStats, PitchShift, TimeStretch)

_STATELESS = "stateless over clips of any length: no n_features_in_ to enforce"
_ONE_SAMPLE = "a 1-sample clip holds no analysis window (the error says 'too short')"


def _expected_failures(estimator):
    failures = {"check_n_features_in_after_fitting": _STATELESS,
                "check_n_features_in": _STATELESS}
    if not isinstance(estimator, AudioLoader):
        failures["check_fit2d_1feature"] = _ONE_SAMPLE
    return failures


TINY_MFCC = MFCCStats(sr=100, window_seconds=0.02, n_mels=4, n_mfcc=2, context=3)
TINY_LOGMEL = LogMelPatches(sr=100, n_fft=2, hop_length=1, n_mels=1, patch_frames=1)


@parametrize_with_checks([AudioLoader(duration=None), AudioLoader(sr=10, duration=1.0),
                          TINY_MFCC, TINY_LOGMEL],
                         expected_failed_checks=_expected_failures)
@pytest.mark.filterwarnings("ignore:Empty filters detected")  # 1-2 FFT bins, 1-4 mel bands
def test_sklearn_common_checks(estimator, check):
    check(estimator)


_RANDOM_PER_POSITION = ("background offsets and SNRs are drawn per row of X, up front (so the "
                        "output is independent of batch_size); reordering rows reorders draws")


def _deformation_failures(estimator):
    failures = {"check_n_features_in_after_fitting": _STATELESS,
                "check_n_features_in": _STATELESS}
    if isinstance(estimator, (TimeStretch, PitchShift)):
        failures["check_fit2d_1feature"] = "a 1-sample clip is shorter than the STFT window"
    if isinstance(estimator, BackgroundNoise):
        failures["check_methods_sample_order_invariance"] = _RANDOM_PER_POSITION
        failures["check_methods_subset_invariance"] = _RANDOM_PER_POSITION
    return failures


# deformations at tiny settings: a 2-sample STFT, 100 Hz, a 7-sample background
@parametrize_with_checks([TimeStretch(n_fft=2, hop_length=1, sr=100),
                          PitchShift(n_fft=2, hop_length=1, sr=100),
                          DynamicRangeCompression(sr=100),
                          BackgroundNoise([np.linspace(-1, 1, 7)], sr=100, random_state=0)],
                         expected_failed_checks=_deformation_failures)
def test_deformations_pass_the_common_checks(estimator, check):
    check(estimator)


class _Identity(TransformerMixin, BaseEstimator):
    """A stand-in metric: the clips are their own embeddings."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X)


@parametrize_with_checks([MetricAugmentationSelector(
    LogisticRegression(), metric=_Identity(),
    deformations=[DynamicRangeCompression(presets=("radio",), sr=100)], n_splits=2,
    n_neighbors=1, sr=100, random_state=0)])
def test_selector_as_a_classifier_passes_the_common_checks(estimator, check):
    check(estimator)


_DATA_FREE_CHECKS = ["check_estimator_cloneable", "check_estimator_repr",
                     "check_no_attributes_set_in_init", "check_parameters_default_constructible",
                     "check_get_params_invariance", "check_set_params",
                     "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
                     "check_estimator_tags_renamed", "check_valid_tag_types",
                     "check_param_validation"]


@pytest.mark.parametrize("check", _DATA_FREE_CHECKS)
def test_ins_passes_the_common_checks_that_need_no_data(check):
    getattr(estimator_checks, check)("INSTransformer", INSTransformer(n_surrogates=5))


# ------------------------------------------------------------------ the same, at real lengths
SR = 22050
TRANSFORMERS = {
    "mfcc": lambda: MFCCStats(),
    "logmel": lambda: LogMelPatches(),
    "ins": lambda: INSTransformer(n_surrogates=3, random_state=0),
}


@pytest.fixture(params=list(TRANSFORMERS))
def transformer(request):
    return TRANSFORMERS[request.param]()


@pytest.fixture
def clips(transformer):
    """Three clips: 1 s (one log-mel segment), 0.3 s for the costlier INS."""
    n = int(0.3 * SR) if isinstance(transformer, INSTransformer) else SR
    rng = np.random.default_rng(1)
    t = np.arange(n) / SR
    chirp = np.sin(2 * np.pi * (200 * t + 900 * t ** 2))
    burst = chirp * (t > t[-1] / 2) + 0.01 * rng.standard_normal(n)
    return np.stack([chirp, rng.standard_normal(n), burst]).astype(np.float32)


def test_fit_is_idempotent_returns_self_and_leaves_params_alone(transformer, clips):
    params = transformer.get_params()
    assert transformer.fit(clips) is transformer
    first = transformer.transform(clips)
    transformer.fit(clips)
    np.testing.assert_array_equal(transformer.transform(clips), first)
    assert transformer.get_params() == params
    np.testing.assert_array_equal(clone(transformer).fit_transform(clips), first)


def test_pickle_memmap_and_layouts_give_the_same_features(transformer, clips, tmp_path):
    expected = transformer.fit(clips).transform(clips)
    again = pickle.loads(pickle.dumps(transformer))
    np.testing.assert_array_equal(again.transform(clips), expected)
    path = tmp_path / "clips.npy"
    np.save(path, clips)
    np.testing.assert_array_equal(transformer.transform(np.load(path, mmap_mode="r")), expected)
    np.testing.assert_array_equal(transformer.transform(np.asfortranarray(clips)), expected)
    np.testing.assert_array_equal(transformer.transform(clips.tolist()), expected)


def test_dtypes_float64_and_integer_pcm(transformer, clips):
    expected = transformer.transform(clips)
    np.testing.assert_allclose(transformer.transform(clips.astype(np.float64)), expected,
                               rtol=1e-4, atol=1e-3)
    # integer arrays are PCM samples, scaled as AudioLoader scales them (int16 by 32768)
    pcm = np.round(clips / np.abs(clips).max() * 20000).astype(np.int16)
    np.testing.assert_allclose(transformer.transform(pcm), transformer.transform(pcm / 32768.0),
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(transformer.transform(pcm),
                               transformer.transform(AudioLoader(duration=None).transform(pcm)),
                               rtol=1e-5, atol=1e-4)
    # int64 (Python ints, np.random.integers) is no PCM format: scaled as such, with a warning
    with pytest.warns(UserWarning, match=r"int64 are no PCM format.*divided by 2\*\*63"):
        transformer.transform(pcm.astype(np.int64))


def test_order_and_subsets_of_clips_do_not_matter(transformer, clips):
    full = transformer.transform(clips)
    np.testing.assert_allclose(transformer.transform(clips[::-1]), full[::-1], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(transformer.transform(clips[1:2]), full[1:2], rtol=1e-5,
                               atol=1e-5)


def test_bad_input_is_refused_with_a_clear_message(transformer, clips):
    with pytest.raises(ValueError, match="0 sample"):
        transformer.fit(clips[:0])
    with pytest.raises(ValueError, match="Complex data not supported"):
        transformer.fit(clips.astype(np.complex64))
    with pytest.raises(ValueError, match="Expected 2D array"):
        transformer.fit(clips[0])
    with pytest.raises(TypeError, match="Sparse data"):
        transformer.fit(scipy.sparse.csr_matrix(clips))
    bad = clips.copy()
    bad[1, 7] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        transformer.transform(bad)
    with pytest.raises(ValueError, match="too short"):
        transformer.transform(clips[:, :100])
    # file names, in the containers a data set's Bunch and users hand over
    names = ["a.wav", "b.wav"]
    for X in (names, np.asarray(names, dtype=object), np.asarray(names)):
        with pytest.raises(ValueError, match="got file names: put an AudioLoader before it"):
            transformer.transform(X)


def test_set_output_only_where_the_output_is_a_table():
    """A DataFrame holds 2-D data: the 3-D and 4-D outputs (MFCC statistics per window,
    log-mel patches) offer no ``set_output``; the INS (clips x scales) does."""
    clips = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32)
    for est in (MFCCStats(), LogMelPatches(), TimeStretch()):
        assert est.fit(clips).transform(clips).ndim > 2
        assert not hasattr(est, "set_output"), type(est).__name__
    ins = INSTransformer(n_surrogates=3, random_state=0)
    assert ins.fit(clips[:, :6615]).transform(clips[:, :6615]).ndim == 2
    assert ins.set_output(transform="default") is ins
