"""
Grid search over the margin loss and its margin
===============================================

Usage::

    python examples/grid_search_margins.py [--n-per-class 8] [--n-folds 4] [--epochs 20]
        [--losses softmax sphereface cosface arcface] [--margins 0.2 0.35 0.5] [--width 0.25]
        [--data-home DIR]

``GridSearchCV`` over ``MarginEmbeddingClassifier``'s ``loss`` and ``margin`` (the paper's
Fig. 3 compares the four margins), scored by balanced accuracy over the synthetic set's own
folds (``PredefinedSplit``). The features are stateless, so the log-mel patches are computed
once and the search fits only ``MarginEmbeddingClassifier`` -> ``CentroidClassifier`` per
cell and fold. Each margin loss has a grid of its own: the modified softmax has no margin,
SphereFace's is an integer (its multiplier ``m``; the default 4 is searched), CosFace's a
cosine offset and ArcFace's an angle in radians (``--margins`` serve both).

A demonstration of the API on a few clips and epochs, not a measurement.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn import config_context
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio.datasets import get_data_home
from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
                                 MarginEmbeddingClassifier, make_urban_sounds)

LOSSES = ("softmax", "sphereface", "cosface", "arcface")


def param_grid(losses, margins):
    """One sub-grid per loss: no margin for the softmax, SphereFace's default integer m."""
    key = "marginembeddingclassifier__"
    grid = []
    for loss in losses:
        cell = {key + "loss": [loss]}
        if loss in ("cosface", "arcface"):
            cell[key + "margin"] = list(margins)
        grid.append(cell)
    return grid


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-class", type=int, default=8)
    ap.add_argument("--n-folds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--losses", nargs="+", choices=LOSSES, default=list(LOSSES))
    ap.add_argument("--margins", type=float, nargs="+", default=[0.2, 0.35, 0.5],
                    help="margins tried for CosFace and ArcFace")
    ap.add_argument("--width", type=float, default=0.25, help="MobileNet width multiplier")
    ap.add_argument("--data-home", default=None,
                    help="default: $METRICAUDIO_DATA or ~/.cache/sklearn_metricaudio")
    args = ap.parse_args(argv)

    root = get_data_home(args.data_home) / (f"urban_sounds_n{args.n_per_class}"
                                                f"_f{args.n_folds}_rs0")
    data = make_urban_sounds(root, n_per_class=args.n_per_class, n_folds=args.n_folds,
                             random_state=0)
    # stateless features, once for the whole search: (n_clips, 4, 128, 86)
    X = LogMelPatches().transform(AudioLoader(duration=4.0).transform(data.filenames))

    grid = param_grid(args.losses, args.margins)
    with config_context(enable_metadata_routing=True):   # fsID -> the inner validation split
        model = make_pipeline(
            MarginEmbeddingClassifier(width=args.width, epochs=args.epochs,
                                      random_state=0).set_fit_request(groups=True),
            CentroidClassifier())
        search = GridSearchCV(model, grid, cv=PredefinedSplit(data.fold),
                              scoring="balanced_accuracy")
        search.fit(X, data.target, groups=data.fsID)

    res = search.cv_results_
    print(f"{'loss':<12}{'margin':>8}{'balanced acc. %':>18}{'fold std':>10}{'rank':>6}")
    for i, params in enumerate(res["params"]):
        margin = params.get("marginembeddingclassifier__margin")
        print(f"{params['marginembeddingclassifier__loss']:<12}"
              f"{'default' if margin is None else f'{margin:g}':>8}"
              f"{100 * res['mean_test_score'][i]:>18.1f}{100 * res['std_test_score'][i]:>10.1f}"
              f"{res['rank_test_score'][i]:>6d}")
    print(f"best: {search.best_params_} ({100 * search.best_score_:.1f} % over "
          f"{len(np.unique(data.fold))} folds)")
    return search


if __name__ == "__main__":
    main()
