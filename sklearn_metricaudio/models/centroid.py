"""CentroidClassifier: class centroids of segment embeddings, with enrollment."""

from __future__ import annotations

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import check_clip_labels, check_known_labels

__all__ = ["CentroidClassifier"]


class CentroidClassifier(ClassifierMixin, BaseEstimator):
    """Nearest class centroid over segment embeddings, decided per clip.

    The paper's decision rule: each class is represented by the centroid of
    its training segments' embeddings; a clip goes to the class whose
    centroid has the smallest distance averaged over the clip's segments.
    :meth:`enroll` adds classes (or more examples of known ones) after fit
    without touching whatever produced the embeddings: the paper's
    Enrollment of unseen classes.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"``: centroids are means of L2-normalised embeddings and the
        distance is ``1 - cos``; ``"euclidean"``: plain means and distances.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted labels, enrolled ones included.
    centroids_ : ndarray of shape (n_classes, n_features)
    counts_ : ndarray of shape (n_classes,)
        Segments behind each centroid (enrollment updates means exactly).
    temperature_ : float
        Mean distance of training segments to their own centroid; scales
        ``predict_proba = softmax(-distance / temperature_)``.
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
    """

    _parameter_constraints = {"metric": [StrOptions({"cosine", "euclidean"})]}

    def __init__(self, metric="cosine"):
        self.metric = metric

    # ------------------------------------------------------------------ helpers
    def _segments(self, X, reset):
        """Validate X as (n_clips, n_segments, n_features) float64."""
        ndim = getattr(X, "ndim", None)
        if ndim is None:
            X = np.asarray(X)
            ndim = X.ndim
        if ndim == 3:
            X = check_array(X, allow_nd=True, dtype=np.float64, ensure_all_finite=True,
                            input_name="X")
            if reset:
                self.n_features_in_ = X.shape[2]
            elif X.shape[2] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[2]} features, but CentroidClassifier is expecting "
                    f"{self.n_features_in_} features as input"
                )
            return X
        if ndim <= 2:
            X = validate_data(self, X, reset=reset, dtype=np.float64)
            return X[:, None, :]
        raise ValueError(
            f"X must be 2-D (n_clips, n_features) or 3-D (n_clips, n_segments, n_features), "
            f"got {ndim}-D"
        )

    def _prepare(self, X):
        if self.metric == "cosine":
            return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)
        return X

    def _sums(self, X, y):
        """Per-class sums of (normalised) segment vectors and their counts."""
        Z = self._prepare(X)
        labels, inverse = np.unique(y, return_inverse=True)
        sums = np.zeros((labels.size, Z.shape[-1]))
        np.add.at(sums, inverse, Z.sum(axis=1))
        counts = np.bincount(inverse, minlength=labels.size) * Z.shape[1]
        return labels, sums, counts.astype(np.float64)

    def _targets(self, y, n):
        return check_clip_labels(self, y, n)

    def _set_centroids(self, labels, sums, counts):
        self.classes_, self.sums_, self.counts_ = labels, sums, counts
        self.centroids_ = sums / counts[:, None]

    # ------------------------------------------------------------------ API
    def fit(self, X, y):
        """Compute one centroid per class from the clips' segment embeddings.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_features) or (n_clips, n_features)
        y : array-like of shape (n_clips,)
        """
        self._validate_params()
        X = self._segments(X, reset=True)
        y = self._targets(y, X.shape[0])
        labels, sums, counts = self._sums(X, y)
        if labels.size < 2:
            raise ValueError(
                f"CentroidClassifier needs at least 2 classes, got 1 class: {labels[0]!r}"
            )
        self._set_centroids(labels, sums, counts)
        own = self._distances(X)[np.arange(len(y)), np.searchsorted(self.classes_, y)]
        self.temperature_ = float(max(np.mean(own), 1e-6))
        return self

    def enroll(self, X, y):
        """Register new classes, or add examples to known ones, without refitting.

        Centroids of known classes become the mean over all their segments,
        old and new (kept exact through per-class sums and counts).
        """
        check_is_fitted(self)
        X = self._segments(X, reset=False)
        y = self._targets(y, X.shape[0])
        new_labels, new_sums, new_counts = self._sums(X, y)
        try:
            labels = np.union1d(self.classes_, new_labels)
        except TypeError as exc:
            raise ValueError(f"enrolled labels {new_labels.tolist()} cannot be compared with "
                             f"the known ones {self.classes_.tolist()}") from exc
        sums = np.zeros((labels.size, self.sums_.shape[1]))
        counts = np.zeros(labels.size)
        for src_labels, src_sums, src_counts in ((self.classes_, self.sums_, self.counts_),
                                                 (new_labels, new_sums, new_counts)):
            pos = np.searchsorted(labels, src_labels)
            sums[pos] += src_sums
            counts[pos] += src_counts
        self._set_centroids(labels, sums, counts)
        return self

    def _distances(self, X):
        """Mean over segments of the distance to every centroid: (n_clips, n_classes)."""
        Z = self._prepare(X)
        if self.metric == "cosine":
            d = 1.0 - Z @ self._prepare(self.centroids_).T
        else:
            d = np.sqrt(np.maximum(
                (Z ** 2).sum(-1)[..., None] - 2 * Z @ self.centroids_.T
                + (self.centroids_ ** 2).sum(-1), 0.0))
        return d.mean(axis=1)

    def mean_distances(self, X):
        """Mean segment distance of each clip to each class centroid, (n_clips, n_classes)."""
        check_is_fitted(self)
        return self._distances(self._segments(X, reset=False))

    def decision_function(self, X):
        """Negated mean distance per class ((n_clips,) difference for 2 classes)."""
        scores = -self.mean_distances(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X):
        """Class with the smallest mean segment distance."""
        distances = self.mean_distances(X)  # checks fitted first
        return self.classes_[np.argmin(distances, axis=1)]

    def predict_proba(self, X):
        """``softmax(-distance / temperature_)`` over classes."""
        return softmax(-self.mean_distances(X) / self.temperature_, axis=1)

    def score(self, X, y, sample_weight=None):
        """Accuracy; labels never fitted or enrolled raise a ``ValueError``."""
        check_is_fitted(self)
        check_known_labels(self, y)
        return super().score(X, y, sample_weight=sample_weight)

