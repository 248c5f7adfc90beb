"""CentroidClassifier: class centroids of segment embeddings, with enrollment."""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import StrOptions

from ._validation import check_clip_labels, check_clips, check_fit_labels, missing_items

__all__ = ["CentroidClassifier", "clip_distances", "nearest_labels"]


class CentroidClassifier(ClassifierMixin, BaseEstimator):
    """Nearest class centroid over segment embeddings, decided per clip.

    The paper's decision rule: each class is represented by the centroid of
    its training segments' embeddings; a clip goes to the class whose
    centroid has the smallest distance averaged over the clip's segments.
    :meth:`enroll` adds classes (or more examples of known ones) after fit
    without touching whatever produced the embeddings: the paper's
    Enrollment of unseen classes.

    A segment that is NaN throughout is **missing**: it enters no centroid and no clip's
    mean. :class:`MarginEmbeddingClassifier`'s ``embeddings`` (and ``transform``) leave silent
    segments so, which is how a ``MarginEmbeddingClassifier -> CentroidClassifier`` pipeline
    decides exactly as the margin model does (one rule, here: :func:`clip_distances`, :func:`nearest_labels`).

    Parameters
    ----------
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"``: centroids are means of L2-normalised embeddings and the
        distance is ``1 - cos``; ``"euclidean"``: plain means and distances.
    unknown_label : str, int or None, default=None
        What :meth:`predict` returns for a rejected clip, once :meth:`calibrate` has
        set a rejection threshold. ``None``: ``"unknown"`` for string labels, ``-1``
        for numeric ones. It must not be one of the classes.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted labels, enrolled ones included.
    centroids_ : ndarray of shape (n_classes, n_features)
    counts_ : ndarray of shape (n_classes,)
        Segments behind each centroid (enrollment updates means exactly).
    sums_, sum_squares_ : ndarray
        Per-class sums of the (unit, for cosine) segment vectors and of their squared norms.
    temperature_ : float
        Spread of the training (and enrolled) segments around their own centroid:
        the mean cosine distance, or the root mean square Euclidean distance. Scales
        ``predict_proba = softmax(-distance / temperature_)``.
    threshold_ : float
        Only after :meth:`calibrate`: a clip whose smallest mean distance exceeds it is
        predicted as ``unknown_label`` (open-set rejection).
    true_accept_ : float
        Only after :meth:`calibrate`: the share of the calibration clips it accepts.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import CentroidClassifier
    >>> X = np.array([[[1, 0], [0.9, 0.1]], [[0, 1], [0.2, 0.8]]])   # 2 clips x 2 segments
    >>> clf = CentroidClassifier().fit(X, ["a", "b"])
    >>> clf.predict([[[0.8, 0.3]]]).tolist()
    ['a']
    >>> clf.enroll([[[-1, 0]]], ["c"]).predict([[[-0.9, 0.1]]]).tolist()
    ['c']

    Open-set rejection: a threshold fitted on held-out clips of the known classes, so
    that 95 % of them are accepted; a sound far from every centroid is "unknown".

    >>> held_out = [[[0.95, 0.05]], [[0.1, 0.9]], [[-0.8, 0.1]], [[0.85, 0.2]]]
    >>> clf.calibrate(held_out, true_accept=0.95).predict([[[0.9, 0.1]], [[0.7, -0.7]]]).tolist()
    ['a', 'unknown']
    """

    _parameter_constraints = {"metric": [StrOptions({"cosine", "euclidean"})],
                              "unknown_label": [str, numbers.Integral, None]}

    def __init__(self, metric="cosine", *, unknown_label=None):
        self.metric = metric
        self.unknown_label = unknown_label

    # ------------------------------------------------------------------ helpers
    def _segments(self, X, reset, segment_mask=None):
        """X as (n_clips, n_segments, n_features) float64, its missing segments zeroed, and the
        (n_clips, n_segments) mask of the segments that count (see :func:`clip_distances`)."""
        X = check_clips(self, X, reset=reset, item_ndim=1, dtype=np.float64,
                        allow_missing=True)
        present = ~missing_items(X)
        counted = _counted(self._check_mask(segment_mask, X), present)
        return np.where(present[..., None], X, 0.0), counted

    def _prepare(self, X):
        if self.metric == "cosine":
            return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)
        return X

    def _sums(self, X, y, counted):
        """Per-class sums of (normalised) segment vectors, of their squared norms, and counts
        of the segments that count (``counted``, from :meth:`_segments`)."""
        Z = self._prepare(X) * counted[..., None]
        labels, inverse = np.unique(y, return_inverse=True)
        sums = np.zeros((labels.size, Z.shape[-1]))
        np.add.at(sums, inverse, Z.sum(axis=1))
        sq = np.zeros(labels.size)
        np.add.at(sq, inverse, np.square(Z).sum(axis=(1, 2)))
        counts = np.zeros(labels.size)
        np.add.at(counts, inverse, counted.sum(axis=1))
        return labels, sums, sq, counts

    def _set_centroids(self, labels, sums, sq, counts):
        self.classes_, self.sums_, self.sum_squares_, self.counts_ = labels, sums, sq, counts
        self.centroids_ = sums / counts[:, None]
        self.temperature_ = self._spread(sums, sq, counts)

    def _spread(self, sums, sq, counts):
        """The typical distance of a segment to its own centroid, from the sufficient statistics.

        Cosine: the mean distance ``1 - cos``, exactly ``sum_k (n_k - ||S_k||) / N`` with
        ``S_k`` the sum of class ``k``'s unit vectors. Euclidean: the root mean square
        distance, ``sqrt(sum_k (Q_k - ||S_k||**2 / n_k) / N)`` with ``Q_k`` the sum of squared
        norms. Both follow from per-class sums, so enrolling and fitting on everything give
        the same value.
        """
        total = counts.sum()
        if self.metric == "cosine":
            spread = (counts - np.linalg.norm(sums, axis=1)).sum() / total
        else:
            within = sq - np.square(sums).sum(axis=1) / counts
            spread = np.sqrt(max(within.sum(), 0.0) / total)
        return float(max(spread, 1e-6))

    # ------------------------------------------------------------------ API
    def fit(self, X, y, segment_mask=None):
        """Compute one centroid per class from the clips' segment embeddings.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_features) or (n_clips, n_features)
        y : array-like of shape (n_clips,)
        segment_mask : array-like of bool, shape (n_clips, n_segments), default=None
            The segments that count (e.g. not the silent ones): the others enter no
            centroid; a clip with none marked counts all of its (not missing) segments.
            ``None``: all.
            The same rule as in :meth:`predict`.

        Returns
        -------
        self : CentroidClassifier
        """
        self._validate_params()
        X, counted = self._segments(X, reset=True, segment_mask=segment_mask)
        classes, y_enc = check_fit_labels(self, y, X.shape[0])
        labels, sums, sq, counts = self._sums(X, classes[y_enc], counted)
        self._set_centroids(labels, sums, sq, counts)
        return self

    def enroll(self, X, y, segment_mask=None):
        """Register new classes, or add examples to known ones, without refitting.

        Centroids of known classes become the mean over all their segments, old and
        new, and ``temperature_`` is that of a fit on everything (both are kept exact
        through per-class sums and counts).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_features) or (n_clips, n_features)
        y : array-like of shape (n_clips,)
            Any number of classes, one included.
        segment_mask : array-like of bool, shape (n_clips, n_segments), default=None
            The segments that count, as in :meth:`fit`.

        Returns
        -------
        self : CentroidClassifier
        """
        X, counted = self._segments(X, reset=False, segment_mask=segment_mask)  # fitted?
        y = check_clip_labels(self, y, X.shape[0])
        new_labels, new_sums, new_sq, new_counts = self._sums(X, y, counted)
        numeric = [labels.dtype.kind in "biuf" for labels in (self.classes_, new_labels)]
        if numeric[0] != numeric[1]:  # numpy would turn every label into a string
            raise ValueError(f"enrolled labels {new_labels.tolist()} cannot be compared with "
                             f"the known ones {self.classes_.tolist()}: use labels of one type")
        try:
            labels = np.union1d(self.classes_, new_labels)
        except TypeError as exc:
            raise ValueError(f"enrolled labels {new_labels.tolist()} cannot be compared with "
                             f"the known ones {self.classes_.tolist()}") from exc
        sums = np.zeros((labels.size, self.sums_.shape[1]))
        sq, counts = np.zeros(labels.size), np.zeros(labels.size)
        for src in ((self.classes_, self.sums_, self.sum_squares_, self.counts_),
                    (new_labels, new_sums, new_sq, new_counts)):
            pos = np.searchsorted(labels, src[0])
            sums[pos] += src[1]
            sq[pos] += src[2]
            counts[pos] += src[3]
        self._set_centroids(labels, sums, sq, counts)
        return self


    @staticmethod
    def _check_mask(segment_mask, X):
        if segment_mask is None:
            return None
        segment_mask = np.asarray(segment_mask)
        if segment_mask.dtype != bool or segment_mask.shape != X.shape[:2]:
            raise ValueError(
                f"segment_mask must be a boolean array of shape (n_clips, n_segments) = "
                f"{X.shape[:2]}, got dtype {segment_mask.dtype} and shape "
                f"{segment_mask.shape}")
        return segment_mask

    def mean_distances(self, X, segment_mask=None):
        """Mean segment distance of each clip to each class centroid, (n_clips, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_features) or (n_clips, n_features)
        segment_mask : array-like of bool, shape (n_clips, n_segments), default=None
            The segments that count in each clip's mean (e.g. not the silent ones);
            a clip with none marked counts all of its (not missing) segments. ``None``: all.

        Returns
        -------
        ndarray of shape (n_clips, n_classes)
        """
        X, counted = self._segments(X, reset=False, segment_mask=segment_mask)  # fitted?
        return clip_distances(X, self.centroids_, metric=self.metric, counted=counted)

    def decision_function(self, X, segment_mask=None):
        """Negated mean distance per class ((n_clips,) difference for 2 classes).

        ``segment_mask``: see :meth:`mean_distances`.
        """
        scores = -self.mean_distances(X, segment_mask)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X, segment_mask=None):
        """Class with the smallest mean segment distance (``segment_mask``: see
        :meth:`mean_distances`); ``unknown_label`` beyond ``threshold_`` once
        :meth:`calibrate` has set one."""
        distances = self.mean_distances(X, segment_mask)
        threshold = getattr(self, "threshold_", None)
        return nearest_labels(distances, self.classes_, threshold=threshold,
                              unknown_label=None if threshold is None else self._unknown_label())

    # ------------------------------------------------------------------ open set
    def _unknown_label(self):
        """``unknown_label``, or its default for the classes' type; never a class."""
        unknown = self.unknown_label
        if unknown is None:
            unknown = "unknown" if self.classes_.dtype.kind in "OUS" else -1
        if any(unknown == c for c in self.classes_.tolist()):
            raise ValueError(f"unknown_label={unknown!r} is one of the classes "
                             f"{self.classes_.tolist()}: choose a label that is not")
        return unknown

    def score_samples(self, X, segment_mask=None):
        """How well each clip fits the known classes: minus its smallest mean distance.

        The open-set score (higher: more like a known class; scikit-learn's outlier
        detectors' convention). :meth:`calibrate` puts its threshold on it.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_features) or (n_clips, n_features)
        segment_mask : see :meth:`mean_distances`

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        return -self.mean_distances(X, segment_mask).min(axis=1)

    def calibrate(self, X, *, true_accept=0.95, segment_mask=None):
        """Fit the rejection threshold on held-out clips of the known classes.

        ``threshold_`` becomes the ``true_accept`` quantile of the clips' smallest mean
        distance, so that this share of them would be accepted; from then on
        :meth:`predict` returns ``unknown_label`` for a clip farther than that from every
        centroid. Use clips that neither the centroids nor the embedding were fitted on
        (e.g. :class:`MarginEmbeddingClassifier`'s validation clips, ``validation_mask_``):
        training clips sit closer to their centroids and would set the threshold too
        tight. Enrolling classes later keeps the threshold.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_features) or (n_clips, n_features)
            Held-out clips of the known classes (their labels are not needed).
        true_accept : float in (0, 1], default=0.95
            Target share of known clips accepted (the true-accept rate).
        segment_mask : see :meth:`mean_distances`

        Returns
        -------
        self : CentroidClassifier
        """
        if not (isinstance(true_accept, numbers.Real) and 0 < true_accept <= 1):
            raise ValueError(f"true_accept must be a share in (0, 1], got {true_accept!r}")
        distance = -self.score_samples(X, segment_mask)  # checks fitted first
        self._unknown_label()  # a clash with a class is an error now, not at predict
        self.threshold_ = float(np.quantile(distance, true_accept, method="higher"))
        self.true_accept_ = float(np.mean(distance <= self.threshold_))
        return self

    def predict_proba(self, X, segment_mask=None):
        """``softmax(-distance / temperature_)`` over classes (``segment_mask``: see
        :meth:`mean_distances`)."""
        return softmax(-self.mean_distances(X, segment_mask) / self.temperature_, axis=1)


def _counted(segment_mask, present):
    """(n_clips, n_segments) bool of the segments that count: the ``present`` ones (not
    missing) that ``segment_mask`` marks (all when None); a clip with none marked counts all
    its present segments (no empty mean)."""
    if segment_mask is None:
        return present
    mask = np.asarray(segment_mask, dtype=bool) & present
    none = ~mask.any(axis=1)
    mask[none] = present[none]
    return mask


def clip_distances(X, centroids, *, metric="cosine", counted=None):
    """Each clip's mean segment distance to each centroid: the paper's clip decision.

    The one implementation of the rule behind :class:`CentroidClassifier` (and so behind
    :class:`MarginEmbeddingClassifier`, streaming and file prediction); the ONNX graph of
    :func:`~sklearn_metricaudio.deploy.export_onnx` computes the same in torch and is tested
    against it.

    Parameters
    ----------
    X : ndarray of shape (n_clips, n_segments, n_features)
        Segment vectors (finite: missing segments zeroed and left out by ``counted``).
    centroids : ndarray of shape (n_classes, n_features)
    metric : {"cosine", "euclidean"}, default="cosine"
        ``1 - cos`` between the L2-normalised vectors, or the Euclidean distance.
    counted : ndarray of bool, shape (n_clips, n_segments), default=None
        The segments that enter each clip's mean (every clip has one); None: all.

    Returns
    -------
    ndarray of shape (n_clips, n_classes)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.models.centroid import clip_distances
    >>> X = np.array([[[1.0, 0.0], [0.0, 1.0]]])          # one clip, two segments
    >>> clip_distances(X, np.array([[1.0, 0.0]])).tolist()  # distances 0 and 1
    [[0.5]]
    >>> clip_distances(X, np.array([[1.0, 0.0]]), counted=np.array([[True, False]])).tolist()
    [[0.0]]
    """
    def unit(a):
        return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)

    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    if metric == "cosine":
        d = 1.0 - unit(X) @ unit(centroids).T
    else:
        d = np.sqrt(np.maximum((X ** 2).sum(-1)[..., None] - 2 * X @ centroids.T
                               + (centroids ** 2).sum(-1), 0.0))
    if counted is None:
        return d.mean(axis=1)
    return (d * counted[..., None]).sum(axis=1) / counted.sum(axis=1)[:, None]


def nearest_labels(distances, classes, *, threshold=None, unknown_label=None):
    """The class of the smallest distance; ``unknown_label`` where even that exceeds
    ``threshold`` (open-set rejection; no rejection when ``threshold`` is None).

    The labels array keeps the classes' type when ``unknown_label`` is of the same kind
    (both numbers or both strings), else it holds objects.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.models.centroid import nearest_labels
    >>> nearest_labels(np.array([[0.1, 0.5], [0.7, 0.9]]), np.array(["a", "b"]),
    ...                threshold=0.6, unknown_label="unknown").tolist()
    ['a', 'unknown']
    """
    distances = np.asarray(distances)
    labels = np.asarray(classes)[np.argmin(distances, axis=1)]
    if threshold is None:
        return labels
    if unknown_label is None:
        raise ValueError("a threshold rejects clips: give the unknown_label they get")
    return with_unknown(labels, distances.min(axis=1) > threshold, unknown_label)


def with_unknown(labels, rejected, unknown_label):
    """``labels`` with ``unknown_label`` where ``rejected`` (open-set rejection).

    Parameters
    ----------
    labels : array-like of shape (n_clips,)
    rejected : array-like of bool, shape (n_clips,)
    unknown_label : str or int
        What a rejected clip gets.

    Returns
    -------
    ndarray of shape (n_clips,)
        Of the labels' type when ``unknown_label`` is of the same kind (both numbers or
        both strings, widened to hold it), else of objects.

    Examples
    --------
    >>> from sklearn_metricaudio.models.centroid import with_unknown
    >>> with_unknown(["dog", "rain"], [False, True], "unknown").tolist()
    ['dog', 'unknown']
    >>> with_unknown([3, 5], [True, False], -1).tolist()
    [-1, 5]
    """
    labels = np.asarray(labels)
    unknown = np.asarray([unknown_label])
    kinds = {labels.dtype.kind, unknown.dtype.kind}
    same_kind = kinds <= set("biuf") or kinds <= set("OUS")
    out = labels.astype(np.result_type(labels, unknown) if same_kind else object)
    out[rejected] = unknown[0]
    return out
