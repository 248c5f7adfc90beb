"""ClipMean: one unit vector per clip from its segments' vectors (embeddings, MFCC statistics)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import StrOptions

from ..models._validation import check_clips

__all__ = ["ClipMean"]

_TINY = 1e-12


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _TINY)


class ClipMean(TransformerMixin, BaseEstimator):
    """One unit vector per clip: the mean of its segments' vectors, each scaled first.

    Two representations of a clip compared by cosine can then be joined into one: the
    concatenation of two unit vectors has a cosine to another such concatenation that is the
    mean of the two cosines. That is how the network of
    :class:`~sklearn_metricaudio.MarginEmbeddingClassifier` and the MFCC statistics of
    :class:`~sklearn_metricaudio.MFCCStats` are joined for enrolling classes the network never
    saw (scikit-learn's ``FeatureUnion`` of the two front ends, each ending in a
    ``ClipMean``, then a :class:`~sklearn_metricaudio.CentroidClassifier`; see the Examples).
    From the network, the activations of its middle block (``transform_layer=9``,
    standardised: ``rows="standard"``) rather than its embedding, which the margin loss fits
    to the training classes: ``benchmarks/RESULTS.md``, issue 24, has both, against MFCC
    statistics alone, in four enrollment directions.

    Parameters
    ----------
    rows : {"unit", "standard"}, default="unit"
        How each segment's vector is scaled before the clip's mean: ``"unit"`` divides it by
        its L2 norm (embeddings, compared by angle); ``"standard"`` standardises every
        feature with the mean and standard deviation of the segments given to :meth:`fit`
        (scikit-learn's ``StandardScaler``; for MFCC statistics, whose features have
        unlike units).

    Attributes
    ----------
    scaler_ : StandardScaler or None
        The feature scaling of ``rows="standard"``, fitted on the training segments.
    n_features_in_ : int

    Notes
    -----
    A segment that is NaN throughout is missing (the embedding of a silent segment, see
    :meth:`MarginEmbeddingClassifier.transform`): it is left out of its clip's mean and of
    the scaler's statistics.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import ClipMean
    >>> X = np.array([[[3.0, 4.0], [0.0, 2.0]],          # clip 0: two segments
    ...               [[1.0, 0.0], [np.nan, np.nan]]])   # clip 1: its second one missing
    >>> ClipMean().fit_transform(X).round(3)              # mean of (0.6, 0.8) and (0, 1), unit
    array([[0.316, 0.949],
           [1.   , 0.   ]])

    The network's block 9 joined with MFCC statistics, from files, for enrollment (one
    AudioLoader, two front ends; the network trains on ``fit``'s classes, new ones are
    enrolled into the CentroidClassifier, e.g. by ``deploy.enroll_files``):

    >>> from sklearn.pipeline import FeatureUnion, make_pipeline
    >>> from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
    ...                                  MarginEmbeddingClassifier, MFCCStats)
    >>> joined = make_pipeline(
    ...     AudioLoader(duration=5.0),
    ...     FeatureUnion([
    ...         ("network", make_pipeline(LogMelPatches(),
    ...                                   MarginEmbeddingClassifier(transform_layer=9),
    ...                                   ClipMean(rows="standard"))),
    ...         ("mfcc", make_pipeline(MFCCStats(), ClipMean(rows="standard")))]),
    ...     CentroidClassifier())
    """

    _parameter_constraints = {"rows": [StrOptions({"unit", "standard"})]}

    def __init__(self, rows="unit"):
        self.rows = rows

    def _clips(self, X, reset):
        return check_clips(self, X, reset=reset, item_ndim=1, dtype=np.float64,
                           allow_missing=True)

    def fit(self, X, y=None):
        """Fit the feature scaling (``rows="standard"``) on the segments of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_features) or (n_clips, n_features)
        y : ignored

        Returns
        -------
        self : ClipMean
        """
        self._validate_params()
        X = self._clips(X, reset=True)
        self.scaler_ = None
        if self.rows == "standard":
            rows = X.reshape(-1, X.shape[-1])
            self.scaler_ = StandardScaler().fit(rows[~np.isnan(rows).all(axis=1)])
        return self

    def transform(self, X):
        """The clips' unit mean vectors.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_features) or (n_clips, n_features)

        Returns
        -------
        ndarray of shape (n_clips, n_features)
        """
        X = self._clips(X, reset=False)
        present = ~np.isnan(X).all(axis=-1)
        if self.scaler_ is not None:
            Z = self.scaler_.transform(X.reshape(-1, X.shape[-1])).reshape(X.shape)
        else:
            Z = _unit(X)
        # the sum has the mean's direction: no division by the count before the norm
        return _unit(np.where(present[..., None], Z, 0.0).sum(axis=1))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True   # (n_clips, n_segments, n_features)
        return tags
