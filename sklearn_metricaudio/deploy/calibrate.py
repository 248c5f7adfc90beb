"""Open-set rejection of a fitted pipeline calibrated from a few held-out files."""

from __future__ import annotations

import numbers

from ._decision import loader_of

__all__ = ["calibrate_files"]


def calibrate_files(model, files, *, true_accept=0.95):
    """Calibrate the open-set rejection of ``model`` on the audio ``files``, without retraining.

    The files, held-out clips of the known classes, go through the pipeline's front end (its
    :class:`~sklearn_metricaudio.AudioLoader` and features) and its last step's
    ``calibrate``: a :class:`~sklearn_metricaudio.MarginEmbeddingClassifier` (on the
    distance its ``rejection_layer`` names) or a :class:`~sklearn_metricaudio.
    CentroidClassifier` after the embedding sets its threshold so that the share
    ``true_accept`` of the files would be accepted. From then on ``model.predict`` answers
    ``"unknown"`` (``-1`` for integer labels) for a clip farther than that from every class
    centroid.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline opening with an AudioLoader whose last step has ``calibrate``. It
        is changed in place.
    files : list of str or path-like
        Audio files of the known classes that the model was not trained on (e.g. the
        validation clips of ``fit``, ``validation_mask_``): training clips sit closer to
        their centroids and would set the threshold too tight. Their labels are not needed.
        Every file must be readable: the threshold is not set from part of what was given.
    true_accept : float in (0, 1], default=0.95
        Target share of the files accepted (the true-accept rate).

    Returns
    -------
    model : Pipeline
        The same pipeline, calibrated.

    Raises
    ------
    TypeError
        ``model`` is not a fitted AudioLoader pipeline, or its last step cannot calibrate
        a rejection (the MFCC baselines: an SVM or a GMM has no distance to a class).
    ValueError
        No files, or ``true_accept`` outside (0, 1].
    FileNotFoundError, sklearn_metricaudio._io.AudioDecodeError
        A file is missing or cannot be decoded (the message names it).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_metricaudio import (AudioLoader, LogMelPatches,
    ...                                  MarginEmbeddingClassifier, make_urban_sounds)
    >>> from sklearn_metricaudio.deploy import calibrate_files
    >>> data = make_urban_sounds(n_per_class=4, sr=8000, n_folds=2)
    >>> train, held = data.fold == 1, data.fold == 2
    >>> pipe = make_pipeline(AudioLoader(sr=8000, duration=2.0),
    ...                      LogMelPatches(sr=8000, n_mels=32, n_fft=256, hop_length=128),
    ...                      MarginEmbeddingClassifier(width=0.25, epochs=2, random_state=0))
    >>> pipe = pipe.fit(list(data.data[train]), data.target_names[data.target[train]])
    >>> tmp = tempfile.TemporaryDirectory()
    >>> held_out = []
    >>> for k in np.flatnonzero(held):
    ...     held_out.append(f"{tmp.name}/clip{k}.wav")
    ...     sf.write(held_out[-1], data.data[k], 8000)
    >>> pipe = calibrate_files(pipe, held_out, true_accept=0.75)
    >>> round(pipe[-1].centroid_.true_accept_, 4)   # 13 of the 16 held-out clips accepted
    0.8125
    >>> int((pipe.predict(held_out) == "unknown").sum())   # the 3 others rejected
    3
    >>> tmp.cleanup()
    """
    loader_of(model)   # a fitted AudioLoader pipeline
    final = model.steps[-1][1]
    if not callable(getattr(final, "calibrate", None)):
        raise TypeError(
            f"this model cannot reject unknown sounds: its last step, {type(final).__name__}, "
            "has no distance to a class to put a threshold on (only the metric model, "
            "MarginEmbeddingClassifier or a CentroidClassifier over its embedding, "
            "calibrates a rejection); train a metric model (e.g. cosface) instead")
    files = list(files)
    if not files:
        raise ValueError("no files to calibrate on: give held-out audio files of the known "
                         "classes")
    if isinstance(true_accept, bool) or not isinstance(true_accept, numbers.Real) \
            or not 0 < true_accept <= 1:
        raise ValueError(f"true_accept must be a share in (0, 1] of the files to accept, got "
                         f"{true_accept!r}")
    Xt = model[:-1].transform(files)   # every file read, or an error naming it
    final.calibrate(Xt, true_accept=true_accept)
    return model


def _threshold_of(final):
    """The rejection threshold ``final`` (a calibrated MarginEmbeddingClassifier or
    CentroidClassifier) applies, on the distance of its ``rejection_layer``; None before
    calibration."""
    rejection = getattr(final, "_rejection_threshold", None)
    threshold = rejection() if callable(rejection) else None
    if threshold is None:  # the embedding's own, in the centroids
        threshold = getattr(getattr(final, "centroid_", final), "threshold_", None)
    return threshold


def _true_accept_of(final):
    """The share of its calibration clips that ``final`` (a calibrated
    MarginEmbeddingClassifier or CentroidClassifier) accepts, recorded by ``calibrate`` for
    the distance of its ``rejection_layer`` (``true_accept_`` where the threshold lives)."""
    rejection = getattr(final, "rejection_", None)
    if rejection is not None:
        if getattr(final, "rejection_scale_", None) is not None:  # the summed distances
            return final.rejection_true_accept_
        return rejection[-1].true_accept_
    return getattr(final, "centroid_", final).true_accept_
