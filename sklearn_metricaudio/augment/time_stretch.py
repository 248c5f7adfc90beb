"""TimeStretch: phase-vocoder time stretch at the paper's four rates (MUDA's TimeStretch)."""

from __future__ import annotations

import functools
import math
import numbers

import torch
from sklearn.utils._param_validation import Interval

from ._base import Deformation, check_values

__all__ = ["TimeStretch", "phase_vocoder_frames", "stft_batch", "stretch", "vocoder_input"]


@functools.lru_cache(maxsize=16)
def _hann(n_fft, device):
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float64).to(device, torch.float32)


@functools.lru_cache(maxsize=16)
def _phase_advance(n_fft, hop_length, device):
    """Expected phase advance per hop of each bin, ``2 pi hop k / n_fft``, modulo ``2 pi``.

    Reduced in float64: congruent values give the same phases out of the vocoder, and
    small ones keep its float32 phase accumulator precise (the unreduced advance of the
    top bin is ``pi * hop``, 1608 rad at hop 512).
    """
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    advance = torch.remainder(2 * math.pi * hop_length * k / n_fft, 2 * math.pi)
    return advance[:, None].to(device, torch.float32)


@functools.lru_cache(maxsize=64)
def _window_envelope(n_fft, hop_length, n_frames, device):
    """Overlap-added squared window of ``n_frames`` frames, as :func:`_overlap_add` lays them."""
    w2 = _hann(n_fft, device).pow(2).expand(1, n_frames, n_fft)
    return _overlap_add(w2, hop_length)[0]


def _overlap_add(frames, hop_length):
    """Overlap-add frames (b, n_frames, n_fft) at ``hop_length``: (b, >= (n_frames-1)*hop + n_fft).

    Each frame is cut into ``ceil(n_fft / hop)`` blocks of ``hop`` samples (zero-padded),
    and block ``q`` of every frame is added ``q`` blocks later: a few large additions
    instead of a strided fold.
    """
    b, n_frames, n_fft = frames.shape
    r = -(-n_fft // hop_length)
    if r * hop_length != n_fft:
        frames = torch.nn.functional.pad(frames, (0, r * hop_length - n_fft))
    blocks = frames.reshape(b, n_frames, r, hop_length)
    out = frames.new_zeros(b, n_frames + r - 1, hop_length)
    for q in range(r):
        out[:, q:q + n_frames] += blocks[:, :, q]
    return out.reshape(b, -1)


def stft_batch(x, n_fft, hop_length):
    """Complex STFT of a batch (b, n): periodic Hann, ``center=True``, zero padding (librosa's)."""
    return torch.stft(x, n_fft, hop_length, window=_hann(n_fft, x.device), center=True,
                      pad_mode="constant", return_complex=True)


def vocoder_input(spec, n_fft, hop_length):
    """What the phase vocoder needs from a complex STFT (b, n_freq, n_frames), for any rate.

    Returns ``(magnitude, increment, phase0)``, time-major: the magnitudes (b, n_frames + 2,
    n_freq) with two silent frames appended (as librosa pads), the phase advance from each
    frame to the next (b, n_frames + 1, n_freq), ``wrap(angle[t+1] - angle[t] - advance) +
    advance``, and the phase of the first frame (b, 1, n_freq). Computed once per batch
    and shared by all rates, so that each rate costs gathers, a cumulative sum and a
    cosine/sine, with no ``atan2`` or ``abs`` of complex numbers.
    """
    advance = _phase_advance(n_fft, hop_length, spec.device)
    spec = torch.nn.functional.pad(spec, (0, 2))
    angle = spec.angle()
    increment = angle[..., 1:] - angle[..., :-1] - advance
    increment = increment - (2 * math.pi) * torch.round(increment / (2 * math.pi)) + advance
    return (spec.abs().transpose(1, 2).contiguous(), increment.transpose(1, 2).contiguous(),
            angle[..., :1].transpose(1, 2))


def phase_vocoder_frames(vocoder_in, rate, n_frames=None):
    """Time-stretched STFT frames (b, n_out, n_freq), complex, from :func:`vocoder_input`.

    :func:`librosa.phase_vocoder` (and :func:`torchaudio.functional.phase_vocoder`):
    output frame ``t`` sits at input position ``s = t * rate``; its magnitude interpolates
    input frames ``floor(s)`` and ``floor(s) + 1``, its phase accumulates the advances of
    the input frames visited. ``n_out = ceil(n_frames_in / rate)``, or fewer if
    ``n_frames`` asks for fewer (the first ones only).
    """
    magnitude, increment, phase0 = vocoder_in
    n_in = magnitude.shape[1] - 2
    steps = torch.arange(0, n_in, rate, dtype=torch.float64)
    if n_frames is not None:
        steps = steps[:n_frames]
    index = steps.long().to(magnitude.device)
    alpha = (steps - steps.floor()).to(magnitude.device, magnitude.dtype)[:, None]
    mag = torch.lerp(magnitude.index_select(1, index), magnitude.index_select(1, index + 1), alpha)
    phase = torch.cat([phase0, increment.index_select(1, index[:-1])], dim=1).cumsum_(dim=1)
    # mag * exp(i phase), written in place (torch.polar and torch.complex are 2x slower)
    out = mag.new_empty(mag.shape + (2,))
    torch.cos(phase, out=out[..., 0])
    torch.sin(phase, out=out[..., 1])
    out.mul_(mag[..., None])
    return torch.view_as_complex(out)


def stretch(vocoder_in, n_samples, rate, n_fft, hop_length, max_samples=None):
    """Time-stretch (b, n_samples) signals by ``rate``, from their :func:`vocoder_input`.

    :func:`librosa.effects.time_stretch`, batched: the phase vocoder, then the inverse STFT
    (``center=True``, windowed overlap-add divided by the summed squared window) to
    ``round(n_samples / rate)`` samples; only the first ``max_samples`` of them (and the
    frames they need) are computed if given.
    """
    length = round(n_samples / rate)
    if max_samples is not None:
        length = min(length, int(max_samples))
    pad = n_fft // 2
    n_frames = -(-(length + 2 * pad) // hop_length)  # librosa.istft's frame count for length
    spec = phase_vocoder_frames(vocoder_in, rate, n_frames)
    n_frames = spec.shape[1]
    device = spec.device
    frames = torch.fft.irfft(spec, n=n_fft, dim=-1) * _hann(n_fft, device)
    y = _overlap_add(frames, hop_length)
    envelope = _window_envelope(n_fft, hop_length, n_frames, device)
    y = torch.where(envelope > 1e-30, y / envelope.clamp_min(1e-30), y)
    y = y[:, pad:pad + length]
    if y.shape[1] < length:
        y = torch.nn.functional.pad(y, (0, length - y.shape[1]))
    return y


class _STFTDeformation(Deformation):
    """Shared STFT settings, length check and per-batch STFT of TimeStretch and PitchShift."""

    _parameter_constraints = {
        **Deformation._parameter_constraints,
        "n_fft": [Interval(numbers.Integral, 2, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def _check_config(self):
        if self.hop_length >= self.n_fft:
            raise ValueError(f"hop_length={self.hop_length} must be smaller than "
                             f"n_fft={self.n_fft}")

    def _min_samples(self):
        return self.n_fft

    def _check_length(self, n_samples):
        if n_samples < self.n_fft:
            raise ValueError(f"clips of {n_samples} samples are shorter than the stretch window "
                             f"n_fft={self.n_fft} of {type(self).__name__}: pass longer clips "
                             "or a smaller n_fft")

    def _prepare_batch(self, x, draws, shared):
        # one STFT and one vocoder input per batch, shared by all variants
        return vocoder_input(stft_batch(x, self.n_fft, self.hop_length), self.n_fft,
                             self.hop_length)


class TimeStretch(_STFTDeformation):
    """Time stretch without change of pitch, by a phase vocoder (MUDA's ``TimeStretch``).

    Each rate gives one variant: ``rate > 1`` plays faster (a shorter result), ``rate <
    1`` slower. The algorithm is :func:`librosa.effects.time_stretch`, which MUDA calls:
    the STFT (periodic Hann window of ``n_fft``, ``hop_length``, ``center=True``), the
    phase vocoder (:func:`librosa.phase_vocoder`, as
    :func:`torchaudio.functional.phase_vocoder` vectorises it over frames) and the inverse
    STFT to ``round(n_samples / rate)`` samples. The result is then brought back to
    ``n_samples`` (the length contract of :class:`Deformation`): a slowed-down clip loses
    its end, a sped-up one is padded as ``pad`` says.

    Batched over clips on ``device``. The STFT, its magnitudes and its phase advances are
    computed once per batch for all rates (:func:`vocoder_input`), which is why the
    vocoder is ours rather than torchaudio's (which takes the angle and modulus of the
    complex frames again for every rate, and was 4x slower); it is tested against
    torchaudio's. Frames past the ``n_samples`` kept are not computed. Phases accumulate
    in float32 with the expected advance reduced modulo ``2 pi``: the output is within
    1e-4 (relative RMS) of librosa run in float64, and closer to it than librosa run in
    float32 (about 1e-2, its accumulator holds phases up to ~1e5 rad).

    Parameters
    ----------
    rates : sequence of float, default=(0.81, 0.93, 1.07, 1.23)
        Stretch factors, each > 0; the paper's four by default.
    n_fft : int, default=2048
        STFT window; clips must be at least this long.
    hop_length : int, default=512
    sr : int, default=22050
        Sample rate of the clips (unused by the stretch itself; kept for a uniform API).
    pad : {"repeat", "constant"}, default="repeat"
        How a shortened result is padded back to the input's length.
    device : str or torch.device, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    batch_size : int or None, default=None
        Clips per torch batch; ``None``: 4 on the CPU, 64 on a GPU.
    random_state : ignored
        Accepted for a uniform API; the stretch is deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.augment import TimeStretch
    >>> X = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32)
    >>> ts = TimeStretch(sr=8000, n_fft=512, hop_length=128)
    >>> ts.fit_transform(X).shape
    (2, 4, 8000)
    >>> ts.variants()
    [('TS', 0.81), ('TS', 0.93), ('TS', 1.07), ('TS', 1.23)]
    """

    family = "TS"

    _parameter_constraints = {
        **_STFTDeformation._parameter_constraints,
        "rates": ["array-like"],
    }

    def __init__(self, rates=(0.81, 0.93, 1.07, 1.23), *, n_fft=2048, hop_length=512,
                 sr=22050, pad="repeat", device="cpu", batch_size=None, random_state=None):
        self.rates = rates
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.sr = sr
        self.pad = pad
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _check_config(self):
        super()._check_config()
        check_values("rates", self.rates, positive=True)

    def _variant_params(self):
        return list(check_values("rates", self.rates, positive=True))

    def _deform_batch(self, x, k, ctx):
        rate = self._variant_params()[k]
        # only the first n_samples are kept (the length contract): compute no more
        n = x.shape[-1]
        return stretch(ctx, n, rate, self.n_fft, self.hop_length, max_samples=n)

