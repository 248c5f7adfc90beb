"""
Deploy a fitted model: pickle it, load it on a CPU, label files
===============================================================

Usage::

    python examples/deploy_pickled_model.py [--n-per-class 8] [--n-folds 4] [--epochs 20]
        [--device auto] [--out DIR]

1. Fit ``AudioLoader`` -> ``LogMelPatches`` -> ``MarginEmbeddingClassifier`` ->
   ``CentroidClassifier`` on the built-in synthetic set (every fold but the last), on
   ``--device`` (``auto``: a GPU when there is one).
2. Save the whole Pipeline with ``joblib.dump``: file names in, labels out.
3. Load it in a fresh Python process, the way a service on a CPU-only machine would: set
   every ``device`` parameter to ``"cpu"``, then predict the held-out fold's files and their
   class probabilities. The fresh process's answers are checked against the fitted model's.

``metricaudio predict model.joblib a.wav b.wav`` does step 3 from the shell.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
                                 MarginEmbeddingClassifier, make_urban_sounds)

#: What the deployment machine runs: ``python -c DEPLOY model.joblib a.wav b.wav ...``.
DEPLOY = """
import json, sys
import joblib

model = joblib.load(sys.argv[1])
# a model fitted on a GPU predicts on this machine's CPU
model.set_params(**{k: "cpu" for k in model.get_params(deep=True)
                    if k == "device" or k.endswith("__device")})
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
    ap.add_argument("--out", default=".", help="folder for the data set and model.joblib")
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)

    data = make_urban_sounds(out / f"urban_sounds_n{args.n_per_class}_f{args.n_folds}_rs0",
                             n_per_class=args.n_per_class, n_folds=args.n_folds, random_state=0)
    files, y = np.asarray(data.filenames), data.target
    test = data.fold == data.fold.max()

    # 1. fit (file names in)
    model = make_pipeline(AudioLoader(duration=4.0), LogMelPatches(device=args.device),
                          MarginEmbeddingClassifier(epochs=args.epochs, device=args.device,
                                                    random_state=0),
                          CentroidClassifier())
    model.fit(files[~test], y[~test])
    # 2. save
    path = out / "model.joblib"
    joblib.dump(model, path)
    print(f"saved {path.name}: {path.stat().st_size / 1e6:.1f} MB")

    # 3. load and predict in a fresh process, on the CPU
    run = subprocess.run([sys.executable, "-c", DEPLOY, str(path), *files[test]],
                         capture_output=True, text=True, check=True)
    fresh = json.loads(run.stdout.strip().splitlines()[-1])
    labels, proba = np.asarray(fresh["labels"]), np.asarray(fresh["proba"])
    print(f"{'file':<24}{'predicted':>18}{'true':>18}{'probability':>13}")
    for f, p, t, row in zip(files[test], labels, y[test], proba):
        print(f"{Path(f).name:<24}{data.target_names[p]:>18}{data.target_names[t]:>18}"
              f"{row.max():>13.4f}")
    same = labels == model.predict(files[test])
    diff = float(np.abs(proba - model.predict_proba(files[test])).max())
    print(f"fresh CPU process agrees with the fitted model on {same.sum()} of {same.size} "
          f"labels; probabilities within {diff:.1e}")
    print(f"accuracy on the held-out fold: {100 * np.mean(labels == y[test]):.1f} %")
    return {"path": path, "labels": labels, "proba": proba, "same": same, "max_diff": diff}


if __name__ == "__main__":
    main()
