"""A new class (or more clips of a known one) added to a fitted pipeline from a few files."""

from __future__ import annotations

import numpy as np

from ._decision import loader_of

__all__ = ["enroll_files"]


def enroll_files(model, files, label):
    """Enroll the class ``label`` in ``model`` from the audio ``files``, without retraining.

    The files go through the pipeline's front end (its :class:`~sklearn_metricaudio.
    AudioLoader` and features) and its last step's ``enroll``: a
    :class:`~sklearn_metricaudio.MarginEmbeddingClassifier` (or a
    :class:`~sklearn_metricaudio.CentroidClassifier` after the embedding) adds the files'
    sounding segments to the class's centroid, creating it when ``label`` is new. From then
    on ``model.predict`` may answer ``label``.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline opening with an AudioLoader whose last step has ``enroll``. It is
        changed in place.
    files : list of str or path-like
        Audio files of the class (any format, rate and channels the loader reads). Every
        file must be readable: a class is not enrolled from part of what was given.
    label : str or int
        The class; of the type of ``model.classes_`` (a name for a model trained on names).

    Returns
    -------
    model : Pipeline
        The same pipeline, enrolled.

    Raises
    ------
    TypeError
        ``model`` is not a fitted AudioLoader pipeline, or its last step cannot enroll
        (the MFCC baselines: an SVM or a GMM learns its classes in ``fit``); or ``label``
        is not of the type of the model's classes.
    ValueError
        No files, or an empty label.
    FileNotFoundError, sklearn_metricaudio.AudioDecodeError
        A file is missing or cannot be decoded (the message names it).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_metricaudio import (AudioLoader, LogMelPatches,
    ...                                  MarginEmbeddingClassifier, make_urban_sounds)
    >>> from sklearn_metricaudio.deploy import enroll_files
    >>> data = make_urban_sounds(n_per_class=4, sr=8000, n_folds=2)
    >>> pipe = make_pipeline(AudioLoader(sr=8000, duration=2.0),
    ...                      LogMelPatches(sr=8000, n_mels=32, n_fft=256, hop_length=128),
    ...                      MarginEmbeddingClassifier(width=0.25, epochs=2, random_state=0))
    >>> pipe = pipe.fit(list(data.data[:24]), data.target_names[data.target[:24]])
    >>> tmp = tempfile.TemporaryDirectory()
    >>> t = np.arange(16000) / 8000
    >>> whistles = []
    >>> for k in range(3):
    ...     whistles.append(f"{tmp.name}/whistle{k}.wav")
    ...     sf.write(whistles[-1], 0.3 * np.sin(2 * np.pi * (1500 + 50 * k) * t), 8000)
    >>> "whistle" in enroll_files(pipe, whistles, "whistle").classes_
    True
    >>> tmp.cleanup()
    """
    loader_of(model)   # a fitted AudioLoader pipeline
    final = model.steps[-1][1]
    if not callable(getattr(final, "enroll", None)):
        raise TypeError(
            f"this model cannot enroll a class: its last step, {type(final).__name__}, "
            "learns its classes in fit (only the metric model, MarginEmbeddingClassifier or "
            "a CentroidClassifier over its embedding, adds classes from a few clips); "
            "retrain it with the new class instead")
    files = list(files)
    if not files:
        raise ValueError("no files to enroll: give at least one audio file of the class")
    if label is None or (isinstance(label, str) and not label.strip()):
        raise ValueError(f"label must be a non-empty class name, got {label!r}")
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "iu" and not isinstance(label, (int, np.integer)):
        raise TypeError(f"label {label!r}: this model's classes are integers "
                        f"({classes.tolist()[:5]}...): enroll an integer label")
    if classes.dtype.kind in "UO" and not isinstance(label, str):
        label = str(label)
    Xt = model[:-1].transform(files)   # every file read, or an error naming it
    final.enroll(Xt, np.asarray([label] * len(files)))
    return model
