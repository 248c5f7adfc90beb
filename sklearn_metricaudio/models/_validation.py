"""Input checks shared by the clip classifiers: one validator for clip arrays, one for labels.

Every clip classifier takes one row per clip with an inner axis of segments (or frames) inside
it, and decides per clip. :func:`check_clips` validates such arrays the same way for all of
them (shape, emptiness, finiteness, dtype, the fitted feature count); :func:`check_fit_labels`
validates the labels of ``fit`` (one per clip, classification targets, at least two classes).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

__all__ = ["check_clips", "check_clip_labels", "check_fit_labels", "missing_items"]


def check_clips(estimator, X, *, reset, item_ndim=1, dtype=np.float64, item="segment",
                item_shape="n_features", allow_missing=False):
    """Validate clip arrays ``(n_clips, n_items, *item)``; return them with the items axis.

    Parameters
    ----------
    estimator : estimator
        Receives ``n_features_in_`` (size of the first axis of an item) when ``reset``.
    X : array-like
        ``(n_clips, n_items, *item)``, or ``(n_clips, *item)`` for one item per clip.
    reset : bool
        True in ``fit``: set ``n_features_in_``. False: X must match it (and the
        estimator must be fitted).
    item_ndim : int
        Dimensions of one item: 1 for feature vectors (frames, segment embeddings), 2 for
        log-mel patches ``(n_mels, n_frames)``.
    dtype : numpy dtype or list of dtypes
    item, item_shape : str
        Names used in error messages ("segment" / "frame"; "n_features" / "n_mels, n_frames").
    allow_missing : bool, default=False
        Accept items that are NaN throughout (a missing item, e.g. a silent segment that has
        no embedding) in 3-D input, as long as every clip keeps one item with values; an
        item that is NaN only in part is still an error.

    Returns
    -------
    ndarray of shape (n_clips, n_items, *item)
    """
    if not reset:
        check_is_fitted(estimator)
    name = type(estimator).__name__
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    if item_ndim == 1 and ndim <= 2:
        # plain 2-D (or 1-D, 0-D) input: scikit-learn's own checks and messages, which the
        # common checks rely on
        X = validate_data(estimator, X, reset=reset, dtype=dtype)
        return X[:, None]
    if ndim not in (1 + item_ndim, 2 + item_ndim):
        one, many = f"(n_clips, {item_shape})", f"(n_clips, n_{item}s, {item_shape})"
        raise ValueError(
            f"{name} expects X of shape {many} or {one} ({2 + item_ndim}-D or "
            f"{1 + item_ndim}-D), got {ndim}-D input with shape {np.shape(X)}"
        )
    missing = allow_missing and ndim == 2 + item_ndim
    X = check_array(X, allow_nd=True, dtype=dtype,
                    ensure_all_finite="allow-nan" if missing else True, input_name="X")
    if ndim == 1 + item_ndim:
        X = X[:, None]
    if 0 in X.shape[1:]:
        raise ValueError(
            f"{name}: X of shape {X.shape} has no {item}s or an empty {item} axis; "
            f"expected ({item_shape}) {item}s with at least one value each"
        )
    if missing:
        _check_missing_items(name, X, item)
    n_features = X.shape[2]
    if reset:
        estimator.n_features_in_ = n_features
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input"
        )
    return X


def missing_items(X):
    """(n_clips, n_items) bool: the items of ``X`` (n_clips, n_items, ...) that are all NaN."""
    X = np.asarray(X)
    if X.dtype.kind != "f" or X.size == 0:
        return np.zeros(X.shape[:2], dtype=bool)
    return np.isnan(X.reshape(*X.shape[:2], -1)).all(axis=-1)


def _check_missing_items(name, X, item):
    flat = np.isnan(X.reshape(*X.shape[:2], -1))
    partly = flat.any(axis=-1) & ~flat.all(axis=-1)
    if partly.any():
        clip, at = np.argwhere(partly)[0]
        raise ValueError(
            f"{name}: {item} {at} of clip {clip} is NaN in part; a missing {item} (no sound, "
            f"no embedding) is NaN throughout, any other value must be finite")
    empty = flat.all(axis=(1, 2)) if flat.size else np.zeros(X.shape[0], dtype=bool)
    if empty.any():
        raise ValueError(
            f"{name}: clip {int(np.flatnonzero(empty)[0])} has no {item} with values (all "
            f"{X.shape[1]} are NaN, i.e. missing); every clip needs at least one")


def check_clip_labels(estimator, y, n_clips):
    """Validate ``y`` as one classification label per clip; returns it as a 1-D array."""
    name = type(estimator).__name__
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None")
    y = check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True, input_name="y")
    y = column_or_1d(y, warn=True)
    if y.shape[0] != n_clips:
        raise ValueError(f"y must hold one label per clip ({n_clips}), got {y.shape[0]}")
    check_classification_targets(y)
    return y


def check_fit_labels(estimator, y, n_clips):
    """Validate the labels of ``fit``: one classification label per clip, two classes or more.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        Sorted unique labels.
    y_encoded : ndarray of shape (n_clips,)
        Index of each clip's label in ``classes``.
    """
    y = check_clip_labels(estimator, y, n_clips)
    classes, y_encoded = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs at least 2 classes, got 1 class: {classes[0]!r}"
        )
    return classes, y_encoded
