"""LogMelPatches: log-mel spectrogram cut into non-overlapping segments."""

from __future__ import annotations

import numbers

from sklearn.utils._param_validation import Interval

from . import _spectral
from ._base import WaveformTransformer

__all__ = ["LogMelPatches"]


class LogMelPatches(WaveformTransformer):
    """Log-mel spectrogram patches: (n_clips, n_segments, n_mels, n_frames).

    The clip's mel power spectrogram (``n_fft=1024``, ``hop_length=256``,
    periodic Hann window, ``center=True``, Slaney mel bank, as
    ``librosa.feature.melspectrogram``) in dB (``10 log10(max(S, 1e-10))``,
    no clip-relative ``top_db``), cut along time into non-overlapping
    segments of ``segment_seconds`` (the papers' 1-5 s inputs) or of
    ``patch_frames`` frames (the second paper's 128-frame patches). Frames
    left over after the last whole segment are dropped. Batched on torch, on
    ``device``.

    Parameters
    ----------
    sr : int, default=22050
    n_mels : int, default=128
    n_fft : int, default=1024
    hop_length : int, default=256
        Frame step in samples: 86 frames/s at 22.05 kHz. Half of librosa's
        512, because 43 frames/s aliases the 8-45 Hz pulse rates of engines
        and jackhammers; it costs twice the compute of 512 and is measured on
        the synthetic set and ESC-10 in ``benchmarks/RESULTS.md``.
    segment_seconds : float, default=1.0
        Segment length; ``round(segment_seconds * sr / hop_length)`` frames.
        The papers use 1-5 s; any positive length is accepted. Ignored when
        ``patch_frames`` is set.
    patch_frames : int or None, default=None
        Segment length in frames.
    fmin, fmax : float
    device : {"cpu", "cuda", "auto"}, default="cpu"
    batch_size : int or None, default=None
        Clips per FFT call (bounds memory). ``None``: 4 on the CPU (cache-sized),
        256 on a GPU.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import LogMelPatches
    >>> X = np.random.default_rng(0).standard_normal((3, 4 * 22050)).astype(np.float32)
    >>> LogMelPatches(segment_seconds=1.0).fit_transform(X).shape
    (3, 4, 128, 86)
    >>> LogMelPatches(segment_seconds=1.0, hop_length=512).fit_transform(X).shape
    (3, 4, 128, 43)
    >>> LogMelPatches(patch_frames=128).fit_transform(X).shape
    (3, 2, 128, 128)
    """

    _parameter_constraints = {
        **WaveformTransformer._parameter_constraints,
        "n_mels": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_fft": [Interval(numbers.Integral, 2, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "segment_seconds": [Interval(numbers.Real, 0, None, closed="neither")],
        "patch_frames": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "fmin": [Interval(numbers.Real, 0, None, closed="left")],
        "fmax": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(self, sr=22050, *, n_mels=128, n_fft=1024, hop_length=256, segment_seconds=1.0,
                 patch_frames=None, fmin=0.0, fmax=None, device="cpu", batch_size=None):
        self.sr = sr
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.segment_seconds = segment_seconds
        self.patch_frames = patch_frames
        self.fmin = fmin
        self.fmax = fmax
        self.device = device
        self.batch_size = batch_size

    @property
    def frames_per_segment(self):
        """Number of spectrogram frames in one segment."""
        if self.patch_frames is not None:
            return int(self.patch_frames)
        return max(1, int(round(self.segment_seconds * self.sr / self.hop_length)))

    def _min_samples(self):
        # center=True: n_frames = 1 + n_samples // hop >= frames_per_segment
        return max(self.n_fft, (self.frames_per_segment - 1) * self.hop_length)

    def _transform_batch(self, xb):
        mel = _spectral.melspectrogram(xb, self.sr, self.n_fft, self.hop_length, self.n_mels,
                                       fmin=self.fmin, fmax=self.fmax)
        logmel = _spectral.power_to_db(mel, inplace=True)  # (batch, frames, mels)
        f = self.frames_per_segment
        n_seg = logmel.shape[1] // f
        patches = logmel[:, : n_seg * f].unflatten(1, (n_seg, f))  # (batch, seg, f, mels)
        return patches.transpose(-1, -2)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
