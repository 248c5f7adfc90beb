"""Resumable results: finished folds and grid cells on disk, named by what they depend on.

A long evaluation (the paper's Fig. 3 grid is 2,000 trainings) is a list of independent jobs
(one fold of one model, one grid cell). :func:`run_jobs` runs the ones that are not finished
yet with scikit-learn's :class:`~sklearn.utils.parallel.Parallel` (so any joblib backend runs
them: loky, threading, a Dask cluster through ``joblib.parallel_backend("dask")``) and stores
each result in a :class:`ResultStore` as soon as it arrives, atomically (written to a
temporary name, then renamed). A run that is interrupted (Ctrl-C, a killed process, a lost
GPU) and started again loads what was finished and computes the rest.

Every result is stored under a SHA-1 of everything it depends on (:func:`fingerprint`): the
estimator's class and parameters, the package's model code, the data (the arrays, or the
files' names, sizes and modification times), the fold. A changed setting therefore misses
the store for exactly the results that depend on it, and only for those.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import joblib
from sklearn.utils.parallel import Parallel, delayed

from .._io import atomic_path

__all__ = ["ResultStore", "Job", "run_jobs", "fingerprint", "estimator_fingerprint",
           "files_fingerprint"]

#: Parameters that change how the work is split or reported, not what it computes.
_NOT_OUTPUT = ("n_jobs", "verbose")


def fingerprint(*parts):
    """SHA-1 (hex) of ``parts``: numbers, strings, arrays, lists, dicts, nested.

    :func:`joblib.hash`: arrays are hashed by content, dicts regardless of key order.

    >>> import numpy as np
    >>> fingerprint("fold", np.arange(3)) == fingerprint("fold", np.arange(3))
    True
    >>> fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    True
    """
    return joblib.hash(parts, hash_name="sha1")


def _describe(estimator):
    """(class, parameters) of an estimator, nested estimators described the same way.

    ``get_params(deep=True)`` flattens only parameters that are estimators themselves;
    a list of (name, estimator) pairs that is not a scikit-learn composition (e.g. a
    list of deformations) would otherwise enter by its class names alone.
    """
    cls = type(estimator)
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name in _NOT_OUTPUT:
            continue
        if hasattr(value, "get_params") and not isinstance(value, type):
            value = _describe(value)
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, tuple) and len(v) == 2 and hasattr(v[1], "get_params")
                and not isinstance(v[1], type) for v in value):
            value = [(n, _describe(v)) for n, v in value]
        params[name] = value
    return f"{cls.__module__}.{cls.__qualname__}", params


def estimator_fingerprint(estimator):
    """What decides an (unfitted) estimator's results: its class, its parameters (nested
    estimators' too), the package's model code (``models/``, ``_torch.py``) and the
    versions of scikit-learn, numpy, scipy and torch; ``n_jobs`` and ``verbose`` are
    left out.

    >>> from sklearn.svm import LinearSVC
    >>> estimator_fingerprint(LinearSVC(C=1.0)) == estimator_fingerprint(LinearSVC(C=2.0))
    False
    """
    import sklearn

    from ..features import code_hash, library_versions

    return fingerprint(_describe(estimator), code_hash("models", files=("_torch.py",)),
                       sklearn.__version__, library_versions())


def files_fingerprint(filenames):
    """SHA-1 of the files' names, sizes and modification times (an edited file changes it):
    :func:`~sklearn_metricaudio.features.file_fingerprint`, the feature cache's, hashed.

    Raises
    ------
    FileNotFoundError
        A file does not exist (named).
    """
    from ..features import file_fingerprint

    return fingerprint(file_fingerprint([os.fsdecode(f) for f in filenames]))


class ResultStore:
    """Finished results on disk, one file per result, named by its key.

    Parameters
    ----------
    path : str or path-like or None
        Folder of the results (created when needed). ``None``: nothing is stored, every
        :meth:`get` misses (a run without resumption).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     store = ResultStore(tmp)
    ...     key = fingerprint("fold", 1)
    ...     store.get(key) is None
    ...     store.put(key, {"score": 0.5})
    ...     store.get(key), len(store)
    True
    ({'score': 0.5}, 1)
    """

    def __init__(self, path):
        self.path = None if path is None else Path(path)

    def _file(self, key):
        if not isinstance(key, str) or not key.isalnum():
            raise ValueError(f"a result key must be an alphanumeric string, got {key!r}")
        return self.path / key[:2] / f"{key}.joblib"

    def get(self, key, default=None):
        """The result stored under ``key``, or ``default``."""
        if self.path is None:
            return default
        file = self._file(key)
        if not file.is_file():
            return default
        try:
            return joblib.load(file)
        except Exception as exc:  # an unreadable file (another version, a bad disk)
            warnings.warn(f"stored result '{file}' cannot be read ({type(exc).__name__}: "
                          f"{exc}); it is computed again and the file replaced", UserWarning,
                          stacklevel=2)
            return default

    def __contains__(self, key):
        return self.path is not None and self._file(key).is_file()

    def put(self, key, value):
        """Store ``value`` under ``key``: written to a temporary name, then renamed."""
        if self.path is None:
            return
        file = self._file(key)
        with atomic_path(file) as tmp:
            joblib.dump(value, tmp)

    def __len__(self):
        if self.path is None or not self.path.is_dir():
            return 0
        # a temporary file a killed run left behind starts with "." and is no result
        return sum(1 for f in self.path.glob("*/*.joblib") if not f.name.startswith("."))

    def __repr__(self):
        return f"ResultStore({None if self.path is None else str(self.path)!r})"


class Job:
    """One unit of work: ``func(*args, **kwargs)``, stored under ``key``.

    Parameters
    ----------
    key : str
        :func:`fingerprint` of everything the result depends on.
    func : callable
        A module-level function (so that process and cluster backends can ship it).
    *args, **kwargs
        Its arguments.
    """

    __slots__ = ("key", "func", "args", "kwargs")

    def __init__(self, key, func, *args, **kwargs):
        self.key, self.func, self.args, self.kwargs = key, func, args, kwargs

    def __repr__(self):
        return f"Job({self.key[:10]}, {getattr(self.func, '__name__', self.func)})"


def _keyed(key, func, args, kwargs):
    return key, func(*args, **kwargs)


def run_jobs(jobs, store=None, *, n_jobs=None, progress=True, desc="jobs"):
    """Results of ``jobs``, in their order: stored ones loaded, the others computed.

    The missing jobs run through :class:`sklearn.utils.parallel.Parallel` (the caller's
    scikit-learn configuration travels to the workers) under whatever joblib backend is
    active; each result is stored as soon as it comes back, so an interruption loses only
    the jobs that were running. Jobs that share a key run once.

    Parameters
    ----------
    jobs : list of Job
    store : ResultStore or None
    n_jobs : int or None
        Jobs in parallel (joblib's meaning; None: the active backend's default).
    progress : bool, default=True
        A progress bar with the time left (tqdm), counting the stored jobs as done.
    desc : str
        Label of the progress bar.

    Returns
    -------
    list
        One result per job.
    """
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    results = {}
    todo = {}
    for job in jobs:
        if job.key in results or job.key in todo:
            continue
        hit = store.get(job.key, _MISSING)
        if hit is _MISSING:
            todo[job.key] = job
        else:
            results[job.key] = hit
    bar = None
    if progress:
        from tqdm.auto import tqdm

        n_unique = len(results) + len(todo)
        bar = tqdm(total=n_unique, initial=len(results), desc=desc, unit="job", leave=False,
                   smoothing=0.1)
    try:
        if todo:
            for key, value in _run(list(todo.values()), n_jobs):
                store.put(key, value)
                results[key] = value
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [results[job.key] for job in jobs]


_MISSING = object()


def _run(jobs, n_jobs):
    """Yield (key, result) as the jobs finish; backends without generators run in chunks."""
    calls = [delayed(_keyed)(j.key, j.func, j.args, j.kwargs) for j in jobs]
    backend, _ = joblib.parallel.get_active_backend()
    size = max(1, joblib.effective_n_jobs(n_jobs))
    if size == 1 or getattr(backend, "supports_return_generator", False):
        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(calls)
        return
    # e.g. the multiprocessing backend: no generators; one job per worker at a time, so that
    # an interruption loses at most the jobs that were running
    for start in range(0, len(calls), size):
        yield from Parallel(n_jobs=n_jobs)(calls[start:start + size])
