"""The second paper's comparison: no augmentation, brute force, class-conditional, metric kNN.

Lu, Duan & Zhang (Fig. 1, Fig. 2, Fig. 4 / Table 2) train one classifier per augmentation
scheme and compare balanced accuracy over the predefined folds:

- ``none``: the original clips;
- ``brute``: every clip with all its deformed versions (20 with the paper's deformations);
- ``class``: per class, the deformations that helped that class when applied one at a time
  (Fig. 2; like the paper, this reads the test folds' results, so it is an upper bound);
- ``knn1`` / ``knn5``: Algorithm 1, the deformed clips that a learned metric (N-pair
  embedding) accepts by 1- or 5-NN vote (:class:`~sklearn_metricaudio.augment.MetricAugmentationSelector`'s
  selection, :func:`~sklearn_metricaudio.augment.knn_agreement`).

The deformed clips' features are computed once for all schemes and cached on disk; for test
fold ``t`` and held-out partition ``i`` the metric is trained on the folds other than ``t``
and ``i``, which is the same metric for ``(i, t)``, so each is trained once.

Budget: ``budget="steps"`` (default) gives every scheme the gradient steps of ``none``
(``epochs`` scaled by the size of its training set), so the comparison holds compute
fixed; ``budget="epochs"`` holds the epochs fixed, as the paper does (300 epochs each),
which costs brute force 21 times the steps.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_memory

from .._routing import clip_fit_params
from ..augment.selector import PartitionVote

__all__ = ["SCHEMES", "parse_schemes", "deformed_features", "compare_augmentation",
           "augmentation_study", "check_study",
           "format_augmentation_table", "format_acceptance_table", "save_augmentation_png"]

#: The schemes of the paper's Fig. 1, in its order.
SCHEMES = ("none", "brute", "class", "knn1", "knn5")


def parse_schemes(text):
    """``"none,knn5"`` -> ``["none", "knn5"]``, checked against :data:`SCHEMES`.

    >>> parse_schemes("knn5, none")
    ['knn5', 'none']
    """
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    bad = [s for s in names if s not in SCHEMES]
    if bad or not names:
        raise ValueError(f"unknown augmentation scheme(s) {bad}; choose from {list(SCHEMES)} "
                         "(a comma-separated list)")
    return list(dict.fromkeys(names))


def _deform_features(deformation, features, waveforms, chunk, key):
    # ``key``: the code and library versions, so that new deformation code misses the cache
    deformation = clone(deformation)
    if getattr(deformation, "_uses_random_state", True) and \
            "random_state" in deformation.get_params():
        # one stream for all chunks: an int would draw the same background offsets for clip
        # j and clip j + chunk; ``chunk`` is therefore part of the key
        rs = check_random_state(deformation.get_params()["random_state"])
        deformation.set_params(random_state=rs)
    outs = []
    for start in range(0, len(waveforms), chunk):
        D = deformation.transform(waveforms[start:start + chunk])  # (c, v, n_samples)
        F = features.transform(D.reshape(-1, D.shape[-1]))
        outs.append(F.reshape(D.shape[0], D.shape[1], *F.shape[1:]))
    return np.concatenate(outs)


def deformed_features(waveforms, features, deformations, *, memory=None, chunk=32,
                      progress=True):
    """Features of every deformed version of every clip, deformation by deformation.

    Clips are deformed ``chunk`` at a time and only their features are kept, so the
    deformed waveforms never exist all at once.

    Parameters
    ----------
    waveforms : ndarray of shape (n_clips, n_samples)
    features : transformer
        Waveforms -> features (e.g. :class:`LogMelPatches`), stateless.
    deformations : list of (name, deformation)
        Each built for the features' ``sr`` (a mismatch is an error: a deformation's time
        constants and filters are in samples at its own ``sr``).
    memory : str, joblib.Memory or None
        Cache (keyed on the waveforms and the settings).
    chunk : int, default=32

    Returns
    -------
    Bunch
        ``X`` (n_clips, n_variants, ...), ``variant_names``, ``variant_deformations``
        (name of each variant's deformation), ``seconds``.
    """
    from ..features import code_hash, library_versions

    sr = getattr(features, "sr", None)
    for name, d in deformations:
        d_sr = d.get_params().get("sr")
        if sr is not None and d_sr is not None and int(d_sr) != int(sr):
            raise ValueError(
                f"deformation {name!r} is built for sr={d_sr}, the waveforms and their "
                f"features are at sr={sr}: build the deformations for the features' rate "
                f"(e.g. training_deformations(sr={sr}))")
    memory = check_memory(str(memory) if isinstance(memory, Path) else memory)
    # the deformation and feature code and the library versions: new code misses the cache
    key = (code_hash("augment", "features", files=("_io.py", "_torch.py")), library_versions())
    t0 = time.perf_counter()
    blocks, names, owner = [], [], []
    it = deformations
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(deformations, desc="deformed features", unit="deformation", leave=False)
    for name, d in it:
        blocks.append(memory.cache(_deform_features)(d, features, waveforms, chunk, key))
        for _, param in d.variants():
            names.append(f"{name}({param})")
            owner.append(name)
    return Bunch(X=np.concatenate(blocks, axis=1), variant_names=names,
                 variant_deformations=np.array(owner), seconds=time.perf_counter() - t0)


def _scaled_epochs(model, n_base, n_train, budget):
    """``epochs`` for a training set of ``n_train`` clips: the steps of ``n_base`` clips."""
    if budget == "epochs" or not hasattr(model, "epochs"):
        return model
    epochs = max(1, int(round(model.epochs * n_base / n_train)))
    return clone(model).set_params(epochs=epochs)


def _train_eval(model, X, D, y, train, extra, test, groups):
    """Fit on the train clips plus the deformed (clip, variant) pairs ``extra``; predict test."""
    t0 = time.perf_counter()
    Xt = np.concatenate([X[train], D[extra[:, 0], extra[:, 1]]]) if len(extra) else X[train]
    yt = np.concatenate([y[train], y[extra[:, 0]]]) if len(extra) else y[train]
    est = clone(model)
    g = None
    if groups is not None:  # a deformed clip in the group of its source clip
        g = np.concatenate([groups[train], groups[extra[:, 0]]]) if len(extra) else groups[train]
    est.fit(Xt, yt, **clip_fit_params(est, {"groups": g}))
    del Xt
    pred = est.predict(X[test])
    return pred, time.perf_counter() - t0, len(yt), getattr(est, "history_", None)


def _fit_metric(metric, X, y, train):
    m = clone(metric).fit(X[train], y[train])
    return m


def _pairs(held, variants):
    return np.stack([np.repeat(held, variants.size), np.tile(variants, held.size)], axis=1)


def compare_augmentation(model, metric, X, deformed, y, fold, *, schemes=SCHEMES, folds=None,
                         groups=None, budget="steps", n_jobs=None, progress=True,
                         random_state=0):
    """Balanced accuracy per fold for each augmentation scheme (the paper's Fig. 1).

    Parameters
    ----------
    model : classifier on features (e.g. :class:`MarginEmbeddingClassifier`)
    metric : transformer on features whose ``transform`` gives embeddings (the paper: an
        N-pair :class:`MarginEmbeddingClassifier`)
    X : ndarray (n_clips, ...)
        Features of the original clips.
    deformed : Bunch
        :func:`deformed_features` of the same clips.
    y, fold : array-like of shape (n_clips,)
    schemes : sequence of str, default=SCHEMES
    folds : sequence of int or None
        Test folds to evaluate (all by default); the partitions of Algorithm 1 are the
        other folds.
    groups : array-like or None
        Source recordings, passed to ``model.fit`` where it takes them.
    budget : {"steps", "epochs"}, default="steps"
    n_jobs : int or None
        Trainings in parallel (joblib).
    progress : bool
    random_state : int

    Returns
    -------
    Bunch
        ``schemes`` (name -> Bunch(fold_scores, balanced_accuracy, n_train (per fold),
        deformed_fraction (of the brute-force deformed clips used), seconds, epochs)),
        ``folds``, ``acceptance`` (for k in (1, 5) when asked: Bunch(rows, columns,
        ratio, by_variant, by_class, overall)), ``class_gain`` (the Fig. 2 table: classes
        x deformations, recall difference when each is applied alone) and ``class_choice``
        (the deformations the ``class`` scheme uses per class).
    """
    schemes = parse_schemes(schemes)
    if budget not in ("steps", "epochs"):
        raise ValueError(f"budget must be 'steps' or 'epochs', got {budget!r}")
    X, y, fold = np.asarray(X), np.asarray(y), np.asarray(fold)
    D = deformed.X
    if D.shape[0] != X.shape[0]:
        raise ValueError(f"deformed features hold {D.shape[0]} clips, X holds {X.shape[0]}")
    groups = None if groups is None else np.asarray(groups)
    all_folds = [int(f) for f in np.unique(fold) if f >= 0]
    folds = all_folds if folds is None else [int(f) for f in folds]
    missing = sorted(set(folds) - set(all_folds))
    if missing:
        raise ValueError(f"folds {missing} are not folds of the data set ({all_folds})")
    seed = int(check_random_state(random_state).randint(2 ** 31 - 1))
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    t_start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if n_jobs not in (None, 1) and not isinstance(D, np.memmap):
            # the workers read the deformed features from one file, by name, instead of
            # joblib hashing and dumping gigabytes for every job
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="metricaudio_aug_"))
            np.save(Path(tmp) / "deformed.npy", D)
            D = np.load(Path(tmp) / "deformed.npy", mmap_mode="r")
        return _compare(model, metric, X, D, deformed, y, fold, schemes, folds, all_folds,
                        groups, budget, parallel, progress, seed, t_start)


def _compare(model, metric, X, D, deformed, y, fold, schemes, folds, all_folds, groups, budget,
             parallel, progress, seed, t_start):
    classes = np.unique(y)
    n_var = D.shape[1]
    fams = list(dict.fromkeys(deformed.variant_deformations))
    model, metric = clone(model), clone(metric)
    for est in (model, metric):  # fill a random_state left at None; keep one that is set
        if est.get_params().get("random_state", 0) is None:
            est.set_params(random_state=seed)

    def run(jobs, desc):
        out = parallel(delayed(fn)(*args) for fn, *args in jobs)
        if progress:
            from tqdm.auto import tqdm

            out = tqdm(out, total=len(jobs), desc=desc, unit="fit", leave=False)
        return list(out)

    # ---- Algorithm 1: one metric per pair of folds {test, held-out}
    accept = {}
    ks = [k for k, s in ((1, "knn1"), (5, "knn5")) if s in schemes]
    if ks and len(all_folds) < 3:
        raise ValueError(f"the kNN schemes need at least 3 folds (a test fold, a held-out "
                         f"partition and the folds its metric learns from); the data set has "
                         f"{len(all_folds)}")
    if ks:
        pair_list = sorted({frozenset((t, i)) for t in folds for i in all_folds if i != t},
                           key=sorted)
        trains = [np.flatnonzero(~np.isin(fold, list(p))) for p in pair_list]
        metrics = run([(_fit_metric, metric, X, y, tr) for tr in trains],
                      "metric (N-pair) per pair of folds")
        metric_of = dict(zip(pair_list, zip(metrics, trains)))
        for t in folds:
            for k in ks:
                accept[(t, k)] = np.zeros((X.shape[0], n_var), dtype=bool)
            for i in all_folds:
                if i == t:
                    continue
                m, tr = metric_of[frozenset((t, i))]
                held = np.flatnonzero(fold == i)
                flat = D[held].reshape(-1, *D.shape[2:])
                src = np.repeat(held, n_var)
                votes = PartitionVote(m, X[tr], y[tr]).accepts(flat, y[src], n_neighbors=ks)
                for k, ok in zip(ks, votes):
                    accept[(t, k)][held] = ok.reshape(held.size, n_var)

    def extra_for(scheme, t, train):
        if scheme == "none":
            return np.zeros((0, 2), dtype=int)
        if scheme == "brute":
            return _pairs(train, np.arange(n_var))
        if scheme.startswith("only:"):
            return _pairs(train, np.flatnonzero(deformed.variant_deformations == scheme[5:]))
        if scheme == "class":
            rows = []
            for c_i, c in enumerate(classes):
                chosen = np.flatnonzero(np.isin(deformed.variant_deformations,
                                                class_choice[c_i]))
                rows.append(_pairs(train[y[train] == c], chosen))
            return np.concatenate(rows) if rows else np.zeros((0, 2), dtype=int)
        k = int(scheme[3:])
        return np.argwhere(accept[(t, k)][train])  # (row in train, variant)

    def jobs_for(names):
        jobs, keys = [], []
        for t in folds:
            train, test = np.flatnonzero(fold != t), np.flatnonzero(fold == t)
            for s in names:
                extra = extra_for(s, t, train)
                if s.startswith("knn"):
                    extra = np.stack([train[extra[:, 0]], extra[:, 1]], axis=1)
                n_train = len(train) + len(extra)
                m = _scaled_epochs(model, len(train), n_train, budget)
                jobs.append((_train_eval, m, X, D, y, train, extra, test, groups))
                keys.append((s, t, len(extra), getattr(m, "epochs", None), len(train)))
        return jobs, keys

    results = {}
    first = [s for s in schemes if s != "class"]
    if "class" in schemes:
        first = list(dict.fromkeys(["none"] + first + [f"only:{f}" for f in fams]))
    jobs, keys = jobs_for(first)
    for key, res in zip(keys, run(jobs, "augmentation schemes x folds")):
        results[key[:2]] = (res, *key[2:])

    class_gain = class_choice = None
    if "class" in schemes:
        # Fig. 2: recall per class with each deformation alone, minus recall without
        test_all = np.concatenate([np.flatnonzero(fold == t) for t in folds])
        y_true = y[test_all]

        def recall(s):
            pred = np.concatenate([results[(s, t)][0][0] for t in folds])
            return recall_score(y_true, pred, labels=classes, average=None, zero_division=0)

        base = recall("none")
        class_gain = np.stack([recall(f"only:{f}") - base for f in fams], axis=1)
        class_choice = [[f for j, f in enumerate(fams) if class_gain[c, j] > 0]
                        for c in range(classes.size)]
        jobs, keys = jobs_for(["class"])
        for key, res in zip(keys, run(jobs, "class-conditional x folds")):
            results[key[:2]] = (res, *key[2:])

    brute_size = {t: int(np.sum(fold != t)) * n_var for t in folds}
    out = {}
    # with "class": also "none" and each deformation alone ("only:NAME"), its inputs (Fig. 2)
    extra = ["none"] + [f"only:{f}" for f in fams] if "class" in schemes else []
    for s in dict.fromkeys(list(schemes) + extra):
        per = [results[(s, t)] for t in folds]
        preds = [r[0][0] for r in per]
        tests = [np.flatnonzero(fold == t) for t in folds]
        epochs = [r[2] for r in per]
        base = getattr(model, "epochs", None)
        out[s] = Bunch(
            fold_scores=np.array([balanced_accuracy_score(y[te], p) for te, p in zip(tests, preds)]),
            balanced_accuracy=balanced_accuracy_score(np.concatenate([y[te] for te in tests]),
                                                      np.concatenate(preds)),
            y_pred=np.concatenate(preds), index=np.concatenate(tests),
            n_train=np.array([r[0][2] for r in per]),
            deformed_fraction=float(np.mean([r[1] / brute_size[t] for r, t in zip(per, folds)])),
            seconds=float(sum(r[0][1] for r in per)),
            epochs=epochs,
            # gradient steps relative to the originals' (epochs x clips): 1 = the same budget
            steps=(None if base is None else
                   float(np.mean([r[0][2] * r[2] / (r[3] * base) for r in per]))))
    acceptance = {}
    for k in ks:
        tried = np.zeros((classes.size, n_var))
        kept = np.zeros((classes.size, n_var))
        for t in folds:
            # the clips Algorithm 1 judged: those of the folds other than t (fold -1 clips
            # train every metric and are never held out)
            train = (fold != t) & (fold >= 0)
            for c_i, c in enumerate(classes):
                rows = train & (y == c)
                tried[c_i] += rows.sum()
                kept[c_i] += accept[(t, k)][rows].sum(0)
        owner = deformed.variant_deformations
        with np.errstate(invalid="ignore", divide="ignore"):
            acceptance[k] = Bunch(
                rows=list(classes), columns=fams,
                ratio=np.stack([kept[:, owner == f].sum(1) / tried[:, owner == f].sum(1)
                                for f in fams], axis=1),
                by_variant=kept / tried, variant_names=list(deformed.variant_names),
                by_class=kept.sum(1) / tried.sum(1), overall=float(kept.sum() / tried.sum()))
    return Bunch(schemes=out, folds=folds, acceptance=acceptance, class_gain=class_gain,
                 class_choice=class_choice, deformations=fams, classes=classes,
                 budget=budget, seconds=time.perf_counter() - t_start)


def format_augmentation_table(result, target_names=None):
    """Fig. 1 as text: balanced accuracy per scheme and fold, data used, seconds."""
    folds = result.folds
    lines = [f"{'scheme':<12}{'bal. acc. %':>12}{'per fold %':>{8 * len(folds) + 4}}"
             f"{'deformed used':>15}{'train clips':>13}{'epochs':>8}{'steps':>7}{'fit s':>8}"]
    for s, r in result.schemes.items():
        per = " ".join(f"{100 * v:7.1f}" for v in r.fold_scores)
        lines.append(f"{s:<12}{100 * r.balanced_accuracy:>12.1f}{per:>{8 * len(folds) + 4}}"
                     f"{100 * r.deformed_fraction:>14.1f}%{int(r.n_train.mean()):>13}"
                     f"{str(r.epochs[0]):>8}"
                     f"{'-' if r.steps is None else f'{r.steps:.2f}':>7}{r.seconds:>8.0f}")
    lines.append(f"(test folds {folds}; budget: equal {result.budget}; deformed used = share of "
                 "brute force's deformed clips; steps = gradient steps / the originals' at the "
                 "model's epochs, whole epochs only)")
    if result.class_gain is not None:
        names = _names(result.classes, target_names)
        lines.append("")
        lines.append("Fig. 2: recall change (points) with each deformation alone; "
                     "class scheme = the positive ones")
        w = max(len(n) for n in names) + 2
        lines.append(" " * w + "".join(f"{f:>8}" for f in result.deformations))
        for c, n in enumerate(names):
            lines.append(f"{n:<{w}}" + "".join(f"{100 * v:8.1f}" for v in result.class_gain[c]))
    return "\n".join(lines)


def _names(classes, target_names):
    if target_names is None:
        return [str(c) for c in classes]
    return [str(target_names[c]) for c in classes]


def format_acceptance_table(table, target_names=None, title=""):
    """Fig. 4 / Table 2 as text: acceptance ratio (%) per class and deformation."""
    names = _names(np.asarray(table.rows), target_names)
    w = max(len(n) for n in names) + 2
    lines = [title] if title else []
    lines.append(" " * w + "".join(f"{c:>8}" for c in table.columns) + f"{'all':>8}")
    for i, n in enumerate(names):
        lines.append(f"{n:<{w}}" + "".join(f"{100 * v:8.1f}" for v in table.ratio[i])
                     + f"{100 * table.by_class[i]:8.1f}")
    lines.append(f"overall acceptance: {100 * table.overall:.2f} %")
    return "\n".join(lines)


def save_augmentation_png(result, path, title=""):
    """Box plot of balanced accuracy across folds per scheme (the paper's Fig. 1)."""
    from .display import new_figure, save_figure

    names = [s for s in result.schemes if not s.startswith("only:")]
    fig, ax = new_figure((6.5, 4.5))
    ax.boxplot([100 * result.schemes[s].fold_scores for s in names], tick_labels=names)
    for i, s in enumerate(names, 1):
        ax.plot([i] * len(result.folds), 100 * result.schemes[s].fold_scores, "k.", alpha=0.5)
    ax.set_ylabel("balanced accuracy per fold (%)")
    ax.set_title(title or "augmentation schemes")
    return save_figure(fig, Path(path))


def check_study(data, *, schemes=SCHEMES, folds=None):
    """The input checks of :func:`augmentation_study`, before any work.

    Returns the parsed schemes; raises ValueError for an unknown scheme, kNN schemes on a
    data set of fewer than 3 folds, or ``folds`` that are not folds of ``data``.
    """
    folds_all = sorted({int(f) for f in np.asarray(data.fold) if f >= 0})
    schemes = parse_schemes(schemes)
    if any(s.startswith("knn") for s in schemes) and len(folds_all) < 3:
        # fail before the features, not after (compare_augmentation checks it too)
        raise ValueError(f"the kNN schemes need at least 3 folds (a test fold, a held-out "
                         f"partition and the folds its metric learns from); the data set has "
                         f"{len(folds_all)}")
    if folds is not None:
        bad = sorted(set(int(f) for f in folds) - set(folds_all))
        if bad:
            raise ValueError(f"--folds {bad} are not folds of the data set ({folds_all})")
    return schemes


def augmentation_study(data, model, *, schemes=SCHEMES, duration, sr=22050, metric=None,
                       deformations=None, folds=None, cache_dir=None, budget="steps",
                       device="cpu", n_jobs=None, progress=True, random_state=0, log=print):
    """The whole comparison on a data set: decode, features, deformed features, schemes.

    What ``metricaudio evaluate --augment`` runs. The clips are decoded once; the
    log-mel patches of the clips and of their deformed versions are cached in
    ``cache_dir``.

    Parameters
    ----------
    data : Bunch
        ``filenames``, ``target``, ``fold`` and optionally ``fsID``.
    model : classifier on log-mel patches (e.g. :class:`MarginEmbeddingClassifier`)
    schemes, folds, budget, n_jobs, progress, random_state
        As :func:`compare_augmentation`.
    duration : float
        Seconds every clip is cut or padded to.
    sr : int, default=22050
    metric : transformer on log-mel patches or None
        None: the N-pair model of
        :func:`~sklearn_metricaudio.augment.selector.default_metric`, with the ``epochs``,
        ``width`` and ``device`` of ``model`` when it has them.
    deformations : list of (name, deformation) or None
        None: the paper's 20 (:func:`~sklearn_metricaudio.augment.paper_deformations`),
        with the synthetic set's backgrounds, which no fold of ``data`` holds.
    cache_dir : str, path or None
    device : str, default="cpu"
        Where the default deformations run.
    log : callable
        Where the progress lines go.

    Returns
    -------
    Bunch
        :func:`compare_augmentation`'s result, plus ``feature_seconds``,
        ``deformed_seconds`` and ``n_variants``.
    """
    from ..augment import paper_deformations
    from ..augment.selector import default_metric
    from .protocol import compute_features

    if deformations is None:
        deformations = paper_deformations(sr=sr, device=device, random_state=random_state)
    if metric is None:
        metric = default_metric(sr=sr, random_state=random_state)[-1]
        shared = {k: v for k, v in model.get_params().items()
                  if k in ("epochs", "width", "device")}
        metric.set_params(**shared)
    schemes = check_study(data, schemes=schemes, folds=folds)
    t0 = time.perf_counter()
    cache = None if cache_dir is None else str(Path(cache_dir))
    # the features every model of the toolkit reads (compute_features: one builder, one cache)
    f = compute_features(["logmel"], data, duration=duration, sr=sr, cache_dir=cache,
                         n_jobs=n_jobs, deformations=deformations, progress=progress)["logmel"]
    X = f.X
    deformed = Bunch(X=f.deformed, variant_names=f.variant_names,
                     variant_deformations=f.variant_deformations, seconds=f.deformed_seconds)
    feature_seconds = f.seconds - f.deformed_seconds
    log(f"log-mel patches {X.shape} ({feature_seconds:.1f} s)")
    log(f"deformed log-mel patches {deformed.X.shape}: {len(deformed.variant_names)} "
        f"deformations of every clip ({deformed.seconds:.1f} s)")
    result = compare_augmentation(model, metric, X, deformed, data.target, data.fold,
                                  schemes=schemes, folds=folds, groups=data.get("fsID"),
                                  budget=budget, n_jobs=n_jobs, progress=progress,
                                  random_state=random_state)
    result.feature_seconds = feature_seconds
    result.deformed_seconds = deformed.seconds
    result.n_variants = len(deformed.variant_names)
    result.wall = time.perf_counter() - t0
    return result
