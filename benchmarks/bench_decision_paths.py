"""Do the four ways of labelling a clip agree, clip for clip, on real recordings?

Usage::

    python benchmarks/bench_decision_paths.py MODEL.skops DATA [--clips N] [--out CSV]

``MODEL.skops``: a pipeline saved by ``metricaudio fit`` (``AudioLoader -> LogMelPatches ->
MarginEmbeddingClassifier``). ``DATA``: any layout ``datasets.load_dataset`` reads (e.g. an
ESC-10 copy); its clips are cut or padded to the model's clip length by the model's own
loader. Every clip is decided twice: as recorded (ESC pads its short recordings with
digital silence already) and **silence-padded**: its second half replaced by digital zeros.

The paths, each through public API, compared with the model's own ``predict``:

- ``centroid``: ``Pipeline(model.steps + [CentroidClassifier])`` with a copy of the margin
  model's centroids (its ``transform`` leaves silent segments NaN, i.e. missing);
- ``files``: ``deploy.predict_files`` on the clips written as float WAV files;
- ``stream``: ``deploy.predict_stream`` over one recording of all the clips end to end, one
  window (the clip length) per clip;
- ``onnx``: ``deploy.export_onnx`` then ``OnnxClassifier.predict`` (skipped without
  onnxruntime).

Prints one row per path: clips whose label agrees with ``predict`` (of all), those of the
others that are ties (the model's two best scores within ``--tie`` of each other: float32
round-off may then pick either, as the ONNX graph computes in float32), the largest score
difference, and its time; and how many clips the silence rule decides (their label would
change if their silent segments counted). Exit status 1 when a path disagrees on a clip that
is not a tie.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import tempfile
import time

import numpy as np


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a pipeline saved by metricaudio fit (.skops)")
    parser.add_argument("data", help="a data set folder (any layout load_dataset reads)")
    parser.add_argument("--clips", type=int, default=None, help="first N clips (default: all)")
    parser.add_argument("--out", help="write every clip's labels by path to this CSV")
    parser.add_argument("--tie", type=float, default=1e-5,
                        help="score gap under which a clip's decision is a tie (default 1e-5)")
    args = parser.parse_args(argv)

    import soundfile as sf
    from sklearn.pipeline import Pipeline

    from sklearn_metricaudio.datasets import load_dataset
    from sklearn_metricaudio.deploy import load_model, predict_files, predict_stream

    model = load_model(args.model)
    loader, margin = model.steps[0][1], model.steps[-1][1]
    data = load_dataset(args.data)
    files = np.asarray(data.filenames)[: args.clips]
    W = loader.transform(files)  # (n, n_samples) at the model's rate
    padded = W.copy()
    padded[:, W.shape[1] // 2:] = 0.0
    W = np.concatenate([W, padded])
    kind = np.repeat(["as recorded", "silence-padded"], len(files))
    print(f"{args.model} on {len(files)} clips of {args.data} (+ {len(files)} silence-padded), "
          f"{loader.duration:g} s at {loader.sr} Hz; {platform.processor() or platform.machine()}",
          flush=True)

    own, t_own = _timed(lambda: model.predict(W))
    own_scores = model.decision_function(W)
    top2 = np.sort(own_scores, axis=1)[:, -2:] if own_scores.ndim == 2 else None
    tie = (np.abs(own_scores) if top2 is None else top2[:, 1] - top2[:, 0]) < args.tie
    rows = [("predict (the margin model)", len(W), 0, 0.0, t_own)]
    labels = {"predict": own}

    def compare(name, got_labels, got_scores, seconds):
        got_labels = np.asarray(got_labels)
        labels[name] = got_labels
        same = got_labels == own
        rows.append((name, int(same.sum()), int((~same & tie).sum()),
                     float(np.abs(np.asarray(got_scores) - own_scores).max()), seconds))
        print(f"  {name}: {int(same.sum())}/{len(W)} agree ({seconds:.1f} s)", flush=True)

    # the margin step as a transformer of embeddings (whatever transform_layer it was saved
    # with); a calibrated block rejection (rejection_layer) is not in the embedding's centroids
    if margin._rejection_threshold() is not None:
        print("  centroid: skipped (the model rejects by a block's centroids, rejection_layer="
              f"{margin.rejection_layer!r}, which a CentroidClassifier of embeddings lacks)")
    else:
        front = copy.deepcopy(margin).set_params(transform_layer="embedding")
        chained = Pipeline(model.steps[:-1] + [(model.steps[-1][0], front),
                                               ("centroid", copy.deepcopy(margin.centroid_))])
        (lab, sc), t = _timed(lambda: (chained.predict(W), chained.decision_function(W)))
        compare("centroid (Margin -> CentroidClassifier)", lab, sc, t)

    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, f"clip{i:05d}.wav") for i in range(len(W))]
        for p, w in zip(paths, W):
            sf.write(p, w, loader.sr, subtype="FLOAT")
        got, t = _timed(lambda: predict_files(model, paths, scores="decision_function"))
        compare("files (predict_files)", [g.label for g in got],
                np.stack([g.scores for g in got]), t)

        stream = os.path.join(tmp, "stream.wav")
        sf.write(stream, W.reshape(-1), loader.sr, subtype="FLOAT")
        got, t = _timed(lambda: list(predict_stream(
            model, stream, window=loader.duration, hop=loader.duration,
            scores="decision_function")))
        compare("stream (predict_stream)", [g.label for g in got],
                np.stack([g.scores for g in got]), t)

        try:
            from sklearn_metricaudio.deploy.onnx_export import OnnxClassifier, export_onnx

            onnx, t_export = _timed(lambda: OnnxClassifier(export_onnx(
                model, os.path.join(tmp, "model.onnx"))))
        except (ImportError, ValueError) as exc:  # no onnx; or a model it cannot export
            print(f"  onnx: skipped ({exc})")
        else:
            (lab, sc), t = _timed(lambda: (onnx.predict(W), onnx.decision_function(W)))
            compare("onnx (OnnxClassifier)", lab, sc, t)

    every = copy.deepcopy(margin).set_params(silence_db=None)
    counted_all = margin.centroid_.predict(every.embeddings(model[:-1].transform(W)))
    decided = counted_all != own
    sounding = margin.sounding_segments(model[:-1].transform(W))
    with_silence = (~sounding).any(axis=1)

    print(f"\n| path | clips agreeing with predict | others at a tie | max score difference "
          f"| seconds |")
    print("|---|---|---|---|---|")
    for name, agree, ties, diff, seconds in rows:
        print(f"| {name} | {agree}/{len(W)} | {ties} | {diff:.2g} | {seconds:.1f} |")
    print(f"ties (two best scores within {args.tie:g}): {int(tie.sum())} of {len(W)} clips")
    for k in ("as recorded", "silence-padded"):
        sel = kind == k
        print(f"{k}: {int(with_silence[sel].sum())} of {int(sel.sum())} clips have silent "
              f"segments; the silence rule decides {int(decided[sel].sum())} labels "
              f"(they differ if silence counts)")
    if args.out:
        import csv

        tmp_out = args.out + ".tmp"
        with open(tmp_out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["clip", "version"] + list(labels))
            for i in range(len(W)):
                w.writerow([files[i % len(files)], kind[i]] + [labels[n][i] for n in labels])
        os.replace(tmp_out, args.out)
    return 0 if all(agree + ties == len(W) for _, agree, ties, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
