"""MetricAugmentationSelector: keep a deformed clip only where a learned metric agrees.

The second paper's Algorithm 1 (Lu, Duan & Zhang, "Metric learning based data augmentation
for environmental sound classification"): partition the training set; for each partition,
learn a metric (an embedding) on the other partitions, deform each held-out clip every way
the deformations know, and keep a deformed clip only if its ``k`` nearest training clips
in the embedding (cosine similarity) vote for the clip's own label.

Two ways in: :meth:`MetricAugmentationSelector.fit_resample` (imbalanced-learn's sampler
convention, for :class:`imblearn.pipeline.Pipeline`) and, with ``estimator=``, a
resample-then-fit meta-estimator that sits at the end of a plain scikit-learn Pipeline
(like :class:`~sklearn.compose.TransformedTargetRegressor`, which fits a wrapped estimator
on transformed targets and delegates prediction to it).
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_memory, column_or_1d, get_tags

from .._routing import clip_fit_params

__all__ = ["MetricAugmentationSelector", "PartitionVote", "knn_agreement", "default_metric"]


def default_metric(*, sr=22050, random_state=None):
    """The paper's metric: log-mel patches and a MobileNet trained with the N-pair loss.

    The paper trains its CNN with the multi-class N-pair loss (Adam, learning rate 1e-4,
    300 epochs); here the toolkit's :class:`MarginEmbeddingClassifier` with
    ``loss="npair"`` at a learning rate that trains in 30 epochs (SGD 0.002, constant: 0.005
    left the loss stuck at ``log(n_classes)`` on ESC-10, ``benchmarks/RESULTS.md``), the
    recipe the selection was measured with (not the classifier's later defaults).

    >>> default_metric()[-1].loss
    'npair'
    """
    from sklearn.pipeline import make_pipeline

    from ..features import LogMelPatches
    from ..models import MarginEmbeddingClassifier

    return make_pipeline(LogMelPatches(sr=sr),
                         MarginEmbeddingClassifier(loss="npair", epochs=30, lr=0.002,
                                                   lr_schedule="constant",
                                                   random_state=random_state))


def _unit(a):
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def clip_embeddings(metric, X):
    """One unit vector per clip: the mean of its unit segment embeddings.

    ``metric.transform`` may return (n_clips, dim) or (n_clips, n_segments, dim)
    (:class:`MarginEmbeddingClassifier`, whose silent segments are NaN: left out); cosine
    similarity is then the dot product.
    """
    emb = np.asarray(metric.transform(X), dtype=np.float64)
    if emb.ndim == 3:  # a missing (NaN, silent) segment enters no mean, as in the centroids
        emb = np.nanmean(_unit(emb), axis=1)
    elif emb.ndim != 2:
        raise ValueError(f"the metric's transform must return (n_clips, dim) or (n_clips, "
                         f"n_segments, dim) embeddings, got shape {emb.shape}")
    return _unit(emb)


def knn_agreement(train_embeddings, train_labels, query_embeddings, query_labels, *,
                  n_neighbors=5):
    """Whether the ``n_neighbors`` nearest training points vote for each query's label.

    Line 12 of the paper's Algorithm 1. Neighbours by cosine similarity
    (:class:`~sklearn.neighbors.NearestNeighbors`, brute force); each votes for its
    label. **Ties**: among labels with the most votes, the one whose voters are the
    most similar in total wins (then the label that sorts first), so that ``k = 2``
    with one neighbour of each class goes to the nearer one.

    Parameters
    ----------
    train_embeddings : array-like of shape (n_train, dim)
    train_labels : array-like of shape (n_train,)
    query_embeddings : array-like of shape (n_query, dim)
    query_labels : array-like of shape (n_query,)
    n_neighbors : int, default=5

    Returns
    -------
    accept : ndarray of bool, shape (n_query,)
    predicted : ndarray of shape (n_query,)
        The vote's label for each query.

    Examples
    --------
    >>> import numpy as np
    >>> train = np.array([[1, 0], [1, .1], [0, 1], [.1, 1]])
    >>> labels = np.array(["a", "a", "b", "b"])
    >>> accept, pred = knn_agreement(train, labels, np.array([[1, .05], [1, .05]]),
    ...                              np.array(["a", "b"]), n_neighbors=1)
    >>> accept, pred
    (array([ True, False]), array(['a', 'a'], dtype='<U1'))
    """
    train_labels = np.asarray(train_labels)
    if n_neighbors > len(train_labels):
        raise ValueError(f"n_neighbors={n_neighbors} is larger than the training partition "
                         f"({len(train_labels)} clips)")
    classes, enc = np.unique(train_labels, return_inverse=True)
    nn = NearestNeighbors(n_neighbors=n_neighbors, metric="cosine", algorithm="brute")
    nn.fit(np.asarray(train_embeddings))
    dist, idx = nn.kneighbors(np.asarray(query_embeddings))
    votes = np.zeros((len(idx), classes.size))
    sims = np.zeros((len(idx), classes.size))
    rows = np.repeat(np.arange(len(idx)), n_neighbors)
    np.add.at(votes, (rows, enc[idx].ravel()), 1.0)
    np.add.at(sims, (rows, enc[idx].ravel()), (1.0 - dist).ravel())
    # most votes first; among those, the largest summed similarity; argmax takes the first
    top = votes == votes.max(axis=1, keepdims=True)
    predicted = classes[np.argmax(np.where(top, sims, -np.inf), axis=1)]
    return predicted == np.asarray(query_labels), predicted


class PartitionVote:
    """Algorithm 1 for one partition: the kNN vote of a metric learned without it.

    The core that :class:`MetricAugmentationSelector` and the augmentation study
    (:func:`~sklearn_metricaudio.evaluation.compare_augmentation`) share: a metric fitted on
    the other partitions (lines 9-11 of the paper's Algorithm 1; fitted by the caller, who
    may cache or parallelise it) embeds their clips once (:func:`clip_embeddings`); each
    deformed clip of the held-out partition is then accepted when its nearest training clips
    vote for its own label (lines 12-13, :func:`knn_agreement`).

    Parameters
    ----------
    metric : fitted estimator with ``transform``
        Returns (n_clips, dim) or (n_clips, n_segments, dim) embeddings.
    X_train : array-like
        The clips the metric learned from (its input: waveforms or features).
    y_train : array-like of shape (n_train,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklearn_metricaudio.augment import PartitionVote
    >>> vote = PartitionVote(FunctionTransformer(), np.array([[1.0, 0.0], [0.0, 1.0]]), ["a", "b"])
    >>> vote.accepts(np.array([[0.9, 0.2], [0.9, 0.2]]), np.array(["a", "b"]), n_neighbors=1)
    array([ True, False])
    """

    def __init__(self, metric, X_train, y_train):
        self.metric = metric
        self.train_embeddings = clip_embeddings(metric, X_train)
        self.train_labels = np.asarray(y_train)

    def accepts(self, X_query, y_query, n_neighbors=5):
        """Whether the ``n_neighbors`` nearest training clips vote for each query's label.

        ``n_neighbors`` may be a sequence: the queries are embedded once, and a list of
        results (one per value, in order) is returned.
        """
        emb = clip_embeddings(self.metric, X_query)
        ks = [n_neighbors] if np.isscalar(n_neighbors) else list(n_neighbors)
        out = [knn_agreement(self.train_embeddings, self.train_labels, emb, y_query,
                             n_neighbors=k)[0] for k in ks]
        return out[0] if np.isscalar(n_neighbors) else out


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return self.estimator is not None and hasattr(self.estimator, attr)
    return check


def _seed_unset(est, seed):
    """Give every ``random_state`` left at None a seed (scikit-learn's meta-estimator habit)."""
    params = est.get_params(deep=True)
    unset = {k: seed for k, v in params.items()
             if (k == "random_state" or k.endswith("__random_state")) and v is None}
    if unset:
        est.set_params(**unset)
    return est


def _take(value, rows, n):
    """A per-sample fit parameter (length ``n``) extended to the resampled rows."""
    if hasattr(value, "__len__") and not isinstance(value, (str, dict)) and len(value) == n:
        return np.asarray(value)[rows]
    return value


def _fit_metric(metric, X, y):
    return metric.fit(X, y)


def _deform(deformation, X):
    return deformation.transform(X)


class MetricAugmentationSelector(MetaEstimatorMixin, BaseEstimator):
    """Augment waveforms with the deformations a learned metric agrees with.

    The second paper's Algorithm 1. The clips are split into partitions (``groups``,
    e.g. the predefined folds, or ``n_splits`` stratified random ones). For each
    partition a clone of ``metric`` is fitted on all the other partitions; each held-out
    clip is deformed every way ``deformations`` know; a deformed clip is kept when its
    ``n_neighbors`` nearest training clips (cosine similarity of clip embeddings, the
    mean of the unit segment embeddings) vote for the clip's label
    (:func:`knn_agreement`, ties documented there). No clip is ever judged by a metric
    that saw it.

    :meth:`fit_resample` returns the original clips, unchanged and first, then the kept
    deformed clips (imbalanced-learn's sampler convention: use it as a step of an
    :class:`imblearn.pipeline.Pipeline`). With ``estimator``, :meth:`fit` fits a clone
    of it on the resampled clips and ``predict``, ``predict_proba``,
    ``decision_function``, ``transform`` and ``score`` go to that clone: the selector is
    then the last step of a plain scikit-learn Pipeline, where a step cannot change the
    number of samples.

    Parameters
    ----------
    estimator : estimator or None, default=None
        Fitted on the resampled clips by :meth:`fit`. None: sampler only.
    metric : transformer or None, default=None
        Maps clips (what ``X`` holds: waveforms) to embeddings, (n_clips, dim) or
        (n_clips, n_segments, dim). None: :func:`default_metric` (log-mel patches and a
        MobileNet trained with the N-pair loss, the paper's choice).
    deformations : list of (name, deformation) or of deformations, default=None
        Each maps waveforms (n, n_samples) to (n, n_variants, n_samples) and names its
        variants (``variants()``), as the classes of :mod:`sklearn_metricaudio.augment`
        do. A bare list is named like :func:`~sklearn.pipeline.make_pipeline` names
        steps. None: :func:`paper_deformations` at ``sr`` (the paper's 20 variants; the
        backgrounds are the synthetic set's, which no fold of a real data set holds).
    n_splits : int, default=8
        Random stratified partitions when ``fit_resample`` gets no ``groups`` (the paper
        uses the 8 training folds of UrbanSound8K).
    n_neighbors : int, default=5
        The paper's k: 5 (best) or 1.
    sr : int, default=22050
        Sample rate of the default metric and deformations.
    memory : str, joblib.Memory or None, default=None
        Caches the fitted metrics and the deformed clips on disk (keyed on the data and
        the settings): a cross-validation over predefined folds re-uses both, since the
        metric for (test fold t, held-out fold i) is the one for (i, t). Needs an int
        ``random_state`` (None draws new seeds, hence new keys, at every call). Every
        deformed version of every clip is written to the cache (21 times the input's size
        with the paper's deformations).
    random_state : int, RandomState or None, default=None
        Seeds the partitions and every ``random_state`` left at None in ``metric`` and
        ``estimator``. A deformation that draws random numbers (:class:`BackgroundNoise`)
        gets a seed per partition, drawn from its own ``random_state`` (or from this one
        where that is None).
    verbose : int, default=0
        1 prints a line per partition (clips, accepted, seconds).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Samples per clip.
    partitions_ : ndarray of shape (n_clips,)
        Partition (0-based) of each clip.
    variant_names_ : list of str
        One per deformation variant, e.g. ``"TS(0.81)"``, ``"DRC(radio)"``.
    variant_deformations_ : list of str
        The deformation (its name) each variant belongs to.
    deformation_names_ : list of str
    acceptance_ : ndarray of shape (n_classes, n_variants)
        Accepted fraction per class and variant (NaN where a class has no clip).
    acceptance_by_deformation_ : ndarray of shape (n_classes, n_deformations)
    acceptance_by_class_ : ndarray of shape (n_classes,)
    acceptance_ratio_ : float
        Accepted / generated, over everything.
    sample_indices_ : ndarray of int, shape (n_accepted,)
        Row of ``X`` each kept deformed clip was made from, in output order.
    sample_variants_ : ndarray of int, shape (n_accepted,)
        Its variant (an index into ``variant_names_``).
    estimator_ : estimator
        The clone of ``estimator`` fitted on the resampled clips (with ``estimator``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator, TransformerMixin
    >>> from sklearn_metricaudio.augment import MetricAugmentationSelector
    >>> class FirstTwo(TransformerMixin, BaseEstimator):      # a stand-in metric
    ...     def fit(self, X, y=None): return self
    ...     def transform(self, X): return np.asarray(X)[:, :2]
    >>> class Louder(TransformerMixin, BaseEstimator):        # a stand-in deformation
    ...     def fit(self, X=None, y=None): return self
    ...     def variants(self): return [("gain", 2), ("gain", -1)]
    ...     def transform(self, X): return np.stack([2 * X, -X], axis=1)
    >>> X = np.array([[1, 0, 0, 1], [1, .1, 0, 1], [0, 1, 1, 0], [.1, 1, 1, 0]] * 2, float)
    >>> y = np.array([0, 0, 1, 1] * 2)
    >>> sel = MetricAugmentationSelector(metric=FirstTwo(), deformations=[Louder()],
    ...                                  n_splits=2, n_neighbors=1, random_state=0)
    >>> X_res, y_res = sel.fit_resample(X, y)   # x2 keeps the direction, -1 reverses it
    >>> X_res.shape, sel.variant_names_, sel.acceptance_ratio_
    ((16, 4), ['louder(2)', 'louder(-1)'], 0.5)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"]), None],
        "metric": [HasMethods(["fit", "transform"]), None],
        "deformations": [list, tuple, None],
        "n_splits": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "sr": [Interval(numbers.Integral, 1, None, closed="left")],
        "memory": [None, str, HasMethods(["cache"])],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, estimator=None, *, metric=None, deformations=None, n_splits=8,
                 n_neighbors=5, sr=22050, memory=None, random_state=None, verbose=0):
        self.estimator = estimator
        self.metric = metric
        self.deformations = deformations
        self.n_splits = n_splits
        self.n_neighbors = n_neighbors
        self.sr = sr
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _named_deformations(self):
        if self.deformations is None:
            from . import paper_deformations  # the package's, loaded by now

            return paper_deformations(sr=self.sr)
        steps = list(self.deformations)
        if not steps:
            raise ValueError("deformations is empty: give at least one deformation (e.g. "
                             "sklearn_metricaudio.augment.TimeStretch()), or None for the "
                             "paper's 20")
        if all(isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str) for s in steps):
            named = steps
        elif not any(isinstance(s, tuple) for s in steps):
            # make_pipeline's naming: the lower-cased class name, numbered where repeated
            base = [type(d).__name__.lower() for d in steps]
            named = [(b if base.count(b) == 1 else f"{b}-{base[:i + 1].count(b)}", d)
                     for i, (b, d) in enumerate(zip(base, steps))]
        else:
            raise ValueError("deformations must be a list of (name, deformation) pairs or a "
                             "list of deformations, not a mix")
        names = [n for n, _ in named]
        if len(set(names)) != len(names):
            raise ValueError(f"deformation names must be unique, got {names}")
        for name, d in named:
            if not (hasattr(d, "transform") and hasattr(d, "variants")):
                raise TypeError(f"deformations[{name!r}] must have transform() and variants() "
                                f"(see sklearn_metricaudio.augment), got {type(d).__name__}")
        return named

    def _check_X_y(self, X, y, groups):
        from ..features import check_waveforms

        X = check_waveforms(self, X)
        y = column_or_1d(np.asarray(y), warn=True)
        check_classification_targets(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y holds {y.shape[0]} labels for {X.shape[0]} clips")
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(f"y holds 1 class ({classes[0]!r}): the kNN vote of Algorithm 1 "
                             "needs at least two classes")
        if groups is not None:
            groups = column_or_1d(np.asarray(groups))
            if groups.shape[0] != X.shape[0]:
                raise ValueError(f"groups must hold one partition per clip ({X.shape[0]}), "
                                 f"got {groups.shape[0]}")
        return X, y, classes, groups

    def _partitions(self, y, groups, seed):
        if groups is not None:
            parts = np.unique(groups, return_inverse=True)[1]
            if parts.max() < 1:
                raise ValueError("groups holds a single partition: Algorithm 1 learns the "
                                 "metric on the other partitions, so give at least two")
            return parts
        if self.n_splits > y.shape[0]:
            raise ValueError(f"n_splits={self.n_splits} is larger than the number of clips "
                             f"({y.shape[0]})")
        cv = StratifiedKFold(self.n_splits, shuffle=True, random_state=seed)
        parts = np.empty(y.shape[0], dtype=int)
        for i, (_, held) in enumerate(cv.split(np.zeros((y.shape[0], 1)), y)):
            parts[held] = i
        return parts

    # ------------------------------------------------------------------ sampler
    def fit_resample(self, X, y, groups=None):
        """The clips, then the deformed clips the metric accepts, with their labels.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sr`` (e.g. from :class:`AudioLoader`).
        y : array-like of shape (n_clips,)
        groups : array-like of shape (n_clips,), default=None
            Partition of each clip (e.g. the data set's folds); None: ``n_splits``
            stratified random partitions.

        Returns
        -------
        X_resampled : ndarray of shape (n_clips + n_accepted, n_samples)
            ``X`` unchanged in its first ``n_clips`` rows.
        y_resampled : ndarray of shape (n_clips + n_accepted,)
        """
        self._validate_params()
        X, y, classes, groups = self._check_X_y(X, y, groups)
        named = self._named_deformations()
        rng = check_random_state(self.random_state)
        memory = check_memory(self.memory)
        parts = self._partitions(y, groups, int(rng.randint(2 ** 31 - 1)))
        metric_seed = int(rng.randint(2 ** 31 - 1))
        self._estimator_seed = int(rng.randint(2 ** 31 - 1))
        n_parts = parts.max() + 1
        smallest = min(int(np.sum(parts != p)) for p in range(n_parts))
        if self.n_neighbors > smallest:
            raise ValueError(f"n_neighbors={self.n_neighbors} is larger than the smallest "
                             f"training partition ({smallest} clips)")
        metric = default_metric(sr=self.sr) if self.metric is None else self.metric
        deformations, partition_seeds = [], {}
        for name, d in named:
            d = clone(d)
            if getattr(d, "_uses_random_state", True) and "random_state" in d.get_params():
                # a seed per partition, drawn from the deformation's own random_state (or
                # this one's): one int for all would draw the same background offsets for
                # the i-th clip of every partition; ints keep the memory cache's keys stable
                state = d.get_params()["random_state"]
                seed = int(rng.randint(2 ** 31 - 1)) if state is None else state
                partition_seeds[name] = check_random_state(seed).randint(2 ** 31 - 1,
                                                                         size=n_parts)
            deformations.append((name, d))
        variant_names, variant_deformations = [], []
        for name, d in deformations:
            for _, param in d.variants():
                variant_names.append(f"{name}({param})")
                variant_deformations.append(name)
        n_var = len(variant_names)
        class_index = np.searchsorted(classes, y)
        tried = np.zeros((classes.size, n_var))
        accepted = np.zeros((classes.size, n_var))
        kept_X, kept_src, kept_var = [], [], []
        fit_metric = memory.cache(_fit_metric)
        deform = memory.cache(_deform)
        for p in range(n_parts):
            t0 = time.perf_counter()
            train, held = np.flatnonzero(parts != p), np.flatnonzero(parts == p)
            # every partition's metric gets the same seed: partitions differ by their data
            m = fit_metric(_seed_unset(clone(metric), metric_seed), X[train], y[train])
            vote = PartitionVote(m, X[train], y[train])
            offset = 0
            for name, d in deformations:
                if name in partition_seeds:
                    d = clone(d).set_params(random_state=int(partition_seeds[name][p]))
                D = np.asarray(deform(d, X[held]))
                n_v = D.shape[1]
                if D.shape[0] != held.size or D.shape[2] != X.shape[1]:
                    raise ValueError(f"deformations[{name!r}] returned shape {D.shape} for "
                                     f"{held.size} clips of {X.shape[1]} samples; expected "
                                     f"({held.size}, n_variants, {X.shape[1]})")
                flat = D.reshape(-1, X.shape[1])
                src = np.repeat(held, n_v)
                var = offset + np.tile(np.arange(n_v), held.size)
                ok = vote.accepts(flat, y[src], n_neighbors=self.n_neighbors)
                np.add.at(tried, (class_index[src], var), 1)
                np.add.at(accepted, (class_index[src], var), ok)
                kept_X.append(flat[ok].astype(X.dtype, copy=False))
                kept_src.append(src[ok])
                kept_var.append(var[ok])
                offset += n_v
                del D, flat
            if self.verbose:
                print(f"[MetricAugmentationSelector] partition {p + 1}/{n_parts}: "
                      f"{held.size} clips, {sum(map(len, kept_src[-len(deformations):]))} of "
                      f"{held.size * n_var} deformed clips kept "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)
        src = np.concatenate(kept_src) if kept_src else np.zeros(0, int)
        # output order: by source clip, then variant (independent of the partition order)
        order = np.lexsort((np.concatenate(kept_var), src))
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.partitions_ = parts
        self.variant_names_ = variant_names
        self.variant_deformations_ = variant_deformations
        self.deformation_names_ = [name for name, _ in deformations]
        self.sample_indices_ = src[order]
        self.sample_variants_ = np.concatenate(kept_var)[order]
        owner = np.array(variant_deformations)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.acceptance_ = accepted / tried
            self.acceptance_by_deformation_ = np.stack(
                [accepted[:, owner == n].sum(1) / tried[:, owner == n].sum(1)
                 for n in self.deformation_names_], axis=1)
            self.acceptance_by_class_ = accepted.sum(1) / tried.sum(1)
        self.acceptance_ratio_ = float(accepted.sum() / tried.sum())
        # the output is allocated once and the kept blocks moved in (freed as they go): the
        # peak is the kept clips twice, not three times
        X_out = np.empty((X.shape[0] + src.size, X.shape[1]), dtype=X.dtype)
        X_out[:X.shape[0]] = X
        dest = np.empty_like(order)
        dest[order] = np.arange(order.size)
        start = 0
        while kept_X:
            block = kept_X.pop(0)
            X_out[X.shape[0] + dest[start:start + len(block)]] = block
            start += len(block)
            del block
        return X_out, np.concatenate([y, y[self.sample_indices_]])

    def acceptance_table(self):
        """The acceptance ratios as a Bunch of arrays and names (no DataFrame needed).

        ``rows`` (class names), ``columns`` (deformation names), ``ratio`` (rows x
        columns, per deformation), ``by_variant`` (rows x variants) with
        ``variant_names``, ``by_class`` and ``overall``: the paper's Fig. 4 and Table 2.
        """
        check_is_fitted(self, "acceptance_")
        return Bunch(rows=list(self.classes_), columns=list(self.deformation_names_),
                     ratio=self.acceptance_by_deformation_, by_variant=self.acceptance_,
                     variant_names=list(self.variant_names_), by_class=self.acceptance_by_class_,
                     overall=self.acceptance_ratio_)

    # ------------------------------------------------------------------ meta-estimator
    def fit(self, X, y, groups=None, **fit_params):
        """Resample (:meth:`fit_resample`), then fit a clone of ``estimator`` on the result.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
        y : array-like of shape (n_clips,)
        groups : array-like of shape (n_clips,), default=None
            Partitions for :meth:`fit_resample`.
        **fit_params
            Passed to ``estimator.fit``; per-sample ones (``sample_weight``) are extended
            to the kept deformed clips, which take their source clip's values. Where the
            estimator (or a Pipeline's last step) takes ``groups``, it gets each clip's
            source: a clip and its deformed copies form one group, so that an inner
            validation split never validates on a copy of a training clip.

        Returns
        -------
        self
        """
        if self.estimator is None:
            raise ValueError("fit needs estimator=...: without one, MetricAugmentationSelector "
                             "is a sampler; call fit_resample(X, y) or put it in an "
                             "imblearn.pipeline.Pipeline")
        X_res, y_res = self.fit_resample(X, y, groups)
        n = len(y_res) - self.sample_indices_.size
        src = np.concatenate([np.arange(n), self.sample_indices_])
        # per-sample fit parameters (sample_weight, ...) follow their clips to the kept copies
        fit_params = {k: _take(v, src, n) for k, v in fit_params.items()}
        est = _seed_unset(clone(self.estimator), self._estimator_seed)
        # a kept clip and its source form one group: an inner validation split (the margin
        # model's) then never validates on a deformed copy of a clip it trains on
        for key, value in clip_fit_params(est, {"groups": src}).items():
            fit_params.setdefault(key, value)
        self.estimator_ = est.fit(X_res, y_res, **fit_params)
        return self

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """``estimator_.predict(X)``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """``estimator_.predict_proba(X)``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """``estimator_.decision_function(X)``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("transform"))
    def transform(self, X):
        """``estimator_.transform(X)``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.transform(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, **params):
        """``estimator_.score(X, y)``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.score(X, y, **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        if self.estimator is not None:
            inner = get_tags(self.estimator)
            tags.estimator_type = inner.estimator_type
            tags.classifier_tags = inner.classifier_tags
            tags.regressor_tags = inner.regressor_tags
            tags.transformer_tags = inner.transformer_tags
        return tags
