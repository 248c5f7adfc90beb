"""Deformation speed: our batched deformations vs a per-clip loop computing the same thing.

Usage::

    python benchmarks/bench_augment.py [--clips 64] [--seconds 5] [--esc10 ../shared/data/ESC-10]
                                       [--device cpu] [--repeats 3]

For each of the paper's five deformations (``paper_deformations``: TS, PS1, PS2, DRC, BG;
four variants each) it times ours, all clips in batches, and a loop over clips and
variants: ``librosa.effects.time_stretch`` (TS) and ``librosa.effects.pitch_shift`` with
``res_type="fft"`` (PS1, PS2), each then cut or tiled to the clip's length as ours are;
for DRC and BG, which librosa does not have, the same algorithm written plainly per clip
(sox's compand follower as a Python loop over samples; the background segment cut and
scaled with numpy). It prints seconds for both, the ratio, and the difference between the
two outputs: max |diff| over the clip's RMS and the relative RMS of the difference. The
librosa loop runs in float32, like ours, so it sees librosa's float32 phase accumulation
(about 1e-2 of the signal); the last column compares ours with librosa in float64 on the
first clips (untimed), to separate that from our own error. Clips are synthetic urban
sounds, or ESC-10 recordings with ``--esc10``.
"""

from __future__ import annotations

import argparse
import platform
import time

import librosa
import numpy as np
import torch

from sklearn_metricaudio import AudioLoader, make_urban_sounds
from sklearn_metricaudio.augment import DRC_PRESETS, paper_deformations
from sklearn_metricaudio.features.audio import fix_length

SR = 22050


def ref_time_stretch(x, rate, dtype=np.float32):
    return fix_length(librosa.effects.time_stretch(x.astype(dtype), rate=rate), x.size)


def ref_pitch_shift(x, steps, dtype=np.float32):
    y = librosa.effects.pitch_shift(x.astype(dtype), sr=SR, n_steps=steps, res_type="fft")
    return fix_length(y, x.size)


def ref_compand(x, name, sr=SR):
    """sox's compand for one clip: the follower one sample at a time, then the gain curve."""
    p = DRC_PRESETS[name]

    def coef(seconds):
        return 1 - np.exp(-1 / (sr * seconds)) if seconds > 1 / sr else 1.0

    a, d = coef(p.attack), coef(p.decay)
    v = 10 ** (p.initial_db / 20)
    levels = np.empty(x.size)
    for t, s in enumerate(np.abs(x).tolist()):
        v += (s - v) * (a if s > v else d)
        levels[t] = v
    level_db = 20 * np.log10(np.maximum(levels, 1e-30))
    pts = np.asarray(p.points)
    out_db = np.interp(level_db, pts[:, 0], pts[:, 1])
    out_db = np.where(level_db < pts[0, 0], level_db + pts[0, 1] - pts[0, 0], out_db)
    gain = 10 ** ((out_db - level_db + p.gain_db) / 20)
    delay = int(p.delay * sr)
    if delay:
        gain = gain[np.minimum(np.arange(x.size) + delay, x.size - 1)]
    return np.clip(x * gain, -1, 1)


def ref_background(x, background, offset, snr_db):
    segment = np.resize(np.roll(background, -offset), x.size)
    scale = np.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(segment.astype(np.float64) ** 2)
                    / 10 ** (snr_db / 10))
    return x + scale * segment


def _timed(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _differences(ours, ref, X):
    rms = np.sqrt(np.mean(X.astype(np.float64) ** 2, axis=-1))[:, None]
    diff = ours.astype(np.float64) - ref
    worst = float((np.abs(diff).max(axis=-1) / rms).max())
    rel = float(np.sqrt(np.mean(diff ** 2, axis=-1) / np.mean(ref ** 2, axis=-1)).max())
    return worst, rel


def main(argv=None):
    """Run the benchmark; ``argv`` as on the command line (tests pass a tiny one)."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--esc10", default=None, help="path of ESC-10 (real recordings)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3, help="best of (ours and the reference)")
    ap.add_argument("--f64-clips", type=int, default=4,
                    help="clips compared with librosa in float64 (untimed)")
    args = ap.parse_args(argv)

    if args.esc10:
        from pathlib import Path

        files = sorted(Path(args.esc10).glob("*/*.ogg"))
        files = files[:: max(1, len(files) // args.clips)][: args.clips]  # across classes
        X = AudioLoader(sr=SR, duration=args.seconds, n_jobs=2).transform(files)
        source = f"ESC-10 real recordings ({len(X)} clips of {args.seconds:g} s)"
    else:
        d = make_urban_sounds(n_per_class=-(-args.clips // 8), random_state=0)
        X = AudioLoader(sr=SR, duration=args.seconds).transform(list(d.data))[: args.clips]
        source = f"synthetic urban sounds ({len(X)} clips of {args.seconds:g} s)"
    print(f"# {source} at {SR} Hz; torch {torch.__version__} threads={torch.get_num_threads()}, "
          f"librosa {librosa.__version__}, {platform.processor() or platform.machine()}, "
          f"device={args.device}")

    n_f64 = min(args.f64_clips, len(X))
    rows = []
    for name, est in paper_deformations(SR, device=args.device, random_state=0):
        params = [p for _, p in est.variants()]
        est.transform(X[:2])  # warm-up
        t_ours, ours = _timed(lambda est=est: est.transform(X), args.repeats)
        f64 = None
        if name == "TS" or name.startswith("PS"):
            fn = ref_time_stretch if name == "TS" else ref_pitch_shift
            f64 = np.stack([[fn(x, p, np.float64) for p in params] for x in X[:n_f64]])

            def ref_fn(i, x, k, fn=fn, params=params):
                return fn(x, params[k])
        elif name == "DRC":
            def ref_fn(i, x, k, params=params):
                return ref_compand(x, params[k])
        else:  # the same draws as ours: the offsets and SNRs of each clip and background
            backgrounds = est._load_backgrounds()
            draws = est._draw(len(X), X.shape[1], backgrounds)

            def ref_fn(i, x, k, bgs=backgrounds, draws=draws):
                return ref_background(x, bgs[k], draws["offsets"][i, k], draws["snr_db"][i, k])
        ref_fn(0, X[0], 0)  # warm-up (librosa's caches)
        n_variants = len(params)
        t_ref, ref = _timed(lambda fn=ref_fn, n=n_variants: np.stack(
            [[fn(i, x, k) for k in range(n)] for i, x in enumerate(X)]), args.repeats)
        worst, rel = _differences(ours.reshape(-1, X.shape[1]), ref.reshape(-1, X.shape[1]),
                                  np.repeat(X, len(params), axis=0))
        rel64 = (_differences(ours[:n_f64].reshape(-1, X.shape[1]), f64.reshape(-1, X.shape[1]),
                              np.repeat(X[:n_f64], len(params), axis=0))[1]
                 if f64 is not None else None)
        rows.append((name, len(params), t_ours, t_ref, worst, rel, rel64))

    print(f"{'family':<8}{'variants':>9}{'ours s':>9}{'ref s':>9}{'ratio':>8}"
          f"{'max|diff|/rms':>15}{'rel rms diff':>14}{'rel rms vs f64':>16}")
    for name, n, a, b, worst, rel, rel64 in rows:
        f64 = f"{rel64:>16.1e}" if rel64 is not None else f"{'-':>16}"
        print(f"{name:<8}{n:>9}{a:>9.2f}{b:>9.2f}{b / a:>7.1f}x{worst:>15.1e}{rel:>14.1e}{f64}")
    print("(ref: librosa per clip in float32 for TS/PS; the same algorithm per clip in "
          "numpy/Python for DRC and BG; 'vs f64': ours against librosa in float64, "
          f"first {n_f64} clips)")


if __name__ == "__main__":
    main()
