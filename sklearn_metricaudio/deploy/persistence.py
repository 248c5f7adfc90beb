"""Safe model files: ``save_model`` / ``load_model`` on skops' format, weights as tensors.

``joblib.load`` (pickle) of a file from someone else runs whatever code the file
asks for. A model file here is a zip archive that holds

- ``model.skops``: the fitted estimators in skops' secure format
  (:mod:`skops.io`), which rebuilds only the types the loader trusts and runs no
  code on load;
- ``nets/<k>.pt``: the state of each :class:`~sklearn_metricaudio.MarginEmbeddingClassifier`'s
  network (the weights and buffers of the embedding network and of the loss head), read
  with ``torch.load(weights_only=True)``, which accepts tensors and plain containers only;
- ``metricaudio.json``: the format version, the library version and where each network
  belongs.

The skorch network itself is never stored: loading rebuilds it from the estimator's
parameters and fills it with the stored tensors. Why not skops alone? It has no safe
handler for torch modules and tensors (it would fall back to pickle's ``__reduce__``,
which is what we avoid).
"""

from __future__ import annotations

import copy
import io
import json
import warnings
import zipfile
import zlib
from pathlib import Path

from sklearn.base import BaseEstimator

from .._io import atomic_path

__all__ = ["save_model", "load_model", "UntrustedModelError"]

_FORMAT = 1
_MANIFEST = "metricaudio.json"
_SKOPS = "model.skops"
_PICKLE_MAGIC = (b"\x80", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")  # pickle; joblib's gz, bz2, xz


class UntrustedModelError(ValueError):
    """A model file holds types that the caller has not said to trust, or is a pickle."""


def _estimators(obj):
    """Every scikit-learn estimator reachable from ``obj`` (steps, nested and fitted ones),
    each once, in a fixed order: the same for a model and for its copy."""
    found, seen = [], set()

    def walk(o):
        if id(o) in seen:
            return
        seen.add(id(o))
        if isinstance(o, BaseEstimator):
            found.append(o)
            o = vars(o)
        if isinstance(o, dict):
            for value in o.values():
                walk(value)
        elif isinstance(o, (list, tuple)):
            for value in o:
                walk(value)

    walk(obj)
    return found


def _networks(model):
    """The MarginEmbeddingClassifiers that hold a fitted network (or held one, in a copy
    made by :func:`save_model`, where ``net_`` is None)."""
    from ..models import MarginEmbeddingClassifier

    return [est for est in _estimators(model)
            if isinstance(est, MarginEmbeddingClassifier) and "net_" in vars(est)]


def _library_types():
    """The library's public estimator types (the top-level package's): they hold parameters
    and arrays, and run no code when skops rebuilds them."""
    import sklearn_metricaudio as top

    types = (getattr(top, name) for name in top.__all__)
    return {f"{t.__module__}.{t.__qualname__}" for t in types
            if isinstance(t, type) and issubclass(t, BaseEstimator)}


def save_model(model, path):
    """Save a fitted estimator or pipeline to a file that is safe to load.

    Parameters
    ----------
    model : estimator
        Any fitted scikit-learn estimator or pipeline of this library's and
        scikit-learn's steps. A :class:`~sklearn_metricaudio.MarginEmbeddingClassifier`'s
        network is stored as tensors; an ``accelerator`` parameter is not stored (the
        loaded model trains without one).
    path : str or path-like
        The file to write (by convention ``*.skops``). Written to a temporary name and
        renamed into place: a failure leaves no partial file and keeps an earlier one.

    Returns
    -------
    pathlib.Path
        ``path``.

    See Also
    --------
    load_model

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from sklearn_metricaudio import CentroidClassifier
    >>> from sklearn_metricaudio.deploy import load_model, save_model
    >>> clf = CentroidClassifier().fit([[1.0, 0.0], [0.0, 1.0]], ["a", "b"])
    >>> path = save_model(clf, Path(tempfile.mkdtemp()) / "model.skops")
    >>> load_model(path).predict([[0.9, 0.2]]).tolist()
    ['a']
    """
    import skops.io as sio
    import torch

    from .. import __version__

    margins = _networks(model)
    # a copy without the networks (and accelerators): deepcopy takes the memo's None for them
    memo = {}
    for est in margins:
        memo[id(est.net_)] = None
        if est.accelerator is not None:
            memo[id(est.accelerator)] = None
    stripped = copy.deepcopy(model, memo)
    for est in _networks(stripped):
        est.accelerator = None
    nets = []
    for k, est in enumerate(margins):
        buf = io.BytesIO()
        torch.save(est._net_state(), buf)
        nets.append((f"nets/{k}.pt", buf.getvalue()))
    manifest = {"format": _FORMAT, "library": __version__, "nets": [name for name, _ in nets]}
    path = Path(path)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_MANIFEST, json.dumps(manifest, indent=1))
            zf.writestr(_SKOPS, sio.dumps(stripped))
            for name, data in nets:
                zf.writestr(name, data)
    return path


def load_model(path, *, trusted=None, device=None, max_bytes=2 ** 30):
    """Load a model written by :func:`save_model`, running none of the file's code.

    Parameters
    ----------
    path : str or path-like
    trusted : list of str or None, default=None
        Type names (``"module.Class"``), besides scikit-learn's, numpy's and this
        library's estimators, that the file may hold. A file with any other type is
        refused with :class:`UntrustedModelError` naming them: pass them here only if
        you trust the file's author. ``skops.io.get_untrusted_types`` lists a file's types.
    device : str or None, default=None
        Where the torch steps run: every ``device`` parameter of the model is set to it.
        ``None``: as saved, except that a CUDA device on a machine without CUDA becomes
        ``"cpu"`` (with a warning), so a model fitted on a GPU predicts on a CPU.
    max_bytes : int, default=2**30
        The most the archive's members may unpack to, together (1 GiB: a width-1.0
        MobileNet's weights take 13 MB). A larger file, or a zip bomb, is refused before
        anything is unpacked.

    Returns
    -------
    estimator

    Raises
    ------
    FileNotFoundError
    UntrustedModelError
        The file is a pickle (``joblib.dump``; loading it could run arbitrary code), or
        holds types that are not trusted.
    ValueError
        The file is not a model file of this library, is of a newer format, is damaged
        (a manifest that is not what :func:`save_model` writes, a member that does not
        unpack), or would unpack to more than ``max_bytes``.

    Examples
    --------
    See :func:`save_model`.
    """
    import skops.io as sio
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file '{path}' not found")
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head.startswith(_PICKLE_MAGIC):
        raise UntrustedModelError(
            f"model file '{path}' is a pickle (e.g. joblib.dump): loading it can run "
            "arbitrary code. Load only pickles you made yourself, with joblib.load, and save "
            "models to share with sklearn_metricaudio.deploy.save_model")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"model file '{path}' is not a model file of sklearn_metricaudio "
                         "(expected the zip archive that deploy.save_model writes)")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if _MANIFEST not in names or _SKOPS not in names:
            raise ValueError(f"model file '{path}' lacks {_MANIFEST} or {_SKOPS}: not written "
                             "by sklearn_metricaudio.deploy.save_model")
        unpacked = sum(zf.getinfo(name).file_size for name in names)
        if unpacked > max_bytes:
            raise ValueError(
                f"model file '{path}' would unpack to {unpacked} bytes, more than "
                f"max_bytes={max_bytes} (a damaged file or a zip bomb); pass a larger "
                "max_bytes to load_model only if you trust the file")
        manifest = _manifest(_read(zf, _MANIFEST, path), names, path)
        data = _read(zf, _SKOPS, path)
        try:
            types = set(sio.get_untrusted_types(data=data))
        except Exception as exc:  # skops' own errors on a schema it cannot parse
            raise ValueError(f"model file '{path}': {_SKOPS} is damaged ({exc})") from exc
        untrusted = types - _library_types() - set(trusted or ())
        if untrusted:
            raise UntrustedModelError(
                f"model file '{path}' holds types that are not trusted: {sorted(untrusted)}. "
                "Pass them as load_model(..., trusted=[...]) only if you trust the file's "
                "author")
        model = sio.loads(data, trusted=sorted(_library_types() | set(trusted or ())))
        states = [_load_weights(zf, name, path, torch) for name in manifest["nets"]]
    target = _device(model, device)
    networks = _networks(model)
    if len(networks) != len(states):
        raise ValueError(f"model file '{path}' holds {len(states)} networks for "
                         f"{len(networks)} network models: the file is damaged")
    for est, state in zip(networks, states):
        est._restore_net(state, device=target.get(id(est), est.device))
    for est, _ in _device_params(model):
        if id(est) in target:
            est.device = target[id(est)]
    return model


def _read(zf, name, path):
    """A member's bytes; a member that does not unpack (bad CRC, bad data) is a ValueError."""
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"model file '{path}': {name} does not unpack ({exc}): the file is "
                         "damaged") from exc


def _manifest(raw, names, path):
    """The manifest, checked against what :func:`save_model` writes."""
    expected = (f"a JSON object with 'format' (an integer up to {_FORMAT}) and 'nets' (a list "
                "of the archive's nets/<k>.pt members)")
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        manifest = None
    ok = isinstance(manifest, dict)
    fmt = manifest.get("format") if ok else None
    nets = manifest.get("nets") if ok else None
    if not (ok and isinstance(fmt, int) and not isinstance(fmt, bool) and fmt >= 1
            and isinstance(nets, list)
            and all(isinstance(n, str) and n.startswith("nets/") and n in names for n in nets)
            and len(set(nets)) == len(nets)):
        if ok and isinstance(fmt, int) and fmt > _FORMAT:
            raise ValueError(f"model file '{path}' has format {fmt}, newer than this library "
                             f"reads ({_FORMAT}): upgrade sklearn_metricaudio")
        shown = raw[:200].decode("utf-8", "replace")
        raise ValueError(f"model file '{path}' is damaged: its {_MANIFEST} should be "
                         f"{expected}, got {shown!r}")
    if fmt > _FORMAT:
        raise ValueError(f"model file '{path}' has format {fmt}, newer than this library "
                         f"reads ({_FORMAT}): upgrade sklearn_metricaudio")
    return manifest


def _load_weights(zf, name, path, torch):
    """A network's state: tensors and plain containers only (``weights_only=True``)."""
    import pickle

    try:
        return torch.load(io.BytesIO(_read(zf, name, path)), map_location="cpu",
                          weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, KeyError) as exc:
        raise UntrustedModelError(
            f"model file '{path}': {name} holds more than tensors and plain values (or is "
            f"damaged), refused: {str(exc).splitlines()[0]}") from exc


def _device_params(model):
    """(estimator, device) for every estimator in the model with a ``device`` parameter."""
    return [(est, est.device) for est in _estimators(model)
            if "device" in est.get_params(deep=False)]


def _device(model, device):
    """{id(estimator): device} for the estimators whose device changes on load."""
    import torch

    if device is not None:
        return {id(est): device for est, _ in _device_params(model)}
    if torch.cuda.is_available():
        return {}
    moved = {id(est): "cpu" for est, dev in _device_params(model)
             if str(dev).startswith("cuda")}
    if moved:
        warnings.warn("the model was saved to run on CUDA, which this machine lacks: it runs "
                      "on the CPU", UserWarning, stacklevel=3)
    return moved
