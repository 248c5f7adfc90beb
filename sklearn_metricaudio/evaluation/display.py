"""The evaluation's display: the paper's confusion table as text, confusion and ROC figures.

Computation lives in :mod:`~sklearn_metricaudio.evaluation.folds` (as scikit-learn keeps
``model_selection`` apart from its ``Display`` classes); these functions only read its
results (the Bunch of :func:`~sklearn_metricaudio.evaluation.evaluate_folds`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

from .._io import atomic_path
from .folds import _one_vs_rest, per_class_auc

__all__ = ["format_confusion_table", "save_confusion_png", "save_roc_png", "check_figures",
           "new_figure", "save_figure"]


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


def check_figures():
    """Raise an ImportError that says what to install when matplotlib is missing.

    Call it before any long computation whose results end in figures, so that a
    missing plotting library fails at once rather than after the work.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "the figures need matplotlib, which is not installed: pip install "
            "'sklearn_metricaudio[plot]' (or pip install matplotlib)"
        ) from exc


def new_figure(figsize):
    """A bare matplotlib Figure with one Axes: ``(fig, ax)``.

    Not pyplot: no global backend switch, no figure manager to leak. The report modules
    draw on it and write it with :func:`save_figure`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def save_figure(fig, path):
    """Write ``fig`` to ``path`` (format from the suffix) atomically; return the path."""
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
    fig, ax = new_figure((7, 6))
    ConfusionMatrixDisplay(cm, display_labels=names).plot(ax=ax, values_format=".1f",
                                                          xticks_rotation=45, colorbar=False)
    ax.set_title(f"{title}  balanced accuracy {100 * result.balanced_accuracy:.1f} %")
    return save_figure(fig, path)


def save_roc_png(result, target_names, path, title=""):
    """One-vs-rest ROC curves with per-class AUC, via RocCurveDisplay."""
    from sklearn.metrics import RocCurveDisplay

    Y = _one_vs_rest(result)
    fig, ax = new_figure((6.5, 6))
    for k, c in enumerate(result.classes):
        if 0 < Y[:, k].sum() < len(Y):
            RocCurveDisplay.from_predictions(Y[:, k], result.scores[:, k], ax=ax,
                                             name=str(target_names[c]))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_title(f"{title} one-vs-rest ROC")
    return save_figure(fig, path)
