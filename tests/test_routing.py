"""Per-clip fit parameters reach the estimator that takes them (``_routing.clip_fit_params``),
with and without scikit-learn's metadata routing; the fold loop passes each fold's own."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_metricaudio._routing import clip_fit_params
from sklearn_metricaudio.evaluation import evaluate_folds


class GroupsSeen(ClassifierMixin, BaseEstimator):
    """Predicts the first class; remembers the groups its fit was given (a class attribute:
    the fold loop fits clones)."""

    seen = []

    def fit(self, X, y, groups=None):
        self.classes_ = np.unique(y)
        GroupsSeen.seen.append(None if groups is None else np.asarray(groups).tolist())
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def predict_proba(self, X):
        return np.full((len(X), self.classes_.size), 1.0 / self.classes_.size)


class TakesNothing(GroupsSeen):
    def fit(self, X, y):
        return super().fit(X, y)


def test_without_routing_a_parameter_goes_where_fit_names_it():
    g = np.arange(4)
    assert clip_fit_params(GroupsSeen(), {"groups": g, "deformed": None}) == {"groups": g}
    pipe = make_pipeline(FunctionTransformer(), GroupsSeen())
    assert list(clip_fit_params(pipe, {"groups": g})) == ["groupsseen__groups"]
    assert clip_fit_params(TakesNothing(), {"groups": g}) == {}
    assert clip_fit_params(make_pipeline(FunctionTransformer(), TakesNothing()),
                           {"groups": g}) == {}


def test_with_routing_what_is_requested_is_routed():
    g = np.arange(4)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(FunctionTransformer(), GroupsSeen().set_fit_request(groups=True))
        assert list(clip_fit_params(pipe, {"groups": g})) == ["groups"]
        unrequested = make_pipeline(FunctionTransformer(), GroupsSeen())
        assert clip_fit_params(unrequested, {"groups": g}) == {}


@pytest.mark.parametrize("routed", [False, True])
def test_each_fold_trains_with_its_own_groups(routed):
    X = np.zeros((6, 2))
    y = np.array([0, 1, 0, 1, 0, 1])
    fold = np.array([1, 1, 2, 2, 3, 3])
    groups = np.array([10, 11, 20, 21, 30, 31])
    GroupsSeen.seen = []
    with sklearn.config_context(enable_metadata_routing=routed):
        last = GroupsSeen().set_fit_request(groups=True) if routed else GroupsSeen()
        evaluate_folds(make_pipeline(FunctionTransformer(), last), X, y, fold, groups=groups,
                       progress=False)
    assert sorted(GroupsSeen.seen) == [[10, 11, 20, 21], [10, 11, 30, 31], [20, 21, 30, 31]]
