"""BackgroundNoise: mix a background recording into each clip at a set SNR (MUDA's BackgroundNoise)."""

from __future__ import annotations

import functools
import numbers
import os

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from .._io import load_audio
from .._torch import to_tensor
from ..datasets.synthetic import make_backgrounds
from ._base import Deformation

__all__ = ["BackgroundNoise"]

#: Length (s) of the default synthetic backgrounds.
DEFAULT_BACKGROUND_SECONDS = 10.0


@functools.lru_cache(maxsize=4)
def _default_backgrounds(sr):
    out = make_backgrounds(round(DEFAULT_BACKGROUND_SECONDS * sr), sr, random_state=0)
    out.setflags(write=False)
    return tuple(out)


def _check_background(item, i, sr):
    where = f"backgrounds[{i}]"
    if isinstance(item, (str, bytes, os.PathLike)):
        y, _ = load_audio(os.fsdecode(item), sr=sr, mono=True)
        where = f"{where} ('{os.fsdecode(item)}')"
    else:
        try:
            y = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be a file path or a 1-D array of samples, got "
                             f"{type(item).__name__}") from None
    if y.ndim != 1:
        raise ValueError(f"{where} must be 1-D (a mono recording at sr), got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{where} is empty (0 samples)")
    if not np.isfinite(y).all():
        raise ValueError(f"{where} holds NaN or infinite samples")
    if not np.any(y):
        raise ValueError(f"{where} is silent (all samples are 0): it cannot be mixed at an SNR")
    return y.astype(np.float32)


class BackgroundNoise(Deformation):
    """Mix a background recording into each clip at a given SNR; one variant per background (MUDA's ``BackgroundNoise``).

    For each clip and background, a segment of the clip's length is taken from the
    background at a random offset, scaled so that the clip's power over the segment's is
    ``snr_db`` exactly (``10 log10(mean(x**2) / mean((scale * segment)**2)) == snr_db``),
    and added to the clip. A background at least as long as the clip gives a contiguous
    segment (offset uniform in ``[0, len(background) - n_samples]``); a shorter one is
    looped: the segment tiles it from an offset uniform in ``[0, len(background))``.
    A silent clip (power 0) is returned unchanged: no noise level reaches an SNR against
    silence; so is a clip whose background segment happens to be all zeros.

    The offsets (and the SNRs, when a range is given) of all clips are drawn up front from
    ``random_state``, clip by clip in order, so the output does not depend on
    ``batch_size``; an int ``random_state`` gives the same mixture at every call.

    Parameters
    ----------
    backgrounds : sequence of 1-D arrays or file paths, or None, default=None
        The background recordings, at ``sr`` (files are decoded and resampled to ``sr``,
        mono). ``None``: the four synthetic backgrounds of the synthetic data set (pink
        noise, traffic rumble, babble, white noise; 10 s each,
        :func:`~sklearn_metricaudio.datasets.make_backgrounds` with ``random_state=0``),
        made when needed and not stored. The paper used four real recordings (MUDA's).
    snr_db : float or (float, float), default=10.0
        Signal-to-noise ratio in dB, or a range ``(low, high)`` from which one is drawn
        uniformly per clip and background.
    sr : int, default=22050
    pad : {"repeat", "constant"}, default="repeat"
        Unused (the output always has the input's length); kept for a uniform API.
    device : str or torch.device, default="cpu"
    batch_size : int or None, default=None
        Clips per torch batch; ``None``: 4 on the CPU, 64 on a GPU.
    random_state : int, RandomState instance or None, default=None
        Draws the offsets and SNRs.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.augment import BackgroundNoise
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((3, 800)).astype(np.float32)
    >>> bg = BackgroundNoise([rng.standard_normal(2000), rng.standard_normal(500)],
    ...                      snr_db=6.0, sr=8000, random_state=0)
    >>> Y = bg.fit_transform(X)
    >>> Y.shape, bg.variants()
    ((3, 2, 800), [('BG', 0), ('BG', 1)])
    >>> noise = Y - X[:, None]
    >>> snr = 10 * np.log10((X[:, None] ** 2).mean(-1) / (noise ** 2).mean(-1))
    >>> bool(np.allclose(snr, 6.0, atol=0.01))
    True
    """

    family = "BG"
    _uses_random_state = True

    _parameter_constraints = {
        **Deformation._parameter_constraints,
        "backgrounds": [list, tuple, np.ndarray, None],
        "snr_db": [Interval(numbers.Real, None, None, closed="neither"), tuple, list],
    }

    def __init__(self, backgrounds=None, *, snr_db=10.0, sr=22050, pad="repeat", device="cpu",
                 batch_size=None, random_state=None):
        self.backgrounds = backgrounds
        self.snr_db = snr_db
        self.sr = sr
        self.pad = pad
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _check_config(self):
        self._snr_range()
        if self.backgrounds is not None and len(self.backgrounds) == 0:
            raise ValueError("backgrounds is empty: give at least one background recording, "
                             "or None for the synthetic ones")

    def _snr_range(self):
        snr = self.snr_db
        if isinstance(snr, (tuple, list)):
            ok = len(snr) == 2 and all(isinstance(v, numbers.Real) and np.isfinite(v) for v in snr)
            if not ok or snr[0] > snr[1]:
                raise ValueError(f"snr_db must be a number or a (low, high) pair with low <= high, "
                                 f"got {snr!r}")
            return float(snr[0]), float(snr[1])
        if not np.isfinite(snr):
            raise ValueError(f"snr_db must be finite, got {snr!r}")
        return float(snr), float(snr)

    def _load_backgrounds(self):
        if self.backgrounds is None:
            return _default_backgrounds(int(self.sr))
        return tuple(_check_background(b, i, self.sr) for i, b in enumerate(self.backgrounds))

    def fit(self, X=None, y=None):
        """Validate the parameters, the backgrounds (and ``X`` if given); nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), optional
        y : ignored

        Returns
        -------
        self
        """
        super().fit(X)
        self._load_backgrounds()
        return self

    def _variant_params(self):
        n = 4 if self.backgrounds is None else len(self.backgrounds)
        return list(range(n))

    def _setup(self, device):
        return [to_tensor(b, device) for b in self._load_backgrounds()]

    def _draw(self, n_clips, n_samples, shared):
        rng = check_random_state(self.random_state)
        lengths = np.array([b.shape[0] for b in shared])
        u = rng.random_sample((n_clips, lengths.size))
        # a long background: a contiguous segment; a short one: any start, looped
        span = np.where(lengths >= n_samples, lengths - n_samples + 1, lengths)
        offsets = np.minimum(np.floor(u * span), span - 1).astype(np.int64)
        low, high = self._snr_range()
        snr = low + (high - low) * rng.random_sample((n_clips, lengths.size))
        return {"offsets": offsets, "snr_db": snr}

    def _prepare_batch(self, x, draws, shared):
        return {"backgrounds": shared,
                "offsets": torch.as_tensor(draws["offsets"], device=x.device),
                "snr_db": to_tensor(draws["snr_db"], x.device, torch.float64),
                "power": x.double().pow(2).mean(-1)}

    def _deform_batch(self, x, k, ctx):
        background = ctx["backgrounds"][k]
        n = x.shape[-1]
        index = (ctx["offsets"][:, k, None] + torch.arange(n, device=x.device)) % background.shape[0]
        segment = background[index]  # (b, n)
        noise_power = segment.double().pow(2).mean(-1)
        target = ctx["power"] / 10.0 ** (ctx["snr_db"][:, k] / 10)
        ok = (ctx["power"] > 0) & (noise_power > 0)
        scale = torch.where(ok, torch.sqrt(target / torch.where(ok, noise_power, 1.0)), 0.0)
        return x + scale.to(x.dtype)[:, None] * segment
