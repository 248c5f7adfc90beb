"""The deployable pipeline: one model of :func:`paper_models` trained on a whole data set as
the fold loop trains it, with its own front end, so that what ``metricaudio evaluate``
measured is what ``metricaudio fit`` saves and ``metricaudio predict`` loads."""

from __future__ import annotations

import time

import numpy as np
from sklearn.pipeline import Pipeline

from .._routing import clip_fit_params
from .protocol import compute_features, feature_pipeline, model_inputs

__all__ = ["fit_pipeline", "outlier_fit_params"]


def outlier_fit_params(model):
    """The ``fit`` keyword(s) through which ``model``'s estimator takes outlier sounds
    (``{"outliers"}`` for the margin models); a ValueError naming the model for one that
    takes none (the MFCC baselines).

    Examples
    --------
    >>> from sklearn_metricaudio.evaluation import outlier_fit_params, paper_models
    >>> outlier_fit_params(paper_models("cosface")["cosface"])
    {'outliers'}
    """
    keys = set(clip_fit_params(model.estimator, {"outliers": np.zeros(0)}))
    if not keys:
        raise ValueError(f"outliers: the {model.title} model does not train with outlier "
                         "sounds; only the metric (margin) models do")
    return keys


def fit_pipeline(model, data, *, outliers=None, sr=22050, cache_dir=None, n_jobs=None,
                 progress=True):
    """Train ``model`` on every clip of ``data``; return the pipeline from files to labels.

    The estimator is trained exactly as each fold of :func:`evaluate_models` trains it: on
    the features of :func:`compute_features` (cached, the audio decoded once), with the
    source recordings (``fsID``) as ``groups`` and, for a model that trains with deformed
    clips, their deformed versions. The returned pipeline is that front end
    (:func:`feature_pipeline`: an :class:`~sklearn_metricaudio.AudioLoader` cutting or
    padding every file to ``data.clip_seconds``, or to the model's longer input
    (:func:`~sklearn_metricaudio.evaluation.model_inputs`), then the features) followed by the trained
    estimator, labelled with the class names: it takes file names (or waveforms at ``sr``
    given to its later steps) and returns names from ``data.target_names``. Save it with
    :func:`~sklearn_metricaudio.deploy.save_model`.

    Parameters
    ----------
    model : Bunch
        One value of :func:`paper_models` (``kind``, ``estimator``, ``deformations``).
    data : Bunch
        A loaded data set (:func:`~sklearn_metricaudio.datasets.load_dataset`):
        ``filenames``, ``target``, ``target_names``, ``clip_seconds`` and, where it has
        them, ``fsID``.
    outliers : sequence of str or None, default=None
        Audio files of sounds of none of the classes (e.g.
        :func:`~sklearn_metricaudio.datasets.audio_files` of a folder): read by the same
        front end and given to the metric model's ``fit(outliers=...)`` (outlier exposure:
        the network learns to keep such sounds away from every class). Only for a model
        whose estimator takes them (the margin models).
    sr : int, default=22050
        The rate the front end resamples to (that of the model's deformations).
    cache_dir, n_jobs, progress
        As :func:`compute_features`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fitted; its ``fit_seconds_`` attribute holds the training time (features aside).

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_metricaudio import make_urban_sounds
    >>> from sklearn_metricaudio.evaluation import fit_pipeline, paper_models
    >>> tmp = tempfile.TemporaryDirectory()
    >>> data = make_urban_sounds(tmp.name, n_per_class=2, n_folds=2, sr=8000)
    >>> data.clip_seconds = 4.0
    >>> pipe = fit_pipeline(paper_models("svm")["svm"], data, sr=8000, progress=False)
    >>> [name for name, _ in pipe.steps]
    ['audioloader', 'mfccstats', 'segmentaggregateclassifier']
    >>> str(pipe.predict(data.filenames[:1])[0]) in data.target_names
    True
    >>> tmp.cleanup()
    """
    from sklearn.base import clone

    pool = {} if outliers is None else outlier_fit_params(model)
    duration, segment = model_inputs(model, float(data.get("clip_seconds") or 4.0))
    features = compute_features([model.kind], data, duration=duration, sr=sr,
                                cache_dir=cache_dir, n_jobs=n_jobs,
                                deformations=model.get("deformations"),
                                progress=progress, segment_seconds=segment)[model.kind]
    names = np.asarray(data.target_names)
    y = names[np.asarray(data.target)]
    est = clone(model.estimator)
    groups = data.get("fsID")
    fit_params = clip_fit_params(est, {
        "groups": None if groups is None else np.asarray(groups),
        "deformed": features.get("deformed")})
    front = feature_pipeline(model.kind, sr=sr, duration=duration, n_jobs=n_jobs,
                             segment_seconds=segment)
    for _, step in front.steps:  # stateless: fitted on nothing, as their checks require
        step.fit()
    if pool:  # the outlier sounds through the front end the pipeline will carry
        X_out = front.transform(list(outliers))
        fit_params.update({key: X_out for key in pool})
    t0 = time.perf_counter()
    est.fit(features.X, y, **fit_params)
    seconds = time.perf_counter() - t0
    pipe = Pipeline(front.steps + [(type(est).__name__.lower(), est)])
    pipe.fit_seconds_ = seconds
    return pipe
