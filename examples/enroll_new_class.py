"""
Enroll classes the embedding never saw, on real recordings (ESC-10)
===================================================================

The seed paper's claim: an embedding trained with a margin loss serves classes it was never
trained on; a new class needs only a few clips to get a centroid, and no retraining.

Usage::

    python examples/enroll_new_class.py ../shared/data/ESC-10 [--shots 1 5] [--draws 20]
        [--epochs N]

For each of two splits of the 10 classes (the first five / the last five by folder order, then
the other way round):

1. train ``MarginEmbeddingClassifier`` (its defaults) on every clip of the five *known* classes;
2. for each *new* class draw ``shots`` clips, embed them and :meth:`CentroidClassifier.enroll`
   them into a copy of the model's own centroids of the known classes (the network is not
   touched); silent segments count nowhere, as in the model's own decisions
   (:meth:`MarginEmbeddingClassifier.sounding_segments`);
3. classify the other clips of the new classes, leaving out clips cut from the same source
   recording as an enrolled clip: among the five new classes (5-way) and among all ten
   (10-way, the known centroids present).

The baseline is the same centroid classifier on standardised MFCC statistics (275 per analysis
window, the windows playing the part of segments; scaler fitted on the known classes). Accuracy
is the mean (and standard deviation) over ``draws`` random draws of the enrollment clips. The
10-way figure scores the new classes' clips only (every clip of a known class was used to train
the embedding), so it measures how often a new clip is pulled to a known centroid.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.preprocessing import StandardScaler

from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
                                 MarginEmbeddingClassifier, MFCCStats, load_esc50)
from sklearn_metricaudio.evaluation import enrolled_accuracy, enrollment_draws


def _accuracy(X, mask, known, target, enroll, test):
    """(5-way, 10-way) accuracy on the test clips after enrolling ``enroll``: among the new
    classes only, then beside the known classes' centroids (``known``)."""
    return (enrolled_accuracy(X, target, enroll, test, segment_mask=mask),
            enrolled_accuracy(X, target, enroll, test, segment_mask=mask, known=known))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", help="ESC-10 folder (class folders 'NNN - Name')")
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None,
                    help="margin model's epochs (default: its own)")
    args = ap.parse_args(argv)

    data = load_esc50(args.path, subset="esc10")
    t0 = time.perf_counter()
    wave = AudioLoader(duration=5.0, n_jobs=2).transform(list(data.filenames))
    patches = LogMelPatches().transform(wave)
    mfcc = MFCCStats().transform(wave)
    print(f"# {len(wave)} clips, log-mel {patches.shape}, MFCC statistics {mfcc.shape} "
          f"({time.perf_counter() - t0:.1f} s)")
    classes = np.unique(data.target)
    splits = [(classes[:5], classes[5:]), (classes[5:], classes[:5])]
    print(f"{'split: new classes':<58}{'shots':>6}{'method':>14}{'5-way %':>14}{'10-way %':>14}")
    for known, new in splits:
        rng = np.random.default_rng(args.random_state)
        is_known = np.isin(data.target, known)
        t0 = time.perf_counter()
        extra = {} if args.epochs is None else {"epochs": args.epochs}
        model = MarginEmbeddingClassifier(random_state=args.random_state, **extra)
        # clips of one source recording stay on one side of the inner validation split
        model.fit(patches[is_known], data.target[is_known], groups=data.fsID[is_known])
        emb = model.embeddings(patches)  # (n_clips, n_windows, 32), the network is frozen now
        t_fit = time.perf_counter() - t0
        d = mfcc.shape[-1]
        scaler = StandardScaler().fit(mfcc[is_known].reshape(-1, d))  # per window
        stats = scaler.transform(mfcc.reshape(-1, d)).reshape(mfcc.shape)
        # the embedding decides as the model does: silent segments count nowhere, and the
        # known classes are the model's own centroids; MFCC windows all count
        feats = {"embedding": (emb, model.sounding_segments(patches), model.centroid_),
                 "MFCC stats": (stats, None, CentroidClassifier().fit(
                     stats[is_known], data.target[is_known]))}
        label = ", ".join(str(data.target_names[c]) for c in new)
        for shots in args.shots:
            scores = {name: [] for name in feats}
            for enroll, test in enrollment_draws(data.target, data.fsID, new, shots,
                                                 args.draws, rng):
                for name, (X, mask, known_centroids) in feats.items():
                    scores[name].append(_accuracy(X, mask, known_centroids, data.target,
                                                  enroll, test))
            for name, s in scores.items():
                s = 100 * np.asarray(s)
                print(f"{label[:56]:<58}{shots:>6}{name:>14}"
                      f"{s[:, 0].mean():>8.1f} ± {s[:, 0].std():>4.1f}"
                      f"{s[:, 1].mean():>8.1f} ± {s[:, 1].std():>4.1f}", flush=True)
        print(f"# embedding trained on {', '.join(str(data.target_names[c]) for c in known)} "
              f"in {t_fit:.0f} s")


if __name__ == "__main__":
    main()
