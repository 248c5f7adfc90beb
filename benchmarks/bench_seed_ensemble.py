"""Seed ensembles of trained margin models: what a second (third...) network buys.

Usage::

    python benchmarks/bench_open_set.py --data ../shared/data/ESC-10 \
        --unknown ../shared/data/US8K-dev --folds --deformations --random-state 0 \
        --save-models DIR0          # and again with --random-state 1 --save-models DIR1
    python benchmarks/bench_seed_ensemble.py --data ../shared/data/ESC-10 \
        --models DIR0 DIR1 [--hop 0.25] [--unknown ../shared/data/US8K-dev]

Each folder holds the models ``bench_open_set.py --folds --save-models`` trained
(``rotationR.pkl``: fold ``R + 1`` tested, the others trained on), one folder per seed. For
every rotation found in all the folders, each model is judged at ``segment_hop=hop`` (its
class centroids made again from its own training clips, as ``fit`` makes them at that hop:
``bench_segment_hop.with_hop``), and the ensemble is their soft vote: the mean of their
``predict_proba``, its largest class, as scikit-learn's ``VotingClassifier(voting="soft")``
decides over the same fitted models. Reported per fold and pooled: balanced accuracy of each
model alone and of the ensemble (the fold mean in brackets), recall per class, and with
``--unknown`` the AUROC of the test clips against the other data set's clips (every class of
it less those named as a known one) for each model's ``score_samples`` and for their mean.
The ensemble costs the models' training times added up, and their prediction times.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.metrics import balanced_accuracy_score, recall_score


def _bench_segment_hop():
    """The sibling benchmark (its data loading and ``with_hop``), imported by path."""
    path = Path(__file__).with_name("bench_segment_hop.py")
    spec = importlib.util.spec_from_file_location("bench_segment_hop", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def soft_vote(models, X):
    """The ensemble's labels and mean probabilities: ``VotingClassifier(voting="soft")``'s
    rule over fitted classifiers that share ``classes_``."""
    proba = np.mean([m.predict_proba(X) for m in models], axis=0)
    return models[0].classes_[np.argmax(proba, axis=1)], proba


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", required=True, nargs="+",
                    help="one folder per seed, each written by bench_open_set.py --folds "
                         "--save-models")
    ap.add_argument("--unknown", default=None, help="another data set: its clips as unknowns")
    ap.add_argument("--hop", type=float, default=0.25,
                    help="segment_hop every model is judged at (the estimator's default)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    if not 0 < args.hop <= 1:
        ap.error(f"--hop must be a share of a segment in (0, 1], got {args.hop}")
    if len(args.models) < 2:
        ap.error("--models: give at least two folders (one per seed) to make an ensemble")
    hop_bench = _bench_segment_hop()
    found = [hop_bench.saved_models(folder) for folder in args.models]
    rotations = sorted(set.intersection(*(set(f) for f in found)))
    t0 = time.perf_counter()
    data, P = hop_bench._patches(args.data)
    unknown = None
    if args.unknown:
        o_data, o_P = hop_bench._patches(args.unknown, every_class=True)
        names = {hop_bench._name(n) for n in data.target_names}
        keep = np.array([hop_bench._name(o_data.target_names[t]) not in names
                         for t in o_data.target])
        unknown = o_P[keep]
    print(f"features: {time.perf_counter() - t0:.0f} s; rotations {rotations} in all "
          f"{len(args.models)} folders; hop {args.hop:g}", flush=True)
    names = [f"model {k}" for k in range(len(args.models))] + ["ensemble"]
    y_true, y_pred = [], {n: [] for n in names}
    aucs = {n: [] for n in names}
    folds = np.unique(data.fold)
    for r in rotations:
        fold = folds[r % folds.size]
        train, test = np.flatnonzero(data.fold != fold), np.flatnonzero(data.fold == fold)
        models = []
        for paths in found:
            model = joblib.load(paths[r])
            fit = train[~model.validation_mask_]
            models.append(hop_bench.with_hop(model, args.hop, P[fit], data.target[fit]))
        if any(not np.array_equal(m.classes_, models[0].classes_) for m in models):
            raise SystemExit(f"rotation {r}: the models do not share their classes")
        y_true.append(data.target[test])
        for name, m in zip(names, models):
            y_pred[name].append(m.predict(P[test]))
        y_pred["ensemble"].append(soft_vote(models, P[test])[0])
        row = [f"{n} {100 * balanced_accuracy_score(y_true[-1], y_pred[n][-1]):.1f}"
               for n in names]
        if unknown is not None:
            known_s = [m.score_samples(P[test]) for m in models]
            unknown_s = [m.score_samples(unknown) for m in models]
            for name, k, u in zip(names, known_s, unknown_s):
                aucs[name].append(hop_bench.auroc(k, u))
            aucs["ensemble"].append(hop_bench.auroc(np.mean(known_s, axis=0),
                                                    np.mean(unknown_s, axis=0)))
            row = [f"{text}, AUROC {aucs[n][-1]:.3f}" for text, n in zip(row, names)]
        print(f"fold {fold}: " + " | ".join(row), flush=True)
    yt = np.concatenate(y_true)
    print("\n" + f"{'':<10}balanced acc. % (fold mean)" + ("  AUROC (mean)" if aucs["ensemble"]
                                                          else ""))
    for n in names:
        mean = np.mean([100 * balanced_accuracy_score(a, b) for a, b in zip(y_true, y_pred[n])])
        line = f"{n:<10}{100 * balanced_accuracy_score(yt, np.concatenate(y_pred[n])):5.1f} ({mean:.1f})"
        if aucs[n]:
            line += f"                 {np.mean(aucs[n]):.3f}"
        print(line)
    print("\nrecall per class, %:")
    print(f"{'class':<20}" + "".join(f"{n:<10}" for n in names))
    labels = np.unique(data.target)
    recalls = {n: recall_score(yt, np.concatenate(y_pred[n]), labels=labels, average=None,
                               zero_division=0) for n in names}
    for i, c in enumerate(labels):
        print(f"{str(data.target_names[c])[:19]:<20}"
              + "".join(f"{100 * recalls[n][i]:<10.1f}" for n in names))


if __name__ == "__main__":
    main()
