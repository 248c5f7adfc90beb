"""
MFCC + GMM and MFCC + linear SVM over predefined folds, as scikit-learn Pipelines
=================================================================================

Usage::

    python examples/baselines_on_synthetic.py [--n-per-class 20] [--n-folds 10] [--out DIR]

Writes the synthetic set in the UrbanSound8K layout to a temporary folder, cross-validates the
paper's two baselines over its folds, prints the balanced accuracies and saves a confusion matrix
per model in ``--out``.
"""

import argparse
import tempfile
from pathlib import Path

from sklearn.metrics import ConfusionMatrixDisplay, balanced_accuracy_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio import (AudioLoader, MFCCStats, load_urbansound8k, make_urban_sounds,
                                 urbansound8k_cv)
from sklearn_metricaudio.evaluation import paper_baselines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-class", type=int, default=20)
    ap.add_argument("--n-folds", type=int, default=10)
    ap.add_argument("--out", default=".", help="folder for the confusion-matrix PNGs")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        make_urban_sounds(Path(tmp) / "UrbanSound8K", n_per_class=args.n_per_class,
                          n_folds=args.n_folds, random_state=0)
        data = load_urbansound8k(Path(tmp) / "UrbanSound8K")          # the real loader's path
        for name, clf in paper_baselines(random_state=0).items():
            pipe = make_pipeline(AudioLoader(sr=22050, duration=4.0), MFCCStats(), clf)
            pred = cross_val_predict(pipe, data.filenames, data.target,
                                     cv=urbansound8k_cv(data.fold), n_jobs=2)
            print(f"MFCC + {name.upper()}: balanced accuracy "
                  f"{100 * balanced_accuracy_score(data.target, pred):.1f} %")
            disp = ConfusionMatrixDisplay.from_predictions(
                data.target, pred, display_labels=data.target_names, normalize="true",
                xticks_rotation=45, values_format=".2f")
            disp.figure_.savefig(out / f"confusion_{name}.png", bbox_inches="tight")
            print(f"  saved {out / f'confusion_{name}.png'}")


if __name__ == "__main__":
    main()
