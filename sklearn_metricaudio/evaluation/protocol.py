"""The papers' protocol over a data set: features once per kind, each model over the folds.

The fold driver behind ``metricaudio demo`` and ``metricaudio evaluate``:
:func:`compute_features` computes the features the models read once per kind (the
transformers are stateless, so this equals refitting a Pipeline per fold, many times faster)
and caches them on disk; :func:`evaluate_models` cross-validates every model over the data
set's own folds with :func:`~sklearn_metricaudio.evaluation.evaluate_folds`, the source
recordings (``fsID``) passed as groups.
"""

from __future__ import annotations

import math
import time

import numpy as np

from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch

from ..features import AudioLoader, LogMelPatches, MFCCStats, cached_transform
from .folds import evaluate_folds

__all__ = ["FEATURE_TITLES", "feature_pipeline", "compute_features", "compute_model_features",
           "evaluate_models", "input_duration", "model_deformations", "model_inputs"]

#: What each feature kind is, for printing.
FEATURE_TITLES = {"mfcc": "MFCC statistics", "logmel": "log-mel patches"}


def feature_pipeline(kind, *, sr=22050, duration=4.0, n_jobs=None, segment_seconds=1.0):
    """File names -> features of ``kind`` ("mfcc" or "logmel") at their defaults.

    ``segment_seconds``: the log-mel segments' length (the paper's input length, 1-5 s).

    >>> feature_pipeline("logmel", duration=5.0)[-1]
    LogMelPatches()
    >>> feature_pipeline("logmel", duration=6.0, segment_seconds=3.0)[-1]
    LogMelPatches(segment_seconds=3.0)
    """
    if kind not in FEATURE_TITLES:
        raise ValueError(f"unknown feature kind {kind!r}; expected one of {list(FEATURE_TITLES)}")
    features = (MFCCStats(sr=sr) if kind == "mfcc"
                else LogMelPatches(sr=sr, segment_seconds=segment_seconds))
    return make_pipeline(AudioLoader(sr=sr, duration=duration, n_jobs=n_jobs), features)


def compute_features(kinds, data, *, duration, sr=22050, cache_dir=None, n_jobs=None,
                     deformations=None, progress=True, segment_seconds=1.0):
    """The features of every clip, once per kind, cached on disk; the audio decoded once.

    Parameters
    ----------
    kinds : iterable of {"mfcc", "logmel"}
    data : Bunch
        A loaded data set (``filenames``).
    duration : float
        Seconds every clip is cut or padded to.
    sr : int, default=22050
    cache_dir : str, path or None
        Where features are cached (:func:`~sklearn_metricaudio.features.cached_transform`).
    n_jobs : int or None
        Files decoded in parallel.
    deformations : list of (str, Deformation) or None
        For the ``"logmel"`` kind, also the log-mel patches of every clip's deformed
        versions (e.g. :func:`~sklearn_metricaudio.augment.training_deformations`), as
        ``deformed`` (n_clips, n_variants, n_segments, n_mels, n_frames), float16, cached
        like the rest: what the margin model trains with.
    progress : bool, default=True
        A progress bar over the deformations.
    segment_seconds : float, default=1.0
        Length of the log-mel segments (:class:`LogMelPatches`); ``duration`` should
        hold a whole number of them.

    Returns
    -------
    dict
        Kind -> Bunch(``X`` (n_clips, ...), ``seconds`` (time to compute or load) and, for
        ``"logmel"`` with ``deformations``, ``deformed`` with its ``variant_names``,
        ``variant_deformations`` (each variant's deformation) and ``deformed_seconds``).
        The one feature builder of the fold loop, :func:`fit_pipeline`, the paper report and
        the augmentation study.
    """
    waveforms = []  # the clips, decoded at most once whatever the number of kinds

    def decoded(pipe):
        if not waveforms:
            waveforms.append(pipe[0].transform(data.filenames))
        return waveforms[0]

    out = {}
    for kind in dict.fromkeys(kinds):
        t0 = time.perf_counter()
        pipe = feature_pipeline(kind, sr=sr, duration=duration, n_jobs=n_jobs,
                                segment_seconds=segment_seconds)
        X = cached_transform(pipe, data.filenames, memory=cache_dir,
                             compute=lambda files, pipe=pipe: pipe[1].transform(decoded(pipe)))
        out[kind] = Bunch(X=X, seconds=time.perf_counter() - t0)
        if kind == "logmel" and deformations:
            from .augmentation import deformed_features

            D = deformed_features(decoded(pipe),
                                  pipe[1], deformations, memory=cache_dir, progress=progress)
            out[kind].deformed = D.X.astype(np.float16)  # half the memory; read per batch
            out[kind].variant_names = D.variant_names
            out[kind].variant_deformations = D.variant_deformations
            out[kind].deformed_seconds = D.seconds
            out[kind].seconds = time.perf_counter() - t0
    return out


def evaluate_models(models, features, data, *, n_jobs=None, progress=True):
    """Cross-validate each model over the data set's folds; yield the results one by one.

    Parameters
    ----------
    models : dict
        Name -> Bunch(kind, estimator, title), as :func:`paper_models` returns.
    features : dict
        Kind -> Bunch(X, ...), as :func:`compute_features` returns; a kind's ``deformed``
        versions go to the models that train with them (the margin model).
    data : Bunch
        ``target``, ``fold`` and, where the data set has it, ``fsID`` (passed as groups).
    n_jobs : int or None
        Folds in parallel.
    progress : bool
        Progress bars over the folds.

    Yields
    ------
    Bunch
        ``name``, ``title``, ``kind``, ``result`` (:func:`evaluate_folds`' Bunch) and
        ``wall`` (seconds for the folds).
    """
    groups = data.get("fsID")
    for name, model in models.items():
        t0 = time.perf_counter()
        f = features[model.kind]
        result = evaluate_folds(model.estimator, f.X, data.target, data.fold, groups=groups,
                                deformed=f.get("deformed"), n_jobs=n_jobs, progress=progress,
                                name=name)
        yield Bunch(name=name, title=model.title, kind=model.kind, result=result,
                    wall=time.perf_counter() - t0)


def input_duration(segment_seconds, clip_seconds):
    """Seconds each clip is cut or padded to for input length ``segment_seconds``.

    The clip's length rounded up to a whole number of segments, so that no part of a clip
    is dropped and every segment is whole (shorter clips are repeated to fill it).

    >>> [input_duration(L, 4.0) for L in (1, 2, 3, 4, 5)]
    [4.0, 4.0, 6.0, 4.0, 5.0]
    """
    L, T = float(segment_seconds), float(clip_seconds)
    return L * max(1, math.ceil(T / L - 1e-9))


def model_inputs(model, clip_seconds):
    """``(duration, segment_seconds)``: the clip length and log-mel segment a model reads.

    MFCC models and log-mel models with 1-s segments read the clips at ``clip_seconds``
    (a clip's last part shorter than a segment is left out, as it always was); a model
    with longer segments (``model.segment_seconds``, e.g. the ``paper`` preset's 5 s) reads
    clips padded to :func:`input_duration`, so a 4-s clip makes one 5-s segment.

    >>> from sklearn.utils import Bunch
    >>> model_inputs(Bunch(kind="logmel", segment_seconds=5.0), 4.0)
    (5.0, 5.0)
    >>> model_inputs(Bunch(kind="mfcc"), 4.0)
    (4.0, 1.0)
    """
    segment = float(model.get("segment_seconds") or 1.0) if model.kind == "logmel" else 1.0
    if segment == 1.0:
        return float(clip_seconds), 1.0
    return input_duration(segment, clip_seconds), segment


def compute_model_features(models, data, *, sr=22050, cache_dir=None, n_jobs=None,
                           progress=True):
    """:func:`compute_features` for the kinds ``models`` read, each at its own input length.

    ``models``: name -> Bunch, as :func:`~sklearn_metricaudio.evaluation.paper_models`
    returns; ``data.clip_seconds`` (default 4) is the clips' length, from which
    :func:`model_inputs` derives each kind's. Returns kind -> Bunch as
    :func:`compute_features` does (the audio decoded once per input length).
    """
    clip = float(data.get("clip_seconds") or 4.0)
    inputs = {}
    for model in models.values():
        inputs.setdefault(model_inputs(model, clip), []).append(model.kind)
    out = {}
    for (duration, segment), kinds in inputs.items():
        out.update(compute_features(kinds, data, duration=duration, sr=sr, cache_dir=cache_dir,
                                    n_jobs=n_jobs, deformations=model_deformations(models),
                                    progress=progress, segment_seconds=segment))
    return out


def model_deformations(models):
    """The deformations the models train with (the first model's that has any), or None."""
    return next((m.deformations for m in models.values() if m.get("deformations")), None)
