"""Shared base of the batched torch feature transformers (waveforms in)."""

from __future__ import annotations

import numbers
import os

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval

from .._io import pcm_to_float
from .._torch import batch_slices, resolve_device, to_tensor

__all__ = ["WaveformTransformer", "check_waveforms"]


def _holds_paths(X):
    """True when X looks like file names (str, bytes, path-like) rather than samples."""
    if isinstance(X, np.ndarray):
        if X.dtype.kind in "USO" and X.size:
            first = X.flat[0]
            return isinstance(first, (str, bytes, os.PathLike))
        return False
    if isinstance(X, (list, tuple)) and X:
        return isinstance(X[0], (str, bytes, os.PathLike))
    return False


def check_waveforms(estimator, X):
    """Validate a batch of waveforms: 2-D, real, finite; integer PCM scaled to [-1, 1).

    File names get a message that says to put an :class:`AudioLoader` first; integer
    arrays are taken as PCM samples and scaled as :class:`AudioLoader` scales them
    (int16 by 32768), so that ``MFCCStats().transform(int16_clips)`` and the same clips
    read from files agree.
    """
    if _holds_paths(X):
        raise ValueError(
            f"{type(estimator).__name__} takes waveforms, got file names: put an AudioLoader "
            "before it in the pipeline"
        )
    X = check_array(X, dtype=None, ensure_all_finite=True, ensure_2d=True, input_name="X")
    if X.dtype.kind in "iu":
        return pcm_to_float(X)
    if X.dtype.kind != "f":
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    return X


class WaveformTransformer(TransformerMixin, BaseEstimator):
    """Stateless transformer of (n_clips, n_samples) waveforms, batched on torch.

    Subclasses implement ``_min_samples()`` and ``_transform_batch(tensor)``, and may
    add cross-parameter checks (``_check_config``), a more telling length check
    (``_check_length``) and checks of the clips' content (``_check_content``). ``fit``
    learns nothing; ``transform`` works on clips of any length.
    """

    _parameter_constraints = {
        "sr": [Interval(numbers.Integral, 1, None, closed="left")],
        # "cpu", "cuda", "cuda:N", "auto" or a torch.device, checked by resolve_device
        "device": [str, torch.device],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def fit(self, X=None, y=None):
        """Validate the parameters (and ``X`` if given); nothing is learned (stateless).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), optional
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_config()
        if X is not None:
            self._check_waveforms(X)
        return self

    @property
    def min_samples(self):
        """The shortest clip, in samples at ``sr``, that this transformer makes features of
        (one analysis window, one segment)."""
        self._validate_params()
        self._check_config()
        return int(self._min_samples())

    def _check_config(self):
        """Hook for cross-parameter checks."""

    def _check_content(self, X):
        """Hook for checks of the clips themselves (after the shape and length checks)."""

    def _check_length(self, n_samples):
        """Hook: raise a ValueError if clips of ``n_samples`` are too short."""
        need = self._min_samples()
        if n_samples < need:
            raise ValueError(
                f"clips of {n_samples} samples are too short for {type(self).__name__}: "
                f"at least {need} samples ({need / self.sr:.4f} s at sr={self.sr}) are needed"
            )

    def _check_waveforms(self, X):
        X = check_waveforms(self, X)
        self._check_length(X.shape[1])
        self._check_content(X)
        return X

    def transform(self, X):
        """Compute the features of a batch of waveforms.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sr`` (the output of :class:`AudioLoader`); integer arrays are
            PCM and scaled to [-1, 1).

        Returns
        -------
        ndarray, float32, one row per clip
        """
        self._validate_params()
        self._check_config()
        X = self._check_waveforms(X)
        device = resolve_device(self.device)
        batch_size = self.batch_size
        if batch_size is None:
            # small batches keep a CPU's working set in cache (benchmarks/RESULTS.md); a GPU
            # wants large ones
            batch_size = 4 if device.type == "cpu" else 256
        out = []
        with torch.no_grad():
            for sl in batch_slices(X.shape[0], batch_size):
                xb = to_tensor(X[sl], device)
                out.append(self._transform_batch(xb).cpu().numpy())
        return np.concatenate(out, axis=0).astype(np.float32, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags
