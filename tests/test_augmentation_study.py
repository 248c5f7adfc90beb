"""The second paper's comparison of augmentation schemes (evaluation/augmentation.py).

Run on stand-in features where everything is cheap: clips are 6-sample vectors, the
"features" are the clips themselves, the metric embeds the first two samples and the
classifier is a logistic regression. The kNN acceptance of the comparison is checked against
a second implementation: MetricAugmentationSelector with the folds as partitions.
"""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from sklearn_metricaudio.augment.selector import MetricAugmentationSelector
from sklearn_metricaudio.evaluation.augmentation import (compare_augmentation,
                                                         deformed_features,
                                                         format_acceptance_table,
                                                         format_augmentation_table,
                                                         parse_schemes,
                                                         save_augmentation_png)

from test_selector import FirstTwo, Gain, Move


def overlapping_clips(n_per_class=12, n_folds=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n_per_class)
    X = rng.normal(scale=0.05, size=(y.size, 6)).astype(np.float32)
    angle = np.where(y == 0, 0.3, 1.2) + rng.normal(scale=0.35, size=y.size)
    X[:, 0], X[:, 1] = np.cos(angle), np.sin(angle)
    X[:, 2] = np.arange(y.size)
    fold = np.tile(np.arange(1, n_folds + 1), y.size // n_folds)
    return X, y, fold


class EpochLogistic(ClassifierMixin, BaseEstimator):
    """A classifier with an ``epochs`` parameter (scaled by the steps budget)."""

    def __init__(self, epochs=30, random_state=None):
        self.epochs = epochs
        self.random_state = random_state

    def fit(self, X, y):
        self.lr_ = LogisticRegression().fit(np.asarray(X)[:, :2], y)
        self.classes_ = self.lr_.classes_
        return self

    def predict(self, X):
        return self.lr_.predict(np.asarray(X)[:, :2])


class EpochNearest(EpochLogistic):
    """1-NN on the first two samples: every training clip, deformed or not, moves decisions."""

    def fit(self, X, y):
        from sklearn.neighbors import KNeighborsClassifier

        self.lr_ = KNeighborsClassifier(n_neighbors=1).fit(np.asarray(X)[:, :2], y)
        self.classes_ = self.lr_.classes_
        return self


class Shift(Gain):
    """Turns a clip's embedding by -0.3 rad, towards class 0's side: copies of class-1 clips,
    labelled 1, pull the 1-NN boundary into class 0, which raises class 1's recall and lowers
    class 0's."""

    def variants(self):
        return [("shift", -0.3)]

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32).copy()
        c, s = np.cos(-0.3), np.sin(-0.3)
        X[:, 0], X[:, 1] = c * X[:, 0] - s * X[:, 1], s * X[:, 0] + c * X[:, 1]
        return X[:, None]


def study(X, y, fold, schemes=("none", "brute", "class", "knn1", "knn5"), model=None,
          deformations=None, **kw):
    deformations = deformations or [("mv", Move()), ("gain", Gain())]
    deformed = deformed_features(X, FunctionTransformer(), deformations, progress=False)
    return compare_augmentation(model or EpochLogistic(), FirstTwo(), X, deformed, y, fold,
                                schemes=schemes, progress=False, **kw), deformed


def test_deformed_features_are_each_variant_of_each_clip():
    X, y, fold = overlapping_clips()
    deformed = deformed_features(X, FunctionTransformer(), [("mv", Move()), ("gain", Gain())],
                                 chunk=5, progress=False)
    assert deformed.X.shape == (len(X), 4, 6)
    np.testing.assert_array_equal(deformed.X[:, :2], Move().transform(X))
    np.testing.assert_array_equal(deformed.X[:, 2:], Gain().transform(X))
    assert deformed.variant_names == ["mv(stay)", "mv(swap)", "gain(0.5)", "gain(2.0)"]
    assert list(deformed.variant_deformations) == ["mv", "mv", "gain", "gain"]


@pytest.mark.parametrize("k", [1, 5])
def test_knn_acceptance_equals_the_selector_with_the_folds_as_partitions(k):
    X, y, fold = overlapping_clips()
    FirstTwo.log.clear()
    res, _ = study(X, y, fold, schemes=[f"knn{k}"], folds=[1])
    # each metric learned from one fold, never the test fold nor the partition it judged
    for trained, seen in FirstTwo.log:
        folds_trained = set(fold[sorted(trained)])
        assert len(folds_trained) == 1 and 1 not in folds_trained
        if trained != seen:
            assert not folds_trained & set(fold[sorted(seen)])
    train = fold != 1
    sel = MetricAugmentationSelector(metric=FirstTwo(), deformations=[("mv", Move()),
                                                                      ("gain", Gain())],
                                     n_neighbors=k)
    sel.fit_resample(X[train], y[train], groups=fold[train])
    table = res.acceptance[k]
    np.testing.assert_allclose(table.by_variant, sel.acceptance_)
    np.testing.assert_allclose(table.ratio, sel.acceptance_by_deformation_)
    assert table.overall == pytest.approx(sel.acceptance_ratio_)
    assert 0 < table.overall < 1  # a real mix of accepted and rejected clips
    # the scheme trains on exactly the clips the selector keeps
    n_kept = sel.sample_indices_.size
    assert res.schemes[f"knn{k}"].n_train[0] == train.sum() + n_kept
    assert res.schemes[f"knn{k}"].deformed_fraction == pytest.approx(n_kept / (4 * train.sum()))


def test_scheme_sizes_budget_and_class_choice():
    X, y, fold = overlapping_clips()
    res, _ = study(X, y, fold)
    n_train = np.array([np.sum(fold != t) for t in (1, 2, 3)])
    np.testing.assert_array_equal(res.schemes["none"].n_train, n_train)
    np.testing.assert_array_equal(res.schemes["brute"].n_train, 5 * n_train)
    assert res.schemes["brute"].deformed_fraction == 1.0
    assert res.schemes["none"].deformed_fraction == 0.0
    # equal steps: 30 epochs of the originals; brute has 5x the clips -> 6 epochs
    assert res.schemes["none"].epochs == [30] * 3 and res.schemes["brute"].epochs == [6] * 3
    assert res.schemes["none"].steps == 1.0 and res.schemes["brute"].steps == 1.0
    # class-conditional: the deformations whose single runs raised the class's recall,
    # recomputed here by hand from the single runs' predictions (1-NN, where the shift helps
    # class 1 and hurts class 0, and gain moves nothing much)
    res_nn, _ = study(X, y, fold, schemes=["class"], model=EpochNearest(),
                      deformations=[("shift", Shift()), ("gain", Gain())])
    true = y[res_nn.schemes["none"].index]

    def recall(scheme, c):
        pred = res_nn.schemes[scheme].y_pred
        return np.mean(pred[true == c] == c)

    gains = [[recall(f"only:{f}", c) - recall("none", c) for f in ("shift", "gain")]
             for c in range(2)]
    assert gains[0][0] * gains[1][0] < 0  # the precondition: the test tells a wrong choice
    np.testing.assert_allclose(res_nn.class_gain, gains)
    for c in range(2):
        assert res_nn.class_choice[c] == [f for f, g in zip(["shift", "gain"], gains[c]) if g > 0]
    helped = int(gains[1][0] > 0)
    assert "shift" in res_nn.class_choice[helped] and "shift" not in res_nn.class_choice[1 - helped]
    n_variants = {"shift": 1, "gain": 2}
    n_class = [np.sum(fold != t) + sum(n_variants[f] * np.sum((fold != t) & (y == c))
                                       for c in range(2) for f in res_nn.class_choice[c])
               for t in (1, 2, 3)]
    np.testing.assert_array_equal(res_nn.schemes["class"].n_train, n_class)
    text = format_augmentation_table(res)
    assert "knn5" in text and "Fig. 2" in text
    assert "overall acceptance" in format_acceptance_table(res.acceptance[5])
    res_epochs, _ = study(X, y, fold, schemes=["brute"], budget="epochs")
    assert res_epochs.schemes["brute"].epochs == [30] * 3


def test_box_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    X, y, fold = overlapping_clips()
    res, _ = study(X, y, fold, schemes=["none", "knn5"])
    png = save_augmentation_png(res, tmp_path / "aug.png")
    assert png.stat().st_size > 1000


def test_bad_schemes_and_folds_are_refused():
    X, y, fold = overlapping_clips()
    with pytest.raises(ValueError, match=r"unknown augmentation scheme\(s\) \['knn3'\]"):
        parse_schemes("none,knn3")
    with pytest.raises(ValueError, match=r"folds \[7\] are not folds"):
        study(X, y, fold, schemes=["none"], folds=[7])
    with pytest.raises(ValueError, match="budget must be"):
        study(X, y, fold, schemes=["none"], budget="hours")


def test_parallel_trainings_agree_with_sequential_ones():
    X, y, fold = overlapping_clips()
    one, _ = study(X, y, fold, schemes=["brute", "knn5"], n_jobs=1)
    two, _ = study(X, y, fold, schemes=["brute", "knn5"], n_jobs=2)
    for s in ("brute", "knn5"):
        np.testing.assert_array_equal(one.schemes[s].fold_scores, two.schemes[s].fold_scores)
        np.testing.assert_array_equal(one.schemes[s].n_train, two.schemes[s].n_train)
