"""Frame-level baselines of the paper: MFCC + GMM and MFCC + linear SVM.

Both classifiers take one row per clip with a frame axis inside it,
``(n_clips, n_frames, n_features)``, train on the frames and decide per clip;
plain 2-D input ``(n_clips, n_features)`` is one frame per clip, so they are
ordinary scikit-learn classifiers there.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (MaxAbsScaler, MinMaxScaler, PowerTransformer,
                                   QuantileTransformer, RobustScaler, StandardScaler)
from sklearn.svm import LinearSVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from ._validation import check_clips, check_fit_labels

__all__ = ["GaussianMixtureClassifier", "SegmentAggregateClassifier"]


#: Column-scale ratio above which an unscaled scale-sensitive frame model gets a warning.
_SCALE_RATIO_WARNING = 1e3
#: What counts as standardising the frames before the model.
_SCALERS = (StandardScaler, RobustScaler, MinMaxScaler, MaxAbsScaler, QuantileTransformer,
            PowerTransformer)
#: Modules whose models depend on the scale of the features (distances, margins, penalties).
_SCALE_SENSITIVE = ("sklearn.svm", "sklearn.linear_model", "sklearn.neighbors",
                    "sklearn.neural_network")


def _default_frame_classifier():
    """The paper's frame classifier: standardised frames, linear SVM (C=0.01 converges fast)."""
    return make_pipeline(StandardScaler(), LinearSVC(C=0.01))


def _final_model(est):
    """The model that sees the frames: a Pipeline's last step, a wrapper's inner estimator."""
    while True:
        if isinstance(est, Pipeline):
            est = est.steps[-1][1]
        elif hasattr(est, "estimator") and hasattr(est.estimator, "fit"):
            est = est.estimator  # OneVsRestClassifier, CalibratedClassifierCV, ...
        else:
            return est


def _scales_its_input(est):
    """True when a Pipeline standardises the frames before its model (any step but the last)."""
    if not isinstance(est, Pipeline):
        return False
    return any(isinstance(step, _SCALERS) for _, step in est.steps[:-1])


def _warn_if_unscaled(est, frames):
    """Warn when a scale-sensitive model meets columns of wildly different scales.

    Linear SVMs and other margin or distance based models converge slowly (or never) and
    weigh columns by their units on raw MFCC statistics, whose variance columns reach 5e4
    while skewness stays near 1: hours instead of minutes on a real data set.
    """
    model = _final_model(est)
    if _scales_its_input(est) or not type(model).__module__.startswith(_SCALE_SENSITIVE):
        return
    std = frames[: 100_000].std(axis=0)
    std = std[std > 0]
    if std.size and std.max() / std.min() > _SCALE_RATIO_WARNING:
        warnings.warn(
            f"{type(model).__name__} is fitted on unscaled frames whose columns differ in scale "
            f"by {std.max() / std.min():.0e}x (standard deviations {std.min():.2g} to "
            f"{std.max():.2g}): it will be slow and weigh features by their units. Put a "
            f"scaler first: SegmentAggregateClassifier(make_pipeline(StandardScaler(), "
            f"{type(model).__name__}()))",
            UserWarning, stacklevel=3,
        )


class _FrameClassifierMixin:
    """Validation and frame flattening shared by the two baselines."""

    def _validate_frames(self, X, reset):
        """X as (n_clips, n_frames, n_features) float64 or float32 (the shared clip validator)."""
        return check_clips(self, X, reset=reset, item_ndim=1, dtype=[np.float64, np.float32],
                           item="frame")

    def _training_frames(self, X, y):
        """Flatten clips to frames, optionally keeping a random subset per clip."""
        n, t, f = X.shape
        limit = self.max_frames_per_clip
        if limit is not None and limit < t:
            rng = check_random_state(self.random_state)
            idx = np.stack([rng.choice(t, size=limit, replace=False) for _ in range(n)])
            X = np.take_along_axis(X, idx[:, :, None], axis=1)
            t = limit
        return X.reshape(n * t, f), np.repeat(y, t)

    def predict(self, X):
        """Class of each clip: argmax of :meth:`decision_function`."""
        scores = self._clip_scores(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def decision_function(self, X):
        """Per-clip class scores, shape (n_clips, n_classes) ((n_clips,) for 2 classes)."""
        scores = self._clip_scores(X)
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores


class GaussianMixtureClassifier(_FrameClassifierMixin, ClassifierMixin, BaseEstimator):
    """One Gaussian mixture per class over frames; a clip goes to the most likely class.

    The paper's MFCC + GMM(32) baseline: a :class:`~sklearn.mixture.GaussianMixture`
    per class is fitted on that class's training frames; a clip goes to the
    class under which the sum of its frames' log-likelihoods is largest
    (maximum-likelihood decision, equal class priors). ``decision_function``
    gives the mean frame log-likelihood per class minus its log-sum-exp over
    classes (same argmax; comparable across clips, so usable for ROC curves).

    Parameters
    ----------
    n_components : int, default=32
        Mixture components per class (the paper's 32).
    covariance_type : {"diag", "full", "tied", "spherical"}, default="diag"
        Diagonal covariances are the usual choice for MFCC features and keep
        275-d mixtures fast and well conditioned.
    reg_covar : float, default=1e-3
        Added to the covariances' diagonal. Larger than scikit-learn's 1e-6
        because the MFCC statistics hold near-constant columns on quiet clips.
    max_iter, n_init, tol : see :class:`~sklearn.mixture.GaussianMixture`.
    max_frames_per_clip : int or None, default=None
        Train on at most this many randomly chosen frames per clip (speed).
        Prediction always uses every frame.
    random_state : int, RandomState or None

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    gmms_ : list of GaussianMixture, one per class
    n_iter_ : ndarray of shape (n_classes,)
        EM iterations of each class's mixture.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import GaussianMixtureClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (10, 20, 3)), rng.normal(3, 1, (10, 20, 3))])
    >>> y = np.repeat(["a", "b"], 10)
    >>> clf = GaussianMixtureClassifier(n_components=2, random_state=0).fit(X, y)
    >>> clf.predict(X[[0, -1]]).tolist()
    ['a', 'b']
    """

    _parameter_constraints = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "reg_covar": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "max_frames_per_clip": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=32, *, covariance_type="diag", reg_covar=1e-3, max_iter=100,
                 n_init=1, tol=1e-3, max_frames_per_clip=None, random_state=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.tol = tol
        self.max_frames_per_clip = max_frames_per_clip
        self.random_state = random_state

    def fit(self, X, y):
        """Fit one mixture per class on the frames of that class's clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_clips, n_features)
        y : array-like of shape (n_clips,)
        """
        self._validate_params()
        X = self._validate_frames(X, reset=True)
        self.classes_, y_enc = check_fit_labels(self, y, X.shape[0])
        frames, labels = self._training_frames(X, y_enc)
        # float64: EM on float32 frames with many repeats (digital silence in real recordings)
        # can round a collapsed component's variance below zero
        frames = frames.astype(np.float64, copy=False)
        rng = check_random_state(self.random_state)
        self.gmms_ = []
        for k, cls in enumerate(self.classes_):
            Xk = frames[labels == k]
            if Xk.shape[0] < self.n_components:
                raise ValueError(
                    f"class '{cls}' has {Xk.shape[0]} training frames, fewer than "
                    f"n_components={self.n_components}"
                )
            gmm = GaussianMixture(n_components=self.n_components,
                                  covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                                  max_iter=self.max_iter, n_init=self.n_init, tol=self.tol,
                                  random_state=rng.randint(np.iinfo(np.int32).max))
            self.gmms_.append(gmm.fit(Xk))
        self.n_iter_ = np.array([g.n_iter_ for g in self.gmms_])
        return self

    def _frame_loglik(self, X):
        X = self._validate_frames(X, reset=False)
        n, t, f = X.shape
        flat = X.reshape(n * t, f).astype(np.float64, copy=False)
        ll = np.stack([g.score_samples(flat) for g in self.gmms_], axis=1)
        return ll.reshape(n, t, -1)

    def _clip_scores(self, X):
        # Mean frame log-likelihood, normalised over classes (a log-softmax): same argmax as
        # the summed log-likelihood, and comparable across clips, so it ranks clips for ROC
        # curves (raw likelihoods mostly rank clips by how loud or noisy they are).
        mean_ll = self._frame_loglik(X).mean(axis=1)
        return mean_ll - logsumexp(mean_ll, axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Class posteriors from the summed frame log-likelihoods (equal priors).

        These treat frames as independent, so they are very confident; use
        :meth:`decision_function` for ranking (ROC curves).
        """
        total = self._frame_loglik(X).sum(axis=1)
        return total - logsumexp(total, axis=1, keepdims=True)

    def predict_proba(self, X):
        """``exp(predict_log_proba(X))``, shape (n_clips, n_classes)."""
        return np.exp(self.predict_log_proba(X))

    def score_samples(self, X):
        """Summed frame log-likelihood of each clip under each class, (n_clips, n_classes)."""
        return self._frame_loglik(X).sum(axis=1)


class SegmentAggregateClassifier(_FrameClassifierMixin, ClassifierMixin, BaseEstimator):
    """Fit any scikit-learn classifier on frames; a clip's score is the mean frame score.

    The paper's MFCC + linear SVM baseline is the default,
    ``SegmentAggregateClassifier(max_frames_per_clip=40)``: standardised frames
    and a linear SVM (``make_pipeline(StandardScaler(), LinearSVC(C=0.01))``);
    every frame is a training example labelled with its clip's class, and a
    clip goes to the class with the largest mean signed decision value over
    its frames (one-vs-rest hyperplane distances).

    Scale-sensitive frame models (linear models, SVMs, neighbours, neural
    networks) need standardised input: MFCC statistics mix columns whose
    scales differ by 1e4 and more, on which an unscaled ``LinearSVC`` runs for
    hours instead of minutes. Such a model fitted without a scaler in front
    gets a ``UserWarning``.

    Parameters
    ----------
    estimator : classifier, default=None
        Frame-level classifier with ``decision_function`` or ``predict_proba``;
        ``None`` means ``make_pipeline(StandardScaler(), LinearSVC(C=0.01))``.
    max_frames_per_clip : int or None, default=None
        Train on at most this many randomly chosen frames per clip (prediction
        uses every frame). A few tens per clip keep training on thousands of
        clips to minutes; ``None`` trains on every frame.
    random_state : int, RandomState or None
        Seeds the frame subsampling.

    Attributes
    ----------
    estimator_ : fitted frame-level classifier
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import SegmentAggregateClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (10, 20, 3)), rng.normal(3, 1, (10, 20, 3))])
    >>> y = np.repeat([0, 1], 10)
    >>> clf = SegmentAggregateClassifier(max_frames_per_clip=10, random_state=0).fit(X, y)
    >>> clf.score(X, y)
    1.0
    >>> clf.estimator_                            # the paper's scaled linear SVM
    Pipeline(steps=[('standardscaler', StandardScaler()), ('linearsvc', LinearSVC(C=0.01))])
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"]), None],
        "max_frames_per_clip": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, max_frames_per_clip=None, random_state=None):
        self.estimator = estimator
        self.max_frames_per_clip = max_frames_per_clip
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the frame classifier on every (subsampled) frame of every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_clips, n_features)
        y : array-like of shape (n_clips,)
        """
        self._validate_params()
        X = self._validate_frames(X, reset=True)
        self.classes_, y_enc = check_fit_labels(self, y, X.shape[0])
        frames, labels = self._training_frames(X, y_enc)
        est = _default_frame_classifier() if self.estimator is None else clone(self.estimator)
        if not (hasattr(est, "decision_function") or hasattr(est, "predict_proba")):
            raise ValueError(
                f"estimator {type(est).__name__} has neither decision_function nor predict_proba"
            )
        _warn_if_unscaled(est, frames)
        self.estimator_ = est.fit(frames, labels)
        return self

    def _frame_scores(self, X):
        X = self._validate_frames(X, reset=False)
        n, t, f = X.shape
        flat = X.reshape(n * t, f)
        if hasattr(self.estimator_, "decision_function"):
            s = self.estimator_.decision_function(flat)
            if s.ndim == 1:  # binary: score of the positive class
                s = np.stack([-s, s], axis=1) / 2.0
        else:
            s = self.estimator_.predict_proba(flat)
        return s.reshape(n, t, -1)

    def _clip_scores(self, X):
        return self._frame_scores(X).mean(axis=1)

    def _has_proba(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, "predict_proba")
        return self.estimator is not None and hasattr(self.estimator, "predict_proba")

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Mean of the frame classifier's ``predict_proba`` over each clip's frames."""
        X = self._validate_frames(X, reset=False)
        n, t, f = X.shape
        return self.estimator_.predict_proba(X.reshape(n * t, f)).reshape(n, t, -1).mean(axis=1)
