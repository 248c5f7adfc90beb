"""Batched spectral front-end on torch (CPU or CUDA): STFT power, mel, dB, DCT.

The conventions are librosa's, so that outputs match ``librosa.feature``
computed with the same parameters: periodic Hann window zero-padded to
``n_fft``, ``center=True`` framing with zero padding, librosa's Slaney mel
filter bank, ``10 log10(max(S, amin))`` and an orthonormal DCT-II.

Why not librosa itself? librosa works one clip at a time in NumPy; here a batch
of clips goes through one FFT call and one matrix product, on the CPU or a GPU.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["frame_params", "stft_power", "mel_filterbank", "melspectrogram", "power_to_db",
           "dct_matrix"]


def frame_params(sr, window_seconds, overlap):
    """Return ``(win_length, n_fft, hop_length)`` for a window in seconds.

    ``n_fft`` is the next power of two of the window length.

    >>> frame_params(22050, 0.0213, 0.5)
    (470, 512, 235)
    """
    win_length = int(round(window_seconds * sr))
    if win_length < 2:
        raise ValueError(f"window of {window_seconds} s at sr={sr} is shorter than 2 samples")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    n_fft = 1 << (win_length - 1).bit_length()
    hop_length = max(1, int(round(win_length * (1 - overlap))))
    return win_length, n_fft, hop_length


@functools.lru_cache(maxsize=32)
def _window(win_length, n_fft, device, dtype):
    import torch

    w = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
    left = (n_fft - win_length) // 2  # librosa.util.pad_center
    w = torch.nn.functional.pad(w, (left, n_fft - win_length - left))
    return w.to(device=device, dtype=dtype)


def stft_power(y, n_fft, hop_length, win_length=None, center=True):
    """Power spectrogram ``|STFT|**2`` of a batch of signals, time-major.

    Parameters
    ----------
    y : torch.Tensor of shape (batch, n_samples)
    n_fft, hop_length, win_length : int
    center : bool
        Zero-pad ``n_fft // 2`` on both sides first (librosa's default).

    Returns
    -------
    torch.Tensor of shape (batch, n_frames, 1 + n_fft // 2)
        Time-major, the layout the FFT produces, so the mel projection is
        one large matrix product with no transpose.
    """
    import torch

    win_length = n_fft if win_length is None else win_length
    window = _window(int(win_length), int(n_fft), y.device, y.dtype)
    if center:
        y = torch.nn.functional.pad(y, (n_fft // 2, n_fft // 2))
    if y.shape[-1] < n_fft:
        raise ValueError(
            f"signal of {y.shape[-1]} samples is shorter than one analysis window of {n_fft}"
        )
    # Frame then one batched real FFT: (batch, frames, n_fft) -> (batch, frames, bins).
    frames = y.unfold(-1, n_fft, hop_length) * window
    spec = torch.fft.rfft(frames, dim=-1)
    return spec.real.square() + spec.imag.square()


@functools.lru_cache(maxsize=32)
def _mel_basis_np(sr, n_fft, n_mels, fmin, fmax):
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                               htk=False, norm="slaney").astype(np.float32)


def mel_filterbank(sr, n_fft, n_mels, fmin=0.0, fmax=None, device="cpu", dtype=None):
    """librosa's Slaney mel filter bank as a tensor of shape (n_mels, 1 + n_fft // 2)."""
    import torch

    basis = _mel_basis_np(int(sr), int(n_fft), int(n_mels), float(fmin),
                          None if fmax is None else float(fmax))
    return torch.as_tensor(basis, device=device, dtype=dtype or torch.float32)


def melspectrogram(y, sr, n_fft, hop_length, n_mels, win_length=None, fmin=0.0, fmax=None,
                   center=True):
    """Mel power spectrogram, time-major: (batch, n_frames, n_mels).

    The transpose of ``librosa.feature.melspectrogram`` with the same parameters.
    """
    power = stft_power(y, n_fft, hop_length, win_length, center)
    basis = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, device=y.device, dtype=y.dtype)
    return power @ basis.T


def power_to_db(S, amin=1e-10):
    """``10 log10(max(S, amin))`` (``librosa.power_to_db`` with ``ref=1, top_db=None``).

    No clip-relative ``top_db`` floor: a segment's values must not depend on the
    loudest part of the rest of the clip.
    """
    import torch

    return 10.0 * torch.log10(torch.clamp(S, min=amin))


@functools.lru_cache(maxsize=32)
def _dct_np(n_out, n_in):
    from scipy.fft import dct

    return dct(np.eye(n_in), type=2, norm="ortho", axis=0)[:n_out].astype(np.float32)


def dct_matrix(n_out, n_in, device="cpu", dtype=None):
    """Orthonormal DCT-II matrix (n_out, n_in): ``D @ x == scipy.fft.dct(x, 2, norm='ortho')[:n_out]``."""
    import torch

    return torch.as_tensor(_dct_np(int(n_out), int(n_in)), device=device,
                           dtype=dtype or torch.float32)
