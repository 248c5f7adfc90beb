"""Accuracy of MarginEmbeddingClassifier settings, a few folds at a time.

Usage::

    python benchmarks/tune_margin.py "dict(epochs=20)" "dict(epochs=20, width=0.5)" \
        [--folds 1 2 3] [--segment-seconds 1.0] [--hop-length 512] [--device cpu]
    python benchmarks/tune_margin.py --esc10 ../shared/data/ESC-10 "dict(epochs=30)" ...
    # features computed once and carried elsewhere (e.g. to a GPU machine):
    python benchmarks/tune_margin.py --esc10 ../shared/data/ESC-10 --hop-length 256 \
        --save-logmel esc10_hop256.npz
    python benchmarks/tune_margin.py --logmel esc10_hop256.npz --decimate 2 "dict(epochs=30)"

Each argument is a dict of MarginEmbeddingClassifier parameters (width 0.25 unless given). Prints
balanced accuracy per fold, the mean, seconds per fold, the kept epoch and the validation-accuracy
curve. Data: make_urban_sounds(n_per_class=40, random_state=0) (the demo's set; MFCC + GMM scores
73.4 % over its 10 folds), ESC-10 (``--esc10``; its 5 folds), or a saved whole-clip log-mel
(``--logmel``: arrays ``X`` (clips, mels, frames) in dB, ``y``, ``fold``, ``hop``, ``sr``).
``--decimate k`` keeps every k-th frame, which with the same ``n_fft`` is exactly the log-mel at
``k`` times the hop.

Experiments that are not library options: ``--first-stride F,T`` strides MobileNet's first
depthwise-separable block (1,1 in MobileNet v1) to make the network cheaper (it patches the
private block table for this run only); ``--overlap`` cuts segments every half segment, for
training and prediction (7 one-second segments per 4-s clip instead of 4). ``--threads 1`` with
two processes over disjoint ``--folds`` reproduces the demo's CPU use (two folds at a time);
``--nchw`` trains in the default memory layout instead of the library's NHWC on the CPU.
"""

import argparse
import time

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from sklearn_metricaudio import (AudioLoader, LogMelPatches, MarginEmbeddingClassifier, load_esc50,
                                 make_urban_sounds)


def _whole_clip_logmel(args):
    if args.esc10:
        d = load_esc50(args.esc10, subset="esc10")
        wave = AudioLoader(duration=args.duration or 5.0, n_jobs=2).transform(list(d.filenames))
    else:
        d = make_urban_sounds(n_per_class=args.n_per_class, random_state=0)
        wave = AudioLoader(duration=args.duration or 4.0).transform(list(d.data))
    lm = LogMelPatches(hop_length=args.hop_length, n_mels=args.n_mels, device=args.device,
                       segment_seconds=wave.shape[1] / 22050).transform(wave)[:, 0]
    return lm, d.target, d.fold, args.hop_length


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="*")
    ap.add_argument("--folds", type=int, nargs="+", default=None, help="default: 1 2 3")
    ap.add_argument("--segment-seconds", type=float, default=1.0)
    ap.add_argument("--hop-length", type=int, default=512)
    ap.add_argument("--n-mels", type=int, default=128)
    ap.add_argument("--duration", type=float, default=None,
                    help="clip length in s (cut or repeat-padded); default 4 (synthetic), 5 (ESC-10)")
    ap.add_argument("--esc10", default=None, help="ESC-10 path: its 5-s real clips and folds instead")
    ap.add_argument("--logmel", default=None, help="saved whole-clip log-mel (.npz) instead")
    ap.add_argument("--save-logmel", default=None, help="write the whole-clip log-mel here and stop")
    ap.add_argument("--decimate", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--first-stride", default=None,
                    help="F,T: stride of MobileNet's first separable block (experiment)")
    ap.add_argument("--overlap", action="store_true", help="segments every half segment")
    ap.add_argument("--threads", type=int, default=None, help="torch threads in this process")
    ap.add_argument("--nchw", action="store_true",
                    help="train in the default NCHW layout on the CPU (the library uses NHWC)")
    ap.add_argument("--n-per-class", type=int, default=40,
                    help="synthetic set: clips per class (the demo's 40)")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.nchw:
        from sklearn_metricaudio.models import margin

        margin._CPU_CHANNELS_LAST = False  # for this process only
    if args.first_stride:
        from sklearn_metricaudio.models import _mobilenet

        blocks = list(_mobilenet._BLOCKS)
        blocks[0] = (blocks[0][0], tuple(int(v) for v in args.first_stride.split(",")))
        _mobilenet._BLOCKS = tuple(blocks)

    if args.logmel:
        z = np.load(args.logmel)
        lm, y, fold, hop = z["X"].astype(np.float32), z["y"], z["fold"], int(z["hop"])
    else:
        lm, y, fold, hop = _whole_clip_logmel(args)
    if args.save_logmel:
        np.savez(args.save_logmel, X=lm.astype(np.float16), y=y, fold=fold, hop=hop, sr=22050)
        print(f"saved {lm.shape} log-mel at hop {hop} to {args.save_logmel}")
        return
    lm = lm[:, :, ::args.decimate]
    hop *= args.decimate
    f = max(1, int(round(args.segment_seconds * 22050 / hop)))
    step = f // 2 if args.overlap else f
    P = np.ascontiguousarray(np.stack([lm[:, :, s:s + f]
                                       for s in range(0, lm.shape[2] - f + 1, step)], axis=1))
    folds = args.folds or [1, 2, 3]
    print(f"# patches {P.shape} (hop {hop}), folds {folds}, device {args.device}", flush=True)
    for text in args.configs:
        cfg = {"width": 0.25, "random_state": 0, "device": args.device,
               **eval(text, {"dict": dict})}
        accs, t0 = [], time.perf_counter()
        for k in folds:
            tr, te = fold != k, fold == k
            clf = MarginEmbeddingClassifier(**cfg).fit(P[tr], y[tr])
            accs.append(balanced_accuracy_score(y[te], clf.predict(P[te])))
        curve = [round(h.get("valid_acc", float("nan")), 2) for h in clf.history_]
        print(f"{text}: folds {np.round(accs, 3).tolist()} mean {np.mean(accs):.3f} "
              f"({(time.perf_counter() - t0) / len(folds):.1f} s/fold; kept epoch "
              f"{clf.best_epoch_}; valid acc {curve})", flush=True)


if __name__ == "__main__":
    main()
