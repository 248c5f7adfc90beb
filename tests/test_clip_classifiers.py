"""One contract for every clip classifier: the same input checks, labels and API behaviour.

The four classifiers take one row per clip with an inner axis of segments (frames); the
2-D-input ones also pass scikit-learn's common checks in their own files. Here the contract
is checked on each one's native input (3-D frames / embeddings, 4-D log-mel patches), which
the common checks never feed, with the shared validator behind all of them.
"""

import inspect
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks

from sklearn_metricaudio import (CentroidClassifier, GaussianMixtureClassifier,
                                 MarginEmbeddingClassifier, SegmentAggregateClassifier)


def _frames(rng, n_per_class=6, items=5, n_features=4, shift=3.0):
    """(n, items, n_features) clips of three well separated classes."""
    X = np.concatenate([rng.normal(k * shift, 1.0, (n_per_class, items, n_features))
                        for k in range(3)])
    return X, np.repeat(np.array(["a", "b", "c"]), n_per_class)


def _patches(rng, n_per_class=6):
    """(n, 2, 16, 8) log-mel-like patches: class k is loud in bands 5k .. 5k+4."""
    X = rng.normal(size=(3 * n_per_class, 2, 16, 8)).astype(np.float32)
    y = np.repeat(np.array(["a", "b", "c"]), n_per_class)
    for i, k in enumerate(np.repeat([0, 1, 2], n_per_class)):
        X[i, :, 5 * k:5 * k + 5] += 4.0
    return X, y


CASES = {
    "gmm": (lambda: GaussianMixtureClassifier(n_components=2, random_state=0), _frames),
    "aggregate": (lambda: SegmentAggregateClassifier(max_frames_per_clip=4, random_state=0),
                  _frames),
    "centroid": (lambda: CentroidClassifier(), _frames),
    "margin": (lambda: MarginEmbeddingClassifier(epochs=2, batch_size=8, validation_split=None,
                                                 random_state=0), _patches),
}


@pytest.fixture(params=list(CASES))
def case(request):
    make, data = CASES[request.param]
    X, y = data(np.random.default_rng(0))
    return make(), X, y


def test_fit_sets_the_fitted_attributes_and_returns_self(case):
    est, X, y = case
    params = est.get_params()
    assert est.fit(X, y) is est
    assert est.classes_.tolist() == ["a", "b", "c"]
    assert est.n_features_in_ == X.shape[2]
    assert est.get_params() == params  # fit does not touch the parameters


def test_unfitted_estimator_refuses_every_method(case):
    est, X, _ = case
    for method in ("predict", "predict_proba", "decision_function", "transform", "score"):
        if hasattr(est, method):
            with pytest.raises(NotFittedError):
                getattr(est, method)(X) if method != "score" else est.score(X, np.zeros(len(X)))


def test_predictions_are_per_clip_and_consistent(case):
    est, X, y = case
    est.fit(X, y)
    pred = est.predict(X)
    assert pred.shape == (len(X),) and set(pred) <= set(est.classes_)
    assert est.score(X, y) == np.mean(pred == y)
    scores = est.decision_function(X)
    assert scores.shape == (len(X), 3)
    np.testing.assert_array_equal(est.classes_[scores.argmax(1)], pred)
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
        np.testing.assert_array_equal(est.classes_[proba.argmax(1)], pred)
    # sample order and subsets: a clip's decision depends on that clip only
    order = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_allclose(est.decision_function(X[order]), scores[order], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(est.decision_function(X[3:5]), scores[3:5], rtol=1e-5, atol=1e-6)


def test_refit_pickle_memmap_and_dtypes_give_the_same_model(case, tmp_path):
    est, X, y = case
    first = clone(est).fit(X, y).decision_function(X)
    np.testing.assert_allclose(clone(est).fit(X, y).decision_function(X), first, rtol=1e-6)
    fitted = clone(est).fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.decision_function(X), fitted.decision_function(X))
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    mm.flush()
    readonly = np.load(tmp_path / "X.npy", mmap_mode="r")
    np.testing.assert_allclose(clone(est).fit(readonly, y).decision_function(readonly), first,
                               rtol=1e-6)
    other = X.astype(np.float64 if X.dtype == np.float32 else np.float32)
    np.testing.assert_allclose(clone(est).fit(other, y).decision_function(X), first,
                               rtol=1e-3, atol=1e-3)


def test_a_label_never_fitted_is_scored_as_a_wrong_answer(case):
    """cross_val_score / GridSearchCV meet test folds with classes absent from training."""
    est, X, y = case
    est.fit(X, y)
    y_unseen = y.copy()
    y_unseen[:2] = "zzz"
    assert est.score(X, y_unseen) == pytest.approx(np.mean(est.predict(X) == y_unseen))
    assert est.score(X, y_unseen) < est.score(X, y)


def test_bad_input_gets_a_clear_error(case):
    est, X, y = case
    with pytest.raises(ValueError, match=r"expects X of shape .*got 5-D"):
        clone(est).fit(X[..., None, None] if X.ndim == 3 else X[..., None], y)
    bad = X.copy()
    bad.flat[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(est).fit(bad, y)
    with pytest.raises(ValueError, match="has no segments|has no frames"):
        clone(est).fit(X[:, :0], y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clone(est).fit(X, np.full(len(X), "a"))
    with pytest.raises(ValueError, match="one label per clip"):
        clone(est).fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type"):
        clone(est).fit(X, np.linspace(0, 1, len(X)))
    fitted = clone(est).fit(X, y)
    with pytest.raises(ValueError, match="expecting"):
        fitted.predict(X[:, :, :-1])
    with pytest.raises(ValueError, match="has no segments|has no frames"):
        fitted.predict(X[:, :0])


def test_parameters_after_the_first_are_keyword_only(case):
    est, _, _ = case
    params = list(inspect.signature(type(est).__init__).parameters.values())[1:]
    assert all(p.kind is p.KEYWORD_ONLY for p in params[1:]), type(est).__name__


# scikit-learn's common checks that need no 2-D data: the margin model's input is 4-D, so
# parametrize_with_checks skips it entirely; these run on it as they are.
_DATA_FREE_CHECKS = ["check_estimator_cloneable", "check_estimator_repr",
                     "check_no_attributes_set_in_init", "check_parameters_default_constructible",
                     "check_get_params_invariance", "check_set_params",
                     "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
                     "check_estimator_tags_renamed", "check_valid_tag_types",
                     "check_param_validation", "check_estimators_unfitted"]


@pytest.mark.parametrize("check", _DATA_FREE_CHECKS)
def test_margin_model_passes_the_common_checks_that_fit_its_input(check):
    getattr(estimator_checks, check)("MarginEmbeddingClassifier",
                                     MarginEmbeddingClassifier(epochs=1))
