"""Your own recordings, end to end from the shell, on a public set laid out as a user would.

Usage::

    python benchmarks/bench_own_data.py ESC10_ROOT --work DIR [--models gmm,svm,cosface]
        [--enroll-class Rooster] [--shots 3] [--preset default] [--epochs N]

Lays the copy at ``ESC10_ROOT`` (any layout ``datasets.load_dataset`` reads) out in ``DIR``
twice, as links to its files, never copies: a folder per class (``DIR/folder/<label>/``) and
a CSV manifest of the same clips with their source recordings as ``group``
(``DIR/manifest/clips.csv``). Then runs, each as its own ``metricaudio`` process, timed with
its peak memory (the largest resident set of the process and its workers):

1. ``metricaudio evaluate --data DIR/folder --model MODELS`` and the same on the manifest;
2. ``metricaudio fit`` on the folder without ``--enroll-class`` (the other classes);
3. ``metricaudio enroll`` of that class from ``--shots`` clips of as many source recordings;
4. ``metricaudio predict`` on its clips of the other recordings: how many are labelled as it.

Prints every command, its balanced accuracies, wall time and peak memory, then a Markdown
table. ``DIR`` keeps the layouts, the model files and each command's output
(``DIR/logs/``); a step whose output is already there is not run again (delete it to rerun).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _layouts(root, work):
    """The folder per class and the manifest, as symbolic links; label, group, file per clip."""
    from sklearn_metricaudio.datasets import load_dataset

    data = load_dataset(root)
    names = np.asarray(data.target_names)[data.target]
    groups = np.asarray(data.fsID)
    folder = work / "folder"
    rows = []
    for f, label, g in zip(data.filenames, names, groups):
        link = folder / str(label) / Path(f).name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(Path(f).resolve())
        rows.append((str(link), str(label), str(g)))
    manifest = work / "manifest" / "clips.csv"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "group"])
        for link, label, g in rows:
            w.writerow([os.path.relpath(link, manifest.parent), label, g])
    os.replace(tmp, manifest)
    return folder, manifest, rows


# a fresh process per step runs the CLI and reports the peak resident set (kB) of it and its
# workers: RUSAGE_CHILDREN of a process that has waited for nothing else
_WRAP = ("import resource, subprocess, sys; "
         "p = subprocess.run([sys.executable, '-c', 'import sys; from sklearn_metricaudio.cli "
         "import main; sys.exit(main())', *sys.argv[1:]]); "
         "print('# peak', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
         "file=sys.stderr); sys.exit(p.returncode)")


def _run(argv, log):
    """Run ``metricaudio ARGV`` (output to ``log``, kept); wall seconds and peak RSS in MB."""
    if log.exists():
        print(f"$ metricaudio {shlex.join(argv)}   (kept from {log})", flush=True)
        text = log.read_text()
        m = re.search(r"^# wall ([\d.]+) s, peak ([\d.]+) MB$", text, flags=re.M)
        return text, float(m.group(1)), float(m.group(2))
    print(f"$ metricaudio {shlex.join(argv)}", flush=True)
    cmd = [sys.executable, "-c", _WRAP, *argv]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"^# peak (\d+)$", proc.stderr, flags=re.M)
    peak = int(m.group(1)) / 1024 if m else float("nan")
    if proc.returncode != 0:
        raise SystemExit(f"metricaudio {shlex.join(argv)} failed ({proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    text = proc.stdout + f"\n# wall {wall:.1f} s, peak {peak:.0f} MB\n"
    tmp = log.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, log)
    return text, wall, peak


def _accuracies(text):
    """Model -> balanced accuracy (%) from evaluate's closing table."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(\w+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s*$", text, flags=re.M)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="an ESC-10 copy (any layout load_dataset reads)")
    ap.add_argument("--work", required=True, help="folder for the layouts, models and logs")
    ap.add_argument("--models", default="gmm,svm,cosface")
    ap.add_argument("--enroll-class", default="Rooster")
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--epochs", type=int, default=None, help="margin model epochs (tests)")
    args = ap.parse_args(argv)

    work = Path(args.work)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    folder, manifest, rows = _layouts(args.root, work)
    home = ["--data-home", str(work / "home")]
    extra = ["--preset", args.preset] + ([] if args.epochs is None
                                         else ["--epochs", str(args.epochs)])
    table = []
    for name, data in (("folder per class", folder), ("manifest with groups", manifest)):
        text, wall, peak = _run(["evaluate", "--data", str(data), "--model", args.models,
                                 "--out", str(work / "out" / name.split()[0]), *home, *extra],
                                work / "logs" / f"evaluate_{name.split()[0]}.txt")
        for model, acc in _accuracies(text).items():
            print(f"  {name}: {model} {acc:.1f} %")
            table.append((f"evaluate, {name}", model, f"{acc:.1f} %", wall, peak))

    labels = sorted({label for _, label, _ in rows})
    if args.enroll_class not in labels:
        raise SystemExit(f"--enroll-class {args.enroll_class!r} is not a class of {args.root}: "
                         f"{labels}")
    others = work / "without"
    for link, label, _ in rows:  # the folder without the class to enroll
        if label != args.enroll_class:
            dst = others / label / Path(link).name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.is_symlink():
                dst.symlink_to(Path(link).resolve())
    model = work / "without.skops"
    _, wall, peak = _run(["fit", "--data", str(others), "--out", str(model), *home, *extra],
                         work / "logs" / "fit.txt")
    table.append((f"fit, {len(labels) - 1} classes", "cosface", "", wall, peak))

    mine = [(link, g) for link, label, g in rows if label == args.enroll_class]
    enrolled, seen = [], set()
    for link, g in mine:  # one clip of each of the first source recordings
        if len(enrolled) < args.shots and g not in seen:
            enrolled.append(link)
            seen.add(g)
    rest = [link for link, g in mine if g not in seen]
    new_model = work / "enrolled.skops"
    _, wall, peak = _run(["enroll", str(model), "--label", args.enroll_class, *enrolled,
                          "--out", str(new_model)], work / "logs" / "enroll.txt")
    table.append((f"enroll {args.enroll_class} from {len(enrolled)} clips", "", "", wall, peak))
    text, wall, peak = _run(["predict", str(new_model), *rest], work / "logs" / "predict.txt")
    # the label column: the class name followed by the first "name=probability" (a name in
    # the probabilities is followed by "=", in a path by "/")
    label_col = re.compile(rf"(?:^|\s){re.escape(args.enroll_class)}\s+[^=\s][^=]*=")
    hits = sum(1 for line in text.splitlines()[1:] if label_col.search(line))
    table.append((f"predict its {len(rest)} clips of other recordings", "",
                  f"{hits}/{len(rest)} labelled {args.enroll_class}", wall, peak))

    print("\n| step | model | result | wall s | peak MB |")
    print("|---|---|---|---:|---:|")
    for step, m, result, wall, peak in table:
        print(f"| {step} | {m} | {result} | {wall:.0f} | {peak:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
