"""MetricAugmentationSelector.fit_resample on a real data set: wall time and peak memory.

Usage::

    python benchmarks/bench_selector.py ../shared/data/ESC-10 [--epochs 30] [--n-neighbors 5]
        [--subset esc10] [--random-state 0]

Reads the copy with :func:`load_dataset`, decodes every clip (cut or repeat-padded to the data
set's clip length at 22.05 kHz), and runs Algorithm 1 as a user would: the selector's default
metric (log-mel patches + N-pair MobileNet; ``--epochs`` sets its epochs) and the paper's 20
deformations, the data set's folds as the partitions. The deformed clips are made partition by
partition and deformation by deformation; only the accepted ones are kept. Prints the wall
time, the peak resident memory of the process (``ru_maxrss``) next to the sizes of the input,
of the output and of what all 20 deformed versions would take at once, and the acceptance
table.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from sklearn_metricaudio.augment import MetricAugmentationSelector
from sklearn_metricaudio.augment.selector import default_metric
from sklearn_metricaudio.datasets import load_dataset
from sklearn_metricaudio.evaluation.augmentation import format_acceptance_table
from sklearn_metricaudio.features import AudioLoader


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10  # bytes / KiB


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", help="UrbanSound8K root, ESC-50 root or ESC-10 folder")
    ap.add_argument("--subset", default=None, choices=["esc10", "esc50"])
    ap.add_argument("--epochs", type=int, default=None, help="metric epochs (default: its own)")
    ap.add_argument("--n-neighbors", type=int, default=5)
    ap.add_argument("--random-state", type=int, default=0)
    args = ap.parse_args(argv)

    data = load_dataset(args.path, subset=args.subset)
    t0 = time.perf_counter()
    X = AudioLoader(sr=22050, duration=data.clip_seconds).transform(data.filenames)
    decode = time.perf_counter() - t0
    rss_input = _peak_rss_mb()
    metric = default_metric(random_state=args.random_state)
    if args.epochs is not None:
        metric.set_params(marginembeddingclassifier__epochs=args.epochs)
    sel = MetricAugmentationSelector(metric=metric, n_neighbors=args.n_neighbors,
                                     random_state=args.random_state, verbose=1)
    t0 = time.perf_counter()
    X_res, y_res = sel.fit_resample(X, data.target, groups=data.fold)
    wall = time.perf_counter() - t0
    mb = X.nbytes / 2 ** 20
    n_var = len(sel.variant_names_)
    print(f"# {data.name}: {len(X)} clips x {X.shape[1]} samples ({mb:.0f} MB float32), "
          f"decoded in {decode:.1f} s; partitions = folds {sorted(set(data.fold.tolist()))}; "
          f"{n_var} deformations; metric epochs "
          f"{metric.get_params()['marginembeddingclassifier__epochs']}")
    print(f"fit_resample: {wall:.1f} s; output {X_res.shape} ({X_res.nbytes / 2 ** 20:.0f} MB), "
          f"accepted {sel.sample_indices_.size} of {len(X) * n_var} deformed clips "
          f"({100 * sel.acceptance_ratio_:.1f} %)")
    print(f"peak RSS {_peak_rss_mb():.0f} MB (after decoding: {rss_input:.0f} MB); all "
          f"{n_var} deformed versions at once would be {n_var * mb:.0f} MB")
    print()
    print(format_acceptance_table(sel.acceptance_table(), data.target_names,
                                  title=f"acceptance % ({args.n_neighbors}-NN)"))
    return sel


if __name__ == "__main__":
    main()
