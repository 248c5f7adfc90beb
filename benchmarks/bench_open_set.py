"""Open-set rejection on real recordings: known classes kept, sounds of no known class refused.

Usage::

    python benchmarks/bench_open_set.py --data ../shared/data/ESC-10 \
        [--unknown ../shared/data/US8K-dev] [--true-accept 0.95] [--epochs N] [--width W]
        [--deformations [FAMILY ...]] [--rotations 0 1 2 3 4] [--params "{'embedding_dim': 128}"]
        [--alternatives] [--other-class] [--outlier-exposure] [--folds] [--save-models DIR]

Protocol (rotation ``r`` of ``n_classes // 2``): the classes ``2r`` and ``2r + 1`` (in sorted
order) are the unknowns; fold ``r + 1`` (cycling over the folds) is the test fold. The margin
model (the estimator's defaults; ``--deformations``: with the training deformations, as
``metricaudio evaluate`` trains it) is trained on the other folds' clips of the known classes;
:meth:`~sklearn_metricaudio.MarginEmbeddingClassifier.calibrate` fits the rejection threshold
on its own validation clips (``validation_mask_``: held out of training) for the target
true-accept rate. Test: the test fold's clips of the known classes against every clip of the
two unknown classes (never seen in training), and, with ``--unknown``, every clip of another
data set whose class name is none of the known ones (e.g. US8K-dev's urban sounds; ESC-10's
"Dog bark" and US8K's "dog_bark" count as the same class and are left out).

``--folds`` (with ``--unknown``): every class known instead, the protocol of a deployed model;
rotation ``r`` takes fold ``r + 1`` as the test fold (all folds by default), the model is
trained on the others, and the unknowns are the other data set's clips only.

Score: minus the clip's smallest mean segment distance to a class centroid
(``score_samples``); ``--alternatives`` adds three other scores of the same network (the
clip's mean embedding against the centroids, the nearest training segment, and the
activations of its block 9, standardised and averaged per clip, against their class centroids,
and ``emb + block 9``: the library's distance and block 9's, each divided by its median over
the validation clips, summed);
``--other-class`` trains a second model with the other data set as one more class;
``--outlier-exposure`` trains one with the other data set's clips as its outlier pool
(``fit(outliers=...)``: pushed away from every class by the loss, never a class), scored on
the held-out classes only. Reported
per rotation and pooled: AUROC of known against unknown, closed-set accuracy on the known test clips, accuracy at the threshold (a rejected known clip
counts as an error), the true-accept rate reached on the test clips and the share of unknown
clips accepted (false accepts). The same for MFCC-statistics centroids (standardised MFCC
statistics per analysis window, the scaler and the threshold fitted on the same training and
validation clips), the reference without any learned embedding.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from sklearn_metricaudio import CentroidClassifier, ClipMean, MarginEmbeddingClassifier
from sklearn_metricaudio.augment import training_deformations
from sklearn_metricaudio.datasets import detect_layout, load_dataset
from sklearn_metricaudio.evaluation import compute_features


def _deformations(families):
    """The training deformations of the named families (all for ``[]``; None for None)."""
    if families is None:
        return None
    every = training_deformations()
    unknown = set(families) - {name for name, _ in every}
    if unknown:
        raise SystemExit(f"--deformations: unknown families {sorted(unknown)}; expected "
                         f"some of {[name for name, _ in every]}")
    return [(name, d) for name, d in every if not families or name in families]


def _features(path, *, deform=None, every_class=False):
    """Data set, log-mel patches, MFCC statistics and deformed patches (or None);
    ``deform``: the deformation families to train with (``[]``: all, None: none);
    ``every_class``: all of UrbanSound8K's 10 classes, not the paper's 8."""
    us8k = every_class and detect_layout(path) == "urbansound8k"
    data = load_dataset(path, classes="all") if us8k else load_dataset(path)
    f = compute_features(["logmel", "mfcc"], data, duration=data.clip_seconds, n_jobs=2,
                         deformations=_deformations(deform),
                         progress=False)
    return data, f["logmel"].X, f["mfcc"].X, f["logmel"].get("deformed")


def _name(label):
    """A class name for matching across data sets: "Dog bark" and "dog_bark" agree."""
    return re.sub(r"[^a-z]+", "_", str(label).lower()).strip("_")


def _metrics(clf, known_X, unknown_X, known_true, closed_pred):
    """AUROC, closed-set and open-set accuracy (%), true- and false-accept rates (%) of a
    calibrated classifier (``closed_pred``: its predictions before calibration)."""
    known_score, unknown_score = clf.score_samples(known_X), clf.score_samples(unknown_X)
    y = np.r_[np.ones(len(known_score)), np.zeros(len(unknown_score))]
    threshold = getattr(clf, "_rejection_threshold", lambda: None)()  # a block's, a sum's
    if threshold is None:  # the embedding's centroids' (or a CentroidClassifier's own)
        threshold = getattr(clf, "centroid_", clf).threshold_
    return dict(auroc=roc_auc_score(y, np.r_[known_score, unknown_score]),
                closed=100 * np.mean(closed_pred == known_true),
                open=100 * np.mean(clf.predict(known_X) == known_true),  # rejected: wrong
                tar=100 * np.mean(-known_score <= threshold),
                far=100 * np.mean(-unknown_score <= threshold))


def _distance_metrics(known, unknown, valid, correct, true_accept):
    """The same figures for a plain distance (higher: less like a known class), its threshold
    the ``true_accept`` quantile of the validation clips' distances."""
    threshold = np.quantile(valid, true_accept, method="higher")
    y = np.r_[np.ones(len(known)), np.zeros(len(unknown))]
    return dict(auroc=roc_auc_score(y, -np.r_[known, unknown]), closed=100 * np.mean(correct),
                open=100 * np.mean(correct & (known <= threshold)),
                tar=100 * np.mean(known <= threshold), far=100 * np.mean(unknown <= threshold))


def _block_distance(model, train_patches, train_y, block):
    """clips -> the ``block 9`` distance below, fitted once on the training clips."""
    net = copy.deepcopy(model).set_params(transform_layer=block)
    clip_mean = ClipMean(rows="standard")
    centroids = CentroidClassifier().fit(clip_mean.fit_transform(net.transform(train_patches)),
                                         train_y)
    return lambda clips: -centroids.score_samples(clip_mean.transform(net.transform(clips)))


def _alternative_distances(model, train_patches, clips, block, block_distance):
    """Three other open-set scores from the same network: {name: distances of ``clips``}.

    - ``clip mean``: the clip's mean sounding-segment unit embedding, its cosine distance to
      the nearest class centroid (one vector per clip instead of the mean of distances);
    - ``1-NN``: per sounding segment, the cosine distance to the nearest training segment
      (deep nearest neighbours, Sun et al. 2022), averaged over the clip;
    - ``block 9``: the network's middle instead of its embedding: the clip's activations
      after block ``block`` (``transform_layer``), standardised on the training segments and
      averaged (``ClipMean(rows="standard")``), its cosine distance to the nearest class
      centroid of the training clips' such vectors (``block_distance``, from
      :func:`_block_distance`);
    - ``library``: the embedding's distance (``-score_samples`` at the default
      ``rejection_layer``), for :func:`_combined`.
    """
    def unit(a):
        return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)

    bank = unit(model.embeddings(train_patches).reshape(-1, model.embedding_dim))
    bank = bank[~np.isnan(bank).any(axis=1)]  # silent training segments: no embedding
    centroids = unit(model.centroid_.centroids_)
    Z = unit(model.embeddings(clips))
    mask = ~np.isnan(Z).any(axis=-1)  # the segments the model counts (NaN rows: silent)
    Z = np.where(mask[..., None], Z, 0.0)
    w = mask / mask.sum(axis=1, keepdims=True)
    mean = unit((Z * w[..., None]).sum(axis=1))
    nearest = 1 - (Z.reshape(-1, Z.shape[-1]) @ bank.T).max(axis=1).reshape(Z.shape[:2])
    return {"clip mean": (1 - mean @ centroids.T).min(axis=1), "1-NN": (nearest * w).sum(axis=1),
            f"block {block}": block_distance(clips),
            "library": -model.centroid_.score_samples(model.embeddings(clips))}


def _combined(alt, block):
    """``alt`` ({clip set: {score: distances}}) with ``+ block k``: the library's distance and
    block ``k``'s, each divided by its median over the validation clips (``alt["valid"]``),
    summed; the library's own distance itself is dropped (it is the ``embedding`` row)."""
    name = f"block {block}"
    scale = {k: np.median(alt["valid"][k]) for k in ("library", name)}
    for scores in alt.values():
        scores[f"+ {name}"] = (scores.pop("library") / max(scale["library"], 1e-12)
                               + scores[name] / max(scale[name], 1e-12))
    return alt


def _split(r, data, args):
    """Rotation ``r``'s unknown classes, test fold and known-clip mask (see the protocol)."""
    classes, folds = np.unique(data.target), np.unique(data.fold)
    if args.folds:  # every class known; fold r + 1 tested
        return classes[:0], folds[r % folds.size], np.ones(data.target.size, dtype=bool)
    unknown = classes[2 * r:2 * r + 2]
    return unknown, folds[r % folds.size], ~np.isin(data.target, unknown)


def _with_other_class(data, patches, train, test, unknown_X, other_X, params, args):
    """A second model, trained with the other data set's clips as one more class ("other":
    a crude outlier exposure); scored against the held-out classes only (the other data set
    is now training data). Two scores: the smallest distance to a known class, and that
    minus the distance to the "other" centroid. {score name: metrics}."""
    other_label = int(data.target.max()) + 1
    n_seg = patches.shape[1]  # the other data set's clips cut, or their segments repeated
    other_X = np.take(other_X, np.arange(n_seg) % other_X.shape[1], axis=1)
    X = np.concatenate([patches[train], other_X])
    y = np.r_[data.target[train], np.full(len(other_X), other_label)]
    groups = np.r_[data.fsID[train].astype(str), [f"other{i}" for i in range(len(other_X))]]
    model = MarginEmbeddingClassifier(random_state=args.random_state, **params)
    model.fit(X, y, groups=groups)
    known_col = model.classes_ != other_label

    def distances(clips):
        emb = model.embeddings(clips)
        d = model.centroid_.mean_distances(emb, model.sounding_segments(clips))
        nearest = d[:, known_col].min(axis=1)
        return d, {"nearest": nearest, "near - other": nearest - d[:, ~known_col][:, 0]}

    d_test, known_s = distances(patches[test])
    # the threshold on this model's own validation clips of the known classes
    _, valid_s = distances(patches[train[model.validation_mask_[:len(train)]]])
    _, unknown_s = distances(unknown_X)
    closed = model.classes_[known_col][np.argmin(d_test[:, known_col], axis=1)]
    return {name: {"held-out classes": _distance_metrics(
        known_s[name], unknown_s[name], valid_s[name], closed == data.target[test],
        args.true_accept)} for name in known_s}


def _with_outlier_exposure(data, patches, deformed, train, test, unknown_X, pool, params, args):
    """A model trained with ``pool`` (the other data set's clips) as its outliers (outlier
    exposure), calibrated on its own validation clips; {"held-out classes": metrics}."""
    model = MarginEmbeddingClassifier(random_state=args.random_state, **params)
    model.fit(patches[train], data.target[train], groups=data.fsID[train],
              deformed=None if deformed is None else deformed[train], outliers=pool)
    closed = model.predict(patches[test])
    model.calibrate(patches[train[model.validation_mask_]], true_accept=args.true_accept)
    return {"held-out classes": _metrics(model, patches[test], unknown_X, data.target[test],
                                         closed)}


def _rotation(r, data, patches, mfcc, deformed, other, args):
    """One rotation's metrics: {representation: {unknown set: metrics}}."""
    classes = np.unique(data.target)
    unknown, test_fold, known = _split(r, data, args)
    train = np.flatnonzero(known & (data.fold != test_fold))
    test = np.flatnonzero(known & (data.fold == test_fold))
    params = {k: v for k, v in (("epochs", args.epochs), ("width", args.width)) if v is not None}
    params.update(args.params)
    t0 = time.perf_counter()
    model = MarginEmbeddingClassifier(random_state=args.random_state, **params)
    model.fit(patches[train], data.target[train], groups=data.fsID[train],
              deformed=None if deformed is None else deformed[train])
    fit_s = time.perf_counter() - t0
    if args.save_models:  # for other scores of the same networks later, without retraining
        Path(args.save_models).mkdir(parents=True, exist_ok=True)
        tmp = Path(args.save_models) / f".rotation{r}.pkl.tmp"
        joblib.dump(model, tmp)
        tmp.replace(Path(args.save_models) / f"rotation{r}.pkl")
    valid = train[model.validation_mask_]
    closed = model.predict(patches[test])
    model.calibrate(patches[valid], true_accept=args.true_accept)
    sets = {} if args.folds else {"held-out classes": (patches[~known], mfcc[~known])}
    if other is not None:
        o_data, o_patches, o_mfcc, _ = other
        names = {_name(data.target_names[c]) for c in classes[~np.isin(classes, unknown)]}
        keep = np.array([_name(o_data.target_names[t]) not in names for t in o_data.target])
        sets["other data set"] = (o_patches[keep], o_mfcc[keep])
    out = {"embedding": {}, "MFCC stats": {}}
    for name, (u_patches, _) in sets.items():
        out["embedding"][name] = _metrics(model, patches[test], u_patches, data.target[test],
                                          closed)
    if args.alternatives:
        fit = train[~model.validation_mask_]
        block_distance = _block_distance(model, patches[fit], data.target[fit], args.block)
        alt = {key: _alternative_distances(model, patches[fit], X, args.block, block_distance)
               for key, X in
               [("known", patches[test]), ("valid", patches[valid]),
                *[(name, u) for name, (u, _) in sets.items()]]}
        alt = _combined(alt, args.block)
        for score in alt["known"]:
            out[f"emb {score}"] = {name: _distance_metrics(
                alt["known"][score], alt[name][score], alt["valid"][score],
                closed == data.target[test], args.true_accept) for name in sets}
    if args.other_class and other is not None:
        for name, rows in _with_other_class(data, patches, train, test, patches[~known],
                                            sets["other data set"][0], params, args).items():
            out[f"OE {name}"] = rows
    if args.outlier_exposure and other is not None:
        out["emb + exposure"] = _with_outlier_exposure(
            data, patches, deformed, train, test, patches[~known], sets["other data set"][0],
            params, args)
    # MFCC statistics: the scaler and centroids on the model's training clips, the threshold
    # on its validation clips
    fit = train[~model.validation_mask_]
    d = mfcc.shape[-1]
    scaler = StandardScaler().fit(mfcc[fit].reshape(-1, d))

    def std(a):
        return scaler.transform(a.reshape(-1, d)).reshape(a.shape)

    ref = CentroidClassifier().fit(std(mfcc[fit]), data.target[fit])
    closed = ref.predict(std(mfcc[test]))
    ref.calibrate(std(mfcc[valid]), true_accept=args.true_accept)
    for name, (_, u_mfcc) in sets.items():
        out["MFCC stats"][name] = _metrics(ref, std(mfcc[test]), std(u_mfcc),
                                           data.target[test], closed)
    return out, fit_s, [data.target_names[c] for c in unknown], test_fold


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="ESC-10 (or any layout load_dataset reads)")
    ap.add_argument("--unknown", default=None,
                    help="another data set whose other classes serve as unknowns (US8K-dev)")
    ap.add_argument("--true-accept", type=float, default=0.95)
    ap.add_argument("--rotations", type=int, nargs="+", default=None,
                    help="rotations to run (default: all, n_classes // 2)")
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--width", type=float, default=None)
    ap.add_argument("--params", type=ast.literal_eval, default={},
                    help="other MarginEmbeddingClassifier settings, a dict literal, e.g. "
                         "\"{'loss': 'softmax', 'embedding_dim': 128}\"")
    ap.add_argument("--alternatives", action="store_true",
                    help="also score with the clip-mean embedding, the nearest training "
                         "segment (1-NN) and the activations of block --block, from the same "
                         "model")
    ap.add_argument("--block", type=int, default=9,
                    help="with --alternatives: the network block of the 'block' score")
    ap.add_argument("--other-class", action="store_true",
                    help="with --unknown: also train a model with that data set's clips as one "
                         "more class (a crude outlier exposure), tested on the held-out classes")
    ap.add_argument("--outlier-exposure", action="store_true",
                    help="with --unknown: also train a model with that data set's clips as "
                         "its outlier pool (fit(outliers=...)), tested on the held-out classes")
    ap.add_argument("--deformations", nargs="*", default=None, metavar="FAMILY",
                    help="train with the deformed versions of the clips (the shipped recipe; "
                         "slower); with names, only those families (e.g. TS DRC: no pitch "
                         "shifts)")
    ap.add_argument("--folds", action="store_true",
                    help="with --unknown: every class known, one fold tested per rotation "
                         "(default: every fold); the other data set's clips are the unknowns")
    ap.add_argument("--save-models", default=None, metavar="DIR",
                    help="pickle each rotation's fitted model to DIR/rotationR.pkl")
    args = ap.parse_args(argv)
    if args.folds and (args.unknown is None or args.other_class or args.outlier_exposure):
        ap.error("--folds needs --unknown (the only unknowns) and no --other-class or "
                 "--outlier-exposure (they train against held-out classes)")
    t0 = time.perf_counter()
    data, patches, mfcc, deformed = _features(args.data, deform=args.deformations)
    other = None if args.unknown is None else _features(args.unknown, every_class=True)
    print(f"features: {time.perf_counter() - t0:.0f} s", flush=True)
    rotations = args.rotations or list(range(
        np.unique(data.fold).size if args.folds else np.unique(data.target).size // 2))
    pooled = {}
    head = (f"{'rotation':<34}{'model':<16}{'unknowns':<18}{'AUROC':>7}{'closed %':>10}"
            f"{'open %':>8}{'TAR %':>7}{'FAR %':>7}")
    print(head)
    for r in rotations:
        res, fit_s, names, fold = _rotation(r, data, patches, mfcc, deformed, other, args)
        title = f"{r}: {' + '.join(names) or 'all known'} (fold {fold})"
        for rep, by_set in res.items():
            for set_name, m in by_set.items():
                pooled.setdefault((rep, set_name), []).append(m)
                print(f"{title[:33]:<34}{rep:<16}{set_name:<18}{m['auroc']:>7.3f}"
                      f"{m['closed']:>10.1f}{m['open']:>8.1f}{m['tar']:>7.1f}{m['far']:>7.1f}",
                      flush=True)
        print(f"# rotation {r}: embedding trained in {fit_s:.0f} s", flush=True)
    print()
    print(f"mean over {len(rotations)} rotations, target true-accept "
          f"{100 * args.true_accept:.0f} %")
    print(head)
    for (rep, set_name), ms in pooled.items():
        mean = {k: np.mean([m[k] for m in ms]) for k in ms[0]}
        print(f"{'mean':<34}{rep:<16}{set_name:<18}{mean['auroc']:>7.3f}{mean['closed']:>10.1f}"
              f"{mean['open']:>8.1f}{mean['tar']:>7.1f}{mean['far']:>7.1f}")
    print(f"(wall {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
