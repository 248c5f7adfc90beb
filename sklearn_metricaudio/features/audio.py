"""AudioLoader: file paths or waveforms -> fixed-length mono float32 rows."""

from __future__ import annotations

import numbers
import os

import numpy as np
from joblib import Parallel, delayed
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions

from .._io import load_audio, pcm_to_float

__all__ = ["AudioLoader", "fix_length"]


def fix_length(y, n_samples, pad="repeat"):
    """Cut or pad a 1-D signal to exactly ``n_samples``.

    ``pad="repeat"`` tiles the clip (the usual choice for short UrbanSound
    events: it adds no silence the classifier could learn from); ``"constant"``
    appends zeros.

    Examples
    --------
    >>> import numpy as np
    >>> fix_length(np.array([1., 2., 3.]), 7)
    array([1., 2., 3., 1., 2., 3., 1.])
    >>> fix_length(np.array([1., 2., 3.]), 5, pad="constant")
    array([1., 2., 3., 0., 0.])
    >>> fix_length(np.array([1., 2., 3.]), 2)
    array([1., 2.])
    """
    y = np.asarray(y)
    if y.shape[-1] >= n_samples:
        return y[..., :n_samples]
    if pad == "repeat":
        reps = -(-n_samples // y.shape[-1])
        return np.tile(y, reps)[..., :n_samples]
    if pad == "constant":
        out = np.zeros(y.shape[:-1] + (n_samples,), dtype=y.dtype)
        out[..., : y.shape[-1]] = y
        return out
    raise ValueError(f"pad must be 'repeat' or 'constant', got {pad!r}")


def _is_pathlike(x):
    return isinstance(x, (str, bytes, os.PathLike))


class AudioLoader(TransformerMixin, BaseEstimator):
    """Load clips from file paths or arrays into fixed-length mono float32 rows.

    Stateless: ``fit`` only validates parameters, so the loader can open any
    pipeline that takes file names, and cross-validation indexes clips, not
    samples.

    Parameters
    ----------
    sr : int, default=22050
        Output sample rate. Files at another rate are resampled
        (:func:`scipy.signal.resample_poly`); arrays are taken to be at ``sr``.
        Integer arrays are PCM and scaled to [-1, 1) (int16 by 32768), as
        soundfile decodes files.
    duration : float or None, default=4.0
        Output length in seconds (UrbanSound8K clips are at most 4 s). Longer
        clips are cut, shorter ones padded. ``None`` keeps the clips' own
        length, which must then be the same for all clips.
    pad : {"repeat", "constant"}, default="repeat"
        How short clips are padded: tiled, or followed by zeros.
    n_jobs : int or None, default=None
        Files decoded in parallel with joblib.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import AudioLoader
    >>> clips = [np.ones(5, dtype=np.float32), np.arange(3, dtype=np.float32)]
    >>> AudioLoader(sr=4, duration=2.0).fit_transform(clips)
    array([[1., 1., 1., 1., 1., 1., 1., 1.],
           [0., 1., 2., 0., 1., 2., 0., 1.]], dtype=float32)
    """

    _parameter_constraints = {
        "sr": [Interval(numbers.Integral, 1, None, closed="left")],
        "duration": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "pad": [StrOptions({"repeat", "constant"})],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, sr=22050, *, duration=4.0, pad="repeat", n_jobs=None):
        self.sr = sr
        self.duration = duration
        self.pad = pad
        self.n_jobs = n_jobs

    def fit(self, X=None, y=None):
        """Validate the parameters and, if given, the clips in ``X``; nothing is learned.

        In-memory waveforms are checked here (shape, NaN/inf, emptiness);
        files are only decoded by :meth:`transform`.
        """
        self._validate_params()
        if X is not None:
            for i, item in enumerate(self._items(X)):
                if not _is_pathlike(item):
                    self._check_array_clip(item, i)
        return self

    def _items(self, X):
        """The clips of X as a list, with the container-level checks."""
        if _is_pathlike(X):
            raise ValueError("X must be a sequence of clips (paths or waveforms), got a single path")
        if issparse(X):
            raise TypeError("AudioLoader does not take sparse input; pass waveforms or file paths")
        if not isinstance(X, (list, tuple, np.ndarray)) and hasattr(X, "__array__"):
            X = np.asarray(X)
        if isinstance(X, np.ndarray) and X.dtype.kind in "fiuc":
            if X.ndim != 2:
                raise ValueError(
                    f"a numeric X must be 2-D (n_clips, n_samples) at sr={self.sr}, got shape "
                    f"{X.shape}. Reshape your data with X.reshape(1, -1) if it holds one clip."
                )
            # scikit-learn's own messages for complex, empty and non-finite arrays
            X = check_array(X, dtype=None, ensure_all_finite=True, input_name="X")
        items = list(X)
        if len(items) == 0:
            raise ValueError("X holds no clips (0 samples)")
        return items

    @staticmethod
    def _check_array_clip(item, index):
        y = np.asarray(item)
        where = f"clip {index}"
        if y.dtype == object:
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                pass
        if y.dtype.kind not in "fiu" or y.ndim != 1:
            raise ValueError(
                f"{where}: expected a file path or a 1-D real-valued waveform, "
                f"got {type(item).__name__} of dtype {y.dtype} with shape {y.shape}"
            )
        if y.size == 0:
            raise ValueError(f"{where} is empty (0 samples)")
        y = pcm_to_float(y)
        if not np.isfinite(y).all():
            raise ValueError(f"{where} holds NaN or infinite samples")
        return y

    def _load_one(self, item, index):
        if _is_pathlike(item):
            y, _ = load_audio(os.fsdecode(item), sr=self.sr, mono=True)
        else:
            y = self._check_array_clip(item, index)
        if self.duration is not None:
            y = fix_length(y, self.n_samples, self.pad)
        return y

    @property
    def n_samples(self):
        """Samples per clip out of :meth:`transform`: ``round(duration * sr)``, or None when
        ``duration`` is None (the clips' own length). The one place the clip length in
        samples is computed; streaming and the ONNX export read it here."""
        return None if self.duration is None else int(round(self.duration * self.sr))

    def transform(self, X):
        """Decode, mix to mono, resample and fix the length of every clip.

        Parameters
        ----------
        X : sequence of paths or 1-D arrays, or ndarray of shape (n_clips, n_samples)

        Returns
        -------
        ndarray of shape (n_clips, n_samples), float32
        """
        self._validate_params()
        items = self._items(X)
        n_paths = sum(_is_pathlike(it) for it in items)
        if n_paths > 1 and self.n_jobs not in (None, 1):
            clips = Parallel(n_jobs=self.n_jobs)(
                delayed(self._load_one)(it, i) for i, it in enumerate(items)
            )
        else:
            clips = [self._load_one(it, i) for i, it in enumerate(items)]
        lengths = {c.shape[-1] for c in clips}
        if len(lengths) > 1:
            raise ValueError(
                f"clips have different lengths {sorted(lengths)[:5]}...; set duration= to a "
                "number of seconds to cut/pad them to one length"
            )
        return np.stack(clips).astype(np.float32, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # always float32
        return tags
