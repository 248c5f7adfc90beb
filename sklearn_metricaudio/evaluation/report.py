"""The papers' protocol: predefined-fold evaluation, tables and figures."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, label_binarize
from sklearn.svm import LinearSVC
from sklearn.utils import Bunch
# scikit-learn's joblib wrappers carry the caller's config (and, from 1.7, its warning filters)
# to the workers
from sklearn.utils.parallel import Parallel, delayed

from .._io import atomic_path
from ..datasets import urbansound8k_cv
from ..models import GaussianMixtureClassifier, SegmentAggregateClassifier

__all__ = ["paper_baselines", "evaluate_folds", "format_confusion_table", "per_class_auc",
           "save_confusion_png", "save_roc_png", "PAPER_BALANCED_ACCURACY"]

#: Balanced accuracies the paper reports (Tables I-III), in %.
PAPER_BALANCED_ACCURACY = {"gmm": 53.2, "svm": 56.1, "metric": 76.1}


def paper_baselines(random_state=0):
    """The paper's two baselines over :class:`MFCCStats` frames.

    ``gmm``: one 32-component diagonal GMM per class, summed frame
    log-likelihood. ``svm``: standardised frames, linear SVM, mean frame
    decision value. Both train on at most 100 / 40 random frames per clip,
    which keeps a 10-fold run to a couple of minutes on 2 CPU cores;
    prediction uses every frame.
    """
    return {
        "gmm": GaussianMixtureClassifier(n_components=32, covariance_type="diag",
                                         max_frames_per_clip=100, random_state=random_state),
        "svm": SegmentAggregateClassifier(make_pipeline(StandardScaler(), LinearSVC(C=0.01)),
                                          max_frames_per_clip=40, random_state=random_state),
    }


def _scores(est, X):
    if hasattr(est, "decision_function"):
        s = est.decision_function(X)
    else:
        s = est.predict_proba(X)
    s = np.asarray(s)
    if s.ndim == 1:
        s = np.stack([-s, s], axis=1)
    return s


def _one_fold(estimator, X, y, train, test):
    est = clone(estimator)
    t0 = time.perf_counter()
    est.fit(X[train], y[train])
    t1 = time.perf_counter()
    pred = est.predict(X[test])
    scores = _scores(est, X[test])
    t2 = time.perf_counter()
    return test, pred, scores, est.classes_, t1 - t0, t2 - t1


def evaluate_folds(estimator, X, y, fold, *, n_jobs=None, progress=True, name=""):
    """Cross-validate over predefined folds, keeping predictions and scores.

    Like :func:`sklearn.model_selection.cross_val_predict` with
    :func:`urbansound8k_cv`, but keeps both the predicted labels and the
    per-class scores (for ROC curves), the per-fold balanced accuracy and the
    fit / predict times.

    Returns
    -------
    Bunch
        ``y_true``, ``y_pred``, ``scores`` (n_clips, n_classes), ``classes``,
        ``fold_scores`` (balanced accuracy per fold), ``balanced_accuracy``
        (over all clips), ``fit_time``, ``predict_time`` (seconds, summed).
    """
    X, y, fold = np.asarray(X), np.asarray(y), np.asarray(fold)
    classes = np.unique(y)
    splits = list(urbansound8k_cv(fold).split())
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_one_fold)(estimator, X, y, tr, te) for tr, te in splits)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(splits), desc=f"{name or 'model'}: folds", unit="fold",
                       leave=False)
    results = list(results)
    y_pred = np.empty_like(y)
    scores = np.full((y.shape[0], classes.size), np.nan)
    fold_scores, fit_time, pred_time = [], 0.0, 0.0
    for test, pred, s, est_classes, tf, tp in results:
        y_pred[test] = pred
        cols = np.searchsorted(classes, est_classes)
        scores[np.ix_(test, cols)] = s
        fold_scores.append(balanced_accuracy_score(y[test], pred))
        fit_time += tf
        pred_time += tp
    # a class absent from a fold's training set gets that fold's lowest score, not 0 (which
    # would be the highest possible log-softmax score)
    missing = np.isnan(scores)
    if missing.any():
        scores[missing] = np.nanmin(scores) - 1.0
    return Bunch(y_true=y, y_pred=y_pred, scores=scores, classes=classes,
                 fold_scores=np.asarray(fold_scores),
                 balanced_accuracy=balanced_accuracy_score(y, y_pred),
                 fit_time=fit_time, predict_time=pred_time)


def _one_vs_rest(result):
    Y = label_binarize(result.y_true, classes=result.classes)
    return np.hstack([1 - Y, Y]) if Y.shape[1] == 1 else Y


def per_class_auc(result):
    """One-vs-rest ROC AUC per class (the paper's Figs. 4-6)."""
    Y = _one_vs_rest(result)
    return np.array([roc_auc_score(Y[:, k], result.scores[:, k]) if 0 < Y[:, k].sum() < len(Y)
                     else np.nan for k in range(Y.shape[1])])


def format_confusion_table(result, target_names, title=""):
    """The paper's table: row-normalised confusion matrix in %, balanced accuracy, AUC."""
    names = [str(target_names[c]) for c in result.classes]
    cm = confusion_matrix(result.y_true, result.y_pred, labels=result.classes, normalize="true")
    auc = per_class_auc(result)
    abbrev = [n.replace("_", " ").title()[:4].rstrip() + "." for n in names]
    width = max(len(n) for n in names) + 2
    lines = []
    if title:
        lines.append(title)
    lines.append(" " * width + "".join(f"{a:>7}" for a in abbrev) + f"{'AUC':>7}")
    for i, n in enumerate(names):
        lines.append(f"{n:<{width}}" + "".join(f"{100 * v:7.1f}" for v in cm[i])
                     + f"{auc[i]:7.2f}")
    lines.append(f"Average balanced accuracy: {100 * result.balanced_accuracy:.1f} %   "
                 f"(per fold {100 * result.fold_scores.mean():.1f} +- "
                 f"{100 * result.fold_scores.std():.1f}; mean AUC {np.nanmean(auc):.2f})")
    return "\n".join(lines)


def _new_figure(figsize):
    # a bare Figure, not pyplot: no global backend switch, no figure manager to leak
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _save_figure(fig, path):
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix[1:] or "png", dpi=120, bbox_inches="tight")
    return path


def save_confusion_png(result, target_names, path, title=""):
    """Row-normalised confusion matrix (%) as a PNG, via ConfusionMatrixDisplay."""
    from sklearn.metrics import ConfusionMatrixDisplay

    names = [str(target_names[c]) for c in result.classes]
    cm = 100 * confusion_matrix(result.y_true, result.y_pred, labels=result.classes,
                                normalize="true")
    fig, ax = _new_figure((7, 6))
    ConfusionMatrixDisplay(cm, display_labels=names).plot(ax=ax, values_format=".1f",
                                                          xticks_rotation=45, colorbar=False)
    ax.set_title(f"{title}  balanced accuracy {100 * result.balanced_accuracy:.1f} %")
    return _save_figure(fig, path)


def save_roc_png(result, target_names, path, title=""):
    """One-vs-rest ROC curves with per-class AUC, via RocCurveDisplay."""
    from sklearn.metrics import RocCurveDisplay

    Y = _one_vs_rest(result)
    fig, ax = _new_figure((6.5, 6))
    for k, c in enumerate(result.classes):
        if 0 < Y[:, k].sum() < len(Y):
            RocCurveDisplay.from_predictions(Y[:, k], result.scores[:, k], ax=ax,
                                             name=str(target_names[c]))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_title(f"{title} one-vs-rest ROC")
    return _save_figure(fig, path)
