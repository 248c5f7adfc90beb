"""MarginEmbeddingClassifier speed on this machine: training throughput and inference latency.

Usage::

    python benchmarks/bench_margin.py [--widths 0.25 0.5 1.0] [--device cpu] [--clips 64]
        [--frames 86] [--threads N] [--paper-fold 4000]

For each MobileNet width: training segments/second (SGD, batches of 32, 1-s log-mel segments of
128 x 86 (the default hop of 256 samples), CosFace; one epoch, set-up removed, best of two) and
the latency of predicting one 4-s clip (4 segments), median of 20 calls. On the CPU the library
trains in the NHWC layout (channels last); the table also times the default NCHW layout with
the same code, and their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sklearn_metricaudio import MarginEmbeddingClassifier
from sklearn_metricaudio.models import margin as _margin


def _train_rate(X, y, width, device, channels_last):
    """Training segments/s of one epoch: a 2-epoch fit minus a 1-epoch fit (set-up removed)."""
    _margin._CPU_CHANNELS_LAST = channels_last
    try:
        times = []
        for epochs in (2, 1):
            t0 = time.perf_counter()
            MarginEmbeddingClassifier(width=width, epochs=epochs, validation_split=None,
                                      device=device, random_state=0).fit(X, y)
            times.append(time.perf_counter() - t0)
    finally:
        _margin._CPU_CHANNELS_LAST = True
    return X.shape[0] * X.shape[1] / max(times[0] - times[1], 1e-9)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--frames", type=int, default=86, help="frames per 1-s segment (86: hop 256)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (the demo's folds run with 1 each)")
    ap.add_argument("--paper-fold", type=int, default=0, metavar="N",
                    help="also time one paper-protocol fold: width 1.0, the paper's recipe "
                         "(SGD, lr 0.005, batch 32, 20 epochs, best epoch on a 10 %% split) on N "
                         "random 4-s clips, then predict N/9 clips (US8K-sized: N=4000)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.clips, 4, 128, args.frames)).astype(np.float32)
    y = np.arange(args.clips) % 8
    cpu = str(args.device) == "cpu"
    print(f"# torch {torch.__version__}, threads={torch.get_num_threads()}, device={args.device}; "
          f"{args.clips} clips x 4 segments of 128 x {args.frames}")
    head = f"{'width':>6}{'params':>10}{'train segments/s':>18}"
    if cpu:
        head += f"{'NCHW segments/s':>17}{'ratio':>7}"
    print(head + f"{'predict ms/clip':>17}")
    for w in args.widths:
        clf = MarginEmbeddingClassifier(width=w, epochs=1, validation_split=None,
                                        device=args.device, random_state=0).fit(X, y)  # warm-up
        ours, nchw = [], []
        for _ in range(2):  # alternate the layouts, best of two: the VM's speed drifts
            ours.append(_train_rate(X, y, w, args.device, True))
            if cpu:
                nchw.append(_train_rate(X, y, w, args.device, False))
        lat = []
        for _ in range(20):
            t0 = time.perf_counter()
            clf.predict(X[:1])
            lat.append(time.perf_counter() - t0)
        n_params = sum(p.numel() for p in clf.net_.module_.parameters())
        row = f"{w:>6}{n_params:>10}{max(ours):>18.1f}"
        if cpu:
            row += f"{max(nchw):>17.1f}{max(ours) / max(nchw):>7.2f}"
        print(row + f"{1000 * np.median(lat):>17.1f}", flush=True)
    if args.paper_fold:
        n = args.paper_fold
        Xf = rng.normal(size=(n + n // 9, 4, 128, args.frames)).astype(np.float32)
        yf = np.arange(len(Xf)) % 8
        t0 = time.perf_counter()
        clf = MarginEmbeddingClassifier(width=1.0, epochs=20, device=args.device, random_state=0)
        clf.fit(Xf[:n], yf[:n])
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        clf.predict(Xf[n:])
        print(f"# one paper-protocol fold ({n} training clips x 4 segments of 128 x {args.frames}, "
              f"width 1.0, "
              f"20 epochs; "
              f"random data, timing only): fit {fit_s:.1f} s, predict {n // 9} clips "
              f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
