"""Label checks shared by the clip classifiers."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

__all__ = ["check_clip_labels", "check_known_labels"]


def check_clip_labels(estimator, y, n_clips):
    """Validate ``y`` as one classification label per clip; returns a 1-D array."""
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y "
                         "is None")
    y = check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True, input_name="y")
    y = column_or_1d(y, warn=True)
    if y.shape[0] != n_clips:
        raise ValueError(f"y must hold one label per clip ({n_clips}), got {y.shape[0]}")
    check_classification_targets(y)
    return y


def check_known_labels(estimator, y):
    """Raise a clear error if ``y`` holds labels the estimator has never seen."""
    unseen = np.setdiff1d(np.unique(np.asarray(y)), estimator.classes_)
    if unseen.size:
        raise ValueError(
            f"y contains label(s) {unseen.tolist()} that {type(estimator).__name__} was not "
            f"fitted on (known: {estimator.classes_.tolist()}); enroll them first"
        )
