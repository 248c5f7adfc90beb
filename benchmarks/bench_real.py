"""Real recordings: the baselines and the margin model over a real data set's own folds.

Usage::

    python benchmarks/bench_real.py ../shared/data/ESC-10 [../shared/data/US8K-dev ...]
        [--models gmm svm cosface ...] [--preset default|fast|paper] [--n-jobs 2] [--subset esc10]
        [--epochs N] [--width W] [--device cpu] [--no-groups] [--cache DIR]
    python benchmarks/bench_real.py ../shared/data/US8K-dev --models svm cosface

Runs every copy it is given, one after the other. Reads each with :func:`load_dataset`
(UrbanSound8K: the paper's 8 foreground classes; ESC-50; stand-alone ESC-10 folders), decodes
every clip once (cut or repeat-padded to the data set's clip length at 22.05 kHz) and computes
MFCC statistics, log-mel patches and, for the margin models of the default preset, the
log-mel patches of the clips' deformed versions once with :func:`compute_model_features` (the
``paper`` preset's 5-s inputs: clips repeated to fill them), as
``metricaudio evaluate`` does (cached only with ``--cache``; ``--device`` applies to the
margin model), then cross-validates over the data set's predefined folds with
:func:`paper_models`, the configurations ``metricaudio evaluate`` runs: MFCC + GMM, MFCC +
linear SVM, and the margin model with each loss at the preset's settings (only ``device``,
``random_state`` and, if given, ``--epochs`` / ``--width`` set). The source recording of every
clip (``fsID``) is passed as ``groups``, so the margin model's inner validation split keeps a
recording's clips together; ``--no-groups`` draws it per clip instead (the behaviour before
the group-aware split, for comparison). Prints balanced accuracy (over all clips, and per
fold), per-class recall and the training / prediction / wall times. ``--n-jobs 2`` runs two
folds at a time (one torch thread each); fit and predict times are then summed over the
folds, and the wall time is what a user waits. ``--save-scores PREFIX`` keeps every model's
test-clip scores (``decision_function``, with ``y``, ``fold``, ``classes``) for
``bench_fusion.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import recall_score

from sklearn_metricaudio._io import atomic_path
from sklearn_metricaudio.datasets import load_dataset
from sklearn_metricaudio.evaluation import (MODEL_NAMES, compute_model_features,
                                            evaluate_folds, paper_models)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", help="UrbanSound8K roots, ESC-50 roots or ESC-10 folders")
    ap.add_argument("--models", nargs="+", default=list(MODEL_NAMES),
                    help=f"any of {' '.join(MODEL_NAMES)}")
    ap.add_argument("--subset", default=None, choices=["esc10", "esc50"])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="margin model (default: its own)")
    ap.add_argument("--width", type=float, default=None, help="margin model (default: its own)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="default",
                    help="margin models' preset (default, fast, paper)")
    ap.add_argument("--cache", default=None, help="feature cache folder (default: none)")
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--save-scores", default=None, metavar="PREFIX",
                    help="write each model's test scores to PREFIX<set>_<model>.npz")
    ap.add_argument("--no-groups", action="store_true",
                    help="validation split per clip, not per source recording")
    args = ap.parse_args(argv)
    unknown = set(args.models) - set(MODEL_NAMES)
    if unknown:
        ap.error(f"unknown --models {sorted(unknown)}; choose from {' '.join(MODEL_NAMES)}")
    extra = {k: v for k, v in (("epochs", args.epochs), ("width", args.width)) if v is not None}
    models = paper_models(args.models, random_state=args.random_state, device=args.device,
                          preset=args.preset, **extra)
    for path in args.paths:
        _run(path, models, args)


def _run(path, models, args):
    """One data set: features, every model over its folds, per-class recall."""
    t_start = time.perf_counter()

    data = load_dataset(path, subset=args.subset)
    # the same features metricaudio evaluate computes (the audio decoded once)
    features = compute_model_features(models, data, n_jobs=args.n_jobs, cache_dir=args.cache,
                                      progress=False)
    groups = None if args.no_groups else data.fsID
    print(f"\n# {Path(path).name} ({data.name}): {len(data.filenames)} clips, "
          f"{len(data.target_names)} classes, folds {sorted(set(data.fold.tolist()))}; "
          + ", ".join(f"{k} {f.X.shape}"
                      + (f" + deformed {f.deformed.shape}" if "deformed" in f else "")
                      + f" {f.seconds:.1f} s" for k, f in features.items())
          + " (the first includes decoding)")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"n_jobs {args.n_jobs}, preset {args.preset}, validation split "
          f"{'per clip' if groups is None else 'by source recording (fsID)'}", flush=True)

    recalls = {}
    print(f"{'model':<12}{'bal. acc. %':>12}{'fold mean':>10}{'fit s':>9}{'predict s':>10}"
          f"{'wall s':>8}   per fold %", flush=True)
    for name, model in models.items():
        t0 = time.perf_counter()
        f = features[model.kind]
        r = evaluate_folds(model.estimator, f.X, data.target, data.fold, groups=groups,
                           deformed=f.get("deformed"), n_jobs=args.n_jobs, progress=False,
                           name=name)
        wall = time.perf_counter() - t0
        if args.save_scores:
            _save_scores(f"{args.save_scores}{Path(path).name}_{name}.npz", index=r.index,
                         y=r.y_true, fold=data.fold[r.index], classes=r.classes,
                         scores=r.scores)
        recalls[name] = recall_score(r.y_true, r.y_pred, average=None, labels=r.classes)
        folds = " ".join(f"{100 * s:.1f}" for s in r.fold_scores)
        print(f"{name:<12}{100 * r.balanced_accuracy:>12.1f}{100 * r.fold_scores.mean():>10.1f}"
              f"{r.fit_time:>9.1f}{r.predict_time:>10.1f}{wall:>8.1f}   {folds}", flush=True)

    print("\nrecall per class, %")
    names = list(recalls)
    print(f"{'class':<18}" + "".join(f"{n:>11}" for n in names))
    for k, cname in enumerate(data.target_names):
        print(f"{str(cname):<18}" + "".join(f"{100 * recalls[n][k]:>11.1f}" for n in names))
    print(f"# {Path(path).name}: {time.perf_counter() - t_start:.0f} s in all", flush=True)


def _save_scores(path, **arrays):
    """The test clips' scores, written whole or not at all (the library's atomic_path)."""
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


if __name__ == "__main__":
    main()
