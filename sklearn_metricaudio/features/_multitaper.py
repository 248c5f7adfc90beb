"""Multitaper and surrogate numerics of the Index of Non-Stationarity (private).

The computations behind :class:`~sklearn_metricaudio.features.ins.INSTransformer`
(Borgnat et al., 2010, as the authors' MATLAB functions perform them; that module's
docstring lists the steps): Hermite tapers, surrogate phases, the frame plan per
scale, the batched multitaper spectrogram and ``Theta = var_n(c_n)``, and the
gamma-law threshold.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["SPECTRUM_FLOOR", "default_scales", "hermite_tapers", "draw_surrogate_phases",
           "n_phases", "min_window", "min_clip_samples", "frame_plan", "clip_thetas",
           "gamma_threshold"]

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
def min_window(K):
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


def n_phases(n_samples):
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
    return rng.uniform(0.0, 2.0 * np.pi, size=(int(n_surrogates), n_phases(n_samples)))


def window_length(n_samples, scale):
    # MATLAB's round (half away from zero) of a positive number
    return 2 * int(np.floor(n_samples * scale / 2.0 + 0.5)) - 1


def min_clip_samples(scale, K):
    """Fewest samples a clip needs for its window at ``scale`` to hold ``K`` tapers.

    >>> min_clip_samples(0.01, 5)        # a 17-sample window at 1 % of the clip
    1700
    """
    need = min_window(K)
    n = int(np.ceil(need / scale))
    while window_length(n, scale) < need:
        n += 1
    return n


def frame_plan(n_samples, scales, K, sr):
    """(window, n_fft, hop, n_frames) per scale; clear errors when a scale cannot work."""
    need = min_window(K)
    plan = []
    for s in scales:
        win = window_length(n_samples, s)
        if win < need:
            n_min = min_clip_samples(s, K)
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


def theta_from_power(S, K):
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


def scale_thetas(z, plan_item, taper, nb=None, block=_CPU_BLOCK):
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
        out[b0:b0 + m] = theta_from_power(S[:m], K)
    return out


def gamma_threshold(theta_s, alpha):
    """Gamma law (loc 0, ML) on the surrogate Thetas: shape, scale and its 1-alpha quantile."""
    from scipy import stats

    theta_s = np.asarray(theta_s, dtype=np.float64)
    if not (np.all(np.isfinite(theta_s)) and np.all(theta_s > 0)) or np.ptp(theta_s) == 0:
        return np.nan, np.nan, np.nan
    shape, _, scale = stats.gamma.fit(theta_s, floc=0)
    return shape, scale, stats.gamma.ppf(1.0 - alpha, shape, loc=0, scale=scale)


def clip_thetas(x, phases, plan, tapers, device, batch_size=None):
    """Thetas (n_scales, 1 + J) of one clip (column 0) and of its J surrogates.

    The clip is standardised; its analytic signal and the J surrogates (its Fourier
    magnitude with the given phases) are built in the frequency domain and inverted in
    blocks of ``batch_size`` signals (``None``: a memory budget per device).
    """
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
    if batch_size is not None:
        rows = int(batch_size)
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
            out[s, r0:r1] = scale_thetas(z, item, taper, nb=batch_size,
                                          block=block).cpu().numpy()
    return out
