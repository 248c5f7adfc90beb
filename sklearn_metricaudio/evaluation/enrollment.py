"""enrollment_draws: random enrollment / test splits for few-shot enrollment of new classes."""

from __future__ import annotations

import numpy as np

__all__ = ["enrollment_draws"]


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
