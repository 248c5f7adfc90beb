"""Train the deployable pipeline that the ONNX and streaming benchmarks take as ``--model``.

Usage::

    python benchmarks/train_model.py --data ESC10_ROOT --folds 1 2 3 4 --out esc10_pipe.joblib \
        [--params "{'epochs': 30}"] [--threads 2]

Builds ``AudioLoader(duration=D) -> LogMelPatches() -> MarginEmbeddingClassifier(random_state=0,
**params)`` (D: the data set's clip length, 5 s for ESC-10), trains it on the clips of
``--folds`` (any layout ``datasets.load_dataset`` reads), prints the wall time and the balanced
accuracy on the other folds' clips when there are any, and saves it: a ``.skops`` path with
``deploy.save_model``, any other with joblib (what ``bench_inference.py`` and
``bench_stream.py`` load), written to a temporary file first and renamed, so that a failed run
leaves nothing behind. The ``Issue 15`` figures in RESULTS.md used ``--folds 1 2 3 4`` and no
``--params``.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="data set root (UrbanSound8K, ESC-50, ESC-10)")
    ap.add_argument("--folds", type=int, nargs="+", required=True, help="training folds")
    ap.add_argument("--out", required=True, help="model file (.skops: safe format; else joblib)")
    ap.add_argument("--params", type=ast.literal_eval, default={},
                    help="MarginEmbeddingClassifier parameters, a Python dict literal")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    args = ap.parse_args(argv)

    import joblib
    import torch
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline

    from sklearn_metricaudio import AudioLoader, LogMelPatches, MarginEmbeddingClassifier
    from sklearn_metricaudio.datasets import load_dataset
    from sklearn_metricaudio.deploy import save_model

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    if not out.parent.is_dir():
        ap.error(f"--out {out}: the folder {out.parent} does not exist")
    data = load_dataset(args.data)
    files, y, fold = np.asarray(data.filenames), np.asarray(data.target), np.asarray(data.fold)
    train = np.isin(fold, args.folds)
    if not train.any():
        ap.error(f"--folds {args.folds}: {args.data} has folds {sorted(set(fold.tolist()))}")
    pipe = make_pipeline(AudioLoader(duration=data.clip_seconds), LogMelPatches(),
                         MarginEmbeddingClassifier(**{"random_state": 0, **args.params}))
    print(f"{data.name}: training on {train.sum()} clips of folds {args.folds}", flush=True)
    t0 = time.perf_counter()
    pipe.fit(list(files[train]), y[train])
    print(f"trained in {time.perf_counter() - t0:.0f} s")
    if (~train).any():
        acc = balanced_accuracy_score(y[~train], pipe.predict(list(files[~train])))
        print(f"held-out folds {sorted(set(fold[~train].tolist()))}: balanced accuracy "
              f"{100 * acc:.1f} % on {(~train).sum()} clips")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    try:
        if out.suffix == ".skops":
            save_model(pipe, tmp)
        else:
            joblib.dump(pipe, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return pipe


if __name__ == "__main__":
    main(sys.argv[1:])
