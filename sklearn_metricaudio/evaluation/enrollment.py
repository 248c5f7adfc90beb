"""Few-shot enrollment of new classes: random enrollment / test splits, and their accuracy."""

from __future__ import annotations

import copy

import numpy as np

from ..models import CentroidClassifier

__all__ = ["enrollment_draws", "enrolled_accuracy"]


def enrollment_draws(target, groups, classes, shots, n_draws, random_state=None):
    """Yield ``n_draws`` (enroll, test) index pairs for enrolling ``classes`` with ``shots`` clips.

    Each draw takes ``shots`` random clips of every class in ``classes`` to enroll; the test
    clips are the other clips of those classes, minus any cut from the same source recording
    (``groups``, e.g. ``fsID``) as an enrolled clip, so a test clip is never a near-copy of an
    enrolled one.

    Parameters
    ----------
    target, groups : array-like of shape (n_clips,)
    classes : array-like
        The classes to enroll.
    shots : int
    n_draws : int
    random_state : int, numpy Generator or None

    Yields
    ------
    enroll, test : ndarray of int

    Examples
    --------
    >>> from sklearn_metricaudio.evaluation import enrollment_draws
    >>> target, groups = [0, 0, 0, 1, 1, 1], [7, 7, 8, 9, 10, 11]
    >>> enroll, test = next(enrollment_draws(target, groups, [0, 1], 1, 1, random_state=0))
    >>> len(enroll), set(test).isdisjoint(enroll)
    (2, True)
    """
    target, groups = np.asarray(target), np.asarray(groups)
    rng = np.random.default_rng(random_state)
    for _ in range(n_draws):
        enroll = np.concatenate([rng.choice(np.flatnonzero(target == c), shots, replace=False)
                                 for c in classes])
        test = np.flatnonzero(np.isin(target, classes) & ~np.isin(groups, groups[enroll]))
        yield enroll, test


def enrolled_accuracy(X, target, enroll, test, *, segment_mask=None, known=None):
    """Accuracy on clips ``test`` after enrolling clips ``enroll`` into centroids.

    The one enrollment measurement of ``examples/enroll_new_class.py`` and
    ``benchmarks/bench_enroll.py``: the segments that count (``segment_mask``, e.g.
    :meth:`MarginEmbeddingClassifier.sounding_segments
    <sklearn_metricaudio.MarginEmbeddingClassifier.sounding_segments>`) are those of the
    model's own decisions, in the enrolled centroids and in every test clip's mean distance.

    Parameters
    ----------
    X : ndarray of shape (n_clips, n_segments, n_features)
        Segment embeddings (or any segment representation) of every clip.
    target : ndarray of shape (n_clips,)
    enroll, test : ndarray of int
        Clips enrolled, clips tested (:func:`enrollment_draws`).
    segment_mask : ndarray of bool, shape (n_clips, n_segments), default=None
        The segments that count; None: all.
    known : CentroidClassifier or None, default=None
        Centroids of known classes that stay in the running (a copy is enrolled into, e.g. a
        margin model's ``centroid_``); None: only the enrolled classes (N-way among them).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.evaluation import enrolled_accuracy
    >>> X = np.array([[[1.0, 0.0]], [[0.9, 0.1]], [[0.0, 1.0]], [[0.1, 0.9]]])
    >>> enrolled_accuracy(X, np.array([0, 0, 1, 1]), np.array([0, 2]), np.array([1, 3]))
    1.0
    """
    target = np.asarray(target)
    mask = None if segment_mask is None else np.asarray(segment_mask)

    def part(idx):
        return None if mask is None else mask[idx]

    if known is None:
        clf = CentroidClassifier().fit(X[enroll], target[enroll], segment_mask=part(enroll))
    else:
        clf = copy.deepcopy(known).enroll(X[enroll], target[enroll], segment_mask=part(enroll))
    return float(np.mean(clf.predict(X[test], segment_mask=part(test)) == target[test]))
