"""``segment_hop`` on trained models: each clip judged from overlapping windows.

Usage::

    python benchmarks/bench_open_set.py --data ../shared/data/ESC-10 \
        --unknown ../shared/data/US8K-dev --folds --deformations --save-models DIR
    python benchmarks/bench_segment_hop.py --data ../shared/data/ESC-10 --models DIR \
        [--unknown ../shared/data/US8K-dev] [--hops 1 0.5 0.25]

The models are those ``bench_open_set.py --folds --save-models DIR`` trained (``rotationR.pkl``:
fold ``R + 1`` tested, the others trained on); the network is the same for every hop, as
``segment_hop`` changes nothing in training. For each hop the model's class centroids are
made again from its training clips (those of the other folds, less its validation clips) as
``fit`` makes them with that hop, then the test fold is classified. Reported per fold and
pooled: balanced accuracy (the fold mean in brackets), recall per class, and with
``--unknown`` the AUROC of the test clips against the other data set's clips (every class of
it, as bench_open_set.py takes them, less those named as a known one; ``score_samples``).
"""

from __future__ import annotations

import argparse
import copy
import re
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.metrics import balanced_accuracy_score, recall_score, roc_auc_score

from sklearn_metricaudio import CentroidClassifier
from sklearn_metricaudio.datasets import detect_layout, load_dataset
from sklearn_metricaudio.evaluation import compute_features


def _patches(path, every_class=False):
    """Data set and log-mel patches (``every_class``: all of UrbanSound8K's 10 classes, as
    bench_open_set.py takes its unknowns)."""
    us8k = every_class and detect_layout(path) == "urbansound8k"
    data = load_dataset(path, classes="all") if us8k else load_dataset(path)
    f = compute_features(["logmel"], data, duration=data.clip_seconds, n_jobs=2,
                         progress=False)
    return data, f["logmel"].X


def _name(label):
    return re.sub(r"[^a-z]+", "_", str(label).lower()).strip("_")


def saved_models(folder):
    """{rotation: path} of the ``rotationR.pkl`` files bench_open_set.py --folds
    --save-models wrote to ``folder``; SystemExit when there are none."""
    paths = {int(re.fullmatch(r"rotation(\d+)\.pkl", p.name)[1]): p
             for p in Path(folder).glob("rotation*.pkl")}
    if not paths:
        raise SystemExit(f"--models {folder}: no rotationR.pkl files (bench_open_set.py "
                         "--folds --save-models writes them)")
    return paths


def auroc(known_scores, unknown_scores):
    """AUROC of known (positive) against unknown clips from their ``score_samples``."""
    return roc_auc_score(np.r_[np.ones(known_scores.size), np.zeros(unknown_scores.size)],
                         np.r_[known_scores, unknown_scores])


def with_hop(model, hop, X_fit, y_fit):
    """A copy of ``model`` with ``segment_hop=hop`` and its class centroids made again from
    the clips ``X_fit`` as ``fit`` makes them (the same windows' embeddings)."""
    if getattr(model, "rejection_", None) is not None:
        raise ValueError(f"with_hop makes the embedding's centroids again, not the "
                         f"rejection_layer={model.rejection_layer!r} ones: give a model "
                         "fitted with rejection_layer='embedding' (as bench_open_set.py "
                         "trains them)")
    model = copy.deepcopy(model).set_params(segment_hop=hop)
    model.centroid_ = CentroidClassifier(metric="cosine").fit(model.embeddings(X_fit), y_fit)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", required=True,
                    help="the folder bench_open_set.py --folds --save-models wrote")
    ap.add_argument("--unknown", default=None, help="another data set: its clips as unknowns")
    ap.add_argument("--hops", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    args = ap.parse_args(argv)
    # a partial fold lacks some classes: its balanced accuracy is over those it has
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    if any(not 0 < h <= 1 for h in args.hops):
        ap.error(f"--hops must be shares of a segment in (0, 1], got {args.hops}")
    paths = saved_models(args.models)
    t0 = time.perf_counter()
    data, P = _patches(args.data)
    unknown = None
    if args.unknown:
        o_data, o_P = _patches(args.unknown, every_class=True)
        names = {_name(n) for n in data.target_names}
        keep = np.array([_name(o_data.target_names[t]) not in names for t in o_data.target])
        unknown = o_P[keep]
    print(f"features: {time.perf_counter() - t0:.0f} s", flush=True)
    folds = np.unique(data.fold)
    pooled = {h: ([], [], []) for h in args.hops}  # true, predicted, AUROC per fold
    seconds = dict.fromkeys(args.hops, 0.0)  # predict's time over the test clips
    for r in sorted(paths):
        model = joblib.load(paths[r])
        fold = folds[r % folds.size]
        train = np.flatnonzero(data.fold != fold)
        fit = train[~model.validation_mask_]
        test = np.flatnonzero(data.fold == fold)
        row = []
        for h in args.hops:
            m = with_hop(model, h, P[fit], data.target[fit])
            t1 = time.perf_counter()
            pred = m.predict(P[test])
            seconds[h] += time.perf_counter() - t1
            pooled[h][0].append(data.target[test])
            pooled[h][1].append(pred)
            text = f"hop {h:g}: {100 * balanced_accuracy_score(data.target[test], pred):.1f} %"
            if unknown is not None:
                auc = auroc(m.score_samples(P[test]), m.score_samples(unknown))
                pooled[h][2].append(auc)
                text += f", AUROC {auc:.3f}"
            row.append(text)
        print(f"fold {fold}: " + " | ".join(row), flush=True)
    print("\nhop    predict s  balanced acc. % (fold mean)"
          + ("  AUROC (mean)" if unknown is not None else ""))
    for h, (yt, yp, auc) in pooled.items():
        yt, yp_all = np.concatenate(yt), np.concatenate(yp)
        mean = np.mean([100 * balanced_accuracy_score(a, b)
                        for a, b in zip(pooled[h][0], pooled[h][1])])
        line = (f"{h:<6g} {seconds[h]:9.1f}  {100 * balanced_accuracy_score(yt, yp_all):5.1f} "
                f"({mean:.1f})")
        if auc:
            line += f"            {np.mean(auc):.3f}"
        print(line)
    print("\nrecall per class, %:")
    print(f"{'class':<20}" + "".join(f"hop {h:<6g}" for h in args.hops))
    recalls = {h: recall_score(np.concatenate(pooled[h][0]), np.concatenate(pooled[h][1]),
                               labels=np.unique(data.target), average=None, zero_division=0)
               for h in args.hops}
    for i, c in enumerate(np.unique(data.target)):
        print(f"{str(data.target_names[c])[:19]:<20}"
              + "".join(f"{100 * recalls[h][i]:<10.1f}" for h in args.hops))


if __name__ == "__main__":
    main()
