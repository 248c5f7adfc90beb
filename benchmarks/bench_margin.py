"""MarginEmbeddingClassifier speed on this machine: training throughput and inference latency.

Usage::

    python benchmarks/bench_margin.py [--widths 0.25 0.5 1.0] [--device cpu] [--clips 64]
        [--frames 86] [--threads N] [--paper-fold 4000] [--epoch-times 4000]
        [--paper-protocol N_JOBS] [--profile N]

For each MobileNet width: training segments/second (SGD, batches of 32, 1-s log-mel segments of
128 x 86 (the default hop of 256 samples), CosFace; one epoch, set-up removed, best of two) and
the latency of predicting one 4-s clip (4 segments, 13 windows at the default ``segment_hop``),
median of 20 calls. On the CPU the library
trains in the NHWC layout (channels last); the table also times the default NCHW layout with
the same code, and their ratio. ``--profile N``: where one training epoch at the estimator's
defaults goes (torch.profiler's operators by self CPU time; the batch gathering and the
centroid validation timed alone).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sklearn_metricaudio import MarginEmbeddingClassifier
from sklearn_metricaudio.models import margin as _margin


#: The paper's recipe (Zucatelli & Barioni): the published width, SGD at a constant 0.005.
PAPER_RECIPE = dict(width=1.0, lr=0.005, lr_schedule="constant", batch_size=32)


def _epoch_times(n, frames, device, rng):
    """Per-epoch seconds of the paper-protocol fold by precision and layout, warm process."""
    X = rng.normal(size=(n, 4, 128, frames)).astype(np.float32)
    y = np.arange(n) % 8
    steps = int(np.ceil(0.9 * n * 4 / 32))
    for mixed in (False, True):  # load every kernel of both precisions once
        MarginEmbeddingClassifier(**PAPER_RECIPE, epochs=1, mixed_precision=mixed,
                                  device=device, random_state=0).fit(X[:max(n // 4, 40)], y[:max(n // 4, 40)])
    print(f"# paper-protocol fold: {n} random clips x 4 segments of 128 x {frames}, "
          f"{steps} steps of 32 per epoch, device={device}")
    print(f"{'variant':>16}{'s per epoch (3)':>22}{'ms per step':>13}{'fit s':>8}")
    for label, nhwc, mixed in (("float32 NHWC", True, False), ("bfloat16 NHWC", True, True),
                               ("float32 NCHW", False, False), ("float32 NHWC", True, False)):
        _margin._CHANNELS_LAST = nhwc
        try:
            t0 = time.perf_counter()
            clf = MarginEmbeddingClassifier(**PAPER_RECIPE, epochs=3, mixed_precision=mixed,
                                            device=device, random_state=0).fit(X, y)
            fit_s = time.perf_counter() - t0
        finally:
            _margin._CHANNELS_LAST = True
        dur = [h["dur"] for h in clf.history_]
        print(f"{label:>16}{' / '.join(f'{d:.2f}' for d in dur):>22}"
              f"{1000 * np.median(dur) / steps:>13.2f}{fit_s:>8.1f}", flush=True)


def _paper_protocol(n, frames, device, n_jobs, epochs, rng):
    """Wall time of the paper's 10-fold protocol on random data (timing only)."""
    from sklearn_metricaudio.evaluation import evaluate_folds

    X = rng.normal(size=(n, 4, 128, frames)).astype(np.float32)
    y, fold = np.arange(n) % 8, np.arange(n) % 10 + 1
    est = MarginEmbeddingClassifier(**PAPER_RECIPE, epochs=epochs, device=device,
                                    random_state=0)
    t0 = time.perf_counter()
    result = evaluate_folds(est, X, y, fold, n_jobs=n_jobs, name="paper protocol")
    wall = time.perf_counter() - t0
    print(f"# the paper's 10-fold protocol: {n} random clips x 4 segments of 128 x {frames}, "
          f"width 1.0, {epochs} epochs, {n_jobs} folds at a time on {device}: "
          f"{wall:.1f} s ({wall / 60:.1f} min); fitting {result.fit_time:.1f} s summed over "
          f"the folds")


def _profile(n, frames, device, rng, rows=15):
    """Where one epoch at the defaults goes: torch.profiler's operators and the batch gathering.

    ``n`` random clips of 5 segments with 16 deformed versions each (float16, as the fold loop
    passes them), the estimator's defaults (width 0.25, CosFace, share 0.5, validation 0.1);
    one warm-up epoch, then one profiled epoch. Prints the operators by self CPU time, then
    the epoch split into: gathering the batches (``TrainingBatches`` alone, the same draws),
    the centroid validation after the epoch, and the rest (forward, backward, optimiser).
    """
    from torch.profiler import ProfilerActivity, profile

    from sklearn_metricaudio.models import _training

    X = rng.normal(size=(n, 5, 128, frames)).astype(np.float32)
    D = rng.normal(size=(n, 16, 5, 128, frames)).astype(np.float16)
    y = np.arange(n) % 10
    MarginEmbeddingClassifier(epochs=1, device=device, random_state=0).fit(X, y, deformed=D)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                           if str(device).startswith("cuda") else [])
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        clf = MarginEmbeddingClassifier(epochs=1, device=device, random_state=0).fit(
            X, y, deformed=D)
        epoch = time.perf_counter() - t0
    print(f"# one epoch at the defaults: {n} random clips x 5 segments of 128 x {frames} + 16 "
          f"deformed versions (float16), device={device}, {torch.get_num_threads()} threads")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))
    # the batch gathering alone, over the training clips of that fit
    train = ~clf.validation_mask_
    seg = X[train].reshape(-1, 1, 128, frames)
    batches = _training.TrainingBatches(seg, np.repeat(y[train], 5), 32, device, deformed=D,
                                        clips=np.flatnonzero(train), share=0.5)
    t0 = time.perf_counter()
    for _ in batches:
        pass
    gather = time.perf_counter() - t0
    # what the validation callback does after every epoch: 256 reference segments, the
    # validation clips' segments, both embedded
    seg_y = np.repeat(y[train], 5)
    validation = _training.CentroidValidation(seg[:256], seg_y[:256], X[~train], y[~train])
    validation.initialize()
    t0 = time.perf_counter()
    validation.accuracy(clf.net_.module_)
    valid = time.perf_counter() - t0
    print(f"{'fit, 1 epoch (set-up included)':<40}{epoch:>8.2f} s")
    print(f"{'  gathering the batches':<40}{gather:>8.2f} s ({100 * gather / epoch:.0f} %)")
    print(f"{'  centroid validation':<40}{valid:>8.2f} s ({100 * valid / epoch:.0f} %)")
    return prof


def _train_rate(X, y, width, device, channels_last):
    """Training segments/s of one epoch: a 2-epoch fit minus a 1-epoch fit (set-up removed)."""
    _margin._CHANNELS_LAST = channels_last
    try:
        times = []
        for epochs in (2, 1):
            t0 = time.perf_counter()
            MarginEmbeddingClassifier(width=width, epochs=epochs, validation_split=None,
                                      device=device, random_state=0).fit(X, y)
            times.append(time.perf_counter() - t0)
    finally:
        _margin._CHANNELS_LAST = True
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
    ap.add_argument("--epoch-times", type=int, default=0, metavar="N",
                    help="only time the epochs of the paper-protocol fold on N random clips, by "
                         "variant (float32 / bfloat16 autocast x NHWC / NCHW), in one warm "
                         "process, from skorch's per-epoch durations")
    ap.add_argument("--paper-protocol", type=int, default=0, metavar="N_JOBS",
                    help="only time the paper's 10-fold protocol: 4,440 random clips (10 folds "
                         "of 444), the paper's recipe, 20 epochs, through evaluate_folds with "
                         "N_JOBS folds at a time (on one GPU they share it)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="profile one epoch at the defaults on N random clips with 16 deformed "
                         "versions each (operators, batch gathering, validation) and stop")
    ap.add_argument("--protocol-clips", type=int, default=4440, help=argparse.SUPPRESS)
    ap.add_argument("--epochs-override", type=int, default=20, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    if args.profile:
        return _profile(args.profile, args.frames, args.device, rng)
    if args.epoch_times:
        return _epoch_times(args.epoch_times, args.frames, args.device, rng)
    if args.paper_protocol:
        return _paper_protocol(args.protocol_clips, args.frames, args.device, args.paper_protocol,
                               args.epochs_override, rng)
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
        clf = MarginEmbeddingClassifier(**PAPER_RECIPE, epochs=20, device=args.device,
                                        random_state=0)
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
