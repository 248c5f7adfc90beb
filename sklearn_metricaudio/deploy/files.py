"""Label a list of audio files with a fitted pipeline, file by file where files fail.

``model.predict(files)`` is all or nothing: one file that cannot be read (a text file, a
directory, a truncated wav) stops the whole batch, and asking for the labels and then the
scores decodes every file and computes its features twice. :func:`predict_files` decodes each
file once with the pipeline's own :class:`~sklearn_metricaudio.AudioLoader`, keeps the reason
of each file that cannot be read, and runs the rest of the pipeline once on the others.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from .._io import AudioDecodeError
from ._decision import labels_and_scores, loader_of, min_clip_seconds

__all__ = ["FilePrediction", "predict_files"]


class FilePrediction(NamedTuple):
    """The model's answer for one file, or why there is none.

    Attributes
    ----------
    file : str
        The file as given.
    label : object or None
        ``model.predict`` on the file; None when it could not be read.
    score : float
        The score of ``label`` in ``scores`` (NaN when ``label`` is not one of the classes,
        e.g. an open-set model's unknown label, or there is no label).
    scores : ndarray of shape (n_classes,)
        ``predict_proba`` (or ``decision_function``) in the order of ``classes_``; empty
        when the file could not be read.
    error : str or None
        Why the file could not be read (None when it was).
    """

    file: str
    label: object
    score: float
    scores: np.ndarray
    error: str | None


def predict_files(model, files, *, scores="auto", batch_size=64):
    """Label audio files with a fitted pipeline; files that cannot be read are reported.

    Parameters
    ----------
    model : Pipeline
        A fitted scikit-learn pipeline whose first step is an
        :class:`~sklearn_metricaudio.AudioLoader` (e.g. what ``metricaudio fit`` or
        :func:`~sklearn_metricaudio.deploy.load_model` gives).
    files : sequence of str or path-like
    scores : {"auto", "predict_proba", "decision_function"}, default="auto"
        The per-class scores; "auto": ``predict_proba`` if the model has it.
    batch_size : int, default=64
        Files decoded and classified together (bounds memory on long lists).

    Returns
    -------
    list of FilePrediction
        One per file, in the order given.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklearn_metricaudio import AudioLoader
    >>> from sklearn_metricaudio.deploy import predict_files
    >>> rng = np.random.default_rng(0)
    >>> level = FunctionTransformer(lambda X: np.log10(np.mean(X ** 2, axis=1, keepdims=True)))
    >>> X = np.concatenate([0.01 * rng.standard_normal((5, 1000)),
    ...                     0.5 * rng.standard_normal((5, 1000))]).astype(np.float32)
    >>> model = make_pipeline(AudioLoader(sr=1000, duration=1.0), level, LogisticRegression())
    >>> model = model.fit(X, ["quiet"] * 5 + ["loud"] * 5)
    >>> tmp = tempfile.mkdtemp()
    >>> sf.write(os.path.join(tmp, "a.wav"), X[7], 1000)
    >>> with open(os.path.join(tmp, "notes.txt"), "w") as fh:
    ...     _ = fh.write("not audio")
    >>> for p in predict_files(model, [os.path.join(tmp, n) for n in ("a.wav", "notes.txt")]):
    ...     print(os.path.basename(p.file), p.label, p.error is not None)
    a.wav loud False
    notes.txt None True
    """
    loader = loader_of(model)
    final = model.steps[-1][1]
    if scores == "auto":
        scores = "predict_proba" if hasattr(final, "predict_proba") else "decision_function"
    if scores not in ("predict_proba", "decision_function") or not hasattr(final, scores):
        raise ValueError(f"scores must be 'auto', 'predict_proba' or 'decision_function' that "
                         f"the model's last step ({type(final).__name__}) has, got {scores!r}")
    files = [str(f) for f in files]
    short = min_clip_seconds(model, loader)
    out = [None] * len(files)
    for start in range(0, len(files), batch_size):
        waves, where = [], []
        for i in range(start, min(start + batch_size, len(files))):
            try:
                waves.append(loader.transform([files[i]])[0])
                where.append(i)
                _warn_if_short(files[i], short, loader)
            except (AudioDecodeError, OSError, ValueError) as exc:
                out[i] = FilePrediction(files[i], None, float("nan"), np.empty(0), str(exc))
        if not waves:
            continue
        X = np.stack(waves) if len({w.size for w in waves}) == 1 else waves
        labels, S = labels_and_scores(final, model[1:-1].transform(X), scores)
        index = {c: k for k, c in enumerate(final.classes_.tolist())}
        for i, label, row in zip(where, labels, S):
            label = label.item() if isinstance(label, np.generic) else label
            k = index.get(label)
            out[i] = FilePrediction(files[i], label, float("nan") if k is None else
                                    float(row[k]), row, None)
    return out


def _warn_if_short(path, seconds, loader):
    """Warn when a file holds less audio than one segment: its label comes from padding."""
    import soundfile as sf

    held = sf.info(path).duration
    if held < seconds:
        warnings.warn(f"'{path}' holds {held:.3f} s of audio, less than one {seconds:.2f}-s "
                      f"segment of the model's features: it is padded (AudioLoader "
                      f"pad={loader.pad!r}) and its label says little", UserWarning,
                      stacklevel=3)
