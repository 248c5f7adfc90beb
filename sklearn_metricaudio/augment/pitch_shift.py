"""PitchShift: phase-vocoder pitch shift by semitones (MUDA's PitchShift), and the paper's PS1, PS2."""

from __future__ import annotations

import math

import torch

from ._base import check_values
from .time_stretch import _STFTDeformation, stretch

__all__ = ["PS1", "PS2", "PitchShift", "fft_resample"]

#: The paper's "pitch shift 1": four conservative shifts, in semitones.
PS1 = (-2.0, -1.0, 1.0, 2.0)
#: The paper's "pitch shift 2": four less conservative shifts, in semitones.
PS2 = (-3.5, -2.5, 2.5, 3.5)


def fft_resample(y, num):
    """Resample the last axis of a real tensor to ``num`` samples in the Fourier domain.

    :func:`scipy.signal.resample` (and so librosa's ``res_type="fft"``), batched: the
    real spectrum is truncated or zero-padded to ``num // 2 + 1`` bins, an unpaired bin at
    ``min(num, n) // 2`` is doubled (downsampling) or halved (upsampling), and the result
    scaled by ``num / n``.

    Examples
    --------
    >>> import numpy as np, scipy.signal, torch
    >>> x = np.random.default_rng(0).standard_normal((2, 101))
    >>> y = fft_resample(torch.from_numpy(x), 90).numpy()
    >>> bool(np.allclose(y, scipy.signal.resample(x, 90, axis=-1)))
    True
    """
    n = y.shape[-1]
    if num == n:
        return y
    m = min(num, n)
    spec = torch.fft.rfft(y)[..., : m // 2 + 1]
    if m % 2 == 0:
        spec = spec.clone()
        spec[..., m // 2] *= 2.0 if num < n else 0.5
    return torch.fft.irfft(spec * (num / n), n=num)


class PitchShift(_STFTDeformation):
    """Pitch shift without change of duration (MUDA's ``PitchShift``), one variant per shift.

    The algorithm of :func:`librosa.effects.pitch_shift` (which MUDA calls) with
    ``res_type="fft"``: a time stretch by ``rate = 2 ** (-semitones / 12)`` (see
    :class:`TimeStretch`), then a Fourier-domain resampling of the stretched signal from
    ``sr / rate`` back to ``sr`` (:func:`fft_resample`, as :func:`scipy.signal.resample`),
    which changes every frequency by ``2 ** (semitones / 12)`` and restores the duration.
    The result, within a sample of the input's length, is cut or padded to it (``pad``).
    Batched over clips on ``device``, one STFT per batch for all shifts.

    Parameters
    ----------
    semitones : sequence of float, default=PS1
        Shifts in semitones (positive: up). The paper's two sets are :data:`PS1`
        ``(-2, -1, 1, 2)`` and :data:`PS2` ``(-3.5, -2.5, 2.5, 3.5)``.
    n_fft : int, default=2048
        STFT window of the stretch; clips must be at least this long.
    hop_length : int, default=512
    sr : int, default=22050
        Sample rate of the clips.
    pad : {"repeat", "constant"}, default="repeat"
    device : str or torch.device, default="cpu"
    batch_size : int or None, default=None
        Clips per torch batch; ``None``: 8 on the CPU, 64 on a GPU.
    random_state : ignored
        Accepted for a uniform API; the shift is deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.augment import PS2, PitchShift
    >>> t = np.arange(8000) / 8000
    >>> X = np.sin(2 * np.pi * 440 * t)[None].astype(np.float32)
    >>> ps = PitchShift(PS2, sr=8000, n_fft=512, hop_length=128)
    >>> Y = ps.fit_transform(X)
    >>> Y.shape
    (1, 4, 8000)
    >>> ps.variants()[-1]
    ('PS', 3.5)
    >>> int(np.argmax(np.abs(np.fft.rfft(Y[0, -1]))))  # 440 Hz * 2 ** (3.5 / 12) = 539 Hz
    539
    """

    family = "PS"

    _parameter_constraints = {
        **_STFTDeformation._parameter_constraints,
        "semitones": ["array-like"],
    }

    def __init__(self, semitones=PS1, *, n_fft=2048, hop_length=512, sr=22050, pad="repeat",
                 device="cpu", batch_size=None, random_state=None):
        self.semitones = semitones
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.sr = sr
        self.pad = pad
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _check_config(self):
        super()._check_config()
        check_values("semitones", self.semitones)

    def _variant_params(self):
        return list(check_values("semitones", self.semitones))

    def _default_batch_size(self, device):
        # the resampling FFTs have awkward (often prime) sizes, whose set-up is amortised
        # over the rows of a call: 8 clips per call are 2.3x faster per clip than 1
        return 8 if device.type == "cpu" else 64

    def _deform_batch(self, x, k, ctx):
        steps = self._variant_params()[k]
        rate = 2.0 ** (-steps / 12)
        y = stretch(ctx, x.shape[-1], rate, self.n_fft, self.hop_length)
        # librosa.resample(orig_sr=sr / rate, target_sr=sr): ceil(m * sr / (sr / rate)) samples
        sr = float(self.sr)
        num = math.ceil(y.shape[-1] * (sr / (sr / rate)))
        return fft_resample(y, num)

