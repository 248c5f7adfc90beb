"""Late fusion of saved test scores: margin-model seeds together, or with MFCC + SVM.

Usage::

    python benchmarks/bench_fusion.py SCORES.npz [SCORES.npz ...] [--weights W ...]
    # two seeds of the margin model, and each with MFCC + SVM:
    python benchmarks/bench_fusion.py esc_s0_0.npz esc_s1_0.npz
    python benchmarks/bench_fusion.py esc_s0_0.npz base_ESC-10_svm.npz

Each file is what ``tune_margin.py --save-scores`` or ``bench_real.py --save-scores`` writes
for the test clips of every fold of one data set: ``index`` (clip), ``y``, ``fold``,
``classes`` and ``scores`` (``decision_function``, one column per class). The files must cover
the same clips with the same labels and folds (checked). Prints each file's balanced accuracy
and per-fold mean, then the fusion's: each model's scores are centred per clip (minus the
clip's mean over classes) and divided by their standard deviation over all clips and classes
(no label is used, so no weight is fitted on the test clips), then summed with ``--weights``
(equal by default); the clip goes to the class with the highest sum. Recall per class is
printed for every input and the fusion (a lever must not cost one class badly).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score, recall_score


def load_scores(path):
    """One saved score file, rows sorted by clip index."""
    with np.load(path, allow_pickle=False) as z:
        missing = {"index", "y", "fold", "classes", "scores"} - set(z.files)
        if missing:
            raise ValueError(f"{path}: no {sorted(missing)} array; expected a file written by "
                             f"tune_margin.py or bench_real.py --save-scores")
        order = np.argsort(z["index"])
        return {"index": z["index"][order], "y": z["y"][order], "fold": z["fold"][order],
                "classes": z["classes"], "scores": np.asarray(z["scores"], float)[order]}


def standardised(scores):
    """Scores centred per clip over classes, then scaled to unit standard deviation overall."""
    centred = scores - scores.mean(axis=1, keepdims=True)
    scale = centred.std()
    return centred / scale if scale > 0 else centred


def fuse(runs, weights=None):
    """Weighted sum of the runs' standardised scores (equal weights by default)."""
    weights = np.ones(len(runs)) if weights is None else np.asarray(weights, float)
    return sum(w * standardised(r["scores"]) for w, r in zip(weights, runs))


def check_same_clips(runs, paths):
    """All runs cover the same clips, labels, folds and classes, or a ValueError naming the file."""
    ref = runs[0]
    for r, p in zip(runs[1:], paths[1:]):
        for key in ("index", "y", "fold", "classes"):
            if r[key].shape != ref[key].shape or not np.array_equal(r[key], ref[key]):
                raise ValueError(f"{p}: its {key!r} differs from {paths[0]}'s; fuse only runs "
                                 f"over the same clips and folds of one data set")


def report(name, y, fold, classes, scores):
    """Balanced accuracy (pooled and fold mean) and recall per class of argmax(scores)."""
    pred = classes[np.argmax(scores, axis=1)]
    with warnings.catch_warnings():  # a partial fold lacks classes its clips are labelled with
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        folds = [balanced_accuracy_score(y[fold == k], pred[fold == k]) for k in np.unique(fold)]
    recall = recall_score(y, pred, labels=classes, average=None)
    return {"name": name, "pooled": balanced_accuracy_score(y, pred),
            "fold_mean": float(np.mean(folds)), "recall": recall}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="score files (.npz) of one data set")
    ap.add_argument("--weights", type=float, nargs="+", default=None,
                    help="one per file (default: equal)")
    args = ap.parse_args(argv)
    if args.weights is not None and len(args.weights) != len(args.files):
        ap.error(f"--weights: {len(args.weights)} given for {len(args.files)} files")
    runs = [load_scores(p) for p in args.files]
    check_same_clips(runs, args.files)
    y, fold, classes = runs[0]["y"], runs[0]["fold"], runs[0]["classes"]
    rows = [report(Path(p).stem, y, fold, classes, r["scores"]) for p, r in zip(args.files, runs)]
    if len(runs) > 1:
        rows.append(report("fusion", y, fold, classes, fuse(runs, args.weights)))
    print(f"{'run':<28}{'bal. acc. %':>12}{'fold mean %':>12}")
    for r in rows:
        print(f"{r['name']:<28}{100 * r['pooled']:>12.1f}{100 * r['fold_mean']:>12.1f}")
    print("\nrecall per class, %")
    print(f"{'class':<18}" + "".join(f"{r['name'][:14]:>15}" for r in rows))
    for k, c in enumerate(classes):
        print(f"{str(c):<18}" + "".join(f"{100 * r['recall'][k]:>15.1f}" for r in rows))
    return rows


if __name__ == "__main__":
    main()
