"""Deformation: the shared base of the audio deformations (waveforms in, variants out)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions

from .._torch import batch_slices, resolve_device, to_tensor
from ..features import WaveformTransformer

__all__ = ["Deformation", "fix_length_batch"]


def fix_length_batch(y, n_samples, pad="repeat"):
    """Cut or pad the last axis of a tensor to ``n_samples``, as :func:`~sklearn_metricaudio.features.audio.fix_length`.

    A longer signal keeps its start; a shorter one is tiled (``pad="repeat"``) or
    followed by zeros (``"constant"``).

    Examples
    --------
    >>> import torch
    >>> fix_length_batch(torch.tensor([[1., 2., 3.]]), 7)
    tensor([[1., 2., 3., 1., 2., 3., 1.]])
    >>> fix_length_batch(torch.tensor([[1., 2., 3.]]), 2)
    tensor([[1., 2.]])
    """
    m = y.shape[-1]
    if m >= n_samples:
        return y[..., :n_samples]
    if pad == "repeat":
        reps = -(-n_samples // m)
        return y.repeat(*([1] * (y.dim() - 1)), reps)[..., :n_samples]
    if pad == "constant":
        return torch.nn.functional.pad(y, (0, n_samples - m))
    raise ValueError(f"pad must be 'repeat' or 'constant', got {pad!r}")


def check_values(name, values, *, positive=False):
    """A non-empty 1-D sequence of finite numbers as a tuple of floats, or a ValueError naming it."""
    arr = None
    if not isinstance(values, (str, bytes)):
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
    if arr is None or arr.ndim != 1:
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: give at least one value")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must hold finite numbers, got {values!r}")
    if positive and (arr <= 0).any():
        raise ValueError(f"{name} must hold positive numbers, got {values!r}")
    return tuple(float(v) for v in arr)


class Deformation(WaveformTransformer):
    """Base of the audio deformations: every variant of every clip, at the clip's length.

    ``transform`` maps waveforms ``X`` of shape (n_clips, n_samples) to a float32 array of
    shape (n_clips, n_variants, n_samples): variant ``k`` of clip ``i`` is
    ``out[i, k]``, and :meth:`variants` names the variants in that order as
    ``(family, parameter)`` pairs. Every variant keeps the input's length: a longer
    result (a slowed-down clip) is cut at the end, keeping its start; a shorter one is
    padded as ``pad`` says (``"repeat"`` tiles it, as :class:`AudioLoader` pads short
    clips; ``"constant"`` appends zeros).

    Deformations are stateless :class:`~sklearn_metricaudio.features.WaveformTransformer`
    s: ``fit``, the waveform checks and the length hooks are the feature transformers'
    (``fit`` only validates the parameters and ``X`` if given). The torch work runs on ``device`` in batches of ``batch_size`` clips, under
    :func:`torch.no_grad`; random draws (only :class:`BackgroundNoise` has any) are made
    for all clips up front, so the output does not depend on ``batch_size``.

    Subclasses set the class attribute ``family`` and implement ``_variant_params()``
    (the parameter of each variant) and ``_deform_batch(x, k, ctx)`` (variant ``k`` of a
    batch ``x`` of shape (b, n_samples), any length out); they may override
    ``_check_config()``, ``_min_samples()`` or ``_check_length()``, ``_setup(device)`` (what a ``transform`` call
    needs for all batches), ``_draw(n_clips, n_samples, shared)`` (random draws, a dict of
    arrays with one row per clip), ``_prepare_batch(x, draws, shared)`` (work shared by the
    variants of a batch, passed on as ``ctx``) and ``_default_batch_size(device)``.

    Common parameters (keyword-only) of every deformation: ``sr``, ``pad``, ``device``,
    ``batch_size`` and ``random_state``; the deterministic deformations accept
    ``random_state`` and ignore it, so that a list of deformations can be seeded
    uniformly.
    """

    #: Short name of the deformation family, as in the paper: "TS", "PS", "DRC", "BG".
    family = None
    #: Whether the output depends on ``random_state`` (only :class:`BackgroundNoise`'s does).
    _uses_random_state = False

    _parameter_constraints = {
        **WaveformTransformer._parameter_constraints,  # sr, device, batch_size
        "pad": [StrOptions({"repeat", "constant"})],
        "random_state": ["random_state"],
    }

    # ------------------------------------------------------------------ the public API
    def variants(self):
        """The variants in output order, as ``(family, parameter)`` pairs.

        Returns
        -------
        list of tuple
            For example ``[("TS", 0.81), ("TS", 0.93), ...]``.
        """
        self._validate_params()
        self._check_config()
        return [(self.family, p) for p in self._variant_params()]

    @property
    def n_variants(self):
        """Number of variants of each clip that :meth:`transform` returns."""
        return len(self.variants())

    def transform(self, X):
        """Every variant of every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sr`` (the output of :class:`AudioLoader`); integer arrays are
            PCM and scaled to [-1, 1). File names are refused: put an
            :class:`AudioLoader` first.

        Returns
        -------
        ndarray of shape (n_clips, n_variants, n_samples), float32
        """
        self._validate_params()
        self._check_config()
        X = self._check_waveforms(X)
        n_clips, n_samples = X.shape
        n_variants = len(self._variant_params())
        device = resolve_device(self.device)
        batch_size = self.batch_size or self._default_batch_size(device)
        out = np.empty((n_clips, n_variants, n_samples), dtype=np.float32)
        with torch.no_grad():
            shared = self._setup(device)
            draws = self._draw(n_clips, n_samples, shared)
            for sl in batch_slices(n_clips, batch_size):
                xb = to_tensor(X[sl], device)
                ctx = self._prepare_batch(xb, None if draws is None
                                          else {k: v[sl] for k, v in draws.items()}, shared)
                for k in range(n_variants):
                    y = fix_length_batch(self._deform_batch(xb, k, ctx), n_samples, self.pad)
                    out[sl, k] = y.cpu().numpy()
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # requires_fit=False: stateless
        tags.transformer_tags.preserves_dtype = []  # always float32
        return tags

    # ------------------------------------------------------------------ hooks
    def _variant_params(self):
        raise NotImplementedError

    def _deform_batch(self, x, k, ctx):
        raise NotImplementedError

    def _min_samples(self):
        return 1

    def _setup(self, device):
        """Hook: what one ``transform`` call needs for all batches (data on ``device``)."""
        return

    def _draw(self, n_clips, n_samples, shared):
        """Hook: the random draws of ``n_clips`` clips, ``{name: array with n_clips rows}``."""
        return

    def _prepare_batch(self, x, draws, shared):
        """Hook: work shared by all variants of the batch ``x``; passed to ``_deform_batch``."""
        return draws

    def _default_batch_size(self, device):
        return 4 if device.type == "cpu" else 64
