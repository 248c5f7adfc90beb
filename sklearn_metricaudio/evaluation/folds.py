"""The papers' protocol: predefined-fold evaluation, as numbers (their display: display.py)."""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.preprocessing import label_binarize
from sklearn.utils import Bunch

from .._routing import clip_fit_params
from ..datasets import predefined_fold_cv
# folds run through store.run_jobs: scikit-learn's joblib wrappers (the caller's config, and
# from 1.7 its warning filters, travel to the workers), under any joblib backend
from .store import Job, ResultStore, estimator_fingerprint, fingerprint, run_jobs

__all__ = ["evaluate_folds", "fold_jobs", "collect_folds", "per_class_auc"]

def _scores(est, X):
    if hasattr(est, "decision_function"):
        s = est.decision_function(X)
    else:
        s = est.predict_proba(X)
    s = np.asarray(s)
    if s.ndim == 1:
        s = np.stack([-s, s], axis=1)
    return s


def _one_fold(estimator, X, y, train, test, groups, deformed):
    est = clone(estimator)
    t0 = time.perf_counter()
    fit_params = clip_fit_params(est, {
        "groups": None if groups is None else groups[train],
        "deformed": None if deformed is None else deformed[train]})
    est.fit(X[train], y[train], **fit_params)
    t1 = time.perf_counter()
    pred = est.predict(X[test])
    scores = _scores(est, X[test])
    t2 = time.perf_counter()
    return test, pred, scores, est.classes_, t1 - t0, t2 - t1


def fold_jobs(estimator, X, y, fold, *, groups=None, deformed=None, data_key=None,
              keyed=True):
    """One :class:`~sklearn_metricaudio.evaluation.store.Job` per predefined fold.

    Each job fits a clone of ``estimator`` on the fold's training clips and predicts its
    test clips; :func:`collect_folds` assembles their results. The job's key is a
    fingerprint of the estimator (class, parameters, model code), the data (``data_key``,
    or a hash of ``X``, ``y``, ``groups`` and ``deformed``) and the fold's indices, so a
    :class:`~sklearn_metricaudio.evaluation.store.ResultStore` finds it again in a later
    run with the same inputs, and only then.

    Parameters
    ----------
    estimator, X, y, fold, groups, deformed
        As :func:`evaluate_folds`.
    data_key : str or None
        A fingerprint that stands for ``X``, ``y``, ``groups`` and ``deformed``
        (saves hashing large arrays again); None: hash them.
    keyed : bool, default=True
        False: cheap keys (the fold's position) for a run that stores nothing.

    Returns
    -------
    list of Job
    """
    X, y, fold, groups, deformed = _check_fold_inputs(X, y, fold, groups, deformed)
    splits = list(predefined_fold_cv(fold).split())
    if keyed:
        est_key = estimator_fingerprint(estimator)
        if data_key is None:
            data_key = fingerprint(X, y, groups, deformed)
    jobs = []
    for k, (tr, te) in enumerate(splits):
        key = (fingerprint("fold", est_key, data_key, tr, te) if keyed
               else fingerprint("fold", id(estimator), k))
        jobs.append(Job(key, _one_fold, estimator, X, y, tr, te, groups, deformed))
    return jobs


def collect_folds(results, y):
    """:func:`evaluate_folds`' Bunch from its folds' results (those of :func:`fold_jobs`)."""
    y = np.asarray(y)
    classes = np.unique(y)
    index = np.sort(np.concatenate([test for test, *_ in results]))
    pos = np.empty(y.shape[0], dtype=np.intp)
    pos[index] = np.arange(index.size)               # clip -> row of the outputs
    y_pred = np.empty(index.size, dtype=y.dtype)
    scores = np.full((index.size, classes.size), np.nan)
    fold_scores, fit_time, pred_time = [], 0.0, 0.0
    for test, pred, s, est_classes, tf, tp in results:
        y_pred[pos[test]] = pred
        cols = np.searchsorted(classes, est_classes)
        scores[np.ix_(pos[test], cols)] = s
        fold_scores.append(balanced_accuracy_score(y[test], pred))
        fit_time += tf
        pred_time += tp
    # a class absent from a fold's training set gets that fold's lowest score, not 0 (which
    # would be the highest possible log-softmax score)
    missing = np.isnan(scores)
    if missing.any():
        scores[missing] = np.nanmin(scores) - 1.0
    y_true = y[index]
    return Bunch(index=index, y_true=y_true, y_pred=y_pred, scores=scores, classes=classes,
                 fold_scores=np.asarray(fold_scores),
                 balanced_accuracy=balanced_accuracy_score(y_true, y_pred),
                 fit_time=fit_time, predict_time=pred_time)


def _check_fold_inputs(X, y, fold, groups, deformed):
    X, y, fold = np.asarray(X), np.asarray(y), np.asarray(fold)
    for name, value in (("X", X), ("fold", fold)):
        if value.ndim == 0 or value.shape[0] != y.shape[0]:
            raise ValueError(f"{name} must hold one entry per clip ({y.shape[0]}), got "
                             f"{value.shape[0] if value.ndim else 'a scalar'}")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape[0] != y.shape[0]:
            raise ValueError(f"groups must hold one entry per clip ({y.shape[0]}), got "
                             f"{groups.shape[0]}")
    if deformed is not None and len(deformed) != y.shape[0]:
        raise ValueError(f"deformed must hold one entry per clip ({y.shape[0]}), got "
                         f"{len(deformed)}")
    return X, y, fold, groups, deformed


def evaluate_folds(estimator, X, y, fold, *, groups=None, deformed=None, n_jobs=None,
                   progress=True, name="", store=None):
    """Cross-validate over predefined folds, keeping predictions and scores.

    Like :func:`sklearn.model_selection.cross_val_predict` with
    :func:`predefined_fold_cv`, but keeps both the predicted labels and the
    per-class scores (for ROC curves), the per-fold balanced accuracy and the
    fit / predict times. Clips of fold ``-1`` are never tested (they train in
    every split, as in :class:`~sklearn.model_selection.PredefinedSplit`), so
    every output covers the tested clips only.

    Parameters
    ----------
    estimator : classifier
    X : array-like, one row per clip
    y : array-like of shape (n_clips,)
    fold : array-like of int, shape (n_clips,)
        The data set's fold of each clip; ``-1``: always in training, never tested.
    groups : array-like of shape (n_clips,), default=None
        Source recording of each clip (``fsID``), passed on as ``groups`` to an
        estimator whose ``fit`` takes it (the margin model's validation split then
        keeps recordings together): directly, through metadata routing when it is
        enabled and a step requested it, or as the last step's fit parameter of a
        Pipeline. Estimators that take no groups (the baselines) are fitted without.
    deformed : array-like of shape (n_clips, n_variants, ...), default=None
        Deformed versions of every clip's features, passed on (the training clips'
        rows) as ``deformed`` to an estimator whose ``fit`` takes it, as ``groups`` is
        (:class:`~sklearn_metricaudio.MarginEmbeddingClassifier`: training-time
        deformations); other estimators are fitted without.
    n_jobs : int or None
        Folds run in parallel with joblib (any backend:
        ``with joblib.parallel_backend("dask"): ...`` runs them on a Dask cluster).
    progress : bool
        A progress bar over the folds, with the time left.
    name : str
        Label of the progress bar.
    store : ResultStore, str, path or None, default=None
        Where finished folds are kept
        (:class:`~sklearn_metricaudio.evaluation.store.ResultStore`): a fold found there
        (same estimator settings, data and fold) is loaded instead of fitted, and each
        fold is stored as it finishes, so an interrupted run resumes.

    Returns
    -------
    Bunch
        ``index`` (positions of the tested clips in ``X``), ``y_true``, ``y_pred``,
        ``scores`` (n_tested, n_classes), ``classes``, ``fold_scores``
        (balanced accuracy per fold), ``balanced_accuracy`` (over all tested
        clips), ``fit_time``, ``predict_time`` (seconds, summed, as measured when
        each fold was computed).
    """
    X, y, fold, groups, deformed = _check_fold_inputs(X, y, fold, groups, deformed)
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    jobs = fold_jobs(estimator, X, y, fold, groups=groups, deformed=deformed,
                     keyed=store.path is not None)
    results = run_jobs(jobs, store, n_jobs=n_jobs, progress=progress,
                       desc=f"{name or 'model'}: folds")
    return collect_folds(results, y)


def _one_vs_rest(result):
    Y = label_binarize(result.y_true, classes=result.classes)
    return np.hstack([1 - Y, Y]) if Y.shape[1] == 1 else Y


def per_class_auc(result):
    """One-vs-rest ROC AUC per class (the paper's Figs. 4-6)."""
    Y = _one_vs_rest(result)
    return np.array([roc_auc_score(Y[:, k], result.scores[:, k]) if 0 < Y[:, k].sum() < len(Y)
                     else np.nan for k in range(Y.shape[1])])
