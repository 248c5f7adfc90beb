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
def test_segment_mask_averages_only_the_marked_segments(metric):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(12, 4, 5)), np.repeat([0, 1, 2], 4)
    clf = CentroidClassifier(metric=metric).fit(X, y)
    T = rng.normal(size=(6, 4, 5))
    mask = rng.random((6, 4)) < 0.5
    mask[0] = False   # no segment marked: the clip counts all of them
    mask[1] = True
    got = clf.mean_distances(T, segment_mask=mask)
    for i in range(6):   # reference: the plain mean over the kept segments, one clip at a time
        kept = T[i][mask[i]] if mask[i].any() else T[i]
        np.testing.assert_allclose(got[i], clf.mean_distances(kept[None])[0])
    np.testing.assert_array_equal(clf.predict(T, segment_mask=mask), clf.classes_[got.argmin(1)])
    np.testing.assert_allclose(clf.decision_function(T, segment_mask=mask), -got)
    np.testing.assert_allclose(clf.mean_distances(T, segment_mask=np.ones((6, 4), bool)),
                               clf.mean_distances(T))
    with pytest.raises(ValueError, match="segment_mask must be a boolean array of shape"):
        clf.predict(T, segment_mask=mask[:, :3])
    with pytest.raises(ValueError, match="segment_mask must be a boolean array"):
        clf.predict(T, segment_mask=mask.astype(int))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_the_segment_mask_keeps_segments_out_of_fit_and_enroll_too(metric):
    """One rule for the segments that do not count (silence): in no centroid, in no clip's
    mean; a clip with none marked counts all of its segments. By hand: the centroids of a
    fit on the marked segments alone, each one a clip of its own."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(12, 4, 5)), np.repeat([0, 1, 2], 4)
    mask = rng.random((12, 4)) < 0.6
    mask[0] = False                      # counts all four
    kept = [(x[m] if m.any() else x, c) for x, m, c in zip(X, mask, y)]
    flat_X = np.concatenate([k for k, _ in kept])[:, None]
    flat_y = np.concatenate([[c] * len(k) for k, c in kept])
    by_hand = CentroidClassifier(metric=metric).fit(flat_X, flat_y)
    masked = CentroidClassifier(metric=metric).fit(X, y, segment_mask=mask)
    np.testing.assert_allclose(masked.centroids_, by_hand.centroids_)
    np.testing.assert_allclose(masked.counts_, by_hand.counts_)
    assert masked.temperature_ == pytest.approx(by_hand.temperature_)
    # enrolled in two steps, the same
    part = CentroidClassifier(metric=metric).fit(X[:6], y[:6], segment_mask=mask[:6])
    part.enroll(X[6:], y[6:], segment_mask=mask[6:])
    np.testing.assert_allclose(part.centroids_, masked.centroids_)
    assert not np.allclose(CentroidClassifier(metric=metric).fit(X, y).centroids_,
                           masked.centroids_)
    with pytest.raises(ValueError, match="segment_mask must be a boolean array of shape"):
        CentroidClassifier().fit(X, y, segment_mask=mask[:, :3])


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


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_enroll_updates_the_temperature_as_a_fit_on_everything(metric):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 3, 4))
    y = np.array(list("aabbccaabbdd"))
    full = CentroidClassifier(metric).fit(X, y)
    part = CentroidClassifier(metric).fit(X[:6], y[:6])
    before = part.temperature_
    part.enroll(X[6:], y[6:])
    assert part.temperature_ == pytest.approx(full.temperature_, rel=1e-12)
    assert part.temperature_ != pytest.approx(before)
    np.testing.assert_allclose(part.predict_proba(X), full.predict_proba(X), rtol=1e-12)


def test_temperature_is_the_spread_around_the_own_centroid_by_hand():
    X = np.array([[[3.0, 0.0], [0.0, 1.0]], [[-2.0, 0.0], [-1.0, 1.0]]])  # 2 clips x 2 segments
    cos = CentroidClassifier().fit(X, ["a", "b"])
    # class a: unit vectors (1, 0), (0, 1); centroid (0.5, 0.5); cosine distances 1 - 1/sqrt2
    # class b: (-1, 0), (-1, 1)/sqrt2; centroid direction at 157.5 deg; distances 1 - cos 22.5
    want = (2 * (1 - 1 / np.sqrt(2)) + 2 * (1 - np.cos(np.pi / 8))) / 4
    assert cos.temperature_ == pytest.approx(want)
    euc = CentroidClassifier(metric="euclidean").fit(X, ["a", "b"])
    # centroids (1.5, 0.5), (-1.5, 0.5); squared distances 2.5, 2.5, 0.5, 0.5 -> RMS sqrt(1.5)
    assert euc.temperature_ == pytest.approx(np.sqrt(1.5))


def test_enroll_checks_its_input():
    fitted = CentroidClassifier().fit(np.random.default_rng(0).normal(size=(4, 2, 4)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="expecting 4 features"):
        fitted.enroll(np.ones((1, 2, 3)), [5])
    with pytest.raises(ValueError, match="one label per clip"):
        fitted.enroll(np.ones((2, 2, 4)), [5])
    with pytest.raises(ValueError, match="cannot be compared"):
        fitted.enroll(np.ones((1, 2, 4)), ["x"])
    with pytest.raises(ValueError, match="has no segments"):
        fitted.enroll(np.ones((1, 0, 4)), [5])
    # one new class at a time is fine, and scoring it afterwards counts it
    X = np.array([[[1.0, 0.0]], [[0.0, 1.0]], [[-1.0, 0.0]]])
    clf = CentroidClassifier().fit(X[:2], [0, 1])
    assert clf.score(X, [0, 1, 2]) == pytest.approx(2 / 3)  # the unseen clip is simply wrong
    assert clf.enroll(X[2:], [2]).score(X, [0, 1, 2]) == 1.0


# ---------------------------------------------------------------------- open-set rejection
def _blobs(rng, centre, n, spread=0.1, segments=3):
    return np.asarray(centre) + spread * rng.standard_normal((n, segments, len(centre)))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_far_clips_are_unknown_and_known_ones_keep_their_label(metric):
    rng = np.random.default_rng(0)
    centres = {"a": [5.0, 0.0, 0.0], "b": [0.0, 5.0, 0.0]}
    train = {k: _blobs(rng, c, 20) for k, c in centres.items()}
    held_out = {k: _blobs(rng, c, 20) for k, c in centres.items()}   # for the threshold only
    test = {k: _blobs(rng, c, 20) for k, c in centres.items()}
    far = _blobs(rng, [0.0, 0.0, 5.0], 20)                             # a class never seen
    X = np.concatenate(list(train.values()))
    clf = CentroidClassifier(metric=metric).fit(X, np.repeat(["a", "b"], 20))
    assert clf.predict(far).dtype.kind == "U" and set(clf.predict(far)) <= {"a", "b"}
    calibration = np.concatenate(list(held_out.values()))
    assert clf.calibrate(calibration, true_accept=1.0) is clf
    # the threshold is the largest held-out distance: computed by hand from the held-out clips
    np.testing.assert_allclose(clf.threshold_, clf.mean_distances(calibration).min(1).max())
    assert clf.true_accept_ == 1.0
    assert clf.predict(far).tolist() == ["unknown"] * 20
    for label, clips in test.items():
        assert clf.predict(clips).tolist() == [label] * 20
    # the score: minus the smallest mean distance; far clips score below every known one
    assert clf.score_samples(far).max() < min(clf.score_samples(c).min() for c in test.values())


def test_calibrate_reaches_its_true_accept_rate_on_the_calibration_clips(rng):
    X = rng.standard_normal((200, 2, 4))
    clf = CentroidClassifier().fit(X[:100], np.repeat([0, 1], 50))
    clf.calibrate(X[100:], true_accept=0.9)
    distance = clf.mean_distances(X[100:]).min(1)
    # at least the target share, and no more than one clip's worth above it
    assert 0.9 <= np.mean(distance <= clf.threshold_) <= 0.9 + 1.5 / 100
    assert clf.true_accept_ == np.mean(distance <= clf.threshold_)
    # numeric labels: -1 for unknown, in the labels' dtype
    pred = clf.predict(X[100:])
    assert pred.dtype == clf.classes_.dtype and set(pred.tolist()) <= {-1, 0, 1}
    assert np.sum(pred == -1) == np.sum(distance > clf.threshold_)
    # predict_proba and decision_function stay closed-set
    np.testing.assert_allclose(clf.predict_proba(X[100:]).sum(1), 1.0)


def test_open_set_errors_and_labels():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    clf = CentroidClassifier(unknown_label="a").fit(X, ["a", "b"])
    with pytest.raises(ValueError, match="unknown_label='a' is one of the classes"):
        clf.calibrate(X)
    clf = CentroidClassifier().fit(X, ["a", "b"])
    for bad in (0, 1.5, "x"):
        with pytest.raises(ValueError, match="true_accept"):
            clf.calibrate(X, true_accept=bad)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CentroidClassifier().calibrate(X)
    # an unknown label of another type than the classes: object labels come out
    clf = CentroidClassifier(unknown_label="none").fit(X, [3, 4]).calibrate(X, true_accept=0.5)
    assert clf.predict([[-1.0, -1.0], [1.0, 0.0]]).tolist() == ["none", 3]
    # enrolling keeps the threshold; the new class is recognised
    clf = CentroidClassifier().fit(X, ["a", "b"]).calibrate(X * 0.9 + 0.05)
    clf.enroll([[-1.0, 0.0]], ["c"])
    assert clf.predict([[-2.0, 0.0], [0.0, -1.0]]).tolist() == ["c", "unknown"]


def test_missing_segments_are_left_out_as_a_mask_leaves_them():
    """A segment NaN throughout is missing: fit, enroll and every clip decision give what
    the same segments left out by ``segment_mask`` give (hand-checked reference: the mask)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 4, 5))
    y = np.repeat(["a", "b", "c"], 4)
    mask = rng.random((12, 4)) > 0.4
    mask[0] = False  # a clip with no segment marked counts all of them
    missing = np.where(mask[..., None] | ~mask.any(1)[:, None, None], X, np.nan)
    for metric in ("cosine", "euclidean"):
        ref = CentroidClassifier(metric=metric).fit(X[:8], y[:8], segment_mask=mask[:8])
        got = CentroidClassifier(metric=metric).fit(missing[:8], y[:8])
        np.testing.assert_allclose(got.centroids_, ref.centroids_)
        assert got.temperature_ == pytest.approx(ref.temperature_)
        ref.enroll(X[8:], y[8:], segment_mask=mask[8:])
        got.enroll(missing[8:], y[8:])
        np.testing.assert_allclose(got.centroids_, ref.centroids_)
        np.testing.assert_allclose(got.mean_distances(missing), ref.mean_distances(X, mask))
        np.testing.assert_allclose(got.predict_proba(missing), ref.predict_proba(X, mask))
        assert (got.predict(missing) == ref.predict(X, mask)).all()
        # a mask on top of missing segments: both rules at once
        assert np.allclose(got.mean_distances(missing, segment_mask=mask),
                           ref.mean_distances(X, mask))
    # leaving the missing segments in would have changed the means (the test can fail)
    assert not np.allclose(ref.mean_distances(X), ref.mean_distances(X, mask))


def test_missing_segments_must_be_whole_and_leave_one_per_clip():
    X = np.ones((2, 3, 4))
    clf = CentroidClassifier().fit(X, [0, 1])
    partly = X.copy()
    partly[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="segment 2 of clip 1 is NaN in part"):
        clf.predict(partly)
    empty = X.copy()
    empty[1] = np.nan
    with pytest.raises(ValueError, match="clip 1 has no segment with values"):
        CentroidClassifier().fit(empty, [0, 1])
    with pytest.raises(ValueError, match="NaN"):  # one segment per clip (2-D): no missing
        clf.predict(np.full((1, 4), np.nan))
