"""
Deploy a fitted model: a safe model file, ONNX, a long recording, unknown sounds
================================================================================

Usage::

    python examples/deploy_model.py [--n-per-class 8] [--n-folds 4] [--epochs 20]
        [--device auto] [--out DIR]

1. Fit ``AudioLoader`` -> ``LogMelPatches`` -> ``MarginEmbeddingClassifier`` ->
   ``CentroidClassifier`` on the built-in synthetic set (every fold but the last), on
   ``--device`` (``auto``: a GPU when there is one), and calibrate its open-set rejection
   on the margin model's validation clips: a sound of no known class becomes "unknown".
2. Save it with :func:`~sklearn_metricaudio.deploy.save_model`: skops' secure format, the
   network's weights as tensors. Unlike ``joblib.load``, loading runs none of the file's code.
3. Load it in a fresh Python process, the way a service on a CPU-only machine would
   (:func:`~sklearn_metricaudio.deploy.load_model` puts a model saved for CUDA on the CPU),
   and label the held-out fold's files; the answers are checked against the fitted model's.
4. With onnxruntime installed (``pip install sklearn_metricaudio[onnx]``): export one ONNX
   graph from waveform to scores (:func:`~sklearn_metricaudio.deploy.export_onnx`) and run it.
5. Label a long recording over time (:func:`~sklearn_metricaudio.deploy.predict_stream`):
   the held-out clips joined into one file, read block by block, merged into events.

``metricaudio predict model.skops a.wav b.wav`` does step 3 from the shell, and
``metricaudio predict model.skops --stream long.wav --events events.csv`` step 5.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
                                 MarginEmbeddingClassifier, make_urban_sounds)
from sklearn_metricaudio.deploy import (export_onnx, load_onnx, predict_stream, save_model,
                                        stream_events)

#: What the deployment machine runs: ``python -c DEPLOY model.skops a.wav b.wav ...``.
DEPLOY = """
import json, sys
from sklearn_metricaudio.deploy import load_model

model = load_model(sys.argv[1], device="cpu")  # runs none of the file's code
files = sys.argv[2:]
print(json.dumps({"labels": model.predict(files).tolist(),
                  "proba": model.predict_proba(files).tolist()}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-class", type=int, default=8)
    ap.add_argument("--n-folds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--device", default="auto", help="where the model trains: cpu, cuda, auto")
    ap.add_argument("--out", default=".", help="folder for the data set and the model files")
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)

    data = make_urban_sounds(out / f"urban_sounds_n{args.n_per_class}_f{args.n_folds}_rs0",
                             n_per_class=args.n_per_class, n_folds=args.n_folds, random_state=0)
    files, y = np.asarray(data.filenames), data.target
    test = data.fold == data.fold.max()

    # 1. fit (file names in), then the open-set threshold on clips the network did not see
    model = make_pipeline(AudioLoader(duration=4.0), LogMelPatches(device=args.device),
                          MarginEmbeddingClassifier(epochs=args.epochs, device=args.device,
                                                    random_state=0),
                          CentroidClassifier())
    model.fit(files[~test], y[~test])
    held_out = files[~test][model[2].validation_mask_]
    model[-1].calibrate(model[:-1].transform(held_out), true_accept=0.95)
    print(f"open-set threshold {model[-1].threshold_:.3f} (accepts "
          f"{100 * model[-1].true_accept_:.0f} % of {held_out.size} held-out clips)")

    # 2. save: a safe file
    path = save_model(model, out / "model.skops")
    print(f"saved {path.name}: {path.stat().st_size / 1e6:.1f} MB")

    # 3. load and predict in a fresh process, on the CPU
    run = subprocess.run([sys.executable, "-c", DEPLOY, str(path), *files[test]],
                         capture_output=True, text=True, check=True)
    fresh = json.loads(run.stdout.strip().splitlines()[-1])
    labels, proba = np.asarray(fresh["labels"]), np.asarray(fresh["proba"])
    names = {**dict(enumerate(data.target_names)), -1: "unknown"}
    print(f"{'file':<24}{'predicted':>18}{'true':>18}{'probability':>13}")
    for f, p, t, row in zip(files[test], labels, y[test], proba):
        print(f"{Path(f).name:<24}{names[p]:>18}{names[t]:>18}{row.max():>13.4f}")
    same = labels == model.predict(files[test])
    diff = float(np.abs(proba - model.predict_proba(files[test])).max())
    print(f"fresh CPU process agrees with the fitted model on {same.sum()} of {same.size} "
          f"labels; probabilities within {diff:.1e}")
    print(f"accuracy on the held-out fold: {100 * np.mean(labels == y[test]):.1f} % "
          f"({np.sum(labels == -1)} clips rejected as unknown)")
    result = {"path": path, "labels": labels, "proba": proba, "same": same, "max_diff": diff}

    # 4. ONNX: one graph from waveform to scores (optional dependency)
    try:
        onnx_path = export_onnx(model, out / "model.onnx")
    except ImportError as exc:
        print(f"ONNX skipped: {exc}")
    else:
        runtime = load_onnx(onnx_path)
        result["onnx_same"] = runtime.predict(files[test]) == model.predict(files[test])
        result["onnx_max_diff"] = float(np.abs(runtime.decision_function(files[test])
                                               - model.decision_function(files[test])).max())
        # labels can differ only where two classes (or a class and the threshold) are within
        # float32 rounding of each other: the scores are the check
        print(f"onnxruntime: scores within {result['onnx_max_diff']:.1e} of the pipeline's, "
              f"{result['onnx_same'].sum()} of {test.sum()} labels the same "
              f"({onnx_path.stat().st_size / 1e6:.1f} MB graph)")

    # 5. a long recording: the held-out clips joined, labelled over time
    long_file = out / "long_recording.wav"
    clips = AudioLoader(duration=4.0).transform(files[test])
    sf.write(long_file, clips.reshape(-1), 22050)
    events = list(stream_events(predict_stream(model, long_file, hop=1.0)))
    print(f"\n{long_file.name}: {clips.shape[0] * 4:.0f} s, {len(events)} events")
    for e in events[:8]:
        print(f"{e.start:>7.1f} - {e.end:>6.1f} s  {names[e.label]:<18}{e.score:.3f}")
    result["events"] = events
    return result


if __name__ == "__main__":
    main()
