"""Audio decoding, resampling and atomic writes.

Ground floor of the package: imports nothing else of ours. Every error names
the file it is about, so that a bad clip in a 8,000-file data set can be found.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from math import gcd
from pathlib import Path

import numpy as np

__all__ = [
    "AudioDecodeError",
    "pcm_to_float",
    "load_audio",
    "resample",
    "write_audio",
    "atomic_path",
    "atomic_directory",
]


class AudioDecodeError(ValueError):
    """Raised when a file cannot be decoded into usable audio samples."""


#: Integer sample formats of PCM audio (24-bit PCM is read as the top of int32).
_PCM_DTYPES = (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.uint8))


def pcm_to_float(y):
    """Samples as float32; integer PCM is scaled to [-1, 1) as soundfile decodes files.

    Signed integers are divided by ``2**(bits - 1)`` (int16 by 32768); unsigned ones
    are offset binary around the middle of their range (8-bit wav). Integer types that
    are no PCM sample format (int64, the default of Python ints and of
    ``np.random.integers``; uint16 and wider) are scaled the same way, with a warning:
    whatever their values meant, they come out near silence. Floats pass through.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio._io import pcm_to_float
    >>> pcm_to_float(np.array([-32768, 0, 16384], dtype=np.int16)).tolist()
    [-1.0, 0.0, 0.5]
    >>> pcm_to_float(np.array([0, 128, 255], dtype=np.uint8)).tolist()
    [-1.0, 0.0, 0.9921875]
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        return y.astype(np.float32, copy=False)
    if y.dtype not in _PCM_DTYPES:
        warnings.warn(
            f"integer samples of dtype {y.dtype} are no PCM format (int8, int16, int32, uint8); "
            f"they are scaled as {8 * y.dtype.itemsize}-bit PCM, i.e. divided by "
            f"2**{8 * y.dtype.itemsize - 1}: pass float samples in [-1, 1] or int16 PCM",
            UserWarning, stacklevel=3,
        )
    if y.dtype.kind == "u":
        half = (int(np.iinfo(y.dtype).max) + 1) / 2
        return ((y - half) / half).astype(np.float32)
    return (y / float(-np.iinfo(y.dtype).min)).astype(np.float32)


def resample(y, orig_sr, target_sr):
    """Resample the last axis of ``y`` from ``orig_sr`` to ``target_sr``.

    Uses :func:`scipy.signal.resample_poly` (polyphase FIR, Kaiser window), a
    deterministic, dependency-free choice that handles any pair of integer
    rates, such as US8K's 44.1/48/96/11.025 kHz files.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio._io import resample
    >>> resample(np.zeros(48000, dtype=np.float32), 48000, 22050).shape
    (22050,)
    """
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    y = np.asarray(y)
    if orig_sr == target_sr:
        return y
    from scipy.signal import resample_poly

    g = gcd(orig_sr, target_sr)
    out = resample_poly(y, target_sr // g, orig_sr // g, axis=-1)
    return out.astype(y.dtype if y.dtype.kind == "f" else np.float32, copy=False)


def load_audio(path, sr=None, *, mono=True):
    """Decode an audio file (wav, flac, ogg, ... via soundfile) to float32.

    Parameters
    ----------
    path : str or path-like
        File to read.
    sr : int or None
        Target sample rate; ``None`` keeps the file's own rate.
    mono : bool
        Average the channels to one.

    Returns
    -------
    y : ndarray of shape (n_samples,) or (n_channels, n_samples), float32
    sr : int
        The sample rate of ``y``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    IsADirectoryError
        The path is a directory.
    AudioDecodeError
        The file is empty, corrupt, unreadable or holds NaN/inf samples.
    """
    import soundfile as sf

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a directory, not an audio file")
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: '{path}'")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError
        raise AudioDecodeError(
            f"could not decode audio file '{path}': {exc}. Expected a wav, flac or ogg file."
        ) from exc
    if data.shape[0] == 0:
        raise AudioDecodeError(f"audio file '{path}' holds no samples (empty file)")
    if not np.isfinite(data).all():
        raise AudioDecodeError(f"audio file '{path}' holds NaN or infinite samples")
    y = data.T  # (channels, samples)
    if mono:
        y = y.mean(axis=0)
    if sr is not None and int(sr) != int(file_sr):
        y = resample(y, file_sr, sr)
        file_sr = int(sr)
    return np.ascontiguousarray(y, dtype=np.float32), int(file_sr)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched,
    so a failed run never leaves a half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path, *, replace=False):
    """Yield a temporary directory beside ``path``; rename it to ``path`` on success.

    ``path`` must not exist yet, unless ``replace=True``: then an existing ``path`` is
    renamed aside once the new directory is complete, the new one renamed into place and
    the old one deleted, so ``path`` never holds a half-written directory. On failure the
    temporary directory is deleted and ``path`` is untouched.
    """
    path = Path(path)
    if path.exists() and not replace:
        raise FileExistsError(f"refusing to overwrite existing directory '{path}'")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    old = None
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old",
                                        dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / path.name).exists() and not path.exists():
            os.replace(old / path.name, path)  # the earlier directory back where it was
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_audio(path, y, sr, *, subtype="PCM_16"):
    """Write a mono or (channels, samples) signal atomically with soundfile."""
    import soundfile as sf

    y = np.asarray(y)
    data = y.T if y.ndim == 2 else y
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, int(sr), subtype=subtype, format=path.suffix[1:].upper() or "WAV")
    return path
