"""
The metric-learning model as a scikit-learn Pipeline, over predefined folds
===========================================================================

Usage::

    python examples/pipeline.py [--n-per-class 8] [--n-folds 4] [--epochs 20] [--width 0.25]
        [--data-home DIR]

On the built-in synthetic set (no download), in the UrbanSound8K layout:

1. one Pipeline from file names to labels, ``AudioLoader`` -> ``LogMelPatches`` ->
   ``MarginEmbeddingClassifier`` -> ``CentroidClassifier``, fitted on every fold but the last;
   the shape of the data after each step is printed for two clips (path -> waveform ->
   log-mel patches -> segment embeddings -> centroid distances);
2. ``cross_val_score`` over the set's own folds (``PredefinedSplit``), the clips of one
   source recording (``fsID``) passed as ``groups`` so that the model's inner validation
   split never holds a recording it trains on.

A demonstration of the API on a few clips and epochs, not a measurement (the measured
figures are in ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn import config_context
from sklearn.model_selection import PredefinedSplit, cross_val_score
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio.datasets import get_data_home
from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
                                 MarginEmbeddingClassifier, make_urban_sounds)


def build_pipeline(epochs, width, random_state=0):
    """path -> waveform -> log-mel patches -> embeddings -> nearest centroid."""
    return make_pipeline(
        AudioLoader(sr=22050, duration=4.0),               # paths -> (n, 88200)
        LogMelPatches(segment_seconds=1.0),                # -> (n, 4, 128, 86)
        MarginEmbeddingClassifier(loss="cosface", width=width, epochs=epochs,
                                  random_state=random_state).set_fit_request(groups=True),
        CentroidClassifier(metric="cosine"))               # (n, 13, 32) -> labels
    # (13: the model judges each clip from windows every quarter segment, segment_hop)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-class", type=int, default=8)
    ap.add_argument("--n-folds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--width", type=float, default=0.25, help="MobileNet width multiplier")
    ap.add_argument("--data-home", default=None,
                    help="default: $METRICAUDIO_DATA or ~/.cache/sklearn_metricaudio")
    args = ap.parse_args(argv)

    root = get_data_home(args.data_home) / (f"urban_sounds_n{args.n_per_class}"
                                                f"_f{args.n_folds}_rs0")
    data = make_urban_sounds(root, n_per_class=args.n_per_class, n_folds=args.n_folds,
                             random_state=0)
    files, y = np.asarray(data.filenames), data.target
    print(f"{len(files)} clips, {len(data.target_names)} classes, folds "
          f"{sorted(set(data.fold.tolist()))}")

    # groups reach the margin model through scikit-learn's metadata routing
    with config_context(enable_metadata_routing=True):
        # 1. one fit, and the data flow through the fitted steps
        pipe = build_pipeline(args.epochs, args.width)
        train = data.fold != data.fold.max()
        pipe.fit(files[train], y[train], groups=data.fsID[train])
        X = files[:2]
        shapes = {"input": X.shape}
        print(f"{'step':<28} output shape")
        print(f"{'(file names)':<28} {X.shape}")
        for name, step in pipe.steps[:-1]:
            X = step.transform(X)
            shapes[name] = X.shape
            print(f"{name:<28} {X.shape}")
        D = pipe[-1].mean_distances(X)
        shapes["centroid distances"] = D.shape
        print(f"{'centroidclassifier':<28} {D.shape} mean cosine distance to each class")
        print("predicted:", [str(data.target_names[k]) for k in pipe.predict(files[:2])],
              " true:", [str(data.target_names[k]) for k in y[:2]])

        # 2. cross-validation over the data set's own folds
        scores = cross_val_score(build_pipeline(args.epochs, args.width), files, y,
                                 cv=PredefinedSplit(data.fold), scoring="balanced_accuracy",
                                 params={"groups": data.fsID})
    for k, s in zip(np.unique(data.fold), scores):
        print(f"fold {k}: balanced accuracy {100 * s:.1f} %")
    print(f"mean over {len(scores)} folds: {100 * scores.mean():.1f} % "
          f"(chance {100 / len(data.target_names):.1f} %)")
    return scores, shapes


if __name__ == "__main__":
    main()
