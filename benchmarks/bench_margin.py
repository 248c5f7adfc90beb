"""MarginEmbeddingClassifier speed on this machine: training throughput and inference latency.

Usage::

    python benchmarks/bench_margin.py [--widths 0.25 0.5 1.0] [--device cpu] [--clips 64]

For each MobileNet width: training segments/second (SGD, batches of 32, 1-s log-mel segments of
128 x 43, CosFace; one epoch after a warm-up epoch) and the latency of predicting one 4-s clip
(4 segments), median of 20 calls.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sklearn_metricaudio import MarginEmbeddingClassifier


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clips", type=int, default=64)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.clips, 4, 128, 43)).astype(np.float32)
    y = np.arange(args.clips) % 8
    print(f"# torch {torch.__version__}, threads={torch.get_num_threads()}, device={args.device}; "
          f"{args.clips} clips x 4 segments of 128 x 43")
    print(f"{'width':>6}{'params':>10}{'train segments/s':>18}{'predict ms/clip':>17}")
    for w in args.widths:
        clf = MarginEmbeddingClassifier(width=w, epochs=1, validation_split=None,
                                        device=args.device, random_state=0).fit(X, y)
        t0 = time.perf_counter()
        MarginEmbeddingClassifier(width=w, epochs=2, validation_split=None, device=args.device,
                                  random_state=0).fit(X, y)
        two = time.perf_counter() - t0
        t0 = time.perf_counter()
        MarginEmbeddingClassifier(width=w, epochs=1, validation_split=None, device=args.device,
                                  random_state=0).fit(X, y)
        one = time.perf_counter() - t0
        seg_per_s = X.shape[0] * X.shape[1] / max(two - one, 1e-9)  # one epoch, set-up removed
        lat = []
        for _ in range(20):
            t0 = time.perf_counter()
            clf.predict(X[:1])
            lat.append(time.perf_counter() - t0)
        n_params = sum(p.numel() for p in clf.net_.module_.parameters())
        print(f"{w:>6}{n_params:>10}{seg_per_s:>18.1f}{1000 * np.median(lat):>17.1f}")


if __name__ == "__main__":
    main()
