"""`metricaudio`: the command line. Thin: parses, calls the library, prints."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__

__all__ = ["main"]


def _data_home(path=None):
    if path:
        return Path(path).expanduser()
    return Path(os.environ.get("METRICAUDIO_DATA", "~/.cache/sklearn_metricaudio")).expanduser()


def _features(filenames, *, sr, duration, cache_dir, n_jobs, kind="mfcc"):
    """AudioLoader + MFCCStats (or LogMelPatches) over all clips once, cached with joblib.Memory.

    The transformers are stateless, so computing them before the fold loop
    gives the same result as a Pipeline refitted per fold, ten times faster.
    The cache is keyed on every file's size and mtime and on all parameters.
    """
    from joblib import Memory

    from .features import AudioLoader, LogMelPatches, MFCCStats

    loader = AudioLoader(sr=sr, duration=duration, n_jobs=n_jobs)
    feats = MFCCStats(sr=sr) if kind == "mfcc" else LogMelPatches(sr=sr)

    def compute(files, fingerprint, params):
        # fingerprint and params only key the cache: a changed file or setting misses it
        return feats.transform(loader.transform(list(files)))

    if cache_dir is not None:
        compute = Memory(str(cache_dir), verbose=0).cache(compute)
    files = [str(f) for f in filenames]
    fingerprint = [(st.st_size, st.st_mtime_ns) for st in map(os.stat, files)]
    params = (type(feats).__name__, loader.get_params(), feats.get_params(), __version__)
    return compute(files, fingerprint, params)


def _run_models(models, features, data, out_dir, n_jobs, label):
    """Cross-validate each model over the data set's folds; print the paper's tables.

    ``models`` maps a name to ``(feature kind, estimator, title)``; ``features``
    maps a feature kind to a callable that computes (or loads) that matrix.
    """
    from .evaluation import (PAPER_BALANCED_ACCURACY, evaluate_folds, format_confusion_table,
                             save_confusion_png, save_roc_png)

    out_dir = Path(out_dir)
    summary, cache = [], {}
    for name, (kind, model, title) in models.items():
        if kind not in cache:
            t0 = time.perf_counter()
            cache[kind] = features(kind)
            print(f"{_KIND_TITLE[kind]} {cache[kind].shape} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
        t0 = time.perf_counter()
        res = evaluate_folds(model, cache[kind], data.target, data.fold, n_jobs=n_jobs, name=name)
        title = f"{title} on {label}"
        print()
        print(format_confusion_table(res, data.target_names, title=title))
        print(f"(fit {res.fit_time:.1f} s, predict {res.predict_time:.1f} s, "
              f"wall {time.perf_counter() - t0:.1f} s)")
        cm = save_confusion_png(res, data.target_names, out_dir / f"confusion_{name}.png", title)
        roc = save_roc_png(res, data.target_names, out_dir / f"roc_{name}.png", title)
        print(f"figures: {cm}  {roc}", flush=True)
        # the paper's metric model is MobileNet + CosFace (Table III)
        paper = PAPER_BALANCED_ACCURACY.get("metric" if name == "cosface" else name)
        summary.append((name, res, paper))
    print()
    print(f"{'model':<12}{'balanced acc. %':>16}{'per-fold mean':>15}{'paper (US8K) %':>16}")
    for name, res, paper in summary:
        print(f"{name:<12}{100 * res.balanced_accuracy:>16.1f}"
              f"{100 * res.fold_scores.mean():>15.1f}"
              f"{paper if paper is not None else float('nan'):>16.1f}")
    return summary


_KIND_TITLE = {"mfcc": "MFCC statistics", "logmel": "log-mel patches"}
_BASELINES = ("gmm", "svm")
_LOSSES = ("softmax", "sphereface", "cosface", "arcface", "npair")


def _pick_models(spec, random_state, *, metric_params=None, default=("gmm", "svm", "cosface")):
    """Name -> (feature kind, estimator, title) for ``--model`` (a comma list, or all)."""
    from .evaluation import paper_baselines
    from .models import MarginEmbeddingClassifier

    wanted = list(default) if spec == "all" else [m.strip() for m in spec.split(",")]
    unknown = [m for m in wanted if m not in _BASELINES + _LOSSES]
    if unknown:
        raise SystemExit(f"metricaudio: unknown --model {unknown}; choose from "
                         f"{list(_BASELINES + _LOSSES)}, a comma list, or all")
    baselines = paper_baselines(random_state=random_state)
    if metric_params and "device" in metric_params and any(m in _LOSSES for m in wanted):
        from ._torch import resolve_device

        resolve_device(metric_params["device"])  # "cuda" without CUDA: fail before any model runs
    models = {}
    for m in wanted:
        if m in _BASELINES:
            models[m] = ("mfcc", baselines[m], f"MFCC + {m.upper()}")
        else:
            est = MarginEmbeddingClassifier(loss=m, random_state=random_state,
                                            **(metric_params or {}))
            est._validate_params()  # a bad --epochs / --width fails here, not after the baselines
            models[m] = ("logmel", est, f"log-mel + MobileNet ({m}, centroids)")
    return models


def _metric_params(args, **defaults):
    """MarginEmbeddingClassifier settings from the command line (None: the default)."""
    params = dict(defaults)
    for key in ("epochs", "width", "device"):
        if getattr(args, key, None) is not None:
            params[key] = getattr(args, key)
    return params


def cmd_demo(args):
    from .datasets import make_urban_sounds

    # The synthetic set draws a random gain per clip, so the metric model ignores the level
    # (level_norm): 10 folds, 71.6 % -> 75.9 % (benchmarks/RESULTS.md).
    models = _pick_models(args.model, args.random_state,
                          metric_params=_metric_params(args, level_norm=True))
    home = _data_home(args.data_home)
    root = home / f"urban_sounds_n{args.n_per_class}_rs{args.random_state}"
    t0 = time.perf_counter()
    print(f"synthetic data set: {root}", flush=True)
    data = make_urban_sounds(root, n_per_class=args.n_per_class, random_state=args.random_state)
    print(f"  {len(data.filenames)} clips, {len(data.target_names)} classes, "
          f"{len(set(data.fold))} folds ({time.perf_counter() - t0:.1f} s)", flush=True)

    def features(kind):
        return _features(data.filenames, sr=22050, duration=4.0, cache_dir=home / "features",
                         n_jobs=args.n_jobs, kind=kind)

    _run_models(models, features, data, args.out, args.n_jobs, "synthetic urban sounds")
    if args.no_ins:
        return 0
    t0 = time.perf_counter()
    print("\nIndex of non-stationarity (2 clips per class, first 1 s, 20 surrogates):")
    print(f"{'class':<18}{'mean max INS':>14}{'non-stationary':>16}")
    for name, max_ins, frac in _ins_by_class(data, random_state=args.random_state):
        print(f"{name:<18}{max_ins:>14.1f}{100 * frac:>15.0f}%")
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


def _load_real(root, subset):
    """UrbanSound8K (paper 8 classes), ESC-50 or ESC-10, recognised by layout; clip length."""
    from .datasets import load_esc50, load_urbansound8k
    from .datasets.esc50 import _CLASS_DIR

    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"--data {str(root)!r}: no such directory")
    us8k, esc50 = root / "metadata" / "UrbanSound8K.csv", root / "meta" / "esc50.csv"
    if us8k.is_file():
        if subset is not None:
            raise ValueError(f"--subset {subset} is for ESC copies; {root} is UrbanSound8K")
        return load_urbansound8k(root, classes="paper8"), "UrbanSound8K", 4.0
    if esc50.is_file():
        subset = subset or "esc50"
    elif any(p.is_dir() and _CLASS_DIR.match(p.name) for p in root.iterdir()):
        subset = subset or "esc10"  # load_esc50 refuses esc50 here, with the reason
    else:
        raise ValueError(
            f"--data {str(root)!r} is in no layout we know: looked for {us8k} (UrbanSound8K), "
            f"{esc50} (ESC-50) and class folders named like '001 - Dog bark' (ESC-10)")
    return load_esc50(root, subset=subset), subset.upper().replace("ESC", "ESC-"), 5.0


def cmd_evaluate(args):
    data, label, duration = _load_real(args.data, args.subset)
    if label != "UrbanSound8K" and args.salience != "foreground":
        raise ValueError(f"--salience is an UrbanSound8K column; {args.data} is {label}")
    if label == "UrbanSound8K" and args.salience != "foreground":
        from .datasets import load_urbansound8k

        salience = None if args.salience == "all" else args.salience
        data = load_urbansound8k(args.data, classes="paper8", salience=salience)
    # the paper's recipe on a real copy, on CUDA when there is one
    models = _pick_models(args.model, args.random_state,
                          metric_params=_metric_params(args, device="auto"))
    print(f"{label}: {len(data.filenames)} clips, {len(set(data.fold))} folds, "
          f"classes {list(data.target_names)}", flush=True)
    cache = _data_home(args.data_home) / "features" if not args.no_cache else None

    def features(kind):
        return _features(data.filenames, sr=22050, duration=duration, cache_dir=cache,
                         n_jobs=args.n_jobs, kind=kind)

    _run_models(models, features, data, args.out, args.n_jobs, label)
    return 0


def cmd_ins(args):
    from .features import AudioLoader, INSTransformer
    from .features.ins import format_ins_table, plot_ins

    loader = AudioLoader(sr=args.sr, duration=args.duration)
    ins = INSTransformer(sr=args.sr, n_surrogates=args.n_surrogates,
                         random_state=args.random_state)
    for k, path in enumerate(args.files):
        x = loader.transform([path])
        details = ins.transform_details(x)
        print(f"{path}:")
        print(format_ins_table(details))
        if args.plot:
            out = Path(args.plot)
            if len(args.files) > 1:
                out = out.with_name(f"{out.stem}_{k}{out.suffix}")
            print(f"figure: {plot_ins(x[0], args.sr, details, out)}")
    return 0


def cmd_predict(args):
    import joblib

    model = joblib.load(args.model)
    # a model fitted on a GPU predicts on this machine's CPU
    devices = {k: "cpu" for k in _deep_params(model) if k == "device" or k.endswith("__device")}
    if devices:
        model.set_params(**devices)
    files = list(args.files)
    labels = model.predict(files)
    if hasattr(model, "predict_proba"):
        scores, kind = model.predict_proba(files), "probability"
    else:
        scores, kind = model.decision_function(files), "score"
    scores = np.atleast_2d(scores)
    classes = getattr(model, "classes_", np.arange(scores.shape[1]))
    print(f"{'file':<40}{'label':>18}   {kind} per class")
    for f, label, row in zip(files, labels, scores):
        per = "  ".join(f"{c}={v:.3f}" for c, v in zip(classes, row))
        print(f"{str(f)[-40:]:<40}{str(label):>18}   {per}")
    return 0


def _deep_params(model):
    try:
        return model.get_params(deep=True)
    except Exception:  # not a scikit-learn estimator
        return {}


def _ins_by_class(data, per_class=2, seconds=1.0, n_surrogates=20, random_state=0):
    """Mean max-INS per class on a few short excerpts (the INS is costly: 50 FFT passes)."""
    from .features import AudioLoader, INSTransformer

    rows = []
    ins = INSTransformer(n_surrogates=n_surrogates, random_state=random_state)
    for k, name in enumerate(data.target_names):
        idx = np.flatnonzero(data.target == k)[:per_class]
        X = AudioLoader(duration=seconds).transform([data.data[i] for i in idx])
        d = ins.transform_details(X)
        rows.append((name, float(np.mean(d.max_ins)), float(np.mean(d.is_nonstationary))))
    return rows


def build_parser():
    p = argparse.ArgumentParser(prog="metricaudio", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--model", default="all",
                        help="gmm, svm, or a margin loss (softmax, sphereface, cosface, arcface, "
                             "npair); a comma list; all = gmm,svm,cosface")
        sp.add_argument("--epochs", type=int, default=None, help="margin model: training epochs")
        sp.add_argument("--width", type=float, default=None, help="margin model: MobileNet width")
        sp.add_argument("--device", default=None, choices=["cpu", "cuda", "auto"],
                        help="margin model: torch device (demo: cpu, evaluate: auto)")
        sp.add_argument("--out", default="metricaudio_output", help="folder for the PNG figures")
        sp.add_argument("--n-jobs", type=int, default=2, help="parallel folds / decoders")
        sp.add_argument("--random-state", type=int, default=0)
        sp.add_argument("--data-home", default=None,
                        help="cache folder (default $METRICAUDIO_DATA or ~/.cache/sklearn_metricaudio)")

    d = sub.add_parser("demo", help="baselines and the metric model on the synthetic data set")
    d.add_argument("--n-per-class", type=int, default=40, help="synthetic clips per class")
    d.add_argument("--no-ins", action="store_true", help="skip the INS table")
    common(d)
    d.set_defaults(func=cmd_demo)

    e = sub.add_parser("evaluate", help="the paper's protocol on a real copy: UrbanSound8K, "
                                        "ESC-50 or ESC-10 (recognised by layout)")
    e.add_argument("--data", required=True,
                   help="UrbanSound8K root (metadata/, audio/), ESC-50 root (meta/, audio/) or "
                        "ESC-10 root (NNN - Name/ folders)")
    e.add_argument("--subset", default=None, choices=["esc50", "esc10"],
                   help="with an ESC-50 copy: all 50 classes or the ESC-10 subset")
    e.add_argument("--salience", default="foreground", choices=["foreground", "background", "all"])
    e.add_argument("--no-cache", action="store_true", help="do not cache features on disk")
    common(e)
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="label audio files with a saved (joblib) pipeline")
    pr.add_argument("model", help="a joblib file holding a fitted pipeline that takes file paths")
    pr.add_argument("files", nargs="+", help="audio files (wav, flac, ogg)")
    pr.set_defaults(func=cmd_predict)

    i = sub.add_parser("ins", help="index of non-stationarity of audio files (paper Fig. 1)")
    i.add_argument("files", nargs="+", help="audio files (wav, flac, ogg)")
    i.add_argument("--plot", default=None, help="PNG: spectrogram and INS against scale")
    i.add_argument("--sr", type=int, default=22050)
    i.add_argument("--duration", type=float, default=4.0, help="seconds analysed per file")
    i.add_argument("--n-surrogates", type=int, default=50)
    i.add_argument("--random-state", type=int, default=0)
    i.set_defaults(func=cmd_ins)
    return p


def main(argv=None):
    """Entry point of the ``metricaudio`` console script."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            # EM on frame subsets sometimes stops at max_iter; the tables show the outcome.
            warnings.simplefilter("ignore", ConvergenceWarning)
            return args.func(args)
    except (OSError, ValueError, RuntimeError) as exc:  # bad paths, layouts, files, devices
        print(f"metricaudio: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
