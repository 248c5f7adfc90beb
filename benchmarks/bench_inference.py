"""Inference latency on the CPU: the fitted pipeline (torch) against its ONNX export (onnxruntime).

Usage::

    python benchmarks/bench_inference.py [--model PIPE.joblib] [--data ROOT] [--clips 50]
                                         [--batch 32] [--threads 1] [--repeats 3]

``--model`` is a joblib-saved fitted pipeline ``[AudioLoader ->] LogMelPatches ->
MarginEmbeddingClassifier [-> CentroidClassifier]``; without it a tiny model is trained on
the built-in synthetic set (``make_urban_sounds``, 4-s clips). The pipeline is exported with
``deploy.onnx_export.export_onnx`` to a temporary folder, and both are timed in this one run
on the same waveforms, after the loader (decoding and resampling are outside the graph and
outside the timing):

- batch 1: every one of ``--clips`` clips on its own, median and 90th percentile ms per clip
  (the first call of each is a warm-up, not timed); torch and onnxruntime take turns clip by
  clip (and pass by pass below), so that load from other processes on a shared machine
  touches both alike: the ratio is the figure to trust there;
- batch ``--batch``: ms per clip over ``--repeats`` passes (best), and clips per second; the
  ONNX graph in runs of ``OnnxClassifier.batch_size`` (4) clips as ``OnnxClassifier`` runs
  it, and in one run of the whole batch.

The torch side is the pipeline's own ``decision_function`` after the loader (scikit-learn
checks included, as a user calls it); the ONNX side is ``InferenceSession.run`` on the graph.
Both get ``--threads`` threads (torch's intra-op threads, onnxruntime's intra-op threads).
Clips are the synthetic set's (at the model's sample rate), or a data set's with ``--data``
(any layout ``datasets.load_dataset`` reads). Also printed: the agreement of the two on
those clips (labels identical, max |score difference|). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import joblib
import numpy as np
import torch

from sklearn_metricaudio import (AudioLoader, LogMelPatches, MarginEmbeddingClassifier,
                                 make_urban_sounds)
from sklearn_metricaudio.deploy.onnx_export import OnnxClassifier, export_onnx


def tiny_model(epochs, n_per_class):
    """A small model on the synthetic set: the benchmark's default subject."""
    from sklearn.pipeline import make_pipeline

    data = make_urban_sounds(n_per_class=n_per_class, n_folds=2, min_duration=1.0,
                             max_duration=4.0, random_state=0)
    y = np.asarray(data.target_names)[data.target]
    pipe = make_pipeline(AudioLoader(sr=data.sr, duration=4.0), LogMelPatches(sr=data.sr),
                         # batches of 8: enough steps on 32 clips for the embeddings to spread
                         MarginEmbeddingClassifier(epochs=epochs, batch_size=8,
                                                   validation_split=None, random_state=0))
    return pipe.fit(list(data.data), y)


def clips(pipe, n, data_root=None):
    """``n`` waveforms as the pipeline's loader gives them, and the rest of the pipeline."""
    start = 1 if isinstance(pipe.steps[0][1], AudioLoader) else 0
    loader = pipe.steps[0][1] if start else AudioLoader(sr=pipe.steps[0][1].sr, duration=4.0)
    if data_root is not None:
        from sklearn_metricaudio.datasets import load_dataset

        items = list(np.asarray(load_dataset(data_root).filenames)[:n])
    else:
        data = make_urban_sounds(n_per_class=max(1, -(-n // 8)), n_folds=1, sr=loader.sr,
                                 min_duration=1.0, max_duration=4.0, random_state=1)
        items = list(data.data[:n])
    return loader.transform(items), pipe[start:]


def _per_clip(fns, W):
    """Median and 90th percentile ms per clip of each function, one clip a call.

    The functions take turns on every clip, so that a load change on a shared machine
    touches all of them alike (their ratio is the figure to trust).
    """
    for fn in fns:
        fn(W[:1])  # warm-up
    times = [[] for _ in fns]
    for i in range(W.shape[0]):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            fn(W[i:i + 1])
            out.append(time.perf_counter() - t0)
    return [(1e3 * statistics.median(t), 1e3 * float(np.percentile(t, 90))) for t in times]


def _batched(fns, W, batch, repeats):
    """Best ms per clip of each function over ``repeats`` passes in batches, taking turns."""
    for fn in fns:
        fn(W[:batch])  # warm-up
    best = [np.inf] * len(fns)
    for _ in range(repeats):
        for j, fn in enumerate(fns):
            t0 = time.perf_counter()
            for i in range(0, W.shape[0], batch):
                fn(W[i:i + batch])
            best[j] = min(best[j], time.perf_counter() - t0)
    return [1e3 * b / W.shape[0] for b in best]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="joblib-saved fitted pipeline (default: train a tiny one)")
    parser.add_argument("--data", help="data set folder to take the clips from (default: "
                                       "synthetic clips)")
    parser.add_argument("--clips", type=int, default=50, help="clips timed (batch 1 and batched)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15, help="tiny model only")
    parser.add_argument("--n-per-class", type=int, default=4, help="tiny model only")
    args = parser.parse_args(argv)

    import onnxruntime

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.model:
        pipe = joblib.load(args.model)
        subject = args.model
    else:
        pipe = tiny_model(args.epochs, args.n_per_class)
        subject = f"tiny synthetic model ({args.epochs} epochs, {args.n_per_class} clips/class)"
    fit_s = time.perf_counter() - t0
    W, rest = clips(pipe, args.clips, args.data)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = export_onnx(pipe, os.path.join(tmp, "model.onnx"))
        export_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        model = OnnxClassifier(path, n_threads=args.threads)
        session = model.session_

        def run_torch(x):
            return rest.decision_function(x)

        def run_onnx(x):
            return session.run(["scores"], {"waveform": x})[0]

        def run_onnx_chunked(x):  # as OnnxClassifier runs the graph: batch_size clips a run
            return [run_onnx(x[i:i + model.batch_size])
                    for i in range(0, x.shape[0], model.batch_size)]

        torch_1, onnx_1 = _per_clip([run_torch, run_onnx], W)
        batch = min(args.batch, W.shape[0])
        torch_b, onnx_b, onnx_whole = _batched([run_torch, run_onnx_chunked, run_onnx], W,
                                               batch, args.repeats)
        # agreement on the same clips
        ref, got = rest.decision_function(W), model.decision_function(W)
        same = int((rest.predict(W) == model.predict(W)).sum())

    print(f"# Inference latency: {subject}\n")
    seconds = W.shape[1] / model.metadata_["sample_rate"]
    print(f"{W.shape[0]} clips of {W.shape[1]} samples ({seconds:.2f} s); "
          f"{args.threads} thread(s); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} logical CPUs; torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}; model {size_mb:.1f} MB, exported in {export_s:.1f} s"
          + (f" (trained in {fit_s:.1f} s)" if not args.model else "") + "\n")
    print("| runtime | batch 1: median ms/clip | batch 1: p90 ms/clip "
          f"| batch {batch}: ms/clip | batch {batch}: clips/s |")
    print("|---|---:|---:|---:|---:|")
    rows = (("torch (pipeline)", torch_1, torch_b),
            (f"onnxruntime (runs of {model.batch_size}, as OnnxClassifier)", onnx_1, onnx_b))
    for name, one, b in rows:
        print(f"| {name} | {one[0]:.2f} | {one[1]:.2f} | {b:.2f} | {1e3 / b:.1f} |")
    print(f"| onnxruntime (one run of {batch}) | | | {onnx_whole:.2f} | {1e3 / onnx_whole:.1f} |")
    print(f"| ratio torch / onnxruntime | {torch_1[0] / onnx_1[0]:.2f} "
          f"| {torch_1[1] / onnx_1[1]:.2f} | {torch_b / onnx_b:.2f} | |")
    print(f"\nagreement: labels identical {same}/{W.shape[0]}, max |score difference| "
          f"{float(np.abs(ref - got).max()):.2e}")


if __name__ == "__main__":
    main()
