"""MFCCStats: the 275-dimensional per-frame MFCC statistics of the paper's baselines."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval

from . import _spectral
from ._base import WaveformTransformer

__all__ = ["MFCCStats", "STAT_NAMES", "window_statistics"]

#: The 11 blocks of ``n_mfcc`` columns, in output order.
STAT_NAMES = ("mfcc", "min", "max", "median", "mean", "skew", "kurtosis",
              "delta_mean", "delta_var", "delta2_mean", "delta2_var")

_DEGENERATE_VAR = 1e-8  # dB**2: a window whose variance is below this is treated as constant


def _sorted_slices(slices):
    """Odd-even transposition sort of a list of equally shaped tensors, elementwise."""
    import torch

    v = list(slices)
    n = len(v)
    for p in range(n):
        for i in range(p % 2, n - 1, 2):
            v[i], v[i + 1] = torch.minimum(v[i], v[i + 1]), torch.maximum(v[i], v[i + 1])
    return v


def _moments(slices, higher=True):
    """Mean and biased central moments 2 (to 4 if ``higher``) over tensors, elementwise."""
    n = len(slices)
    mean = sum(slices) / n
    devs = [x - mean for x in slices]
    sq = [d * d for d in devs]
    m2 = sum(sq) / n
    if not higher:
        return mean, m2
    m3 = sum(q * d for q, d in zip(sq, devs)) / n
    m4 = sum(q * q for q in sq) / n
    return mean, m2, m3, m4


def window_statistics(mfcc, context=5):
    """Statistics over every run of ``context`` consecutive frames.

    Parameters
    ----------
    mfcc : torch.Tensor of shape (batch, n_coef, n_frames)
    context : int

    Returns
    -------
    torch.Tensor of shape (batch, n_frames - context + 1, 11 * n_coef)
        Blocks in :data:`STAT_NAMES` order. Window ``t`` covers frames
        ``t .. t + context - 1``; its "mfcc" block is the centre frame
        ``t + context // 2``. ``delta`` is the first difference between
        consecutive frames of the window, ``delta2`` the second difference,
        so every statistic depends on the window's own frames only.
        Skewness and kurtosis are the biased moment estimators of
        :func:`scipy.stats.skew` and :func:`scipy.stats.kurtosis` (Fisher);
        for a constant window (variance below 1e-8) both are 0.

    Notes
    -----
    The window axis is never materialised: the ``context`` shifted views
    ``mfcc[..., j:j + n_windows]`` are combined elementwise (sums for the
    moments, a min/max sorting network for the order statistics), which is
    several times faster than reducing a short trailing axis.
    """
    import torch

    n_win = mfcc.shape[-1] - context + 1
    if n_win < 1:
        raise ValueError(f"{mfcc.shape[-1]} frames are fewer than context={context}")
    w = [mfcc[..., j:j + n_win] for j in range(context)]
    srt = _sorted_slices(w)
    lo, hi = (context - 1) // 2, context // 2
    median = 0.5 * (srt[lo] + srt[hi])
    centre = w[context // 2]
    # moments of the window shifted by its centre frame: same values, but no cancellation of
    # large offsets (MFCC0 of silence is about -632) in float32
    mean, m2, m3, m4 = _moments([x - centre for x in w])
    mean = mean + centre
    ok = m2 > _DEGENERATE_VAR
    safe = torch.where(ok, m2, torch.ones_like(m2))
    skew = torch.where(ok, m3 / safe.pow(1.5), torch.zeros_like(m2))
    kurt = torch.where(ok, m4 / (safe * safe) - 3.0, torch.zeros_like(m2))
    d1 = [b - a for a, b in zip(w[:-1], w[1:])]
    d2 = [b - a for a, b in zip(d1[:-1], d1[1:])]
    d1_mean, d1_var = _moments(d1, higher=False)
    d2_mean, d2_var = _moments(d2, higher=False)
    blocks = [centre, srt[0], srt[-1], median, mean, skew, kurt,
              d1_mean, d1_var, d2_mean, d2_var]
    # (batch, 11 * coef, windows) -> (batch, windows, 11 * coef)
    return torch.cat(blocks, dim=-2).transpose(-1, -2)


class MFCCStats(WaveformTransformer, auto_wrap_output_keys=None):
    """Per-frame MFCCs and their statistics over consecutive frames (paper, Sec. IV).

    25 MFCCs from 40 mel bands on 21.3 ms windows with 50 % overlap; for every
    run of ``context=5`` consecutive frames: the centre frame's MFCCs, then
    min, max, median, mean, skewness, kurtosis, and mean and variance of the
    first and second differences, per coefficient: ``11 * 25 = 275`` values
    per frame (column names from :meth:`get_feature_names_out`).

    The front end matches ``librosa.feature.mfcc`` on
    ``librosa.power_to_db(melspectrogram, top_db=None)`` (periodic Hann window,
    ``center=True``, Slaney mel bank, orthonormal DCT-II). There is no
    ``top_db`` floor relative to the clip's maximum, so a frame's features do
    not depend on the loudness of the rest of the clip. Computed in batches
    with torch on ``device``.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the input waveforms.
    n_mfcc : int, default=25
    n_mels : int, default=40
    window_seconds : float, default=0.0213
        Analysis window (470 samples at 22.05 kHz; the FFT size is the next
        power of two, 512).
    overlap : float, default=0.5
        Fraction of overlap between consecutive windows (hop = 235 samples).
    context : int, default=5
        Number of consecutive frames summarised by the statistics.
    fmin, fmax : float
        Mel bank frequency range (``fmax=None``: ``sr / 2``).
    device : {"cpu", "cuda", "auto"}, default="cpu"
    batch_size : int or None, default=None
        Clips per FFT call (bounds memory). ``None``: 4 on the CPU (cache-sized),
        256 on a GPU.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import MFCCStats
    >>> X = np.random.default_rng(0).standard_normal((2, 22050)).astype(np.float32)
    >>> F = MFCCStats().fit_transform(X)
    >>> F.shape                       # 1 s -> 94 frames -> 90 windows of 5 frames
    (2, 90, 275)
    >>> MFCCStats().get_feature_names_out()[[0, 25, 274]].tolist()
    ['mfcc0', 'mfcc0_min', 'mfcc24_delta2_var']

    The output is 3-D (clips, windows, columns), so there is no ``set_output``: a
    DataFrame holds 2-D data. The names above label the last axis.
    """

    _parameter_constraints = {
        **WaveformTransformer._parameter_constraints,
        "n_mfcc": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_mels": [Interval(numbers.Integral, 1, None, closed="left")],
        "window_seconds": [Interval(numbers.Real, 0, None, closed="neither")],
        "overlap": [Interval(numbers.Real, 0, 1, closed="left")],
        "context": [Interval(numbers.Integral, 3, None, closed="left")],
        "fmin": [Interval(numbers.Real, 0, None, closed="left")],
        "fmax": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(self, sr=22050, *, n_mfcc=25, n_mels=40, window_seconds=0.0213, overlap=0.5,
                 context=5, fmin=0.0, fmax=None, device="cpu", batch_size=None):
        self.sr = sr
        self.n_mfcc = n_mfcc
        self.n_mels = n_mels
        self.window_seconds = window_seconds
        self.overlap = overlap
        self.context = context
        self.fmin = fmin
        self.fmax = fmax
        self.device = device
        self.batch_size = batch_size

    def _check_config(self):
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc={self.n_mfcc} cannot exceed n_mels={self.n_mels}")
        _spectral.frame_params(self.sr, self.window_seconds, self.overlap)

    def _min_samples(self):
        # center=True framing: n_frames = 1 + n_samples // hop; we need `context` frames,
        # and at least one full window of signal.
        win, n_fft, hop = _spectral.frame_params(self.sr, self.window_seconds, self.overlap)
        return max(win, (self.context - 1) * hop)

    def _transform_batch(self, xb):
        win, n_fft, hop = _spectral.frame_params(self.sr, self.window_seconds, self.overlap)
        mel = _spectral.melspectrogram(xb, self.sr, n_fft, hop, self.n_mels, win_length=win,
                                       fmin=self.fmin, fmax=self.fmax)
        dct = _spectral.dct_matrix(self.n_mfcc, self.n_mels, device=xb.device, dtype=xb.dtype)
        logmel = _spectral.power_to_db(mel, inplace=True)
        mfcc = _spectral.dct_of_frames(logmel, dct).transpose(-1, -2)  # (batch, coef, frames)
        return window_statistics(mfcc, self.context)

    def get_feature_names_out(self, input_features=None):
        """Names of the ``11 * n_mfcc`` columns, e.g. ``mfcc3``, ``mfcc3_skew``."""
        names = []
        for stat in STAT_NAMES:
            suffix = "" if stat == "mfcc" else f"_{stat}"
            names += [f"mfcc{k}{suffix}" for k in range(self.n_mfcc)]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
