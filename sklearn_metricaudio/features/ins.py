"""INSTransformer: the Index of Non-Stationarity (Borgnat et al., 2010; paper Sec. II).

The test of Borgnat, Flandrin, Honeine, Richard & Xiao, "Testing stationarity
with surrogates: a time-frequency approach", IEEE Trans. Signal Processing
58(7), 2010, with the implementation choices of the authors' MATLAB functions
(``../shared/papers/README.md``):

1. the clip is standardised (zero mean, unit standard deviation);
2. for a scale ``s = T_h / T`` the window has ``Nh = 2 * round(N * s / 2) - 1``
   samples, the FFT size is the next power of two, the hop ``(Nh + 1) // 8``;
   frames lie fully inside the clip (no padding);
3. multitaper spectrogram of the analytic signal with ``K`` Hermite functions
   sampled on ``[-5, 5]`` (unit norm), averaged over tapers; positive-frequency
   half (``n_fft // 2`` bins, DC included);
4. per frame ``c_n = D_KL(n) * (1 + D_LSD(n))`` between the frame's spectrum and
   the time-averaged spectrum (symmetrised Kullback-Leibler divergence of the
   normalised spectra, summed absolute log ratio of the raw ones; spectra
   clipped at ``1e-10`` before logs) and ``Theta = var_n(c_n)``;
5. the same for ``J`` surrogates: the clip's Fourier magnitude with i.i.d.
   uniform phases (the authors' ``phasemodul``: bins ``1 .. ceil(N/2) - 1``,
   DC and an even-length clip's Nyquist bin set to 0);
6. a gamma law (location 0, maximum likelihood, :func:`scipy.stats.gamma.fit`)
   fitted to the ``J`` surrogate Thetas, ``gamma = ppf(1 - alpha)``;
   ``INS = sqrt(Theta_x / mean(Theta_s))``, threshold
   ``sqrt(gamma / mean(Theta_s))``; non-stationary at that scale when INS
   exceeds the threshold.

Speed: for one scale, the tapered frames of the clip and of its surrogates go
through batched FFT calls on torch (CPU or CUDA), in blocks sized for the CPU's
cache or the GPU's memory (``batch_size``); see ``benchmarks/bench_ins.py``.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval

from .._torch import resolve_device
from ._base import WaveformTransformer
from ._multitaper import (clip_thetas, default_scales, draw_surrogate_phases, frame_plan,
                          gamma_threshold, hermite_tapers, min_clip_samples, n_phases)

__all__ = ["INSTransformer", "hermite_tapers", "draw_surrogate_phases", "default_scales"]


class INSTransformer(WaveformTransformer):
    """Index of Non-Stationarity of each clip at several time scales (paper Sec. II).

    The test of Borgnat et al. (2010) as the authors' MATLAB code performs it:
    the multitaper spectrogram (``n_tapers`` Hermite windows) of the analytic
    signal is compared frame by frame with its time average
    (``c_n = D_KL * (1 + D_LSD)``), ``Theta`` is the variance of ``c_n`` over
    frames, and the same is computed for ``n_surrogates`` stationary surrogates
    (same Fourier magnitude, i.i.d. uniform phases). At each scale
    ``T_h / T`` (window length over clip length)::

        INS       = sqrt(Theta_x / mean(Theta_s))
        threshold = sqrt(gamma.ppf(1 - alpha) / mean(Theta_s))

    with the gamma law fitted to the surrogate Thetas by maximum likelihood
    (location 0, :func:`scipy.stats.gamma.fit`). The clip is judged
    non-stationary at a scale when ``INS > threshold``: a stationary clip is
    flagged at a given scale with probability about ``alpha``. A stationary
    signal has INS near 1; a chirp or a noise burst has INS in the tens to
    thousands. See ``docs/ins.md``.

    The clips are standardised first, so the INS does not depend on gain.
    Every clip is compared with the same ``n_surrogates`` phase draws (from
    ``random_state``, see :func:`draw_surrogate_phases`): a clip's result does
    not depend on the other clips in ``X``, on its position or on
    ``batch_size``, and an int ``random_state`` gives the same surrogates on
    the CPU and on CUDA.

    Parameters
    ----------
    scales : array-like of float in (0, 1) or None, default=None
        Window lengths as fractions ``T_h / T`` of the clip. ``None``: 8
        log-spaced values from 0.01 to 0.5 (:func:`default_scales`). Every
        scale needs a window of at least 17 samples (more for
        ``n_tapers > 5``) and 2 frames (scales below about 0.88).
    n_surrogates : int, default=50
        Number of surrogates ``J`` (at least 2; the authors use 50).
    n_tapers : int, default=5
        Number of Hermite tapers ``K`` (the authors use 5; sampled on [-5, 5], tapers of
        order 7 and above are cut off and orthonormal only to 3e-6 .. 6e-4).
    alpha : float, default=0.05
        Level of the test at each scale (false-alarm rate).
    sr : int, default=22050
        Sample rate, used only to report window lengths in milliseconds.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    batch_size : int or None, default=None
        Signals (the clip and its surrogates) whose tapered frames go through
        one FFT call, all tapers and frames at once; bounds memory. ``None``:
        automatic, in blocks of ``2**18`` complex points on a CPU (cache-sized,
        see ``benchmarks/RESULTS.md``) or ``2**27`` on a GPU.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the surrogate phases. ``None``: fresh phases on every call.

    Attributes
    ----------
    scales_ : ndarray of shape (n_scales,)
        The scales in use, set by ``fit`` and used by ``transform`` from then on
        (``transform`` also works unfitted, reading ``scales``).

    See Also
    --------
    transform_details : thresholds, verdicts, maximum INS and the test's statistics.
    sklearn_metricaudio.evaluation.format_ins_table, sklearn_metricaudio.evaluation.plot_ins :
        the per-scale table and figure of one clip.

    Notes
    -----
    The result of ``transform`` has one column per scale. Clips that are
    constant (standard deviation below 1e-7 of their peak, e.g. digital
    silence) have no INS and raise a ``ValueError`` naming them, as do NaN or
    infinite samples. If the surrogate Thetas are all equal or not all
    positive (no spectral change over time at all), the gamma law cannot be
    fitted: the threshold is NaN and the verdict False.

    The FFTs run in float32 (complex64): INS agrees with a float64 reference
    to a few 1e-6 relative (4e-5 on clips with digital silence). On a CPU
    that another process keeps busy, ``torch.set_num_threads(1)`` can be much
    faster than torch's default of one thread per core.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.features.ins import INSTransformer
    >>> sr = 4000
    >>> t = np.arange(sr // 2) / sr                        # 0.5 s
    >>> noise = np.random.default_rng(0).standard_normal(t.size)
    >>> chirp = np.sin(2 * np.pi * (100 * t + 1500 * t ** 2))
    >>> ins = INSTransformer(scales=[0.02, 0.1], n_surrogates=20, sr=sr, random_state=0)
    >>> d = ins.transform_details(np.stack([noise, chirp]))
    >>> d.ins.shape, d.threshold.shape
    ((2, 2), (2, 2))
    >>> d.nonstationary.tolist()
    [[False, False], [True, True]]
    >>> bool(d.max_ins[1] > 10 * d.max_ins[0])
    True
    """

    _parameter_constraints = {
        **WaveformTransformer._parameter_constraints,
        "scales": ["array-like", None],
        "n_surrogates": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_tapers": [Interval(numbers.Integral, 1, 10, closed="both")],
        "alpha": [Interval(numbers.Real, 0, 1, closed="neither")],
        "random_state": ["random_state", np.random.Generator],
    }

    def __init__(self, scales=None, *, n_surrogates=50, n_tapers=5, alpha=0.05, sr=22050,
                 device="cpu", batch_size=None, random_state=None):
        self.scales = scales
        self.n_surrogates = n_surrogates
        self.n_tapers = n_tapers
        self.alpha = alpha
        self.sr = sr
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _scales(self):
        """The scales in use: fitted ``scales_`` after ``fit``, else from ``scales``."""
        if hasattr(self, "scales_"):
            return self.scales_
        return self._scales_param()

    def _scales_param(self):
        if self.scales is None:
            return default_scales()
        s = np.asarray(self.scales, dtype=np.float64)
        if s.ndim == 0:
            s = s[None]
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"scales must be a non-empty 1-D list of floats, got {self.scales!r}")
        if not np.all(np.isfinite(s)) or np.any(s <= 0) or np.any(s >= 1):
            raise ValueError(
                f"scales must lie in (0, 1): they are window lengths as fractions T_h/T of "
                f"the clip; got {s.tolist()}"
            )
        return s

    def _check_config(self):
        self._scales_param()

    def _min_samples(self):
        return min_clip_samples(self._scales().min(), self.n_tapers)

    def _check_length(self, n_samples):
        """Every scale's window must hold the tapers and leave 2 frames (says which fails)."""
        frame_plan(n_samples, self._scales(), self.n_tapers, self.sr)

    def _check_content(self, X):
        """Constant (silent) clips have no INS."""
        Xd = X.astype(np.float64, copy=False)
        std = Xd.std(axis=1)
        peak = np.abs(Xd).max(axis=1)
        flat = np.flatnonzero(std <= 1e-7 * peak)  # all-zero clips: 0 <= 0
        if flat.size:
            shown = flat[:10].tolist()
            raise ValueError(
                f"clip(s) {shown}{' ...' if flat.size > 10 else ''} of X are constant "
                "(silent): the INS compares a clip's spectra over time and is undefined "
                "without signal; remove these clips"
            )

    def fit(self, X=None, y=None):
        """Validate the parameters (and ``X`` if given); nothing is learned.

        Sets ``scales_``, which ``transform`` uses from then on (a later
        ``set_params(scales=...)`` takes effect at the next ``fit``). Without
        ``fit``, ``transform`` reads the ``scales`` parameter (stateless use).
        """
        if hasattr(self, "scales_"):
            del self.scales_
        super().fit(X, y)
        self.scales_ = self._scales_param()
        return self

    # ------------------------------------------------------------------ computation
    def transform(self, X):
        """INS of each clip at each scale.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms (the output of :class:`AudioLoader`).

        Returns
        -------
        ndarray of shape (n_clips, n_scales), float64
        """
        return self.transform_details(X).ins

    def transform_details(self, X, *, surrogate_phases=None):
        """INS, thresholds, verdicts and the test's statistics for each clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
        surrogate_phases : array-like of shape (n_surrogates, ceil(n_samples/2) - 1), optional
            Phases to use instead of drawing them from ``random_state`` (to
            reproduce a computation or to compare with another implementation).

        Returns
        -------
        Bunch with fields
            ins, threshold : ndarray (n_clips, n_scales)
                Index of non-stationarity and its threshold at level ``alpha``.
            nonstationary : bool ndarray (n_clips, n_scales)
                ``ins > threshold``.
            is_nonstationary : bool ndarray (n_clips,)
                Non-stationary at one scale at least (with several scales this
                test's false-alarm rate exceeds ``alpha``).
            max_ins, max_scale : ndarray (n_clips,)
                Largest INS over scales and its scale ``T_h / T``; ``max_index``
                its column.
            theta : ndarray (n_clips, n_scales)
                ``Theta_x = var_n(c_n)`` of the clip.
            theta_surrogates : ndarray (n_clips, n_scales, n_surrogates)
                ``Theta`` of each surrogate.
            gamma_shape, gamma_scale, gamma_threshold : ndarray (n_clips, n_scales)
                The fitted gamma law and its ``1 - alpha`` quantile (in Theta units).
            scales, window_length, window_ms, hop_length, n_fft, n_frames : ndarray (n_scales,)
                The scales, window ``Nh`` in samples and in ms at ``sr``, hop, FFT
                size and number of frames.
            alpha, n_surrogates, sr : float, int, int
                The settings used.
        """
        self._validate_params()
        self._check_config()
        X = self._check_waveforms(X)
        n, N = X.shape
        scales = self._scales()
        plan = frame_plan(N, scales, self.n_tapers, self.sr)
        J = int(self.n_surrogates)
        if surrogate_phases is None:
            phases = draw_surrogate_phases(N, J, self.random_state)
        else:
            phases = np.asarray(surrogate_phases, dtype=np.float64)
            if phases.shape != (J, n_phases(N)) or not np.all(np.isfinite(phases)):
                raise ValueError(
                    f"surrogate_phases must be a finite array of shape (n_surrogates, "
                    f"ceil(n_samples/2) - 1) = {(J, n_phases(N))}, got {phases.shape}"
                )
        device = resolve_device(self.device)
        tapers = [torch.as_tensor(hermite_tapers(p[0], self.n_tapers), dtype=torch.float32)
                  for p in plan]
        theta = np.empty((n, len(plan), J + 1))
        with torch.no_grad():
            ph = torch.as_tensor(phases, dtype=torch.float32, device=device)
            for i in range(n):
                theta[i] = clip_thetas(X[i], ph, plan, tapers, device, self.batch_size)
        return self._summarise(theta, scales, plan)

    def _summarise(self, theta, scales, plan):
        n, n_scales, _ = theta.shape
        theta_x, theta_s = theta[..., 0], theta[..., 1:]
        shape = np.full((n, n_scales), np.nan)
        scale = np.full((n, n_scales), np.nan)
        gam = np.full((n, n_scales), np.nan)
        for i in range(n):
            for s in range(n_scales):
                shape[i, s], scale[i, s], gam[i, s] = gamma_threshold(theta_s[i, s], self.alpha)
        mean_s = theta_s.mean(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ins = np.sqrt(theta_x / mean_s)
            threshold = np.sqrt(gam / mean_s)
        nonstationary = ins > threshold             # False where NaN
        valid = np.isfinite(ins)
        max_index = np.where(valid.any(axis=1),
                             np.argmax(np.where(valid, ins, -np.inf), axis=1), 0)
        rows = np.arange(n)
        max_ins = np.where(valid.any(axis=1), ins[rows, max_index], np.nan)
        win = np.array([p[0] for p in plan])
        return Bunch(
            ins=ins, threshold=threshold, nonstationary=nonstationary,
            is_nonstationary=nonstationary.any(axis=1),
            max_ins=max_ins, max_scale=scales[max_index], max_index=max_index,
            theta=theta_x, theta_surrogates=theta_s,
            gamma_shape=shape, gamma_scale=scale, gamma_threshold=gam,
            scales=scales, window_length=win, window_ms=1000.0 * win / self.sr,
            hop_length=np.array([p[2] for p in plan]), n_fft=np.array([p[1] for p in plan]),
            n_frames=np.array([p[3] for p in plan]),
            alpha=self.alpha, n_surrogates=int(self.n_surrogates), sr=self.sr,
        )

    def get_feature_names_out(self, input_features=None):
        """One name per scale: ``ins_0.01`` ... (the scale ``T_h / T``)."""
        return np.asarray([f"ins_{s:.4g}" for s in self._scales()], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
