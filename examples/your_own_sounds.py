"""
Your own sounds: from a folder per class to a deployed model and a new class
============================================================================

Usage::

    python examples/your_own_sounds.py [--n-per-class 12] [--epochs 30] [--out DIR]

What a user with their own labelled recordings does, from the shell, here on a folder this
script builds from the synthetic set (so that it runs anywhere):

1. Lay the recordings out as one folder per class, ``my_sounds/<label>/*.wav`` (any rate,
   channels and length; a CSV manifest ``file,label[,fold][,group]`` is the other layout,
   for clips cut from one recording: :func:`~sklearn_metricaudio.load_manifest`). One
   class, "siren", is kept out of it: it arrives later.
2. ``metricaudio evaluate --data my_sounds --model svm,cosface``: the folds are drawn
   (stratified, a source recording never on both sides), every model is cross-validated,
   the table printed and the figures written.
3. ``metricaudio fit --data my_sounds --out model.skops``: the same metric model trained on
   every clip, saved in the safe format.
4. ``metricaudio enroll model.skops --label siren s1.wav s2.wav s3.wav --out
   enrolled.skops``: the new class from three clips, no retraining.
5. ``metricaudio predict enrolled.skops ...``: the other sirens and a few known clips, and
   ``metricaudio predict enrolled.skops --stream long.wav``: a long recording over time.

Each step calls :func:`sklearn_metricaudio.cli.main` with the arguments you would type.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from sklearn_metricaudio import AudioLoader, make_urban_sounds
from sklearn_metricaudio.cli import main as metricaudio
from sklearn_metricaudio.deploy import load_model

NEW_CLASS = "siren"


def build_folder(root, n_per_class, random_state=0):
    """The synthetic set as a user's folder per class, ``root/<label>/*.wav``; the clips of
    the class held back go to ``root/_new``, for the caller to move out."""
    data = make_urban_sounds(n_per_class=n_per_class, n_folds=2, min_duration=2.0,
                             max_duration=4.0, random_state=random_state)
    for k, (x, y) in enumerate(zip(data.data, data.target)):
        label = data.target_names[y]
        folder = root / ("_new" if label == NEW_CLASS else label)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{label}_{k:03d}.wav"
        sf.write(path, x, data.sr)


def run(argv):
    print("\n$ metricaudio " + " ".join(argv), flush=True)
    rc = metricaudio(argv)
    if rc != 0:
        raise SystemExit(f"metricaudio {argv[0]} failed (exit {rc})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-class", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default="your_own_sounds", help="folder for everything written")
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser()
    root = out / "my_sounds"
    new_home = out / "new_class"          # the new class's clips live outside the data set
    if not root.exists():
        build_folder(root, args.n_per_class)
        (root / "_new").rename(new_home)
    else:
        print(f"reusing {root} and {new_home}")
    new_clips = sorted(str(p) for p in new_home.glob("*.wav"))
    print(f"{root}: {sum(1 for _ in root.rglob('*.wav'))} clips in "
          f"{len(list(root.iterdir()))} class folders; {len(new_clips)} {NEW_CLASS} clips "
          "kept for later")
    margin = ["--epochs", str(args.epochs), "--width", "0.5", "--preset", "fast",
              "--device", "cpu", "--n-jobs", "1", "--data-home", str(out / "cache")]

    run(["evaluate", "--data", str(root), "--model", "svm,cosface", "--out",
         str(out / "figures"), *margin])
    model = out / "model.skops"
    run(["fit", "--data", str(root), "--out", str(model), *margin])
    enrolled = out / "enrolled.skops"
    run(["enroll", str(model), "--label", NEW_CLASS, *new_clips[:3], "--out", str(enrolled)])
    known = sorted(str(p) for p in root.rglob("*.wav"))[::7][:4]
    run(["predict", str(enrolled), *new_clips[3:], *known])

    pipe = load_model(enrolled)
    said = pipe.predict(new_clips[3:])
    print(f"\nthe enrolled model calls {np.sum(said == NEW_CLASS)} of {len(said)} new "
          f"{NEW_CLASS} clips '{NEW_CLASS}' (chance: 1 in {len(pipe.classes_)})")

    long_file = out / "long_recording.wav"
    loader = AudioLoader(duration=4.0)
    sf.write(long_file, loader.transform(new_clips[3:5] + known[:2]).reshape(-1), loader.sr)
    run(["predict", str(enrolled), "--stream", str(long_file)])
    return {"model": model, "enrolled": enrolled, "classes": list(pipe.classes_),
            "new_said": said}


if __name__ == "__main__":
    main()
