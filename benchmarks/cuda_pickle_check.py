"""Fit a margin-model pipeline on CUDA, pickle it, and check it predicts the same on a CPU.

Usage::

    # on a machine with a GPU
    python benchmarks/cuda_pickle_check.py fit  model.skops     # or model.joblib
    # anywhere (e.g. a CPU-only machine), with the model and its .npz copied over
    python benchmarks/cuda_pickle_check.py check model.skops

``fit`` trains ``AudioLoader -> LogMelPatches -> MarginEmbeddingClassifier`` with
``device="cuda"`` on make_urban_sounds(n_per_class=24, random_state=0) folds 2-10, saves it
(a ``.skops`` name: ``deploy.save_model``, the safe format; any other: joblib) and writes its
fold-1 predictions and probabilities beside it (``.npz``). ``check`` loads it
(``deploy.load_model``, which puts a CUDA model on a CPU-only machine's CPU; a joblib file:
every ``device`` parameter set to "cpu", as ``metricaudio predict --trust-pickle`` does), predicts
fold 1 again and prints the agreement and the largest probability difference; it fails if a
probability moved by 2e-3 or more, or a label changed where the CUDA model was not on a near-tie.
"""

import argparse
import sys

import joblib
import numpy as np
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio import AudioLoader, LogMelPatches, MarginEmbeddingClassifier, make_urban_sounds
from sklearn_metricaudio.deploy import load_model, save_model


def _fold1(root, n_per_class):
    d = make_urban_sounds(root, n_per_class=n_per_class, random_state=0)
    files = np.asarray([str(p) for p in d.filenames])
    return files, d.target, d.fold


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["fit", "check"])
    ap.add_argument("model")
    ap.add_argument("--data-home", default="/tmp/metricaudio_cuda_check",
                    help="where the synthetic clips are written (reused if present)")
    ap.add_argument("--device", default="cuda", help="where `fit` trains (cpu: a smoke test)")
    ap.add_argument("--n-per-class", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args(argv)
    files, y, fold = _fold1(args.data_home, args.n_per_class)
    te = fold == 1
    if args.mode == "fit":
        import torch

        where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else args.device
        print(f"torch {torch.__version__}, device {where}")
        pipe = make_pipeline(AudioLoader(duration=4.0), LogMelPatches(device=args.device),
                             MarginEmbeddingClassifier(width=0.25, epochs=args.epochs,
                                                       device=args.device, random_state=0))
        pipe.fit(files[~te], y[~te])
        print("fitted on", next(pipe[-1].net_.module_.parameters()).device)
        if args.model.endswith(".skops"):
            save_model(pipe, args.model)
        else:
            joblib.dump(pipe, args.model)
        np.savez(args.model + ".npz", pred=pipe.predict(files[te]),
                 proba=pipe.predict_proba(files[te]))
        print(f"saved {args.model} and {args.model}.npz")
        return 0
    ref = np.load(args.model + ".npz")
    if args.model.endswith(".skops"):
        pipe = load_model(args.model)
    else:
        pipe = joblib.load(args.model)
        pipe.set_params(**{k: "cpu" for k in pipe.get_params() if k.endswith("device")})
    pred, proba = pipe.predict(files[te]), pipe.predict_proba(files[te])
    same = pred == ref["pred"]
    diff = float(np.abs(proba - ref["proba"]).max())
    top2 = np.sort(ref["proba"], axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]  # how close each CUDA prediction was to a tie
    ties = ~same & (gap <= 2 * diff)
    print(f"CPU predictions equal to the CUDA ones: {same.sum()} of {te.sum()} clips, "
          f"{ties.sum()} more differ on a near-tie (CUDA top-two gap <= 2 x the largest "
          f"probability difference); largest probability difference {diff:.2e}")
    # cuDNN's TF32 convolutions differ from float32 CPU arithmetic by ~1e-3; labels may only
    # differ where the two best classes were that close
    return 0 if diff < 2e-3 and np.all(same | ties) else 1


if __name__ == "__main__":
    sys.exit(main())
