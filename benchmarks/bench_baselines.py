"""The paper's MFCC baselines on real recordings (ESC-10) and on the synthetic set.

Usage::

    python benchmarks/bench_baselines.py --esc10 ../shared/data/ESC-10
    python benchmarks/bench_baselines.py              # synthetic set, demo size

ESC-10 is read with ``load_esc50(..., subset="esc10")`` (its stand-alone layout:
one folder per class, ``fold-clipid-take.ogg``). Prints balanced accuracy (pooled
and per fold) and times. ``bench_real.py`` adds the margin model.
"""

from __future__ import annotations

import argparse
import time

from sklearn_metricaudio import AudioLoader, MFCCStats, load_esc50, make_urban_sounds
from sklearn_metricaudio.evaluation import evaluate_folds, paper_baselines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--esc10", default=None)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--n-per-class", type=int, default=40, help="synthetic set: clips per class")
    ap.add_argument("--n-folds", type=int, default=10, help="synthetic set: folds")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.esc10:
        data = load_esc50(args.esc10, subset="esc10")
        duration, label = 5.0, "ESC-10 (real, 5 folds)"
        X = AudioLoader(sr=22050, duration=duration, n_jobs=args.n_jobs).transform(list(data.filenames))
    else:
        data = make_urban_sounds(n_per_class=args.n_per_class, n_folds=args.n_folds,
                                 random_state=0)
        duration, label = 4.0, f"synthetic urban sounds ({args.n_folds} folds)"
        X = AudioLoader(sr=22050, duration=duration).transform(list(data.data))
    F = MFCCStats().transform(X)
    print(f"# {label}: {len(X)} clips, features {F.shape} in {time.perf_counter() - t0:.1f} s")
    print(f"{'model':<6}{'bal. acc. %':>12}{'fold mean':>10}{'fold std':>9}{'fit s':>8}"
          f"{'predict s':>10}   per fold")
    for name, model in paper_baselines(random_state=0).items():
        r = evaluate_folds(model, F, data.target, data.fold, n_jobs=args.n_jobs, progress=False)
        folds = " ".join(f"{100 * s:.0f}" for s in r.fold_scores)
        print(f"{name:<6}{100 * r.balanced_accuracy:>12.1f}{100 * r.fold_scores.mean():>10.1f}"
              f"{100 * r.fold_scores.std():>9.1f}{r.fit_time:>8.1f}{r.predict_time:>10.1f}   {folds}")


if __name__ == "__main__":
    main()
