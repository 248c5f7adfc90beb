"""One report per paper: every table and figure, in a folder of Markdown, PNG and CSV.

:func:`paper_report` runs both papers' experiments on a data set and writes them as one folder
(``report.md`` with its CSV tables and PNG figures):

- Zucatelli & Barioni (``000``): Tables I-III (row-normalised confusion in %, balanced
  accuracy, per-class AUC) for MFCC + GMM, MFCC + SVM and the margin model, Figs. 4-6
  (one-vs-rest ROC), Fig. 3 (the four margins x input lengths over repeated seeds, box plots,
  with a Tukey HSD table of which differences are significant) and the INS table and Fig. 1
  for one clip per class;
- Lu, Duan & Zhang (``002``): the comparison of augmentation schemes (Fig. 1, Fig. 2,
  Table 2) of :mod:`~sklearn_metricaudio.evaluation.augmentation`.

How much is run is a *grid* (:data:`GRIDS`): ``"tiny"`` fits a 2-core CPU in minutes on the
synthetic set, ``"paper"`` is the paper's 2,000 trainings (4 margins x 5 input lengths x 10
seeds x 10 folds), for a GPU.

**Input length** (Fig. 3): the paper cuts every clip into non-overlapping segments of the
input length (1-5 s), embeds each and classifies the clip by its segments' mean centroid
distance. Here that is ``LogMelPatches(segment_seconds=L)``, with every clip cut or padded
(``AudioLoader(pad="repeat")``) to its data set's clip length rounded up to a whole number of
segments (:func:`input_duration`): 4-s clips give four 1-s, two 2-s, two 3-s (the clip
repeated to 6 s), one 4-s or one 5-s segment.

**Resumable and safe**: the features are cached with :class:`joblib.Memory`; every fold of
every model and every grid cell is stored as it finishes (:mod:`.store`, under a hash of the
estimator's settings, the data and the fold), so an interrupted run resumes where it stopped
and a changed setting recomputes only what depends on it; the folder is assembled beside its
destination and renamed into place only when complete. **Scale-out**: features, folds and
cells run through joblib (:func:`~sklearn_metricaudio.evaluation.store.run_jobs`), so
``with joblib.parallel_backend("dask"): paper_report(...)`` runs them on a Dask cluster.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.utils import Bunch

from .._io import atomic_directory
from ..features import code_hash, library_versions
from .models import PAPER_BALANCED_ACCURACY, paper_models
from .protocol import input_duration, model_deformations
from .display import check_figures, format_confusion_table, save_confusion_png, save_roc_png
from .folds import collect_folds, fold_jobs, per_class_auc
from .store import (Job, ResultStore, estimator_fingerprint, files_fingerprint, fingerprint,
                    run_jobs)

__all__ = ["GRIDS", "MARGINS", "PARTS", "paper_report", "check_report", "input_duration",
           "check_grid",
           "tukey_table", "write_report"]

#: The four margins of Fig. 3, in the paper's legend order.
MARGINS = ("softmax", "sphereface", "cosface", "arcface")
#: What a report holds; ``parts=`` takes a subset.
PARTS = ("tables", "fig3", "ins", "augmentation")

#: Grid sizes. ``lengths``: input lengths (s); ``seeds``: trainings per margin x length x
#: fold; ``folds``: test folds (the first ones; None: all; the others always train);
#: ``epochs``: margin models (None: the preset's); ``preset``: margin settings
#: (:data:`~sklearn_metricaudio.evaluation.MARGIN_PRESETS`); ``ins_seconds`` (None: the clip)
#: and ``ins_surrogates``: the INS; ``augment_schemes`` and ``augment_folds`` (test folds):
#: the second paper's comparison; ``synthetic``: the synthetic set's size when no data set
#: is given (``make_urban_sounds`` arguments).
GRIDS = {
    # ~5 min on a 2-core CPU: 4 x 2 x 2 x 2 = 32 trainings of 2 epochs on 48 clips
    "tiny": Bunch(lengths=(1.0, 2.0), seeds=2, folds=2, epochs=2, preset="fast",
                  ins_seconds=1.0, ins_surrogates=10, augment_schemes=("none", "brute", "knn5"),
                  augment_folds=1, synthetic=dict(n_per_class=8, n_folds=4)),
    # an hour or so on a CPU: 4 x 3 x 3 x 5 = 180 trainings
    "small": Bunch(lengths=(1.0, 2.0, 3.0), seeds=3, folds=5, epochs=10, preset="fast",
                   ins_seconds=2.0, ins_surrogates=20,
                   augment_schemes=("none", "brute", "class", "knn1", "knn5"), augment_folds=2,
                   synthetic=dict(n_per_class=20, n_folds=5)),
    # the paper: 4 x 5 x 10 x 10 = 2,000 trainings (SGD, lr 0.005, 20 epochs: preset fast
    # with 20 epochs), all folds; a GPU
    "paper": Bunch(lengths=(1.0, 2.0, 3.0, 4.0, 5.0), seeds=10, folds=None, epochs=20,
                   preset="fast", ins_seconds=None, ins_surrogates=50,
                   augment_schemes=("none", "brute", "class", "knn1", "knn5"),
                   augment_folds=None, synthetic=dict(n_per_class=40, n_folds=10)),
}


def check_grid(grid):
    """A grid by name (:data:`GRIDS`) or a mapping of its fields, checked.

    A mapping may give only some fields; the others come from ``"tiny"``.

    >>> check_grid("tiny").lengths
    (1.0, 2.0)
    >>> check_grid({"lengths": [3], "seeds": 1}).lengths
    (3.0,)
    """
    if isinstance(grid, str):
        if grid not in GRIDS:
            raise ValueError(f"unknown grid {grid!r}; choose from {list(GRIDS)}")
        return Bunch(**GRIDS[grid])
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a name from {list(GRIDS)} or a dict of its fields, got "
                        f"{type(grid).__name__}")
    unknown = sorted(set(grid) - set(GRIDS["tiny"]))
    if unknown:
        raise ValueError(f"unknown grid field(s) {unknown}; a grid has {list(GRIDS['tiny'])}")
    g = Bunch(**{**GRIDS["tiny"], **grid})
    try:
        g.lengths = tuple(float(v) for v in g.lengths)
    except (TypeError, ValueError):
        raise ValueError(f"grid lengths must be seconds (numbers), got {g.lengths!r}") from None
    if not g.lengths or any(not (0 < v <= 10) for v in g.lengths):
        raise ValueError(f"grid lengths must be seconds in (0, 10], got {g.lengths}")
    for name in ("seeds", "folds", "epochs", "augment_folds", "ins_surrogates"):
        value = g[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"grid {name} must be a positive int"
                             f"{'' if name in ('seeds', 'ins_surrogates') else ' or None'}, "
                             f"got {value!r}")
    for name in ("seeds", "ins_surrogates"):
        if not isinstance(g[name], int):
            raise ValueError(f"grid {name} must be a positive int, got {g[name]!r}")
    if g.ins_seconds is not None and (isinstance(g.ins_seconds, bool) or not isinstance(
            g.ins_seconds, (int, float)) or not g.ins_seconds > 0):
        raise ValueError(f"grid ins_seconds must be positive seconds or None, got "
                         f"{g.ins_seconds!r}")
    from .augmentation import parse_schemes

    # checked here, not after the trainings that come before the comparison
    try:
        g.augment_schemes = tuple(parse_schemes(g.augment_schemes))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"grid augment_schemes: {exc}") from None
    return g


# ---------------------------------------------------------------- jobs run by joblib workers
def _features_job(filenames, kind, duration, segment_seconds, sr, cache_dir, deformations):
    from .protocol import compute_features

    f = compute_features([kind], Bunch(filenames=filenames), duration=duration, sr=sr,
                         cache_dir=cache_dir, deformations=deformations, progress=False,
                         segment_seconds=segment_seconds)[kind]
    return f.X, f.get("deformed")


def _ins_job(filenames, sr, seconds, n_surrogates, random_state):
    from ..features import AudioLoader, INSTransformer

    waves = AudioLoader(sr=sr, duration=seconds).transform(filenames)
    details = INSTransformer(sr=sr, n_surrogates=n_surrogates,
                             random_state=random_state).transform_details(waves)
    return waves, details


# ---------------------------------------------------------------------------- the report
def check_report(data, path, *, grid="tiny", parts=PARTS, preset=None, margin_params=None,
                 random_state=0, sr=22050):
    """Every input check of :func:`paper_report`, before any work; the checked plan.

    What ``metricaudio evaluate --report`` runs first, so that a bad grid, part, preset,
    margin setting, report path or data set is reported in one line, while an error during
    the report's work keeps its traceback.

    Returns
    -------
    Bunch
        ``grid``, ``parts``, ``path``, ``preset``, ``params``, ``table_models``, ``cells``,
        ``y``, ``fold``, ``groups``, ``clip_seconds``, ``all_folds``, ``test_folds``,
        ``fold_eval``.

    Raises
    ------
    ValueError
        What :func:`paper_report` raises before any work.
    """
    g = check_grid(grid)
    parts = [parts] if isinstance(parts, str) else list(parts)
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ValueError(f"unknown report part(s) {bad}; parts must be a non-empty subset of "
                         f"{list(PARTS)}")
    path = Path(path)
    if path.exists() and not (path.is_dir() and (path / "report.md").is_file()):
        raise ValueError(f"report path '{path}' exists and is not a report folder (no "
                         "report.md): give a new folder or an earlier report's")
    missing = [k for k in ("filenames", "target", "target_names", "fold") if k not in data]
    if missing:
        raise ValueError(f"data must be a loaded data set (a Bunch with filenames, target, "
                         f"target_names and fold); it lacks {missing}")
    check_figures()
    preset = preset or g.preset
    params = dict(margin_params or {})
    if g.epochs is not None:
        params.setdefault("epochs", g.epochs)
    # every model built (and its settings checked) before any work
    table_models = paper_models("all", random_state=random_state, preset=preset, sr=sr,
                                **params)
    cells = {(m, L, s): paper_models(m, random_state=random_state + s, preset=preset, sr=sr,
                                     **params)[m]
             for m in MARGINS for L in g.lengths for s in range(g.seeds)}
    y = np.asarray(data.target)
    fold = np.asarray(data.fold)
    groups = None if data.get("fsID") is None else np.asarray(data.fsID)
    clip_seconds = float(data.get("clip_seconds") or 4.0)
    all_folds = sorted(int(f) for f in np.unique(fold) if f >= 0)
    test_folds = all_folds if g.folds is None else all_folds[:g.folds]
    # clips of the other folds train in every split and are never tested
    fold_eval = np.where(np.isin(fold, test_folds), fold, -1)
    if len(test_folds) < 1 or len(all_folds) < 2:
        raise ValueError(f"the report needs a data set with at least 2 folds, got {all_folds}")
    return Bunch(grid=g, parts=parts, path=path, preset=preset, params=params,
                 table_models=table_models, cells=cells, y=y, fold=fold, groups=groups,
                 clip_seconds=clip_seconds, all_folds=all_folds, test_folds=test_folds,
                 fold_eval=fold_eval)


def paper_report(data, path, *, grid="tiny", parts=PARTS, preset=None, margin_params=None,
                 cache_dir=None, n_jobs=None, progress=True, random_state=0, sr=22050,
                 log=print):
    """Run both papers' experiments on ``data`` and write the report folder ``path``.

    Parameters
    ----------
    data : Bunch
        A loaded data set (:func:`~sklearn_metricaudio.load_dataset`,
        :func:`~sklearn_metricaudio.make_urban_sounds` with a ``root``): ``filenames``,
        ``target``, ``target_names``, ``fold`` and, where it has them, ``fsID`` (source
        recordings, the margin model's validation groups), ``clip_seconds`` (default 4)
        and ``name``.
    path : str or path-like
        The report folder. Written only when complete (assembled beside it, then renamed);
        an earlier report there is replaced, any other existing path is refused.
    grid : str or dict, default="tiny"
        A name from :data:`GRIDS` or a dict of grid fields (:func:`check_grid`).
    parts : sequence of str, default=PARTS
        Which parts to run and write: ``"tables"`` (Tables I-III, Figs. 4-6), ``"fig3"``,
        ``"ins"``, ``"augmentation"``.
    preset : str or None
        Margin model preset; None: the grid's.
    margin_params : dict or None
        Margin model settings over the preset's and the grid's epochs (``epochs``,
        ``width``, ``device``, ...).
    cache_dir : str, path or None
        Features are cached in ``cache_dir/features`` (:class:`joblib.Memory`) and finished
        folds and grid cells stored in ``cache_dir/results``; None: nothing is cached and an
        interrupted run starts again from scratch.
    n_jobs : int or None
        Features, folds and cells in parallel (joblib, under the active backend).
    progress : bool, default=True
        Progress bars with the time left.
    random_state : int, default=0
        Seed of the models; Fig. 3's repetitions use ``random_state + 0, 1, ...``.
    sr : int, default=22050
    log : callable
        Where progress lines go.

    Returns
    -------
    Bunch
        ``path``, ``tables`` (model name -> :func:`evaluate_folds`-like Bunch), ``fig3``
        (Bunch(rows: one per training, tukey: :func:`tukey_table`, results: (margin,
        input length, seed) -> :func:`evaluate_folds`-like Bunch)), ``ins``,
        ``augmentation``, ``computed`` and ``loaded``
        (number of fold/cell jobs run and found stored), ``seconds``.

    Raises
    ------
    ValueError
        A bad grid, part, preset or margin setting, or a ``path`` that exists and is no
        report (checked before any work).
    """
    t_start = time.perf_counter()
    plan = check_report(data, path, grid=grid, parts=parts, preset=preset,
                        margin_params=margin_params, random_state=random_state, sr=sr)
    g, parts, path, preset, params = plan.grid, plan.parts, plan.path, plan.preset, plan.params
    table_models, cells = plan.table_models, plan.cells
    y, fold, groups = plan.y, plan.fold, plan.groups
    clip_seconds, all_folds, test_folds, fold_eval = (plan.clip_seconds, plan.all_folds,
                                                      plan.test_folds, plan.fold_eval)
    feature_cache = None if cache_dir is None else str(Path(cache_dir) / "features")
    store = ResultStore(None if cache_dir is None else Path(cache_dir) / "results")
    filenames = [os.fsdecode(f) for f in data.filenames]
    files_key = files_fingerprint(filenames)
    out = Bunch(path=path, grid=g, parts=parts, data_name=str(data.get("name", "data set")),
                target_names=list(data.target_names), test_folds=test_folds,
                clip_seconds=clip_seconds, preset=preset, params=params, computed=0, loaded=0)

    # ---- features: one job per kind x input length, cached with joblib.Memory
    deformations = model_deformations({**table_models, **cells})
    # what the features depend on besides the files and their settings: the feature and
    # deformation code, the protocol (feature_pipeline, compute_features), the libraries
    # and the deformations' settings (the fold keys stand for the features by this, not by
    # their content, which may differ in the last bits when recomputed on another machine)
    feature_code = (code_hash("features", files=("_io.py", "_torch.py",
                                                 "evaluation/protocol.py")),
                    library_versions())
    deformation_code = None if deformations is None else (code_hash("augment"),
                                                          fingerprint(list(deformations)))
    want = {}
    if "tables" in parts:
        want[("mfcc", clip_seconds, 1.0)] = None
        want[("logmel", input_duration(1.0, clip_seconds), 1.0)] = None
    if "fig3" in parts:
        for L in g.lengths:
            want[("logmel", input_duration(L, clip_seconds), L)] = None
    if want:
        log(f"features: {len(want)} kind x input length(s)")
        jobs = [Job(fingerprint(k), _features_job, filenames, k[0], k[1], k[2], sr,
                    feature_cache, deformations if k[0] == "logmel" else None) for k in want]
        for k, (X, D) in zip(want, run_jobs(jobs, None, n_jobs=n_jobs, progress=progress,
                                            desc="features")):
            want[k] = Bunch(X=X, deformed=D,
                            key=fingerprint(files_key, k, sr, X.shape, y, groups,
                                            None if D is None else D.shape,
                                            feature_code,
                                            deformation_code if D is not None else None))

    # ---- folds (Tables I-III) and grid cells (Fig. 3): one list of jobs, stored as they end
    runs = {}
    if "tables" in parts:
        for name, m in table_models.items():
            f = want[("mfcc", clip_seconds, 1.0)] if m.kind == "mfcc" else \
                want[("logmel", input_duration(1.0, clip_seconds), 1.0)]
            runs[("table", name)] = (m.estimator, f)
    if "fig3" in parts:
        for (m, L, s), model in cells.items():
            runs[("cell", m, L, s)] = (model.estimator, want[("logmel",
                                                              input_duration(L, clip_seconds), L)])
    if runs:
        jobs, owner = [], []
        for key, (est, f) in runs.items():
            js = fold_jobs(est, f.X, y, fold_eval, groups=groups, deformed=f.deformed,
                           data_key=f.key)
            jobs += js
            owner += [key] * len(js)
        unique = {j.key for j in jobs}
        stored = sum(k in store for k in unique)
        log(f"folds and grid cells: {len(unique)} trainings ({stored} stored, "
            f"{len(unique) - stored} to run)")
        results = run_jobs(jobs, store, n_jobs=n_jobs, progress=progress,
                           desc="Tables I-III and Fig. 3 trainings")
        out.computed, out.loaded = len(unique) - stored, stored
        per = {}
        for key, res in zip(owner, results):
            per.setdefault(key, []).append(res)
        if "tables" in parts:
            out.tables = Bunch()
            for name, m in table_models.items():
                r = collect_folds(per[("table", name)], y)
                r.title = m.title
                out.tables[name] = r
        if "fig3" in parts:
            rows = []
            for (m, L, s) in cells:
                for res in per[("cell", m, L, s)]:
                    test = res[0]
                    rows.append(Bunch(margin=m, input_seconds=L, seed=random_state + s,
                                      fold=int(fold[test[0]]),
                                      balanced_accuracy=float(
                                          balanced_accuracy_score(y[test], res[1]))))
            out.fig3 = Bunch(rows=rows, tukey=tukey_table(rows),
                             results={(m, L, random_state + s): collect_folds(
                                 per[("cell", m, L, s)], y) for (m, L, s) in cells})

    # ---- INS of one clip per class (Fig. 1)
    if "ins" in parts:
        first = [int(np.flatnonzero(y == k)[0]) for k in np.unique(y)]
        seconds = g.ins_seconds or clip_seconds
        files = [filenames[i] for i in first]
        key = fingerprint("ins", files_fingerprint(files), sr, seconds, g.ins_surrogates,
                          random_state, code_hash("features", files=("_io.py", "_torch.py")),
                          library_versions())
        (waves, details), = run_jobs([Job(key, _ins_job, files, sr, seconds,
                                          g.ins_surrogates, random_state)], store,
                                     progress=False)
        out.ins = Bunch(index=first, classes=[data.target_names[y[i]] for i in first],
                        files=files, waves=waves, details=details, sr=sr, seconds=seconds)

    # ---- the second paper: augmentation schemes
    if "augmentation" in parts:
        out.augmentation = _augmentation(data, g, preset, params, fold, all_folds, files_key,
                                         y, groups, clip_seconds, sr, feature_cache, store,
                                         n_jobs, progress, random_state, log)

    write_report(out)
    out.seconds = time.perf_counter() - t_start
    log(f"report: {path} ({out.computed} trainings run, {out.loaded} loaded)")
    return out


def _augmentation_job(data, model, schemes, duration, sr, folds, cache_dir, device, n_jobs,
                      progress, random_state):
    from .augmentation import augmentation_study

    return augmentation_study(data, model, schemes=schemes, duration=duration, sr=sr,
                              folds=folds,
                              cache_dir=cache_dir, budget="steps", device=device,
                              n_jobs=n_jobs, progress=progress, random_state=random_state,
                              log=lambda m: None)


def _augmentation(data, g, preset, params, fold, all_folds, files_key, y, groups,
                  clip_seconds, sr, feature_cache, store, n_jobs, progress, random_state, log):
    (model,) = paper_models("cosface", random_state=random_state, preset=preset, sr=sr,
                            **params).values()
    folds = all_folds if g.augment_folds is None else all_folds[:g.augment_folds]
    device = params.get("device", "cpu")
    schemes = list(g.augment_schemes)
    note = ""
    if len(all_folds) < 3 and any(s.startswith("knn") for s in schemes):
        # Algorithm 1 needs a test fold, a held-out partition and folds to learn from
        note = (f"the kNN schemes need at least 3 folds; the data set has {len(all_folds)}: "
                "left out")
        schemes = [s for s in schemes if not s.startswith("knn")] or ["none"]
        log(note)
    key = fingerprint("augmentation", files_key, y, fold, groups, clip_seconds, sr,
                      estimator_fingerprint(model.estimator), schemes, folds,
                      device, random_state,
                      code_hash("augment", "evaluation", "features",
                                files=("_io.py", "_torch.py")), library_versions())
    stored = key in store
    log(f"augmentation schemes {schemes} on test folds {folds}"
        + (" (stored)" if stored else ""))
    d = Bunch(filenames=list(data.filenames), target=y, fold=fold, fsID=groups)
    (res,) = run_jobs([Job(key, _augmentation_job, d, model.estimator, schemes,
                           clip_seconds, sr, folds, feature_cache, device, n_jobs, progress,
                           random_state)], store, n_jobs=1, progress=False)
    res.note = note
    return res


# ------------------------------------------------------------------------------ statistics
def tukey_table(rows, *, confidence_level=0.95):
    """Tukey's HSD over the Fig. 3 groups (margin x input length), every pair.

    Parameters
    ----------
    rows : list of Bunch or dict
        One per training: ``margin``, ``input_seconds``, ``balanced_accuracy``.
    confidence_level : float, default=0.95

    Returns
    -------
    Bunch
        ``groups`` (list of (margin, input_seconds)), ``samples`` (the balanced accuracies
        of each group, in the order of ``rows``), ``pairs`` (list of Bunch(a, b,
        mean_diff (a - b), p_value, ci_low, ci_high, significant)) from
        :func:`scipy.stats.tukey_hsd`; ``pairs`` is empty (and ``reason`` says why) when
        the test cannot run (fewer than two groups, a group of one training, or no
        variance at all).

    Examples
    --------
    >>> rows = [dict(margin=m, input_seconds=1.0, balanced_accuracy=a)
    ...         for m, a in [("cosface", .8), ("cosface", .82), ("softmax", .5),
    ...                      ("softmax", .52)]]
    >>> t = tukey_table(rows)
    >>> t.pairs[0].a, t.pairs[0].b, round(t.pairs[0].mean_diff, 2), t.pairs[0].significant
    (('cosface', 1.0), ('softmax', 1.0), 0.3, True)
    """
    from scipy.stats import tukey_hsd

    groups = list(dict.fromkeys((r["margin"], float(r["input_seconds"])) for r in rows))
    samples = [np.array([r["balanced_accuracy"] for r in rows
                         if (r["margin"], float(r["input_seconds"])) == gr]) for gr in groups]
    out = Bunch(groups=groups, samples=samples, pairs=[], confidence_level=confidence_level,
                reason="")
    if len(groups) < 2:
        out.reason = "fewer than two groups"
    elif min(len(s) for s in samples) < 2:
        out.reason = "a group holds a single training"
    elif np.var(np.concatenate([s - s.mean() for s in samples])) == 0:
        out.reason = "no variance within the groups"
    if out.reason:
        return out
    res = tukey_hsd(*samples)
    ci = res.confidence_interval(confidence_level=confidence_level)
    alpha = 1 - confidence_level
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            p = float(res.pvalue[i, j])
            out.pairs.append(Bunch(a=groups[i], b=groups[j],
                                   mean_diff=float(res.statistic[i, j]), p_value=p,
                                   ci_low=float(ci.low[i, j]), ci_high=float(ci.high[i, j]),
                                   significant=bool(p < alpha)))
    return out


# ------------------------------------------------------------------------------- writing
_TABLE_NUMBERS = {"gmm": ("I", 4), "svm": ("II", 5), "cosface": ("III", 6)}


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path.name


def _pct(v):
    return f"{100 * v:.1f}"


def write_report(result):
    """Write :func:`paper_report`'s result as its folder (``result.path``), atomically.

    The folder is assembled in a temporary sibling and renamed into place when every file
    is written; an earlier report at that path is replaced then.
    """
    path = Path(result.path)
    with atomic_directory(path, replace=True) as tmp:
        md = _write_all(result, Path(tmp))
        (Path(tmp) / "report.md").write_text(md)
    return path


def _write_all(r, d):
    names = r.target_names
    g = r.grid
    md = [f"# Report: {r.data_name}", "",
          f"Test folds {r.test_folds} (the other folds always train); clips "
          f"{r.clip_seconds:g} s; margin models: preset `{r.preset}`"
          + (f", {', '.join(f'{k}={v}' for k, v in r.params.items())}" if r.params else "")
          + f". Grid: input lengths {list(g.lengths)} s, {g.seeds} seed(s).", ""]
    if "tables" in r:
        md += ["## Zucatelli & Barioni (SBrT 2022): Tables I-III, Figs. 4-6", ""]
        summary = []
        auc_rows = {}
        for name, res in r.tables.items():
            num, fig = _TABLE_NUMBERS.get(name, ("", 0))
            cm = confusion_matrix(res.y_true, res.y_pred, labels=res.classes,
                                  normalize="true")
            cls = [str(names[c]) for c in res.classes]
            auc = per_class_auc(res)
            auc_rows[name] = auc
            table_csv = _write_csv(d / f"table{num or '_' + name}_{name}.csv",
                                   ["true \\ predicted (%)", *cls, "AUC"],
                                   [[c, *(f"{100 * v:.2f}" for v in row), f"{a:.4f}"]
                                    for c, row, a in zip(cls, cm, auc)])
            cpng = save_confusion_png(res, names, d / f"table{num}_{name}_confusion.png",
                                      res.title).name
            rpng = save_roc_png(res, names, d / f"fig{fig}_roc_{name}.png", res.title).name
            md += [f"### Table {num}: {res.title}", "", "```",
                   format_confusion_table(res, names), "```", "",
                   f"CSV: [{table_csv}]({table_csv}); confusion: ![{cpng}]({cpng})", "",
                   f"Fig. {fig} (one-vs-rest ROC, per-class AUC): ![{rpng}]({rpng})", ""]
            paper = PAPER_BALANCED_ACCURACY.get(name)
            summary.append([name, res.title, f"{100 * res.balanced_accuracy:.2f}",
                            f"{100 * res.fold_scores.mean():.2f}",
                            f"{np.nanmean(auc):.4f}", "" if paper is None else f"{paper}"])
        s_csv = _write_csv(d / "balanced_accuracy.csv",
                           ["model", "title", "balanced_accuracy_%", "per_fold_mean_%",
                            "mean_auc", "paper_%"], summary)
        _write_csv(d / "auc.csv", ["class", *r.tables],
                   [[str(names[c]), *(f"{auc_rows[m][k]:.4f}" for m in r.tables)]
                    for k, c in enumerate(next(iter(r.tables.values())).classes)])
        md += ["| model | balanced accuracy % | per-fold mean % | mean AUC | paper (US8K) % |",
               "|---|---|---|---|---|"]
        md += [f"| {t} | {b} | {f} | {a} | {p or '-'} |" for _, t, b, f, a, p in summary]
        md += ["", f"CSV: [{s_csv}]({s_csv}), [auc.csv](auc.csv)", ""]
    if "fig3" in r:
        md += _write_fig3(r, d)
    if "ins" in r:
        md += _write_ins(r, d)
    if "augmentation" in r:
        md += _write_augmentation(r, d)
    return "\n".join(md) + "\n"


def _write_fig3(r, d):
    from .display import new_figure, save_figure

    rows, t = r.fig3.rows, r.fig3.tukey
    grid_csv = _write_csv(d / "fig3_grid.csv",
                          ["margin", "input_seconds", "seed", "fold", "balanced_accuracy"],
                          [[x.margin, f"{x.input_seconds:g}", x.seed, x.fold,
                            repr(x.balanced_accuracy)] for x in rows])
    tukey_csv = _write_csv(d / "fig3_tukey.csv",
                           ["margin_a", "input_seconds_a", "margin_b", "input_seconds_b",
                            "mean_diff", "p_value", "ci_low", "ci_high", "significant"],
                           [[p.a[0], f"{p.a[1]:g}", p.b[0], f"{p.b[1]:g}", repr(p.mean_diff),
                             repr(p.p_value), repr(p.ci_low), repr(p.ci_high),
                             str(p.significant)] for p in t.pairs])
    # box plots: input lengths along x, the four margins side by side (the paper's layout)
    lengths = list(dict.fromkeys(x.input_seconds for x in rows))
    margins = list(dict.fromkeys(x.margin for x in rows))
    fig, ax = new_figure((1.6 + 1.5 * len(lengths), 4.5))
    width = 0.8 / len(margins)
    colours = ["C0", "C1", "C2", "C3", "C4"]
    for k, m in enumerate(margins):
        data = [[100 * x.balanced_accuracy for x in rows
                 if x.margin == m and x.input_seconds == L] for L in lengths]
        pos = [i + (k - (len(margins) - 1) / 2) * width for i in range(len(lengths))]
        bp = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True,
                        manage_ticks=False)
        for box in bp["boxes"]:
            box.set_facecolor(colours[k % len(colours)])
            box.set_alpha(0.6)
        ax.plot([], [], "s", color=colours[k % len(colours)], label=m)
    ax.set_xticks(range(len(lengths)), [f"{L:g} s" for L in lengths])
    ax.set_xlabel("input length")
    ax.set_ylabel("balanced accuracy per training (%)")
    ax.set_title("Fig. 3: margins x input lengths")
    ax.legend(fontsize=8)
    png = save_figure(fig, d / "fig3_margins_lengths.png").name
    md = ["### Fig. 3: margins x input lengths", "",
          f"{len(rows)} trainings: {len(margins)} margins x {len(lengths)} input lengths x "
          f"{r.grid.seeds} seed(s) x {len(r.test_folds)} test fold(s); one balanced accuracy "
          "per training (seed x fold).", "", f"![{png}]({png})", "",
          "| margin | " + " | ".join(f"{L:g} s" for L in lengths) + " |",
          "|---|" + "---|" * len(lengths)]
    for m in margins:
        cells = []
        for L in lengths:
            v = [x.balanced_accuracy for x in rows if x.margin == m and x.input_seconds == L]
            cells.append(f"{100 * np.mean(v):.1f} +- {100 * np.std(v):.1f}")
        md.append(f"| {m} | " + " | ".join(cells) + " |")
    md += ["", f"Tukey HSD ({100 * t.confidence_level:g} % family-wise, "
           "`scipy.stats.tukey_hsd`) over the margin x length groups; pairs with the same "
           f"margin or the same length below, every pair in [{tukey_csv}]({tukey_csv}); "
           f"grid: [{grid_csv}]({grid_csv}).", ""]
    if not t.pairs:
        md += [f"(not computed: {t.reason})", ""]
    else:
        n_sig = sum(p.significant for p in t.pairs)
        md += [f"{n_sig} of {len(t.pairs)} differences significant.", "",
               f"| a | b | mean diff (points) | p | {100 * t.confidence_level:g} % CI "
               "| significant |",
               "|---|---|---|---|---|---|"]
        for p in t.pairs:
            if p.a[0] == p.b[0] or p.a[1] == p.b[1]:
                md.append(f"| {p.a[0]} {p.a[1]:g} s | {p.b[0]} {p.b[1]:g} s | "
                          f"{100 * p.mean_diff:+.1f} | {p.p_value:.3g} | "
                          f"[{100 * p.ci_low:+.1f}, {100 * p.ci_high:+.1f}] | "
                          f"{'yes' if p.significant else 'no'} |")
        md.append("")
    return md


def _write_ins(r, d):
    from .ins_report import format_ins_table, plot_ins

    ins = r.ins
    det = ins.details
    rows, md_rows, figs = [], [], []
    for k, (name, file) in enumerate(zip(ins.classes, ins.files)):
        for s in range(len(det.scales)):
            rows.append([name, Path(file).name, f"{det.scales[s]:.6g}",
                         f"{det.window_ms[s]:.2f}", repr(float(det.ins[k, s])),
                         repr(float(det.threshold[k, s])), str(bool(det.nonstationary[k, s]))])
        slug = "".join(c if c.isalnum() else "_" for c in str(name))
        png = plot_ins(ins.waves[k], ins.sr, det, d / f"fig1_ins_{slug}.png", index=k).name
        figs.append(f"![{png}]({png})")
        md_rows.append(f"| {name} | {Path(file).name} | {det.max_ins[k]:.2f} | "
                       f"{det.max_scale[k]:.3g} | {int(det.nonstationary[k].sum())}/"
                       f"{len(det.scales)} | "
                       f"{'non-stationary' if det.is_nonstationary[k] else 'stationary'} |")
    ins_csv = _write_csv(d / "ins.csv", ["class", "file", "scale", "T_h_ms", "INS",
                                         "threshold", "nonstationary"], rows)
    md = ["### INS and Fig. 1: one clip per class", "",
          f"First {ins.seconds:g} s of each class's first clip, "
          f"{len(det.theta_surrogates[0, 0])} surrogates; every scale in "
          f"[{ins_csv}]({ins_csv}).", "",
          "| class | clip | max INS | at scale | scales above threshold | verdict |",
          "|---|---|---|---|---|---|", *md_rows, ""]
    md += ["<details><summary>per-scale tables</summary>", ""]
    for k, name in enumerate(ins.classes):
        md += [f"{name}:", "```", format_ins_table(det, index=k), "```", ""]
    md += ["</details>", "", *figs, ""]
    return md


def _write_augmentation(r, d):
    from .augmentation import (format_acceptance_table, format_augmentation_table,
                               save_augmentation_png)

    a = r.augmentation
    names = r.target_names
    rows = [[s, repr(float(v.balanced_accuracy)), " ".join(repr(float(f)) for f in v.fold_scores),
             repr(float(v.deformed_fraction)), int(v.n_train.mean()), v.epochs[0],
             "" if v.steps is None else repr(v.steps)] for s, v in a.schemes.items()]
    aug_csv = _write_csv(d / "augmentation.csv", ["scheme", "balanced_accuracy", "fold_scores",
                                                  "deformed_fraction", "train_clips", "epochs",
                                                  "steps"], rows)
    png = save_augmentation_png(a, d / "augmentation.png", "augmentation schemes").name
    md = ["## Lu, Duan & Zhang: metric-learning based augmentation (Fig. 1, 2, 4 / Table 2)",
          "", f"Test folds {a.folds}; schemes {[s for s in a.schemes if ':' not in s]}"
          + (f" ({a.note})" if a.get("note") else "") + ".", "",
          "```", format_augmentation_table(a, names), "```", "", f"![{png}]({png})", "",
          f"CSV: [{aug_csv}]({aug_csv})", ""]
    for k, table in a.acceptance.items():
        acc_csv = _write_csv(d / f"acceptance_{k}nn.csv", ["class", *table.columns, "all"],
                             [[str(names[c]), *(repr(float(v)) for v in table.ratio[i]),
                               repr(float(table.by_class[i]))]
                              for i, c in enumerate(table.rows)])
        md += ["```", format_acceptance_table(table, names,
                                              title=f"Acceptance ratio % ({k}-NN; Table 2)"),
               "```", f"CSV: [{acc_csv}]({acc_csv})", ""]
    return md
