"""Cross-validation over the predefined folds that a data set ships with."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import PredefinedSplit

__all__ = ["predefined_fold_cv"]


def predefined_fold_cv(fold):
    """Predefined-fold cross-validation: test split ``k`` is the clips of fold ``k``.

    For any data set with official folds (UrbanSound8K, ESC-50, ESC-10, ...):
    pass the ``fold`` column of the loaded Bunch. Splits come in increasing
    fold order; every clip is tested exactly once, and clips of one source
    recording never straddle train and test when the data set's folds keep
    sources together (as UrbanSound8K's and ESC's do).

    Parameters
    ----------
    fold : array-like of int, shape (n_clips,)
        The fold number of every clip. As in
        :class:`~sklearn.model_selection.PredefinedSplit`, a fold of ``-1``
        keeps a clip in every training split and out of every test split.

    Returns
    -------
    sklearn.model_selection.PredefinedSplit
        ``PredefinedSplit(test_fold=fold)``.

    Raises
    ------
    ValueError
        ``fold`` is not a non-empty 1-D integer array, or holds fewer than
        two folds.

    Examples
    --------
    >>> from sklearn_metricaudio import predefined_fold_cv
    >>> cv = predefined_fold_cv([1, 2, 1, 3])
    >>> cv.get_n_splits()
    3
    >>> [test.tolist() for _, test in cv.split()]
    [[0, 2], [1], [3]]
    """
    fold = np.asarray(fold)
    if fold.ndim != 1 or fold.size == 0:
        raise ValueError(
            f"fold must be a non-empty 1-D array of fold numbers, got shape {fold.shape}"
        )
    if fold.dtype.kind not in "iu":
        raise ValueError(f"fold must hold integers, got dtype {fold.dtype}")
    folds = np.unique(fold[fold != -1])  # -1: always in training (PredefinedSplit's convention)
    if folds.size < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds.tolist()}")
    return PredefinedSplit(test_fold=fold)
