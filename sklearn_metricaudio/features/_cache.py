"""Feature extraction cached on disk, keyed on the inputs, the settings and the code.

scikit-learn's ``Pipeline(memory=...)`` caches fitted transformers keyed on their input
arrays; for file names that key is the list of strings, blind to the files' content, and
joblib keys a cached function on that function's source alone, blind to the feature code it
calls. :func:`cached_transform` keys on what decides the output: every input file's size and
modification time, the transformer's parameters (not ``n_jobs`` or ``batch_size``, which only
split the work), a hash of the source of the package's feature code (``features/``, ``_io.py``,
``_torch.py``) and the versions of numpy, scipy, torch, librosa and soundfile, so that an edited
file, a changed setting, new feature code or a library upgrade all miss the cache.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_memory

__all__ = ["cached_transform", "feature_code_hash", "code_hash", "library_versions",
           "file_fingerprint"]

_PACKAGE = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def code_hash(*folders, files=()):
    """SHA-256 (hex) of the package's source in ``folders`` (e.g. ``"features"``) and ``files``.

    A cache keyed on it misses when that code changes, and only then.
    """
    paths = [p for f in folders for p in sorted((_PACKAGE / f).glob("*.py"))]
    paths += [_PACKAGE / f for f in files]
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def feature_code_hash():
    """SHA-256 of the source files that compute features (hex string)."""
    return code_hash("features", files=("_io.py", "_torch.py"))


def file_fingerprint(X):
    """(path, size, mtime) of every input when X holds file names; None for waveforms.

    An edited or replaced file changes it; a missing one raises ``FileNotFoundError`` naming
    it. The feature cache and the result store (``evaluation.store``) key on it.

    >>> file_fingerprint(np.zeros((2, 8))) is None
    True
    """
    if isinstance(X, np.ndarray) and X.dtype.kind in "fiuc":
        return None
    items = list(X)
    if not items or not all(isinstance(x, (str, bytes, os.PathLike)) for x in items):
        return None
    out = []
    for item in items:
        path = os.fsdecode(item)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"audio file not found: '{path}'") from None
        out.append((path, st.st_size, st.st_mtime_ns))
    return out


#: Parameters that change how the work is split, not what it computes: left out of the key.
_NOT_OUTPUT = ("n_jobs", "batch_size")


def _settings(transformer):
    """The transformer's parameters that decide its output (the cache key's settings).

    Nested estimators enter through their flattened ``step__param`` entries and the class
    names of the steps; ``n_jobs`` and ``batch_size`` only split the work, so they are out.
    """
    settings = {"class": type(transformer).__name__,
                "steps": [type(step).__name__ for _, step in getattr(transformer, "steps", [])]}
    for name, value in transformer.get_params(deep=True).items():
        last = name.split("__")[-1]
        if last in _NOT_OUTPUT or last == "steps" or hasattr(value, "get_params"):
            continue
        settings[name] = value
    return settings


def library_versions():
    """Versions of the libraries the features go through (an upgrade misses the cache)."""
    import librosa
    import scipy
    import soundfile
    import torch

    return {"numpy": np.__version__, "scipy": scipy.__version__, "torch": torch.__version__,
            "librosa": librosa.__version__, "soundfile": soundfile.__version__}


def _transform(transformer, X, key, compute=None):
    # ``transformer`` and ``compute`` are left out of joblib's hash of the call (see ignore=);
    # ``key`` holds what decides the output: the settings, the files' fingerprints, the code and
    # the library versions
    return transformer.transform(X) if compute is None else compute(X)


def cached_transform(transformer, X, *, memory=None, compute=None):
    """``transformer.transform(X)``, memoised on disk.

    Parameters
    ----------
    transformer : transformer (stateless, e.g. ``make_pipeline(AudioLoader(), MFCCStats())``)
    X : sequence of file names, or array
    memory : str, path, joblib.Memory or None, default=None
        Cache folder; ``None`` computes without caching.
    compute : callable or None, default=None
        What to run on a miss instead of ``transformer.transform(X)``; it must return
        the same thing (e.g. the features from audio already decoded for another
        kind). The cache is keyed on ``transformer`` and ``X`` either way.

    Returns
    -------
    The transformer's output.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from sklearn_metricaudio import MFCCStats
    >>> from sklearn_metricaudio.features import cached_transform
    >>> X = np.random.default_rng(0).standard_normal((2, 22050)).astype(np.float32)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     first = cached_transform(MFCCStats(), X, memory=tmp)
    ...     again = cached_transform(MFCCStats(), X, memory=tmp)   # read from the cache
    >>> bool((first == again).all())
    True
    """
    memory = check_memory(str(memory) if isinstance(memory, os.PathLike) else memory)
    key = (_settings(transformer), file_fingerprint(X), feature_code_hash(), library_versions())
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
        X = [os.fsdecode(x) if isinstance(x, (bytes, os.PathLike)) else x for x in X]
    return memory.cache(_transform, ignore=["transformer", "compute"])(transformer, X, key,
                                                                        compute)
