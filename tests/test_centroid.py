"""CentroidClassifier: common checks, hand computations, enrollment."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_metricaudio import CentroidClassifier


@parametrize_with_checks([CentroidClassifier(metric="euclidean"), CentroidClassifier()])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def test_hand_computed_cosine_decision():
    # clip 0: class a, segments (1, 0), (0, 1) -> normalised mean (0.5, 0.5)
    X = np.array([[[1.0, 0.0], [0.0, 2.0]],
                  [[-1.0, 0.0], [-3.0, 0.0]]])
    clf = CentroidClassifier().fit(X, ["a", "b"])
    np.testing.assert_allclose(clf.centroids_, [[0.5, 0.5], [-1.0, 0.0]])
    # test clip with segments (1, 1) and (0, 1): cosine distances to a: 1 - 1 = 0, 1 - 1/sqrt2
    d = clf.mean_distances(np.array([[[1.0, 1.0], [0.0, 1.0]]]))
    np.testing.assert_allclose(d[0, 0], (0 + (1 - 1 / np.sqrt(2))) / 2)
    np.testing.assert_allclose(d[0, 1], ((1 + 1 / np.sqrt(2)) + 1) / 2)
    assert clf.predict(np.array([[[1.0, 1.0], [0.0, 1.0]]])).tolist() == ["a"]
    p = clf.predict_proba(np.array([[[1.0, 1.0], [0.0, 1.0]]]))
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert p[0, 0] > p[0, 1]


def test_euclidean_is_mean_segment_distance():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3, 4))
    y = np.repeat([0, 1], 5)
    clf = CentroidClassifier(metric="euclidean").fit(X, y)
    cents = np.stack([X[y == k].reshape(-1, 4).mean(0) for k in (0, 1)])
    T = rng.normal(size=(4, 3, 4))
    ref = np.linalg.norm(T[:, :, None, :] - cents[None, None], axis=-1).mean(1)
    np.testing.assert_allclose(clf.mean_distances(T), ref)
    np.testing.assert_allclose(clf.decision_function(T), ref[:, 0] - ref[:, 1])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_enroll_equals_fitting_on_everything(metric):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 2, 5))
    y = np.array(list("aabbccaabbcd"))
    full = CentroidClassifier(metric).fit(X, y)
    part = CentroidClassifier(metric).fit(X[:6], y[:6]).enroll(X[6:], y[6:])
    assert part.classes_.tolist() == ["a", "b", "c", "d"]
    np.testing.assert_allclose(part.centroids_, full.centroids_)
    np.testing.assert_array_equal(part.predict(X), full.predict(X))


def test_enroll_unseen_allowed_score_unseen_refused():
    X = np.array([[[1.0, 0.0]], [[0.0, 1.0]], [[-1.0, 0.0]]])
    clf = CentroidClassifier().fit(X[:2], [0, 1])
    with pytest.raises(ValueError, match=r"label\(s\) \[2\].*enroll them first"):
        clf.score(X, [0, 1, 2])
    clf.enroll(X[2:], [2])
    assert clf.score(X, [0, 1, 2]) == 1.0


def test_bad_input():
    clf = CentroidClassifier()
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(np.ones((3, 2, 4)), [1, 1, 1])
    with pytest.raises(ValueError, match="4-D"):
        clf.fit(np.ones((3, 2, 4, 1)), [0, 1, 1])
    X = np.ones((3, 2, 4))
    X[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(X, [0, 1, 1])
    fitted = CentroidClassifier().fit(np.random.default_rng(0).normal(size=(4, 2, 4)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="expecting 4 features"):
        fitted.enroll(np.ones((1, 2, 3)), [5])
