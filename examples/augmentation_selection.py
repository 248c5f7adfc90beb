"""
Keep only the augmented clips a learned metric agrees with (Algorithm 1 of Lu, Duan & Zhang)
============================================================================================

Usage::

    python examples/augmentation_selection.py [--n-per-class 10] [--n-folds 4] [--epochs 10]
        [--n-neighbors 5] [--data-home DIR]

On the built-in synthetic set (no download):

1. ``MetricAugmentationSelector.fit_resample`` as a sampler: the folds are the partitions; for
   each, an N-pair embedding is learned on the other folds, every clip of the fold is deformed
   the paper's 20 ways, and a deformed clip is kept when its 5 nearest training clips agree
   with its label. Prints what was kept per class and deformation (the paper's Fig. 4 /
   Table 2).
2. The same selector as a meta-estimator at the end of a plain scikit-learn Pipeline (file
   names in), trained on every fold but the last, against the same classifier without
   augmentation; both scored on the last fold.

A demonstration of the API, not a measurement: both classifiers train the same epochs (so the
augmented one takes more steps), on one fold of a small synthetic set. The measured comparison
is ``metricaudio evaluate --augment ...`` (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio.datasets import get_data_home
from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
                                 MarginEmbeddingClassifier, MetricAugmentationSelector,
                                 make_urban_sounds)
from sklearn_metricaudio.augment.selector import default_metric
from sklearn_metricaudio.evaluation.augmentation import format_acceptance_table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-class", type=int, default=10)
    ap.add_argument("--n-folds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10, help="metric and classifier epochs")
    ap.add_argument("--n-neighbors", type=int, default=5)
    ap.add_argument("--data-home", default=None,
                    help="default: $METRICAUDIO_DATA or ~/.cache/sklearn_metricaudio")
    args = ap.parse_args(argv)

    root = get_data_home(args.data_home) / (f"urban_sounds_n{args.n_per_class}"
                                                f"_f{args.n_folds}_rs0")
    data = make_urban_sounds(root, n_per_class=args.n_per_class, n_folds=args.n_folds,
                             random_state=0)
    metric = default_metric(random_state=0).set_params(
        marginembeddingclassifier__epochs=args.epochs)

    # 1. the sampler: waveforms in, the clips and the kept deformed clips out
    X = AudioLoader(duration=4.0).transform(data.filenames)
    sampler = MetricAugmentationSelector(metric=metric, n_neighbors=args.n_neighbors,
                                         random_state=0)
    X_res, y_res = sampler.fit_resample(X, data.target, groups=data.fold)
    print(f"{len(X)} clips -> {len(X_res)}: {sampler.sample_indices_.size} of "
          f"{len(X) * len(sampler.variant_names_)} deformed clips kept")
    print(format_acceptance_table(sampler.acceptance_table(), data.target_names,
                                  title=f"accepted % per class and deformation "
                                        f"({args.n_neighbors}-NN)"))

    # 2. the meta-estimator in a plain Pipeline: fit on all folds but the last
    def classifier():
        return make_pipeline(LogMelPatches(), MarginEmbeddingClassifier(epochs=args.epochs,
                                                                        random_state=0),
                             CentroidClassifier())

    test = data.fold == data.fold.max()
    files, y = np.asarray(data.filenames), data.target
    augmented = make_pipeline(AudioLoader(duration=4.0), MetricAugmentationSelector(
        classifier(), metric=metric, n_neighbors=args.n_neighbors, random_state=0))
    augmented.fit(files[~test], y[~test], metricaugmentationselector__groups=data.fold[~test])
    plain = make_pipeline(AudioLoader(duration=4.0), classifier()).fit(files[~test], y[~test])
    for name, model in (("with selected augmentation", augmented), ("without", plain)):
        score = balanced_accuracy_score(y[test], model.predict(files[test]))
        print(f"{name}: balanced accuracy on fold {data.fold.max()}: {100 * score:.1f} %")
    return sampler


if __name__ == "__main__":
    main()
