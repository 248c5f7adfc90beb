"""Shared base of the batched torch feature transformers (waveforms in)."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval

from .._torch import batch_slices, resolve_device, to_tensor

__all__ = ["WaveformTransformer"]


class WaveformTransformer(TransformerMixin, BaseEstimator):
    """Stateless transformer of (n_clips, n_samples) waveforms, batched on torch.

    Subclasses implement ``_min_samples()`` and ``_transform_batch(tensor)``.
    ``fit`` learns nothing; ``transform`` works on clips of any length.
    """

    _parameter_constraints = {
        "sr": [Interval(numbers.Integral, 1, None, closed="left")],
        "device": [str],  # "cpu", "cuda", "cuda:N" or "auto", checked by resolve_device
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def fit(self, X=None, y=None):
        """Validate the parameters (and ``X`` if given); nothing is learned (stateless)."""
        self._validate_params()
        self._check_config()
        if X is not None:
            self._check_waveforms(X)
        return self

    def _check_config(self):
        """Hook for cross-parameter checks."""

    def _check_waveforms(self, X):
        if isinstance(X, (list, tuple)) and X and isinstance(X[0], (str, bytes)):
            raise ValueError(
                f"{type(self).__name__} takes waveforms, got file names: put an AudioLoader "
                "before it in the pipeline"
            )
        X = check_array(X, dtype=[np.float32, np.float64], ensure_all_finite=True,
                        ensure_2d=True, input_name="X")
        need = self._min_samples()
        if X.shape[1] < need:
            raise ValueError(
                f"clips of {X.shape[1]} samples are too short for {type(self).__name__}: "
                f"at least {need} samples ({need / self.sr:.4f} s at sr={self.sr}) are needed"
            )
        return X

    def transform(self, X):
        """Compute the features of a batch of waveforms.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sr`` (the output of :class:`AudioLoader`).
        """
        self._validate_params()
        self._check_config()
        X = self._check_waveforms(X)
        device = resolve_device(self.device)
        batch_size = self.batch_size
        if batch_size is None:
            # small batches keep a CPU's working set in cache (8 measured fastest on 2 cores,
            # benchmarks/RESULTS.md); a GPU wants large ones
            batch_size = 8 if device.type == "cpu" else 256
        out = []
        import torch

        with torch.no_grad():
            for sl in batch_slices(X.shape[0], batch_size):
                xb = to_tensor(X[sl], device)
                out.append(self._transform_batch(xb).cpu().numpy())
        return np.concatenate(out, axis=0).astype(np.float32, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags
