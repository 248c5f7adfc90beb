"""
How non-stationary is each sound? The Index of Non-Stationarity
===============================================================

Usage::

    python examples/ins_analysis.py [--n-clips 8] [--seconds 2.0] [--n-surrogates 50]
        [--plot ins.png] [--data-home DIR]

Section II of the seed paper measures the non-stationarity of every class with the Index of
Non-Stationarity of Borgnat et al. (2010): a clip's spectral variation over time at each
analysis scale, against that of 50 stationary surrogates (the same spectrum, random phases).
Here, on the first clip of ``--n-clips`` classes of the built-in synthetic set (no download):
``INSTransformer.transform_details`` gives the INS and its threshold at each scale; the
example prints each clip's per-scale table and a summary, and draws INS against scale with the
thresholds (the right half of the paper's Fig. 1; ``metricaudio ins FILE --plot`` draws the
whole figure for any file). A clip is non-stationary at a scale where its INS is above the
threshold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_metricaudio.datasets import get_data_home
from sklearn_metricaudio import AudioLoader, INSTransformer, make_urban_sounds
from sklearn_metricaudio.evaluation import format_ins_table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-clips", type=int, default=8, help="one clip of each of this many classes")
    ap.add_argument("--seconds", type=float, default=2.0, help="excerpt analysed per clip")
    ap.add_argument("--n-surrogates", type=int, default=50)
    ap.add_argument("--plot", default=None, help="also save the figure to this PNG")
    ap.add_argument("--data-home", default=None,
                    help="default: $METRICAUDIO_DATA or ~/.cache/sklearn_metricaudio")
    args = ap.parse_args(argv)

    root = get_data_home(args.data_home) / "urban_sounds_n2_f2_rs0"
    data = make_urban_sounds(root, n_per_class=2, n_folds=2, random_state=0)
    classes = np.arange(min(args.n_clips, len(data.target_names)))
    first = [int(np.flatnonzero(data.target == k)[0]) for k in classes]
    names = [str(data.target_names[k]) for k in classes]
    X = AudioLoader(sr=22050, duration=args.seconds).transform(
        [data.filenames[i] for i in first])                            # (n_clips, n_samples)

    ins = INSTransformer(sr=22050, n_surrogates=args.n_surrogates, random_state=0)
    d = ins.transform_details(X)                                       # everything per scale
    for i, name in enumerate(names):
        print(f"--- {name} ({Path(data.filenames[first[i]]).name})")
        print(format_ins_table(d, index=i))

    print(f"\n{'class':<18}{'max INS':>10}{'at T_h (ms)':>13}{'scales above threshold':>25}")
    for i, name in enumerate(names):
        k = int(d.max_index[i])
        print(f"{name:<18}{d.max_ins[i]:>10.2f}{d.window_ms[k]:>13.1f}"
              f"{int(d.nonstationary[i].sum()):>18d} / {len(d.scales)}")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, name in enumerate(names):
        line, = ax.loglog(d.window_ms, d.ins[i], "o-", label=name)
        ax.loglog(d.window_ms, d.threshold[i], ":", color=line.get_color())
    ax.set_xlabel("analysis window T_h (ms)")
    ax.set_ylabel("INS (dotted: threshold)")
    ax.set_title(f"Index of non-stationarity, {args.seconds:g}-s excerpts, "
                 f"{args.n_surrogates} surrogates")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    if args.plot:
        fig.savefig(args.plot)
        print(f"saved {args.plot}")
    return d


if __name__ == "__main__":
    main()
