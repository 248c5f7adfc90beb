"""
One training over several GPUs with skorch's Accelerate integration
===================================================================

Usage::

    accelerate launch --multi_gpu --num_processes 2 examples/multi_gpu_accelerate.py \\
        [--n-per-class 40] [--epochs 30] [--width 0.25] [--out model.joblib]
    # no GPU: the same script over 2 CPU processes (gloo)
    accelerate launch --multi_gpu --num_processes 2 examples/multi_gpu_accelerate.py --tiny
    # one process, no launcher
    python examples/multi_gpu_accelerate.py --tiny

``pip install sklearn_metricaudio[scale]`` brings accelerate. Every process runs this script:

1. it writes the synthetic set (no download) and computes the log-mel patches: the same
   arrays in every process (on a shared file system, cache them once with
   ``evaluation.compute_features(..., cache_dir=...)``);
2. ``MarginEmbeddingClassifier(accelerator=Accelerator(), random_state=0)`` trains
   data-parallel: every process draws the same shuffled batches and trains on its share of
   them (batch ``k`` goes to process ``k mod n``), the gradients are averaged after every
   step (``DistributedDataParallel`` inside ``accelerate``), so one epoch takes ``1/n`` of
   the steps and each step sees ``n`` batches. ``random_state`` must be an int;
3. the main process scores the held-out fold and saves the model (``device="cpu"``: it
   predicts wherever it is loaded).

What runs where. One training over several GPUs: this, through ``accelerate``. Many
trainings (the folds of a protocol, the cells of a grid) are better run one per GPU or per
machine: ``evaluate_folds`` and ``metricaudio evaluate --report`` dispatch them through
joblib, so ``with joblib.parallel_backend("dask"):`` spreads them over a Dask cluster.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import joblib
import torch
from sklearn.metrics import balanced_accuracy_score

from sklearn_metricaudio import (AudioLoader, LogMelPatches, MarginEmbeddingClassifier,
                                 load_urbansound8k, make_urban_sounds)


def main(argv=None):
    from accelerate import Accelerator  # the `scale` extra

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-class", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--tiny", action="store_true",
                    help="4 clips per class, 2 epochs: a check that it runs, not a measurement")
    ap.add_argument("--out", default=None, help="save the fitted model here (joblib)")
    args = ap.parse_args(argv)
    n_per_class, epochs = (4, 2) if args.tiny else (args.n_per_class, args.epochs)

    accelerator = Accelerator(cpu=not torch.cuda.is_available())  # CPU processes: gloo
    with tempfile.TemporaryDirectory() as tmp:
        make_urban_sounds(Path(tmp) / "UrbanSound8K", n_per_class=n_per_class, n_folds=4,
                          random_state=0)
        data = load_urbansound8k(Path(tmp) / "UrbanSound8K")
        waves = AudioLoader(sr=22050, duration=4.0).transform(data.filenames)
    X = LogMelPatches(sr=22050).transform(waves)
    train, test = data.fold != 1, data.fold == 1
    clf = MarginEmbeddingClassifier(width=args.width, epochs=epochs, batch_size=8 if args.tiny
                                    else 32, accelerator=accelerator, random_state=0)
    clf.fit(X[train], data.target[train], groups=data.fsID[train])
    steps = sum(h["train_batch_count"] for h in clf.history_)
    weights = sum(float(p.double().sum()) for p in clf.net_.module_.parameters())
    print(f"process {accelerator.process_index} of {accelerator.num_processes} "
          f"({accelerator.distributed_type}, {accelerator.device}): {steps} training steps, "
          f"best epoch {clf.best_epoch_}, sum of the weights {weights:.6f}", flush=True)
    if accelerator.is_main_process:
        pred = clf.predict(X[test])
        print(f"fold 1: balanced accuracy "
              f"{100 * balanced_accuracy_score(data.target[test], pred):.1f} %")
        if args.out:
            clf.set_params(accelerator=None)  # what was saved predicts without accelerate
            tmp_out = f"{args.out}.{os.getpid()}.tmp"
            joblib.dump(clf, tmp_out)
            os.replace(tmp_out, args.out)     # never a half-written model
            print(f"saved {args.out}")
    accelerator.wait_for_everyone()
    return clf


if __name__ == "__main__":
    main()
