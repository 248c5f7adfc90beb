"""Real recordings: the baselines and the margin model over ESC-10's (or ESC-50's) own folds.

Usage::

    python benchmarks/bench_real.py ../shared/data/ESC-10 [--models gmm svm cosface ...]
        [--n-jobs 2] [--subset esc10] [--epochs N] [--width W] [--device cpu]

Reads the copy with :func:`load_esc50` (stand-alone ESC-10 folders, or an ESC-50 copy with
``--subset``), decodes every clip once (5 s at 22.05 kHz), computes MFCC statistics and log-mel
patches once (both transformers are stateless), then cross-validates over the data set's
predefined folds: MFCC + GMM, MFCC + linear SVM, and the margin model with each loss at its
defaults (``MarginEmbeddingClassifier(loss=...)`` with only ``device``, ``random_state`` and,
if given, ``--epochs`` / ``--width`` set). Prints balanced accuracy
(over all clips, and per fold), per-class recall and the training / prediction / wall times.
``--n-jobs 2`` runs two folds at a time (one torch thread each); fit and predict times are then
summed over the folds, and the wall time is what a user waits.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from sklearn.metrics import recall_score

from sklearn_metricaudio import (AudioLoader, LogMelPatches, MarginEmbeddingClassifier,
                                 MFCCStats, load_esc50)
from sklearn_metricaudio.evaluation import evaluate_folds, paper_baselines

LOSSES = ("softmax", "sphereface", "cosface", "arcface", "npair")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", help="ESC-10 folder (NNN - Name/ class folders) or ESC-50 root")
    ap.add_argument("--models", nargs="+", default=["gmm", "svm", *LOSSES])
    ap.add_argument("--subset", default="esc10", choices=["esc10", "esc50"])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="margin model (default: its own)")
    ap.add_argument("--width", type=float, default=None, help="margin model (default: its own)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--random-state", type=int, default=0)
    args = ap.parse_args(argv)
    unknown = set(args.models) - {"gmm", "svm", *LOSSES}
    if unknown:
        ap.error(f"unknown --models {sorted(unknown)}; choose from gmm svm {' '.join(LOSSES)}")

    t0 = time.perf_counter()
    data = load_esc50(args.path, subset=args.subset)
    wave = AudioLoader(sr=22050, duration=5.0, n_jobs=args.n_jobs).transform(list(data.filenames))
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    mfcc = MFCCStats().transform(wave)
    t_mfcc = time.perf_counter() - t0
    t0 = time.perf_counter()
    logmel = LogMelPatches(device=args.device).transform(wave)
    t_logmel = time.perf_counter() - t0
    print(f"# {Path(args.path).name} ({args.subset}): {len(wave)} clips, "
          f"{len(data.target_names)} classes, folds {sorted(set(data.fold.tolist()))}; "
          f"decode {t_load:.1f} s, MFCC stats {mfcc.shape} {t_mfcc:.1f} s, "
          f"log-mel {logmel.shape} {t_logmel:.1f} s")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"n_jobs {args.n_jobs}", flush=True)

    baselines = paper_baselines(random_state=args.random_state)
    extra = {k: v for k, v in (("epochs", args.epochs), ("width", args.width)) if v is not None}
    recalls = {}
    header = (f"{'model':<12}{'bal. acc. %':>12}{'fold mean':>10}{'fit s':>9}{'predict s':>10}"
              f"{'wall s':>8}   per fold %")
    print(header, flush=True)
    for name in args.models:
        if name in baselines:
            est, X = baselines[name], mfcc
        else:
            est = MarginEmbeddingClassifier(loss=name, device=args.device,
                                            random_state=args.random_state, **extra)
            X = logmel
        t0 = time.perf_counter()
        r = evaluate_folds(est, X, data.target, data.fold, n_jobs=args.n_jobs, progress=False,
                           name=name)
        wall = time.perf_counter() - t0
        recalls[name] = recall_score(r.y_true, r.y_pred, average=None, labels=r.classes)
        folds = " ".join(f"{100 * s:.1f}" for s in r.fold_scores)
        line = (f"{name:<12}{100 * r.balanced_accuracy:>12.1f}{100 * r.fold_scores.mean():>10.1f}"
                f"{r.fit_time:>9.1f}{r.predict_time:>10.1f}{wall:>8.1f}   {folds}")
        print(line, flush=True)

    print("\nrecall per class, %")
    names = list(recalls)
    print(f"{'class':<18}" + "".join(f"{n:>11}" for n in names))
    for k, cname in enumerate(data.target_names):
        print(f"{str(cname):<18}" + "".join(f"{100 * recalls[n][k]:>11.1f}" for n in names))


if __name__ == "__main__":
    main()
