"""`metricaudio`: the command line. Thin: parses, calls the library, prints.

Errors in what the user gave (a path, a layout, an option, a device, a missing
plotting library, a file that cannot be decoded) are reported in one line with
exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path


import numpy as np

from . import __version__
from ._io import AudioDecodeError

__all__ = ["main", "build_parser"]


class _InputError(Exception):
    """A problem with the user's input, reported in one line."""


@contextlib.contextmanager
def _checking_input():
    """Turn the errors raised while checking the user's input into one-line reports."""
    try:
        yield
    except (ValueError, OSError, RuntimeError, ImportError) as exc:
        raise _InputError(str(exc)) from exc


def _data_home(path=None):
    from .datasets import get_data_home

    return get_data_home(path)


def _margin_params(args, **defaults):
    """MarginEmbeddingClassifier settings from the command line (None: the default)."""
    params = dict(defaults)
    for key in ("epochs", "width", "device"):
        if getattr(args, key, None) is not None:
            params[key] = getattr(args, key)
    if getattr(args, "rejection_layer", None) is not None:
        params["rejection_layer"] = _rejection_layer(args.rejection_layer)
    return params


def _rejection_layer(value):
    """``--rejection-layer``: ``embedding``, a block number ``K`` or ``embedding+K``, as the
    margin model's ``rejection_layer`` (``"embedding"``, ``K`` or ``("embedding", K)``)."""
    import re

    from .models.margin import N_BLOCKS

    text = re.sub(r"\s+", "", value.lower())
    if text == "embedding":
        return "embedding"
    match = re.fullmatch(r"(embedding\+)?([0-9]+)", text)
    if match and 1 <= int(match[2]) <= N_BLOCKS:
        return ("embedding", int(match[2])) if match[1] else int(match[2])
    raise ValueError(f"--rejection-layer {value!r}: give embedding, a block number K in "
                     f"1..{N_BLOCKS} (e.g. 9) or embedding+K (both distances summed, e.g. "
                     "embedding+9)")


def _true_accept(value):
    """``--true-accept``: a share in (0, 1], checked before any work."""
    if not 0 < value <= 1:
        raise ValueError(f"--true-accept {value:g}: give the share of known clips to accept, "
                         "in (0, 1] (e.g. 0.95)")
    return value


def _layer_words(final):
    """The distance the rejection of the model's last step ``final`` measures, in words."""
    layer = getattr(final, "rejection_layer", "embedding")
    if isinstance(layer, (tuple, list)):
        block = next(part for part in layer if part != "embedding")
        return f"the embedding's and block {block}'s distances summed"
    return "the embedding's distance" if layer == "embedding" else f"block {layer}'s distance"


def _run(models, data, *, cache_dir, n_jobs, out_dir, label):
    """Features (printed as they are ready), then each model's table as it finishes, its
    figures, and the summary."""
    from .evaluation import (FEATURE_TITLES, PAPER_BALANCED_ACCURACY, compute_model_features,
                             evaluate_models, format_confusion_table, save_confusion_png,
                             save_roc_png)

    features = compute_model_features(models, data, cache_dir=cache_dir, n_jobs=n_jobs)
    for kind, f in features.items():
        extra = f", deformed versions {f.deformed.shape}" if "deformed" in f else ""
        print(f"{FEATURE_TITLES[kind]} {f.X.shape}{extra} ({f.seconds:.1f} s)", flush=True)
    out_dir = Path(out_dir)
    summary = []
    for run in evaluate_models(models, features, data, n_jobs=n_jobs):
        res, title = run.result, f"{run.title} on {label}"
        print()
        print(format_confusion_table(res, data.target_names, title=title))
        print(f"(fit {res.fit_time:.1f} s, predict {res.predict_time:.1f} s, "
              f"wall {run.wall:.1f} s)")
        cm = save_confusion_png(res, data.target_names, out_dir / f"confusion_{run.name}.png",
                                title)
        roc = save_roc_png(res, data.target_names, out_dir / f"roc_{run.name}.png", title)
        print(f"figures: {cm}  {roc}", flush=True)
        summary.append((run.name, res, PAPER_BALANCED_ACCURACY.get(run.name)))
    print()
    print(f"{'model':<12}{'balanced acc. %':>16}{'per-fold mean':>15}{'paper (US8K) %':>16}")
    for name, res, paper in summary:
        print(f"{name:<12}{100 * res.balanced_accuracy:>16.1f}"
              f"{100 * res.fold_scores.mean():>15.1f}"
              f"{paper if paper is not None else float('nan'):>16.1f}")


def cmd_demo(args):
    from .datasets import make_urban_sounds
    from .evaluation import check_figures, ins_by_class, paper_models

    with _checking_input():
        # the synthetic set draws a random gain per clip, so the metric model ignores the level
        # (level_norm; benchmarks/RESULTS.md)
        models = paper_models(args.model, random_state=args.random_state, preset=args.preset,
                              **_margin_params(args, level_norm=True))
        check_figures()
    home = _data_home(args.data_home)
    root = home / f"urban_sounds_n{args.n_per_class}_rs{args.random_state}"
    t0 = time.perf_counter()
    print(f"synthetic data set: {root}", flush=True)
    data = make_urban_sounds(root, n_per_class=args.n_per_class, random_state=args.random_state)
    print(f"  {len(data.filenames)} clips, {len(data.target_names)} classes, "
          f"{len(set(data.fold))} folds ({time.perf_counter() - t0:.1f} s)", flush=True)
    _run(models, data, cache_dir=home / "features", n_jobs=args.n_jobs,
         out_dir=args.out, label="synthetic urban sounds")
    if args.no_ins:
        return 0
    t0 = time.perf_counter()
    print("\nIndex of non-stationarity (2 clips per class, first 1 s, 20 surrogates):")
    print(f"{'class':<18}{'mean max INS':>14}{'non-stationary':>16}")
    for row in ins_by_class(data, random_state=args.random_state):
        print(f"{row.name:<18}{row.max_ins:>14.1f}{100 * row.nonstationary:>15.0f}%")
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


def _augment_plan(args):
    """``evaluate --augment``: the schemes, the model and the folds, checked up front."""
    from .evaluation import paper_models
    from .evaluation.augmentation import parse_schemes

    schemes = parse_schemes(args.augment)
    name = "cosface" if args.model == "all" else args.model
    (model,) = paper_models(name, random_state=args.random_state,
                            **_margin_params(args, device="auto")).values()
    if model.kind != "logmel":
        raise ValueError(f"--augment compares log-mel models; --model {name} reads MFCC "
                         "statistics (choose a margin loss, e.g. cosface)")
    try:
        folds = None if args.folds is None else [int(f) for f in args.folds.split(",")]
    except ValueError:
        raise ValueError(f"--folds must be a comma list of fold numbers, got {args.folds!r}"
                         ) from None
    return schemes, model, folds


def _augment(args, data, plan):
    """The second paper's comparison of augmentation schemes, its tables and box plot."""
    from .evaluation.augmentation import (augmentation_study, format_acceptance_table,
                                          format_augmentation_table, save_augmentation_png)

    schemes, model, folds = plan
    budget = args.budget or "steps"
    print(f"augmentation schemes {schemes}, model {model.title}, budget: equal "
          f"{budget}", flush=True)
    cache = None if args.no_cache else _data_home(args.data_home) / "features"
    # the input was checked before (check_study): an error from here on is a bug, with its
    # traceback
    res = augmentation_study(data, model.estimator, schemes=schemes,
                             duration=data.clip_seconds, folds=folds, cache_dir=cache,
                             budget=budget, device=args.device or "auto", n_jobs=args.n_jobs,
                             random_state=args.random_state, log=lambda m: print(m, flush=True))
    print()
    print(format_augmentation_table(res, data.target_names))
    for k, table in res.acceptance.items():
        print()
        print(format_acceptance_table(table, data.target_names,
                                      title=f"Acceptance ratio % ({k}-NN; Fig. 4 / Table 2)"))
    png = save_augmentation_png(res, Path(args.out) / "augmentation.png",
                                f"augmentation schemes on {data.name}")
    print(f"\nfigure: {png}   (wall {res.wall:.0f} s: features {res.feature_seconds:.0f} s, "
          f"deformed {res.deformed_seconds:.0f} s)")
    return 0


def _report(args, data, grid):
    """``evaluate --report DIR``: both papers' tables and figures as one folder."""
    from .evaluation.paper_report import paper_report

    cache = None if args.no_cache else _data_home(args.data_home)
    t0 = time.perf_counter()
    # the input was checked before (check_report): an error from here on is a bug, with its
    # traceback
    res = paper_report(data, args.report, grid=grid, preset=args.preset,
                       margin_params=_margin_params(args, device="auto"), cache_dir=cache,
                       n_jobs=args.n_jobs, random_state=args.random_state,
                       log=lambda m: print(m, flush=True))
    if "tables" in res:
        print()
        print(f"{'model':<12}{'balanced acc. %':>16}")
        for name, r in res.tables.items():
            print(f"{name:<12}{100 * r.balanced_accuracy:>16.1f}")
    print(f"\nreport written: {res.path / 'report.md'} (wall {time.perf_counter() - t0:.0f} s)")
    return 0


def cmd_evaluate(args):
    from .datasets import load_dataset, make_urban_sounds
    from .evaluation import check_figures, paper_models

    grid = None
    with _checking_input():
        if args.report:
            from .evaluation.paper_report import check_grid

            if args.augment or args.folds is not None or args.budget is not None:
                raise ValueError("--report runs the augmentation comparison itself (its size "
                                 "from --grid); --augment, --folds and --budget go without "
                                 "--report")
            if args.model != "all":
                raise ValueError("--report runs every model of both papers (gmm, svm and the "
                                 "four margins); --model goes without --report")
            grid = check_grid(args.grid or "tiny")
            # every margin setting checked before any work
            paper_models(args.model, random_state=args.random_state,
                         preset=args.preset or grid.preset, **_margin_params(args))
        elif args.grid is not None:
            raise ValueError("--grid goes with --report DIR")
        elif args.augment:
            plan = _augment_plan(args)
        elif args.folds is not None or args.budget is not None:
            raise ValueError("--folds and --budget go with --augment")
        else:
            # the paper's recipe on a real copy, on CUDA when there is one
            models = paper_models(args.model, random_state=args.random_state,
                                  preset=args.preset or "default",
                                  **_margin_params(args, device="auto"))
        check_figures()
        if args.data is None:
            # the synthetic default, as the demo makes it (a report: its grid's size)
            home = _data_home(args.data_home)
            size = dict(n_per_class=40, n_folds=10) if grid is None else grid.synthetic
            tag = "" if grid is None else f"_f{size['n_folds']}"
            data = make_urban_sounds(
                home / f"urban_sounds_n{size['n_per_class']}{tag}_rs{args.random_state}",
                random_state=args.random_state, **size)
            data.name = "synthetic urban sounds"
        else:
            data = load_dataset(args.data, subset=args.subset, salience=args.salience)
        if args.report:
            from .evaluation.paper_report import check_report

            check_report(data, args.report, grid=grid, preset=args.preset,
                         margin_params=_margin_params(args, device="auto"),
                         random_state=args.random_state)
        elif args.augment:
            from .evaluation.augmentation import check_study

            check_study(data, schemes=plan[0], folds=plan[2])
    print(f"{data.name}: {len(data.filenames)} clips, {len(set(data.fold))} folds, "
          f"classes {list(data.target_names)}", flush=True)
    if args.report:
        return _report(args, data, grid)
    if args.augment:
        return _augment(args, data, plan)
    cache = None if args.no_cache else _data_home(args.data_home) / "features"
    _run(models, data, cache_dir=cache, n_jobs=args.n_jobs,
         out_dir=args.out, label=data.name)
    return 0


def _check_model_out(path):
    """``--out`` of fit / enroll / calibrate: a .skops file in an existing folder, checked
    before any work."""
    out = Path(path)
    if out.suffix != ".skops":
        raise ValueError(f"--out {out}: model files are written in skops' safe format; "
                         "give a path ending in .skops")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: the folder '{out.parent}' does not exist")
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a directory, not a model file")
    return out


def _check_fit_rejection(args, model):
    """``fit --rejection-layer / --true-accept``: refused before any work for a model that
    cannot reject unknown sounds, or that holds no clips out to calibrate on."""
    est = model.estimator
    if args.rejection_layer is not None and not hasattr(est, "rejection_layer"):
        raise ValueError(f"--rejection-layer chooses the metric model's open-set distance; "
                         f"--model {args.model} has none (choose a margin loss, e.g. cosface)")
    if args.true_accept is not None:
        _true_accept(args.true_accept)
        if not callable(getattr(est, "calibrate", None)):
            raise ValueError(f"--true-accept calibrates the metric model's open-set "
                             f"rejection; --model {args.model} ({type(est).__name__}) cannot "
                             "reject unknown sounds (choose a margin loss, e.g. cosface)")
    if getattr(est, "validation_split", "none needed") is None:
        if args.true_accept is not None:
            raise ValueError(f"--true-accept calibrates on the clips fit holds out of "
                             f"training, and --model {args.model} holds none out "
                             "(validation_split=None)")
        if isinstance(est.rejection_layer, tuple):
            raise ValueError(f"--rejection-layer {args.rejection_layer} divides each distance "
                             f"by its median over the clips fit holds out of training, and "
                             f"--model {args.model} holds none out (validation_split=None)")


def _calibrate_on_validation(args, pipe, data):
    """``fit --true-accept``: the rejection calibrated on the clips fit held out of training,
    read through the pipeline's front end."""
    from .deploy import calibrate_files
    from .deploy.calibrate import _threshold_of

    held_out = list(np.asarray(data.filenames)[pipe[-1].validation_mask_])
    with _checking_input():
        if not held_out:
            raise ValueError("--true-accept: fit held no clip out of training to calibrate "
                             "on; nothing was saved")
        calibrate_files(pipe, held_out, true_accept=args.true_accept)
    print(f"open-set rejection calibrated on the {len(held_out)} validation clips held out "
          f"of training (true accept {args.true_accept:g}): threshold "
          f"{_threshold_of(pipe[-1]):.4g} on {_layer_words(pipe[-1])}; 'metricaudio predict' "
          "answers unknown beyond it", flush=True)


def cmd_fit(args):
    from .datasets import audio_files, load_dataset
    from .deploy import save_model
    from .evaluation import fit_pipeline, outlier_fit_params, paper_models

    with _checking_input():
        out = _check_model_out(args.out)
        if "," in args.model or args.model == "all":
            raise ValueError(f"--model {args.model}: fit trains one model (e.g. cosface, svm)")
        (name, model), = paper_models(args.model, random_state=args.random_state,
                                      preset=args.preset,
                                      **_margin_params(args, device="auto")).items()
        _check_fit_rejection(args, model)
        data = load_dataset(args.data, subset=args.subset, salience=args.salience)
    print(f"{data.name}: {len(data.filenames)} clips of {data.clip_seconds:g} s, classes "
          f"{list(data.target_names)}", flush=True)
    cache = None if args.no_cache else _data_home(args.data_home) / "features"
    t0 = time.perf_counter()
    outliers = None
    if args.outliers:
        with _checking_input():
            outlier_fit_params(model)   # refused before any work for a model without
            outliers = audio_files(args.outliers)
        print(f"outlier exposure: {len(outliers)} files of other sounds in {args.outliers}",
              flush=True)
    pipe = fit_pipeline(model, data, outliers=outliers, cache_dir=cache, n_jobs=args.n_jobs)
    print(f"{model.title}: trained on every clip in {pipe.fit_seconds_:.0f} s "
          f"({time.perf_counter() - t0:.0f} s with the features)", flush=True)
    if args.true_accept is not None:
        _calibrate_on_validation(args, pipe, data)
    save_model(pipe, out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB): label files with "
          f"'metricaudio predict {out} FILE...'")
    return 0


def cmd_enroll(args):
    from .deploy import enroll_files, load_model, save_model

    with _checking_input():
        out = _check_model_out(args.out or args.model)
        if not Path(args.model).is_file():
            raise FileNotFoundError(f"model file '{args.model}' not found")
        model = load_model(args.model, device="cpu")
        known = list(getattr(model, "classes_", []))
        label = args.label
        if known and all(isinstance(c, (int, np.integer)) for c in known):
            try:
                label = int(label)
            except ValueError:
                raise ValueError(f"--label {label!r}: this model's classes are numbers "
                                 f"{known}; give a number") from None
        try:
            enroll_files(model, args.files, label)
        except TypeError as exc:  # a model that cannot enroll: the user's choice of file
            raise ValueError(f"{args.model}: {exc}") from exc
    save_model(model, out)
    verb = "more clips of" if label in known else "a new class,"
    print(f"enrolled {verb} {label!r} from {len(args.files)} file(s); classes now "
          f"{[str(c) for c in model.classes_]}")
    print(f"saved {out}")
    return 0


def cmd_calibrate(args):
    from .deploy import calibrate_files, load_model, save_model
    from .deploy.calibrate import _threshold_of, _true_accept_of

    with _checking_input():
        out = _check_model_out(args.out or args.model)
        true_accept = _true_accept(args.true_accept)
        if not Path(args.model).is_file():
            raise FileNotFoundError(f"model file '{args.model}' not found")
        model = load_model(args.model, device="cpu")
        try:
            calibrate_files(model, args.files, true_accept=true_accept)
        except TypeError as exc:  # a model that cannot reject: the user's choice of file
            raise ValueError(f"{args.model}: {exc}") from exc
        # the files are read once: the share calibrate accepted, not a second prediction
        accepted = round(_true_accept_of(model[-1]) * len(args.files))
    save_model(model, out)
    print(f"open-set rejection calibrated on {len(args.files)} file(s) (true accept "
          f"{true_accept:g}): threshold {_threshold_of(model[-1]):.4g} on "
          f"{_layer_words(model[-1])}; it accepts {accepted} of the {len(args.files)} files, "
          "'metricaudio predict' answers unknown beyond it")
    print(f"saved {out}")
    return 0


def cmd_ins(args):
    from .evaluation import check_figures, format_ins_table, plot_ins
    from .features import AudioLoader, INSTransformer

    with _checking_input():
        loader = AudioLoader(sr=args.sr, duration=args.duration).fit()
        ins = INSTransformer(sr=args.sr, n_surrogates=args.n_surrogates,
                             random_state=args.random_state)
        if args.plot:
            check_figures()
    for k, path in enumerate(args.files):
        with _checking_input():
            x = loader.transform([path])
            ins.fit(x)  # the clip itself: long enough for every scale, not silent
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
    from .deploy import UntrustedModelError, load_model

    with _checking_input():
        if (args.stream is None) == (not args.files):
            raise ValueError("give audio files to label, or --stream FILE for one long "
                             "recording (not both)")
        if args.stream is None and (args.events or args.window or args.hop):
            raise ValueError("--events, --window and --hop go with --stream FILE")
        if not Path(args.model).is_file():
            raise FileNotFoundError(f"model file '{args.model}' not found")
        if args.trust_pickle:
            import joblib

            model = joblib.load(args.model)  # the user vouches for the file
            # a model fitted on a GPU predicts on this machine's CPU
            devices = {k: "cpu" for k in _deep_params(model)
                       if k == "device" or k.endswith("__device")}
            if devices:
                model.set_params(**devices)
        else:
            try:
                model = load_model(args.model, device="cpu")
            except UntrustedModelError as exc:
                raise UntrustedModelError(
                    f"{exc}. If you made this file yourself, pass --trust-pickle (a pickle "
                    "runs whatever code it holds when loaded)") from exc
    if args.stream is not None:
        return _predict_stream(args, model)
    from .deploy import predict_files

    with _checking_input():
        results = predict_files(model, args.files)
    kind = "probability" if hasattr(model, "predict_proba") else "score"
    print(f"{'file':<40}{'label':>18}   {kind} per class")
    failed = []
    for r in results:
        if r.error is not None:
            failed.append(r)
            print(f"{r.file[-40:]:<40}{'-':>18}   not read", flush=True)
            continue
        per = "  ".join(f"{c}={v:.3f}" for c, v in zip(model.classes_, r.scores))
        print(f"{r.file[-40:]:<40}{str(r.label):>18}   {per}", flush=True)
    for r in failed:
        print(f"metricaudio: error: {r.error}", file=sys.stderr)
    if failed:
        print(f"metricaudio: {len(failed)} of {len(results)} files could not be read",
              file=sys.stderr)
        return 2
    return 0


def _predict_stream(args, model):
    """``predict --stream FILE``: the events of a long recording, read block by block."""
    from .deploy import predict_stream, stream_events, write_events_csv

    with _checking_input():
        stream = predict_stream(model, args.stream, window=args.window, hop=args.hop,
                                progress=True)
    windows, failure = [], None
    try:
        for w in stream:
            windows.append(w)
    except AudioDecodeError as exc:  # keep what could be read, then report it
        failure = exc
    events = list(stream_events(windows))
    print(f"{'start (s)':>10}{'end (s)':>10}  {'label':<20}{'score':>8}")
    for e in events:
        print(f"{e.start:>10.2f}{e.end:>10.2f}  {str(e.label):<20}{e.score:>8.3f}")
    print(f"{len(windows)} windows, {len(events)} events")
    if args.events:
        print(f"events written: {write_events_csv(events, args.events)}")
    if failure is not None:
        raise failure
    return 0


def _deep_params(model):
    get_params = getattr(model, "get_params", None)
    return get_params(deep=True) if callable(get_params) else {}


def build_parser():
    """The ``metricaudio`` argument parser."""
    from .evaluation.models import MARGIN_PRESETS, MODEL_NAMES

    p = argparse.ArgumentParser(prog="metricaudio", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--model", default="all",
                        help=f"one of {', '.join(MODEL_NAMES)}, a comma list, or all "
                             "(= gmm,svm,cosface, the paper's three)")
        sp.add_argument("--epochs", type=int, default=None, help="margin model: training epochs")
        sp.add_argument("--width", type=float, default=None, help="margin model: MobileNet width")
        sp.add_argument("--device", default=None,
                        help="margin model: torch device, cpu, cuda, cuda:N or auto "
                             "(demo: cpu, evaluate: auto)")
        sp.add_argument("--out", default="metricaudio_output",
                        help="folder for the PNG figures (evaluate --report: they go in DIR)")
        sp.add_argument("--n-jobs", type=int, default=2, help="parallel folds / decoders")
        sp.add_argument("--random-state", type=int, default=0)
        sp.add_argument("--data-home", default=None,
                        help="cache folder (default $METRICAUDIO_DATA or "
                             "~/.cache/sklearn_metricaudio)")

    d = sub.add_parser("demo", help="baselines and the metric model on the synthetic data set")
    d.add_argument("--n-per-class", type=int, default=40, help="synthetic clips per class")
    d.add_argument("--no-ins", action="store_true", help="skip the INS table")
    d.add_argument("--preset", default="fast", choices=sorted(MARGIN_PRESETS),
                   help="margin model settings (default: fast, the demo's CPU budget)")
    common(d)
    d.set_defaults(func=cmd_demo)

    e = sub.add_parser("evaluate", help="the papers' protocols on a real copy (UrbanSound8K, "
                                        "ESC-50 or ESC-10, recognised by layout) or the "
                                        "synthetic set")
    e.add_argument("--data", default=None,
                   help="your own recordings, a folder per class (root/<label>/*.wav) or a "
                        "CSV manifest (file,label[,fold][,group]); or an UrbanSound8K root "
                        "(metadata/, audio/), ESC-50 root (meta/, audio/) or ESC-10 root "
                        "(NNN - Name/ folders); default: the synthetic set")
    e.add_argument("--subset", default=None, choices=["esc50", "esc10"],
                   help="with an ESC-50 copy: all 50 classes or the ESC-10 subset")
    e.add_argument("--salience", default="foreground", choices=["foreground", "background", "all"])
    e.add_argument("--no-cache", action="store_true", help="do not cache features on disk")
    e.add_argument("--preset", default=None, choices=sorted(MARGIN_PRESETS),
                   help="margin model settings: default (trained with deformed clips) or fast "
                        "(half the steps, no deformations); default: default, with --report "
                        "the grid's")
    e.add_argument("--report", default=None, metavar="DIR",
                   help="write both papers' tables and figures (Markdown, PNG, CSV) to DIR: "
                        "Tables I-III, Figs. 3-6, the INS and Fig. 1, the augmentation "
                        "comparison; resumable (finished trainings are kept in the cache)")
    e.add_argument("--grid", default=None, choices=["tiny", "small", "paper"],
                   help="with --report: how much to run (tiny: minutes on a 2-core CPU; "
                        "paper: the paper's 2,000 trainings, for a GPU); default tiny")
    e.add_argument("--augment", default=None,
                   help="compare augmentation schemes (second paper, Fig. 1/2/4): a comma "
                        "list of none, brute, class, knn1, knn5")
    e.add_argument("--folds", default=None,
                   help="with --augment: test folds to evaluate, e.g. 1,2 (default: all)")
    e.add_argument("--budget", default=None, choices=["steps", "epochs"],
                   help="with --augment: hold gradient steps (default) or epochs fixed")
    common(e)
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="label audio files with a saved pipeline")
    pr.add_argument("model", help="a model file written by sklearn_metricaudio.deploy.save_model "
                                  "(a fitted pipeline that takes file paths)")
    pr.add_argument("--trust-pickle", action="store_true",
                    help="the model file is a pickle (joblib.dump) that you trust: loading a "
                         "pickle runs whatever code it holds, so only for files you made")
    pr.add_argument("files", nargs="*", help="audio files (wav, flac, ogg)")
    pr.add_argument("--stream", default=None, metavar="FILE",
                    help="label a long recording over time instead, read block by block: "
                         "per-window labels merged into events (start, end, label, score)")
    pr.add_argument("--events", default=None, metavar="CSV",
                    help="with --stream: write the events to this CSV file")
    pr.add_argument("--window", type=float, default=None,
                    help="with --stream: window length in seconds (default: the model's "
                         "clip length)")
    pr.add_argument("--hop", type=float, default=None,
                    help="with --stream: seconds between windows (default 1)")
    pr.set_defaults(func=cmd_predict)

    f = sub.add_parser("fit", help="train one model on all of a data set (a folder per class, "
                                   "a CSV manifest or a known layout) and save it")
    f.add_argument("--data", required=True,
                   help="a folder per class (root/<label>/*.wav), a CSV manifest "
                        "(file,label[,fold][,group]) or an UrbanSound8K / ESC-50 / ESC-10 root")
    f.add_argument("--out", required=True, help="the model file to write (.skops)")
    f.add_argument("--model", default="cosface",
                   help=f"one of {', '.join(MODEL_NAMES)} (default cosface, the metric model; "
                        "only it can enroll new classes later)")
    f.add_argument("--preset", default="default", choices=sorted(MARGIN_PRESETS),
                   help="margin model settings, as for evaluate")
    f.add_argument("--subset", default=None, choices=["esc50", "esc10"])
    f.add_argument("--salience", default="foreground",
                   choices=["foreground", "background", "all"])
    f.add_argument("--epochs", type=int, default=None, help="margin model: training epochs")
    f.add_argument("--width", type=float, default=None, help="margin model: MobileNet width")
    f.add_argument("--device", default=None, help="margin model: torch device (default auto)")
    f.add_argument("--outliers", default=None,
                   help="metric model: a folder of recordings of none of the classes (any "
                        "depth); the network learns to keep such sounds away from every class "
                        "(outlier exposure), for rejecting unknown sounds")
    f.add_argument("--rejection-layer", default=None, metavar="LAYER",
                   help="metric model: the distance its open-set rejection measures: "
                        "embedding (default), a block number K in 1..13 (e.g. 9) or "
                        "embedding+K (both distances, each divided by its median on the "
                        "validation clips, summed)")
    f.add_argument("--true-accept", type=float, default=None, metavar="SHARE",
                   help="metric model: after training, calibrate the open-set rejection on "
                        "the clips held out of training (validation), accepting this share "
                        "of them (e.g. 0.95); the saved model then answers 'unknown' for "
                        "sounds farther from every class")
    f.add_argument("--no-cache", action="store_true", help="do not cache features on disk")
    f.add_argument("--n-jobs", type=int, default=2, help="parallel decoders")
    f.add_argument("--random-state", type=int, default=0)
    f.add_argument("--data-home", default=None, help="cache folder, as for evaluate")
    f.set_defaults(func=cmd_fit)

    en = sub.add_parser("enroll", help="add a class to a saved metric model from a few clips")
    en.add_argument("model", help="a model file written by 'metricaudio fit' or save_model")
    en.add_argument("files", nargs="+", help="audio files of the class")
    en.add_argument("--label", required=True, help="the class's name")
    en.add_argument("--out", default=None,
                    help="where to save the enrolled model (.skops; default: replace MODEL, "
                         "atomically)")
    en.set_defaults(func=cmd_enroll)

    ca = sub.add_parser("calibrate", help="make a saved metric model answer 'unknown' for "
                                          "sounds of none of its classes: a threshold set "
                                          "on held-out clips of the known classes")
    ca.add_argument("model", help="a model file written by 'metricaudio fit' or save_model")
    ca.add_argument("files", nargs="+",
                    help="audio files of the known classes that the model was not trained on "
                         "(their labels are not needed)")
    ca.add_argument("--true-accept", type=float, default=0.95, metavar="SHARE",
                    help="share of the given files to accept (default 0.95); the threshold "
                         "is the distance within which that share lies")
    ca.add_argument("--out", default=None,
                    help="where to save the calibrated model (.skops; default: replace "
                         "MODEL, atomically)")
    ca.set_defaults(func=cmd_calibrate)

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
            warnings.filterwarnings("ignore", category=ConvergenceWarning,
                                    module="sklearn.mixture")
            return args.func(args)
    except (_InputError, AudioDecodeError, OSError) as exc:
        # the user's input (checked up front) or a file that cannot be read (found while
        # decoding): one line; any other exception is a bug and keeps its traceback
        print(f"metricaudio: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
