"""INS speed: our batched torch INSTransformer vs a straightforward per-surrogate NumPy/SciPy loop.

Usage::

    python benchmarks/bench_ins.py [--seconds 4] [--surrogates 50] [--threads N]
                                   [--esc10 ../shared/data/ESC-10 [--per-class 1]]

Times one clip (4 s at 22.05 kHz, 50 surrogates, the default 8 scales) with both
implementations in the same run, fed the same surrogate phases, and prints both
times, the ratio and the largest differences of INS, threshold and Theta. The
clip is a synthetic urban sound, or the first ESC-10 recording with ``--esc10``;
``--esc10`` also prints the INS of ``--per-class`` clips of each ESC-10 class
(the data is read in place, never copied).

The reference follows the authors' MATLAB functions one surrogate at a time:
``phasemodul`` (random phases, ``real(ifft(2 A exp(i phi)))``), ``hilbert``,
the Hermite multitaper spectrogram (one FFT call per taper over all frames),
``c_n = D_KL (1 + D_LSD)``, ``var``, then ``gamma.fit`` / ``gamma.ppf``; all
float64.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.signal
import scipy.special
import scipy.stats
import torch
from numpy.lib.stride_tricks import sliding_window_view

from sklearn_metricaudio import AudioLoader, make_urban_sounds
from sklearn_metricaudio.features.ins import (INSTransformer, default_scales,
                                              draw_surrogate_phases)

FLOOR = 1e-10  # spectra clipped before logs, as INSTransformer


def _hermite(n, K):
    t = np.linspace(-5, 5, n)
    h = np.stack([scipy.special.eval_hermite(k, t) * np.exp(-t * t / 2) for k in range(K)])
    return h / np.linalg.norm(h, axis=1, keepdims=True)


def _theta(z, win, n_fft, hop, tapers):
    """Theta = var_n(c_n) of one analytic signal at one scale."""
    frames = sliding_window_view(z, win)[::hop]        # frames fully inside the clip
    S = np.zeros((frames.shape[0], n_fft // 2))
    for h in tapers:
        S += np.abs(np.fft.fft(frames * h, n=n_fft, axis=-1)[:, :n_fft // 2]) ** 2
    S = np.maximum(S / len(tapers), FLOOR)
    mean = S.mean(axis=0)
    p, q = S / S.sum(axis=1, keepdims=True), mean / mean.sum()
    log_ratio = np.log(S / mean)
    c = ((p - q) * log_ratio).sum(axis=1) * (1 + np.abs(log_ratio).sum(axis=1))
    return np.var(c, ddof=1)


def reference_ins(x, scales, phases, K=5, alpha=0.05):
    """Straightforward INS: one surrogate at a time, numpy/scipy, float64."""
    x = np.asarray(x, dtype=np.float64)
    x = (x - x.mean()) / x.std(ddof=1)
    N = x.size
    plan = []
    for s in scales:
        win = 2 * int(np.floor(N * s / 2 + 0.5)) - 1
        plan.append((win, 1 << (win - 1).bit_length(), (win + 1) // 8, _hermite(win, K)))
    z = scipy.signal.hilbert(x)
    theta_x = np.array([_theta(z, *p) for p in plan])
    X = np.fft.fft(x)
    A = np.zeros(N)
    A[1:(N + 1) // 2] = np.abs(X[1:(N + 1) // 2])
    theta_s = np.empty((len(plan), len(phases)))
    for j, ph in enumerate(phases):
        phase = np.zeros(N)
        phase[1:(N + 1) // 2] = ph
        surrogate = np.real(np.fft.ifft(2 * A * np.exp(1j * phase)))
        zs = scipy.signal.hilbert(surrogate)
        theta_s[:, j] = [_theta(zs, *p) for p in plan]
    mean = theta_s.mean(axis=1)
    ins, threshold = np.empty(len(plan)), np.empty(len(plan))
    for s in range(len(plan)):
        a, _, sc = scipy.stats.gamma.fit(theta_s[s], floc=0)
        threshold[s] = np.sqrt(scipy.stats.gamma.ppf(1 - alpha, a, scale=sc) / mean[s])
        ins[s] = np.sqrt(theta_x[s] / mean[s])
    return ins, threshold, theta_x, theta_s


def _esc10_files(root, per_class):
    files = []
    for d in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        files += [(d.name, f) for f in sorted(d.glob("*.ogg"))[:per_class]]
    if not files:
        raise SystemExit(f"no ESC-10 class folders with .ogg files under {root}")
    return files


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--sr", type=int, default=22050)
    ap.add_argument("--surrogates", type=int, default=50)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--esc10", default=None, help="path of ESC-10 (real recordings)")
    ap.add_argument("--per-class", type=int, default=1, help="ESC-10 clips per class in the table")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    loader = AudioLoader(sr=args.sr, duration=args.seconds)
    if args.esc10:
        files = _esc10_files(args.esc10, args.per_class)
        x = loader.transform([str(files[0][1])])[0]
        source = f"ESC-10 {files[0][0]} / {files[0][1].name}"
    else:
        data = make_urban_sounds(n_per_class=1, random_state=args.seed)
        x = loader.transform(list(data.data[:1]))[0]
        source = f"synthetic urban sound ({data.target_names[data.target[0]]})"
    N, J = x.size, args.surrogates
    scales = default_scales()
    phases = draw_surrogate_phases(N, J, random_state=args.seed)
    est = INSTransformer(n_surrogates=J, sr=args.sr, device=args.device)

    print(f"# one clip: {source}, {args.seconds:g} s at {args.sr} Hz, {J} surrogates, "
          f"{len(scales)} scales {np.round(scales, 4).tolist()}")
    print(f"# torch {torch.__version__} threads={torch.get_num_threads()} device={args.device}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, "
          f"{platform.processor() or platform.machine()}")
    warm = np.random.default_rng(0).standard_normal((1, N // 8))
    est.transform_details(warm, surrogate_phases=draw_surrogate_phases(N // 8, J, 0))
    t0 = time.perf_counter()
    ours = est.transform_details(x[None], surrogate_phases=phases)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ins, threshold, theta_x, theta_s = reference_ins(x, scales, phases)
    t_ref = time.perf_counter() - t0

    rel = lambda a, b: np.max(np.abs(a - b) / np.abs(b))  # noqa: E731
    print(f"{'implementation':<44}{'time (s)':>10}{'ratio':>8}")
    print(f"{'INSTransformer (batched torch, float32)':<44}{t_ours:>10.2f}{t_ref / t_ours:>7.1f}x")
    print(f"{'per-surrogate numpy/scipy loop (float64)':<44}{t_ref:>10.2f}{1.0:>7.1f}x")
    print(f"max |INS diff| {np.max(np.abs(ours.ins[0] - ins)):.2e} "
          f"(relative {rel(ours.ins[0], ins):.1e}); threshold relative "
          f"{rel(ours.threshold[0], threshold):.1e}; Theta relative "
          f"{max(rel(ours.theta[0], theta_x), rel(ours.theta_surrogates[0], theta_s)):.1e}; "
          f"verdicts equal: {bool(np.all(ours.nonstationary[0] == (ins > threshold)))}")
    print("INS per scale, ours:     ", np.array2string(ours.ins[0], precision=3))
    print("INS per scale, reference:", np.array2string(ins, precision=3))

    if args.esc10:
        print(f"\n# ESC-10, {args.per_class} clip(s) per class, first {args.seconds:g} s, "
              f"{J} surrogates, random_state=0")
        est = INSTransformer(n_surrogates=J, sr=args.sr, device=args.device, random_state=0)
        print(f"{'class':<23}{'clip':<18}{'max INS':>9}{'at T_h/T':>9}{'T_h (ms)':>9}"
              f"{'non-stat.':>10}  INS per scale")
        for label, f in files:
            y = loader.transform([str(f)])
            try:
                d = est.transform_details(y)
            except ValueError as exc:
                print(f"{label:<23}{f.name:<18}  {exc}")
                continue
            k = int(d.max_index[0])
            print(f"{label:<23}{f.name:<18}{d.max_ins[0]:>9.1f}{d.scales[k]:>9.3f}"
                  f"{d.window_ms[k]:>9.0f}{int(d.nonstationary[0].sum()):>7d}/{len(d.scales)}  "
                  + " ".join(f"{v:.1f}" for v in d.ins[0]))


if __name__ == "__main__":
    main()
