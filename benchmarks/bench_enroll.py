"""Enrollment of classes the embedding never saw: within ESC-10 and across real data sets.

Usage::

    python benchmarks/bench_enroll.py --esc10 ../shared/data/ESC-10 \
        [--us8k ../shared/data/US8K-dev] [--shots 1 5] [--draws 20] [--epochs N] [--width W]
        [--no-deformations] [--params "{'weight_averaging': 0.1}"] [--block 9]

Three tasks (the second and third only with ``--us8k``):

- ``ESC-10 5/5``: the margin model (its defaults) trained on five ESC-10 classes, the other five
  enrolled (both halves in turn, as in ``examples/enroll_new_class.py``);
- ``ESC-10 -> US8K``: trained on all of ESC-10, the UrbanSound8K classes enrolled;
- ``US8K -> ESC-10``: trained on all of US8K-dev (the paper's 8 classes), ESC-10 enrolled.

The embedding is trained as ``metricaudio evaluate`` trains it: the estimator's defaults, with
the deformed versions of its training clips (:func:`training_deformations`;
``--no-deformations``: without). In each task, every new class gets ``shots`` random clips; a :class:`CentroidClassifier` holding
only the new classes' centroids classifies their other clips (N-way among the new classes),
leaving out clips cut from the same source recording as an enrolled clip. Accuracy is the
mean (and standard deviation) over ``draws`` draws. Representations compared:

- ``embedding``: the network's segment embeddings, silent segments left out of the enrolled
  centroids and of each clip's mean distance (as the model decides: ``transform`` leaves
  them NaN, missing);
- ``embedding, CL2N``: the unit segment embeddings centred on the mean training segment, then
  L2-normalised (SimpleShot's CL2N; Wang et al. 2019);
- ``embedding, clip mean``: one vector per clip, the mean of its sounding segments' unit
  embeddings (averaged before the centroid);
- ``MFCC stats``: standardised MFCC statistics per analysis window (the scaler fitted on the
  training classes' clips), the windows playing the part of segments;
- ``joined: emb + MFCC``: one vector per clip, the embedding's clip mean and the mean of the
  clip's standardised MFCC statistics, each L2-normalised, side by side: its cosine to a
  centroid is the mean of the two representations' cosines (one representation that joins
  the embedding with MFCC statistics; the library's :class:`ClipMean` on each, as the
  ``FeatureUnion`` in its docstring computes it).

Prints one row per task, shots and representation, and the time to train each embedding.
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np
from sklearn_metricaudio import ClipMean, MarginEmbeddingClassifier
from sklearn_metricaudio.augment import training_deformations
from sklearn_metricaudio.datasets import load_dataset
from sklearn_metricaudio.evaluation import compute_features, enrolled_accuracy, enrollment_draws


def _features(path, deform):
    """Loaded data set, log-mel patches, MFCC statistics and deformed patches (or None)."""
    data = load_dataset(path)
    f = compute_features(["logmel", "mfcc"], data, duration=data.clip_seconds, n_jobs=2,
                         deformations=training_deformations() if deform else None,
                         progress=False)
    return data, f["logmel"].X, f["mfcc"].X, f["logmel"].get("deformed")


def _representations(model, patches, mfcc, mfcc_mean, block, block_mean):
    """Name -> (segments array, segment mask or None) for one data set's clips
    (``mfcc_mean``, ``block_mean``: ClipMean(rows="standard") fitted on the training clips'
    MFCC statistics and block activations)."""
    emb = model.embeddings(patches)  # silent segments NaN: missing, as the model decides
    blk = block_mean.transform(model.transform(patches))  # transform_layer=block
    unit = _unit(emb)
    clip_mean = np.nanmean(unit, axis=1)
    # CL2N (SimpleShot): centred on the mean training segment (unit vectors, the model's
    # centroid sums), then L2-normalised (the cosine distance normalises)
    centre = model.centroid_.sums_.sum(0) / model.centroid_.counts_.sum()
    d = mfcc.shape[-1]
    stats = mfcc_mean.scaler_.transform(mfcc.reshape(-1, d)).reshape(mfcc.shape)
    # the library's ClipMean, as a FeatureUnion of the two front ends would compute it
    joined = np.hstack([ClipMean().fit_transform(emb), mfcc_mean.transform(mfcc)])
    return {"embedding": (emb, None), "embedding, CL2N": (unit - centre, None),
            "embedding, clip mean": (clip_mean[:, None], None), "MFCC stats": (stats, None),
            "joined: emb + MFCC": (joined[:, None], None),
            f"block {block}": (blk[:, None], None),
            f"joined: block {block} + MFCC": (np.hstack([blk, mfcc_mean.transform(mfcc)])[:, None],
                                              None)}


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _score(reps, data, classes, shots, n_draws, seed):
    """Name -> accuracies (%) over the draws, N-way among ``classes``."""
    rng = np.random.default_rng(seed)
    out = {name: [] for name in reps}
    for enroll, test in enrollment_draws(data.target, data.fsID, classes, shots, n_draws, rng):
        for name, (X, mask) in reps.items():
            out[name].append(100 * enrolled_accuracy(X, data.target, enroll, test,
                                                     segment_mask=mask))
    return out


def _train(data, patches, mfcc, deformed, idx, params, seed, block):
    t0 = time.perf_counter()
    model = MarginEmbeddingClassifier(random_state=seed, transform_layer=block, **params)
    model.fit(patches[idx], data.target[idx], groups=data.fsID[idx],
              deformed=None if deformed is None else deformed[idx])
    t_fit = time.perf_counter() - t0
    block_mean = ClipMean(rows="standard").fit(model.transform(patches[idx]))
    return model, ClipMean(rows="standard").fit(mfcc[idx]), block_mean, t_fit


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--esc10", required=True, help="ESC-10 folder (any layout load_dataset reads; "
                    "split in halves of its classes)")
    ap.add_argument("--us8k", default=None, help="UrbanSound8K layout (e.g. US8K-dev)")
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--width", type=float, default=None)
    ap.add_argument("--no-deformations", action="store_true",
                    help="train the embedding on the original clips only")
    ap.add_argument("--params", type=ast.literal_eval, default={},
                    help="other MarginEmbeddingClassifier settings, a dict literal")
    ap.add_argument("--block", type=int, default=9,
                    help="the network block of the 'block' representations (transform_layer)")
    args = ap.parse_args(argv)
    params = {k: v for k, v in (("epochs", args.epochs), ("width", args.width)) if v is not None}
    params.update(args.params)

    deform = not args.no_deformations
    sets = {"ESC-10": _features(args.esc10, deform)}
    if args.us8k:
        sets["US8K"] = _features(args.us8k, deform)
    tasks = []
    data = sets["ESC-10"][0]
    classes = np.unique(data.target)
    half = (classes.size + 1) // 2
    for known, new in ((classes[:half], classes[half:]), (classes[half:], classes[:half])):
        tasks.append((f"ESC-10 {known.size}/{new.size} (new: {int(new[0])}-{int(new[-1])})",
                      "ESC-10", np.flatnonzero(np.isin(data.target, known)), "ESC-10", new))
    if args.us8k:
        for src, dst in (("ESC-10", "US8K"), ("US8K", "ESC-10")):
            tasks.append((f"{src} -> {dst}", src, np.arange(len(sets[src][0].target)), dst,
                          np.unique(sets[dst][0].target)))

    print(f"{'task':<26}{'shots':>6}  {'representation':<26}{'N-way acc. %':>16}")
    for title, src, idx, dst, new in tasks:
        model, mfcc_mean, block_mean, t_fit = _train(*sets[src], idx, params,
                                                     args.random_state, args.block)
        d_data, d_patches, d_mfcc, _ = sets[dst]
        reps = _representations(model, d_patches, d_mfcc, mfcc_mean, args.block, block_mean)
        for shots in args.shots:
            scores = _score(reps, d_data, new, shots, args.draws, args.random_state)
            for name, s in scores.items():
                print(f"{title:<26}{shots:>6}  {name:<26}{np.mean(s):>9.1f} ± {np.std(s):>4.1f}",
                      flush=True)
        print(f"# {title}: embedding trained in {t_fit:.0f} s ({len(new)}-way)", flush=True)


if __name__ == "__main__":
    main()
