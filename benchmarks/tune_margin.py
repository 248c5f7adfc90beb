"""Accuracy of MarginEmbeddingClassifier settings, a few folds at a time.

Usage::

    python benchmarks/tune_margin.py "dict(epochs=20)" "dict(epochs=20, width=0.5)" \
        [--folds 1 2 3] [--segment-seconds 1.0] [--hop-length 512] [--device cpu]
    python benchmarks/tune_margin.py --esc10 ../shared/data/ESC-10 "dict(epochs=30)" ...
    # features computed once and carried elsewhere (e.g. to a GPU machine):
    python benchmarks/tune_margin.py --esc10 ../shared/data/ESC-10 --hop-length 256 \
        --save-logmel esc10_hop256.npz
    python benchmarks/tune_margin.py --logmel esc10_hop256.npz --decimate 2 "dict(epochs=30)"
    # any real copy (load_dataset's layouts), training with the 16 deformed versions:
    python benchmarks/tune_margin.py --data ../shared/data/US8K-dev --hop-length 256 --deformed \
        "dict()" "dict(deformed_share=0.0)" --folds 4 5 6 7 8 9

Each argument is a dict of MarginEmbeddingClassifier parameters (width 0.25 unless given). Prints
balanced accuracy per fold, the mean of the folds and over all tested clips (pooled), the same
with every segment counted (``silence_db=None`` set on the fitted model: what leaving silent
segments out moves), seconds per fold, the kept epoch and the validation-accuracy curve. The
source recordings (``fsID``) go to ``fit`` as ``groups``. ``--deformed`` also computes the
whole-clip log-mel of the 16 :func:`training_deformations` of every clip and passes their
segments to ``fit(deformed=...)``. Data: make_urban_sounds(n_per_class=40, random_state=0) (the demo's set; MFCC + GMM scores
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
``--save-scores PREFIX`` keeps every config's test-clip ``decision_function`` (with ``y``,
``fold``, ``classes``) in ``PREFIX<k>.npz`` for ``bench_fusion.py``.
"""

import argparse
import time

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from sklearn_metricaudio import (AudioLoader, LogMelPatches, MarginEmbeddingClassifier, load_esc50,
                                 make_urban_sounds)
from sklearn_metricaudio._io import atomic_path
from sklearn_metricaudio.augment import training_deformations
from sklearn_metricaudio.datasets import load_dataset
from sklearn_metricaudio.evaluation import deformed_features


def _whole_clip_logmel(args):
    if args.esc10 or args.data:
        d = (load_esc50(args.esc10, subset="esc10") if args.esc10 else load_dataset(args.data))
        duration = args.duration or getattr(d, "clip_seconds", 5.0)
        wave = AudioLoader(duration=duration, n_jobs=2).transform(list(d.filenames))
    else:
        d = make_urban_sounds(n_per_class=args.n_per_class, random_state=0)
        wave = AudioLoader(duration=args.duration or 4.0).transform(list(d.data))
    whole = LogMelPatches(hop_length=args.hop_length, n_mels=args.n_mels, device=args.device,
                          segment_seconds=wave.shape[1] / 22050)
    lm = whole.transform(wave)[:, 0]
    D = None
    if args.deformed:
        D = deformed_features(wave, whole, training_deformations(), progress=False).X[:, :, 0]
    return lm, d.target, d.fold, d.fsID, args.hop_length, D


def _segments(lm, f, step):
    """Whole-clip log-mel (..., n_mels, n_frames) cut into segments: (..., n_segments, n_mels, f)."""
    starts = range(0, lm.shape[-1] - f + 1, step)
    return np.ascontiguousarray(np.stack([lm[..., s:s + f] for s in starts], axis=-3))


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
    ap.add_argument("--data", default=None, help="a real copy in any layout load_dataset reads")
    ap.add_argument("--deformed", action="store_true",
                    help="train with the 16 deformed versions of every clip (fit(deformed=))")
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
    ap.add_argument("--save-scores", default=None, metavar="PREFIX",
                    help="write each config's test scores to PREFIX<k>.npz (k: its position)")
    ap.add_argument("--random-state", type=int, default=0,
                    help="random_state of every config that does not set its own")
    ap.add_argument("--n-per-class", type=int, default=40,
                    help="synthetic set: clips per class (the demo's 40)")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.nchw:
        from sklearn_metricaudio.models import margin

        margin._CHANNELS_LAST = False  # for this process only
    if args.first_stride:
        from sklearn_metricaudio.models import _mobilenet

        blocks = list(_mobilenet._BLOCKS)
        blocks[0] = (blocks[0][0], tuple(int(v) for v in args.first_stride.split(",")))
        _mobilenet._BLOCKS = tuple(blocks)

    if args.logmel:
        z = np.load(args.logmel)
        lm, y, fold, hop = z["X"].astype(np.float32), z["y"], z["fold"], int(z["hop"])
        groups = z["groups"] if "groups" in z else None
        D = z["D"] if "D" in z else None
    else:
        lm, y, fold, groups, hop, D = _whole_clip_logmel(args)
    if args.save_logmel:
        extra = {} if D is None else {"D": D.astype(np.float16)}
        if groups is not None:
            extra["groups"] = groups
        np.savez(args.save_logmel, X=lm.astype(np.float16), y=y, fold=fold, hop=hop, sr=22050,
                 **extra)
        print(f"saved {lm.shape} log-mel at hop {hop} to {args.save_logmel}")
        return
    lm = lm[..., ::args.decimate]
    hop *= args.decimate
    f = max(1, int(round(args.segment_seconds * 22050 / hop)))
    step = f // 2 if args.overlap else f
    P = _segments(lm, f, step)
    PD = None if D is None else _segments(D[..., ::args.decimate], f, step).astype(np.float16)
    folds = args.folds or [1, 2, 3]
    print(f"# patches {P.shape} (hop {hop}), deformed {None if PD is None else PD.shape}, "
          f"folds {folds}, device {args.device}", flush=True)
    for position, text in enumerate(args.configs):
        cfg = {"width": 0.25, "random_state": args.random_state, "device": args.device,
               **eval(text, {"dict": dict})}
        accs, plain, t0 = [], [], time.perf_counter()
        y_true, y_pred, y_plain, scores, tested = [], [], [], [], []
        for k in folds:
            tr, te = fold != k, fold == k
            clf = MarginEmbeddingClassifier(**cfg).fit(
                P[tr], y[tr], groups=None if groups is None else groups[tr],
                deformed=None if PD is None else PD[tr])
            pred = clf.predict(P[te])
            scores.append(clf.decision_function(P[te])), tested.append(np.flatnonzero(te))
            every = clf.set_params(silence_db=None).predict(P[te])  # every segment counted
            accs.append(balanced_accuracy_score(y[te], pred))
            plain.append(balanced_accuracy_score(y[te], every))
            y_true.append(y[te]), y_pred.append(pred), y_plain.append(every)
        pooled = [balanced_accuracy_score(np.concatenate(y_true), np.concatenate(p))
                  for p in (y_pred, y_plain)]
        if args.save_scores:
            order = np.concatenate(tested)
            _save_scores(f"{args.save_scores}{position}.npz", config=text, index=order,
                         y=y[order], fold=fold[order], classes=clf.classes_,
                         scores=np.concatenate(scores), seconds=time.perf_counter() - t0)
        curve = [round(h.get("valid_acc", float("nan")), 2) for h in clf.history_]
        print(f"{text}: folds {np.round(accs, 3).tolist()} mean {np.mean(accs):.3f} pooled "
              f"{pooled[0]:.3f}; every segment counted: folds {np.round(plain, 3).tolist()} "
              f"pooled {pooled[1]:.3f} ({(time.perf_counter() - t0) / len(folds):.1f} s/fold; "
              f"kept epoch {clf.best_epoch_}; valid acc {curve})", flush=True)


def _save_scores(path, **arrays):
    """The test clips' scores, written whole or not at all (the library's atomic_path)."""
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


if __name__ == "__main__":
    main()
