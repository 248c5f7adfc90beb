"""The papers' protocol over a data set: features once per kind, each model over the folds.

The fold driver behind ``metricaudio demo`` and ``metricaudio evaluate``:
:func:`compute_features` computes the features the models read once per kind (the
transformers are stateless, so this equals refitting a Pipeline per fold, many times faster)
and caches them on disk; :func:`evaluate_models` cross-validates every model over the data
set's own folds with :func:`~sklearn_metricaudio.evaluation.evaluate_folds`, the source
recordings (``fsID``) passed as groups.
"""

from __future__ import annotations

import time

import numpy as np

from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch

from ..features import AudioLoader, LogMelPatches, MFCCStats, cached_transform
from .folds import evaluate_folds

__all__ = ["FEATURE_TITLES", "feature_pipeline", "compute_features", "evaluate_models",
           "model_deformations"]

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


def model_deformations(models):
    """The deformations the models train with (the first model's that has any), or None."""
    return next((m.deformations for m in models.values() if m.get("deformations")), None)
