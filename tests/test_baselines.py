"""GaussianMixtureClassifier and SegmentAggregateClassifier: common checks and the 3-D path."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_metricaudio import GaussianMixtureClassifier, SegmentAggregateClassifier


@parametrize_with_checks([
    GaussianMixtureClassifier(n_components=1, random_state=0),
    SegmentAggregateClassifier(),
    SegmentAggregateClassifier(LogisticRegression()),
])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def _clips(rng, n_per_class=12, frames=15, n_features=4, shift=2.5):
    X = np.concatenate([rng.normal(k * shift, 1.0, (n_per_class, frames, n_features))
                        for k in range(3)])
    y = np.repeat(np.array(["a", "b", "c"]), n_per_class)
    return X, y


def test_gmm_clip_decision_is_summed_frame_log_likelihood(rng):
    X, y = _clips(rng)
    X = X + rng.normal(0, 3.0, X.shape)  # overlap the classes so decisions are not trivial
    clf = GaussianMixtureClassifier(n_components=2, covariance_type="full", random_state=0)
    clf.fit(X, y)
    # independent recomputation: one GaussianMixture per class refitted with the seeds the
    # classifier drew, then argmax of summed frame log-likelihoods per clip
    summed = np.stack([
        np.array([g.score_samples(clip).sum() for clip in X])
        for g in (GaussianMixture(2, covariance_type="full", reg_covar=1e-3,
                                  random_state=m.random_state).fit(X[y == c].reshape(-1, 4))
                  for c, m in zip(clf.classes_, clf.gmms_))
    ], axis=1)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[summed.argmax(1)])
    np.testing.assert_allclose(clf.score_samples(X), summed, rtol=1e-8)
    post = clf.predict_proba(X)
    np.testing.assert_allclose(post.sum(1), 1.0)
    np.testing.assert_array_equal(post.argmax(1), summed.argmax(1))


def test_segment_aggregate_is_mean_frame_decision(rng):
    X, y = _clips(rng)
    X = X + rng.normal(0, 3.0, X.shape)
    clf = SegmentAggregateClassifier(LinearSVC(random_state=0)).fit(X, y)
    ref = LinearSVC(random_state=0).fit(X.reshape(-1, 4), np.repeat(y, 15))
    mean_dec = ref.decision_function(X.reshape(-1, 4)).reshape(len(X), 15, 3).mean(1)
    np.testing.assert_allclose(clf.decision_function(X), mean_dec, rtol=1e-10)
    np.testing.assert_array_equal(clf.predict(X), ref.classes_[mean_dec.argmax(1)])
    assert not hasattr(clf, "predict_proba")
    proba = SegmentAggregateClassifier(LogisticRegression()).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)


@pytest.mark.parametrize("clf", [GaussianMixtureClassifier(n_components=2, random_state=0),
                                 SegmentAggregateClassifier(max_frames_per_clip=10, random_state=0)])
def test_3d_path_learns_and_round_trips(clf, rng, tmp_path):
    X, y = _clips(rng)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    assert clone(clf).get_params() == clf.get_params()
    fitted = clf.fit(X, y)
    assert fitted.score(X, y) == 1.0 and fitted.n_features_in_ == 4
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.decision_function(X), fitted.decision_function(X))
    joblib.dump(fitted, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict(X), fitted.predict(X))
    # same random_state, same model
    np.testing.assert_array_equal(clone(clf).fit(X, y).decision_function(X),
                                  fitted.decision_function(X))


def test_default_frame_model_is_the_papers_scaled_svm():
    est = SegmentAggregateClassifier().fit(*_clips(np.random.default_rng(0)))
    scaler, svm = est.estimator_[0], est.estimator_[-1]
    assert type(scaler).__name__ == "StandardScaler"
    assert isinstance(svm, LinearSVC) and svm.C == 0.01


def test_an_unscaled_linear_model_on_wildly_scaled_frames_gets_a_warning(rng):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _clips(rng)
    wild = X * np.array([1.0, 1e2, 1e4, 1.0])  # variance columns of MFCC statistics reach 5e4
    from sklearn.decomposition import PCA
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import FunctionTransformer

    for unscaled in (LinearSVC(), OneVsRestClassifier(LinearSVC()),
                     make_pipeline(PCA(2), LinearSVC()),
                     make_pipeline(FunctionTransformer(), LinearSVC())):
        with pytest.warns(UserWarning, match=r"unscaled frames .*1e\+04x.*StandardScaler"):
            SegmentAggregateClassifier(unscaled).fit(wild, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SegmentAggregateClassifier(make_pipeline(StandardScaler(), LinearSVC())).fit(wild, y)
        SegmentAggregateClassifier(LinearSVC()).fit(X, y)                    # similar scales
        SegmentAggregateClassifier(DecisionTreeClassifier()).fit(wild, y)    # scale-free model


def test_gmm_too_few_frames_names_the_class(rng):
    X, y = _clips(rng, n_per_class=1, frames=3)
    with pytest.raises(ValueError, match="class 'a' has 3 training frames, fewer than n_components=32"):
        GaussianMixtureClassifier().fit(X, y)


def test_frame_subsampling_is_seeded(rng):
    X, y = _clips(rng)
    a = SegmentAggregateClassifier(max_frames_per_clip=3, random_state=1).fit(X, y)
    b = SegmentAggregateClassifier(max_frames_per_clip=3, random_state=1).fit(X, y)
    c = SegmentAggregateClassifier(max_frames_per_clip=3, random_state=2).fit(X, y)
    coef = [m.estimator_[-1].coef_ for m in (a, b, c)]  # default: StandardScaler + LinearSVC
    np.testing.assert_array_equal(coef[0], coef[1])
    assert not np.array_equal(coef[0], coef[2])


def test_gmm_survives_repeated_frames_in_float32(rng):
    """Real recordings hold digital silence: many identical frames must not break EM."""
    X, y = _clips(rng, n_per_class=6, frames=40, n_features=6)
    X = X.astype(np.float32)
    # three quarters of every clip is the same "silent" frame, at the scale of MFCC0 of digital
    # silence (-100 dB * sqrt(40) ~ -632): float32 EM rounds such a component's variance < 0
    X[:, 10:, :] = np.array([-632.5, 3.1, -2.7, 150.2, 0.3, 1e3], dtype=np.float32)
    clf = GaussianMixtureClassifier(n_components=8, random_state=0).fit(X, y)
    assert np.isfinite(clf.decision_function(X)).all()
    assert clf.score(X, y) == 1.0
