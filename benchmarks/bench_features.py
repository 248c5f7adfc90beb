"""Feature extraction speed: our batched torch transformers vs a per-clip librosa loop.

Usage::

    python benchmarks/bench_features.py [--clips 128] [--esc10 ../shared/data/ESC-10] [--device cpu]

Prints, for MFCCStats (275 statistics per frame) and LogMelPatches (128 mel
bands, 1-s segments), clips/second of ours and of a straightforward loop that
computes the same features one clip at a time with librosa (and numpy/scipy
for the statistics), the speed ratio, and the largest difference between the
two outputs. Clips are 4-s synthetic urban sounds, or real ESC-10 recordings
when ``--esc10`` is given.
"""

from __future__ import annotations

import argparse
import platform
import time

import librosa
import numpy as np
import scipy.stats
import torch
from numpy.lib.stride_tricks import sliding_window_view

from sklearn_metricaudio import AudioLoader, LogMelPatches, MFCCStats, make_urban_sounds

SR = 22050


def librosa_mfcc_stats(y):
    """The paper's 275 MFCC statistics for one clip, the plain way."""
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, win_length=470, hop_length=235,
                                         n_mels=40)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=25)
    w = sliding_window_view(mfcc, 5, axis=1)
    d1, d2 = np.diff(w, axis=-1), np.diff(w, n=2, axis=-1)
    flat = w.var(-1) <= 1e-8  # constant windows (digital silence): 0, as MFCCStats documents
    with np.errstate(all="ignore"):
        skew = np.where(flat, 0.0, scipy.stats.skew(w, axis=-1))
        kurt = np.where(flat, 0.0, scipy.stats.kurtosis(w, axis=-1))
    blocks = [w[..., 2], w.min(-1), w.max(-1), np.median(w, -1), w.mean(-1), skew, kurt,
              d1.mean(-1), d1.var(-1), d2.mean(-1), d2.var(-1)]
    return np.concatenate([b.T for b in blocks], axis=1)


def librosa_logmel_patches(y, est):
    """LogMelPatches for one clip, the plain way, at the transformer's own settings."""
    S = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=est.sr, n_fft=est.n_fft, hop_length=est.hop_length,
                                       n_mels=est.n_mels, fmin=est.fmin, fmax=est.fmax),
        top_db=None)
    frames = est.frames_per_segment
    n = S.shape[1] // frames
    return np.stack([S[:, k * frames:(k + 1) * frames] for k in range(n)])


def _best_of(fn, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    """Run the benchmark; ``argv`` as on the command line (tests pass a tiny one)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=128)
    ap.add_argument("--esc10", default=None, help="path of ESC-10 (real recordings)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    if args.esc10:
        from pathlib import Path

        files = sorted(Path(args.esc10).glob("*/*.ogg"))[: args.clips]
        X = AudioLoader(sr=SR, duration=4.0, n_jobs=2).transform(files)
        source = f"ESC-10 real recordings ({len(X)} clips of 4 s)"
    else:
        d = make_urban_sounds(n_per_class=-(-args.clips // 8), random_state=0)
        X = AudioLoader(sr=SR, duration=4.0).transform(list(d.data))[: args.clips]
        source = f"synthetic urban sounds ({len(X)} clips of 4 s)"

    print(f"# {source}; torch {torch.__version__} threads={torch.get_num_threads()}, "
          f"librosa {librosa.__version__}, {platform.processor() or platform.machine()}, "
          f"device={args.device}")
    rows = []
    logmel = LogMelPatches(device=args.device)  # the defaults: hop 256, 1-s segments
    cases = [
        ("MFCCStats (275)", MFCCStats(device=args.device), librosa_mfcc_stats),
        (f"LogMelPatches (128x{logmel.frames_per_segment})", logmel,
         lambda y: librosa_logmel_patches(y, logmel)),
    ]
    for name, est, ref_fn in cases:
        est.transform(X[:4])  # warm-up (allocations, filter banks)
        t_ours, ours = _best_of(lambda: est.transform(X), args.repeats)
        t_ref, ref = _best_of(lambda: np.stack([ref_fn(x) for x in X]), args.repeats)
        diff = np.abs(ours.astype(np.float64) - ref)
        rel = diff / np.maximum(np.abs(ref), 1.0)
        rows.append((name, len(X) / t_ours, len(X) / t_ref, t_ref / t_ours, diff.max(),
                     np.median(diff), rel.max()))
    print(f"{'features':<24}{'ours clips/s':>14}{'librosa clips/s':>17}{'ratio':>8}"
          f"{'max |diff|':>12}{'median |diff|':>15}{'max rel diff':>14}")
    for name, a, b, r, dmax, dmed, rmax in rows:
        print(f"{name:<24}{a:>14.1f}{b:>17.1f}{r:>7.1f}x{dmax:>12.2e}{dmed:>15.2e}{rmax:>14.2e}")
    print("(|diff| in the features' own units: dB, dB**2 for the variance columns; "
          "relative = |diff| / max(|librosa|, 1))")


if __name__ == "__main__":
    main()
