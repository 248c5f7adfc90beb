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

import functools
import numbers
import os

import numpy as np
from sklearn.utils import Bunch, check_array
from sklearn.utils._param_validation import Interval

from .._io import atomic_path
from .._torch import resolve_device
from ._base import WaveformTransformer

__all__ = ["INSTransformer", "hermite_tapers", "draw_surrogate_phases", "default_scales",
           "format_ins_table", "plot_ins"]

#: Spectra are clipped at this value before logs. The clip is standardised and the tapers
#: have unit norm, so the mean positive-frequency level of the spectrogram is about 4: the
#: floor is ~106 dB below it, ~20 dB above the round-off floor of a float32 FFT.
SPECTRUM_FLOOR = 1e-10

_HALF_WIDTH = 5.0        # Hermite functions sampled on [-5, 5], as the authors
_MIN_WINDOW = 17         # the 5 sampled tapers are orthonormal to 3e-7 from 17 samples up
_CPU_BLOCK = 2 ** 18     # complex points per FFT call on a CPU: fits L2 (fastest measured)
_GPU_BLOCK = 2 ** 27     # ... on a GPU (1 GiB per complex64 buffer)
_CPU_SIGNAL_BUDGET = 2 ** 22  # complex samples of analytic signals held at once (CPU)
_GPU_SIGNAL_BUDGET = 2 ** 26


def default_scales():
    """The default scales ``T_h / T``: 8 log-spaced values from 0.01 to 0.5.

    >>> default_scales().round(4).tolist()
    [0.01, 0.0175, 0.0306, 0.0535, 0.0935, 0.1635, 0.2859, 0.5]
    """
    return np.geomspace(0.01, 0.5, 8)


def hermite_tapers(n, K=5):
    """The first ``K`` Hermite functions sampled at ``n`` points on [-5, 5], unit norm.

    ``h_k(t) = H_k(t) exp(-t**2 / 2)`` (physicists' Hermite polynomials), computed
    with the recursion of the orthonormal functions, then scaled to unit
    Euclidean norm, as the authors' ``hermf`` with ``tm = 5``. The tapers
    alternate even and odd (``h_k[::-1] == (-1)**k h_k``); from 17 samples up the
    five of them are orthonormal to 4e-7 (3e-8 from 19 samples: the tails cut at
    +-5).

    Parameters
    ----------
    n : int
        Number of samples (the window length).
    K : int, default=5
        Number of tapers.

    Returns
    -------
    ndarray of shape (K, n), float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.features.ins import hermite_tapers
    >>> h = hermite_tapers(101, 5)
    >>> np.allclose(h @ h.T, np.eye(5), atol=1e-7)
    True
    """
    n, K = int(n), int(K)
    if n < 1 or K < 1:
        raise ValueError(f"hermite_tapers needs n >= 1 and K >= 1, got n={n}, K={K}")
    t = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, n)
    H = np.empty((K, n))
    prev, cur = np.zeros(n), np.exp(-0.5 * t * t) / np.pi ** 0.25
    for k in range(K):
        H[k] = cur
        prev, cur = cur, np.sqrt(2.0 / (k + 1)) * t * cur - np.sqrt(k / (k + 1.0)) * prev
    return H / np.linalg.norm(H, axis=1, keepdims=True)


@functools.lru_cache(maxsize=16)
def _min_window(K):
    """Smallest odd window (>= 17) at which sampling no longer spoils the ``K`` tapers.

    That is, where their Gram matrix is within ``max(1e-6, 2 e)`` of the identity, ``e``
    being the error left by the truncation at +-5 alone (measured on 4097 samples; it grows
    with the order: 3e-8 for K=5, 3e-6 for K=7, 6e-4 for K=10). 17 for K <= 5, 19 above.
    """
    def error(n):
        h = hermite_tapers(n, K)
        return np.abs(h @ h.T - np.eye(K)).max()

    tolerance = max(1e-6, 2.0 * error(4097))
    n = _MIN_WINDOW
    while n < 4097 and error(n) > tolerance:
        n += 2
    return n


def _n_phases(n_samples):
    """Number of random phases per surrogate: bins ``1 .. ceil(N/2) - 1``."""
    return (int(n_samples) + 1) // 2 - 1


def _generator(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return np.random.default_rng(random_state)


def draw_surrogate_phases(n_samples, n_surrogates, random_state=None):
    """The surrogate phases :class:`INSTransformer` uses for clips of ``n_samples``.

    i.i.d. uniform on ``[0, 2 pi)``, one row per surrogate and one column per
    Fourier bin ``1 .. ceil(n_samples / 2) - 1``, drawn with
    ``numpy.random.default_rng(random_state)`` (an int gives the same phases on
    every call and every device; a ``Generator`` or ``RandomState`` is advanced).

    Returns
    -------
    ndarray of shape (n_surrogates, ceil(n_samples / 2) - 1), float64

    Examples
    --------
    >>> from sklearn_metricaudio.features.ins import draw_surrogate_phases
    >>> draw_surrogate_phases(8, 3, random_state=0).shape
    (3, 3)
    """
    rng = _generator(random_state)
    return rng.uniform(0.0, 2.0 * np.pi, size=(int(n_surrogates), _n_phases(n_samples)))


def _window_length(n_samples, scale):
    # MATLAB's round (half away from zero) of a positive number
    return 2 * int(np.floor(n_samples * scale / 2.0 + 0.5)) - 1


def _frame_plan(n_samples, scales, K, sr):
    """(window, n_fft, hop, n_frames) per scale; clear errors when a scale cannot work."""
    need = _min_window(K)
    plan = []
    for s in scales:
        win = _window_length(n_samples, s)
        if win < need:
            n_min = int(np.ceil(need / s))
            while _window_length(n_min, s) < need:
                n_min += 1
            raise ValueError(
                f"clips of {n_samples} samples are too short for scale {s:.4g}: its window "
                f"T_h = scale * T would hold {max(win, 0)} samples, and at least {need} are "
                f"needed for {K} Hermite tapers. Use clips of at least {n_min} samples "
                f"({n_min / sr:.3f} s at sr={sr}) or larger `scales`."
            )
        hop = (win + 1) // 8
        n_frames = 1 + (n_samples - win) // hop
        if n_frames < 2:
            raise ValueError(
                f"scale {s:.4g} leaves {n_frames} analysis frame in a clip of {n_samples} "
                "samples; Theta is a variance over frames and needs at least 2. Use "
                "`scales` below about 0.88."
            )
        plan.append((win, 1 << (win - 1).bit_length(), hop, n_frames))
    return plan


def _theta_from_power(S, K):
    """Theta = var_n(c_n) from summed taper powers S of shape (m, n_frames, n_bins).

    Works in place on ``S``. ``S`` is the sum over the ``K`` tapers: the mean is ``S / K``,
    and only the floor depends on that factor (normalised spectra and log ratios do not).
    """
    import torch

    S.clamp_(min=K * SPECTRUM_FLOOR)
    mean = S.mean(dim=1, keepdim=True)                       # time-averaged spectrum
    d = S.log().sub_(mean.log())                             # log ratio, per bin
    q = mean.div_(mean.sum(dim=-1, keepdim=True))            # normalised spectra
    p_minus_q = S.div_(S.sum(dim=-1, keepdim=True)).sub_(q)
    kl = torch.linalg.vecdot(p_minus_q, d)                   # symmetrised KL
    lsd = torch.linalg.vector_norm(d, ord=1, dim=-1)         # log-spectral deviation
    c = (kl * (1.0 + lsd)).double()
    return c.var(dim=1)                                      # unbiased, as MATLAB's var


def _scale_thetas(z, plan_item, taper, nb=None, block=_CPU_BLOCK):
    """Theta of each analytic signal (row of ``z``) at one scale.

    The frames of ``nb`` signals x ``K`` tapers x ``nf`` frames go through one FFT call.
    ``nb=None``: blocks of at most ``block`` complex points (several signals per call
    when they fit, else part of one signal's frames).
    """
    import torch

    win, n_fft, hop, n_frames = plan_item
    B, K, half = z.shape[0], taper.shape[0], n_fft // 2
    per_signal = K * n_frames * n_fft
    if nb is not None:
        nb, nf = min(int(nb), B), n_frames
    elif per_signal <= block:
        nb, nf = max(1, min(B, block // per_signal)), n_frames
    else:
        nb, nf = 1, max(1, min(n_frames, block // (K * n_fft)))
    real = torch.float32 if z.dtype == torch.complex64 else torch.float64
    frames = z.unfold(-1, win, hop)[:, :n_frames]            # (B, F, win), a view
    h = taper.to(device=z.device, dtype=z.dtype)[None, :, None, :]
    buf = torch.empty((nb, K, nf, n_fft), dtype=z.dtype, device=z.device)
    power = torch.empty((nb, K, nf, half), dtype=real, device=z.device)
    S = torch.empty((nb, n_frames, half), dtype=real, device=z.device)
    out = torch.empty(B, dtype=torch.float64, device=z.device)
    for b0 in range(0, B, nb):
        m = min(nb, B - b0)
        for f0 in range(0, n_frames, nf):
            k = min(nf, n_frames - f0)
            Z = buf[:m, :, :k]
            Z[..., win:] = 0                                 # zero padding (FFT is in place)
            torch.mul(frames[b0:b0 + m, None, f0:f0 + k], h, out=Z[..., :win])
            torch.fft.fft(Z, dim=-1, out=Z)
            Zp, P = Z[..., :half], power[:m, :, :k]
            torch.mul(Zp.real, Zp.real, out=P).addcmul_(Zp.imag, Zp.imag)
            torch.sum(P, dim=1, out=S[:m, f0:f0 + k])
        out[b0:b0 + m] = _theta_from_power(S[:m], K)
    return out


def _gamma_threshold(theta_s, alpha):
    """Gamma law (loc 0, ML) on the surrogate Thetas: shape, scale and its 1-alpha quantile."""
    from scipy import stats

    theta_s = np.asarray(theta_s, dtype=np.float64)
    if not (np.all(np.isfinite(theta_s)) and np.all(theta_s > 0)) or np.ptp(theta_s) == 0:
        return np.nan, np.nan, np.nan
    shape, _, scale = stats.gamma.fit(theta_s, floc=0)
    return shape, scale, stats.gamma.ppf(1.0 - alpha, shape, loc=0, scale=scale)


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
        2-4x faster than large calls) or ``2**27`` on a GPU.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the surrogate phases. ``None``: fresh phases on every call.

    Attributes
    ----------
    scales_ : ndarray of shape (n_scales,)
        The scales in use (set by ``fit``; ``transform`` needs no fit).

    See Also
    --------
    transform_details : thresholds, verdicts, maximum INS and the test's statistics.
    format_ins_table, plot_ins : the per-scale table and figure of one clip.

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

    def __init__(self, scales=None, n_surrogates=50, n_tapers=5, alpha=0.05, sr=22050,
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
        self._scales()

    def _min_samples(self):
        s = self._scales().min()
        need = _min_window(self.n_tapers)
        n = int(np.ceil(need / s))
        while _window_length(n, s) < need:
            n += 1
        return n

    def _check_waveforms(self, X):
        if isinstance(X, (list, tuple)) and X and isinstance(X[0], (str, bytes, os.PathLike)):
            raise ValueError(
                f"{type(self).__name__} takes waveforms, got file names: put an AudioLoader "
                "before it in the pipeline"
            )
        X = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=True,
                        ensure_2d=True, input_name="X")
        _frame_plan(X.shape[1], self._scales(), self.n_tapers, self.sr)  # raises if too short
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
        return X

    def fit(self, X=None, y=None):
        """Validate the parameters (and ``X`` if given); nothing is learned.

        Sets ``scales_``. ``transform`` works without ``fit``.
        """
        super().fit(X, y)
        self.scales_ = self._scales()
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
            gamma_shape, gamma_scale, gamma_threshold : ndarray (n_clips, n_scales)
                The fitted gamma law and its ``1 - alpha`` quantile (in Theta units).
            scales, window_length, window_ms, hop_length, n_fft, n_frames : ndarray (n_scales,)
                The scales, window ``Nh`` in samples and in ms at ``sr``, hop, FFT
                size and number of frames.
            alpha, n_surrogates, sr : the settings used.
        """
        import torch

        self._validate_params()
        self._check_config()
        X = self._check_waveforms(X)
        n, N = X.shape
        scales = self._scales()
        plan = _frame_plan(N, scales, self.n_tapers, self.sr)
        J = int(self.n_surrogates)
        if surrogate_phases is None:
            phases = draw_surrogate_phases(N, J, self.random_state)
        else:
            phases = np.asarray(surrogate_phases, dtype=np.float64)
            if phases.shape != (J, _n_phases(N)) or not np.all(np.isfinite(phases)):
                raise ValueError(
                    f"surrogate_phases must be a finite array of shape (n_surrogates, "
                    f"ceil(n_samples/2) - 1) = {(J, _n_phases(N))}, got {phases.shape}"
                )
        device = resolve_device(self.device)
        tapers = [torch.as_tensor(hermite_tapers(p[0], self.n_tapers), dtype=torch.float32)
                  for p in plan]
        theta = np.empty((n, len(plan), J + 1))
        with torch.no_grad():
            ph = torch.as_tensor(phases, dtype=torch.float32, device=device)
            for i in range(n):
                theta[i] = self._clip_thetas(X[i], ph, plan, tapers, device)
        return self._summarise(theta, scales, plan)

    def _clip_thetas(self, x, phases, plan, tapers, device):
        """Thetas (n_scales, 1 + J) of one clip (column 0) and of its J surrogates."""
        import torch

        x = np.asarray(x, dtype=np.float64)
        x = x - x.mean()
        x = x / x.std(ddof=1)                       # MATLAB's std
        N, J = x.size, phases.shape[0]
        n_pos = (N + 1) // 2                        # DC and the positive bins below Nyquist
        spectrum = np.fft.fft(x)
        analytic = np.zeros(N, dtype=np.complex128)  # scipy.signal.hilbert's spectrum
        analytic[0] = spectrum[0]
        analytic[1:n_pos] = 2.0 * spectrum[1:n_pos]
        if N % 2 == 0:
            analytic[N // 2] = spectrum[N // 2]
        amp = torch.as_tensor(2.0 * np.abs(spectrum[1:n_pos]), dtype=torch.float32,
                              device=device)        # the authors' 2 |X|, one-sided
        on_gpu = device.type != "cpu"
        if self.batch_size is not None:
            rows = int(self.batch_size)
        else:
            budget = _GPU_SIGNAL_BUDGET if on_gpu else _CPU_SIGNAL_BUDGET
            rows = max(1, budget // N)
        block = _GPU_BLOCK if on_gpu else _CPU_BLOCK
        out = np.empty((len(plan), J + 1))
        for r0 in range(0, J + 1, rows):
            r1 = min(J + 1, r0 + rows)
            spec = torch.zeros((r1 - r0, N), dtype=torch.complex64, device=device)
            j0 = max(r0, 1)                          # row 0 is the clip itself
            if r0 == 0:
                spec[0] = torch.as_tensor(analytic, dtype=torch.complex64, device=device)
            if r1 > j0:
                spec[j0 - r0:, 1:n_pos] = torch.polar(amp.expand(r1 - j0, -1),
                                                      phases[j0 - 1:r1 - 1])
            z = torch.fft.ifft(spec, dim=-1)
            del spec
            for s, (item, taper) in enumerate(zip(plan, tapers)):
                out[s, r0:r1] = _scale_thetas(z, item, taper, nb=self.batch_size,
                                              block=block).cpu().numpy()
        return out

    def _summarise(self, theta, scales, plan):
        n, n_scales, _ = theta.shape
        theta_x, theta_s = theta[..., 0], theta[..., 1:]
        shape = np.full((n, n_scales), np.nan)
        scale = np.full((n, n_scales), np.nan)
        gam = np.full((n, n_scales), np.nan)
        for i in range(n):
            for s in range(n_scales):
                shape[i, s], scale[i, s], gam[i, s] = _gamma_threshold(theta_s[i, s], self.alpha)
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


# ---------------------------------------------------------------------- reporting helpers
def format_ins_table(details, index=0):
    """The per-scale table of one clip: scale, T_h in ms, INS, threshold, verdict.

    Parameters
    ----------
    details : Bunch
        The result of :meth:`INSTransformer.transform_details`.
    index : int, default=0
        Which clip.

    Returns
    -------
    str
    """
    d = details
    lines = [f"{'scale':>8} {'T_h (ms)':>10} {'INS':>10} {'threshold':>10}  verdict"]
    for s in range(len(d.scales)):
        verdict = "non-stationary" if d.nonstationary[index, s] else "stationary"
        if not np.isfinite(d.ins[index, s]):
            verdict = "undefined"
        lines.append(f"{d.scales[s]:>8.4f} {d.window_ms[s]:>10.1f} {d.ins[index, s]:>10.3f} "
                     f"{d.threshold[index, s]:>10.3f}  {verdict}")
    k = int(d.max_index[index])
    overall = "non-stationary" if d.is_nonstationary[index] else "stationary"
    lines.append(f"max INS {d.max_ins[index]:.3f} at scale {d.scales[k]:.4f} "
                 f"(T_h = {d.window_ms[k]:.1f} ms); {overall} at level alpha={d.alpha:g} "
                 f"({int(d.nonstationary[index].sum())}/{len(d.scales)} scales above threshold)")
    return "\n".join(lines)


def plot_ins(waveform, sr, details, path, index=0):
    """Spectrogram and INS-vs-scale curve (with the threshold) of one clip, as a PNG.

    Draws on a bare :class:`matplotlib.figure.Figure` (no pyplot) and writes
    ``path`` atomically.

    Parameters
    ----------
    waveform : array-like of shape (n_samples,) or (n_clips, n_samples)
        The clip (row ``index`` when 2-D).
    sr : int
    details : Bunch
        The result of :meth:`INSTransformer.transform_details`.
    path : str or path-like
    index : int, default=0

    Returns
    -------
    pathlib.Path
    """
    from pathlib import Path

    from matplotlib.figure import Figure
    from scipy.signal import spectrogram

    y = np.asarray(waveform, dtype=np.float64)
    if y.ndim == 2:
        y = y[index]
    nper = int(min(y.size, 1 << max(4, int(round(np.log2(0.025 * sr))))))
    f, t, S = spectrogram(y, fs=sr, nperseg=nper, noverlap=nper * 3 // 4)
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.6, 1])
    ax1.pcolormesh(t, f, 10 * np.log10(np.maximum(S, 1e-12 * max(S.max(), 1e-30))),
                   shading="auto", cmap="magma")
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("frequency (Hz)")
    ax1.set_title("spectrogram (dB)")
    d = details
    ax2.semilogx(d.scales, d.ins[index], "o-", label="INS")
    ax2.semilogx(d.scales, d.threshold[index], "k--", label=f"threshold (alpha={d.alpha:g})")
    hit = d.nonstationary[index]
    ax2.semilogx(d.scales[hit], d.ins[index][hit], "rs", ms=8, mfc="none",
                 label="non-stationary")
    ax2.set_xlabel("scale $T_h/T$")
    ax2.set_ylabel("INS")
    if np.nanmax(d.ins[index]) > 20 * max(np.nanmin(d.ins[index]), 1e-12):
        ax2.set_yscale("log")
    ax2.set_title(f"max INS {d.max_ins[index]:.2f} at {d.max_scale[index]:.3g}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path
