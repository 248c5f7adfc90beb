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

__all__ = ["frame_params", "stft_power", "melspectrogram", "power_to_db", "dct_of_frames",
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


def _stft(y, n_fft, hop_length, win_length=None, center=True):
    """Complex STFT of a batch of signals, time-major: (batch, n_frames, 1 + n_fft // 2)."""
    import torch

    win_length = n_fft if win_length is None else win_length
    window = _window(int(win_length), int(n_fft), y.device, y.dtype)
    padded = y.shape[-1] + (2 * (n_fft // 2) if center else 0)
    if padded < n_fft:
        raise ValueError(
            f"signal of {padded} samples is shorter than one analysis window of {n_fft}"
        )
    # torch.stft frames in place (no framed copy) and applies the window inside the FFT call;
    # its output is time-major in memory, so the transpose is free
    spec = torch.stft(y, n_fft, hop_length, window=window, center=center, pad_mode="constant",
                      return_complex=True)
    return spec.transpose(-1, -2)


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
    """
    import torch

    return torch.view_as_real(_stft(y, n_fft, hop_length, win_length, center)).square().sum(-1)


@functools.lru_cache(maxsize=32)
def _mel_basis_np(sr, n_fft, n_mels, fmin, fmax):
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                               htk=False, norm="slaney").astype(np.float32)


_BAND_CHUNK = 16  # mel filters per banded block (the fastest of 8-64, benchmarks/RESULTS.md)


@functools.lru_cache(maxsize=32)
def _mel_blocks_np(sr, n_fft, n_mels, fmin, fmax):
    """The mel bank as blocks of consecutive filters, each with its own band of FFT bins.

    Each mel filter is non-zero on a few adjacent bins, so a block of 32 filters spans a
    fraction of the spectrum; multiplying only that band does ~1/8 of the dense work.
    """
    basis = _mel_basis_np(sr, n_fft, n_mels, fmin, fmax)
    blocks = []
    for m0 in range(0, n_mels, _BAND_CHUNK):
        rows = basis[m0:m0 + _BAND_CHUNK]
        nz = np.flatnonzero(rows.any(axis=0))
        lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 1)
        blocks.append((lo, hi, np.ascontiguousarray(rows[:, lo:hi].T)))
    return tuple(blocks)


@functools.lru_cache(maxsize=32)
def _mel_blocks_interleaved(sr, n_fft, n_mels, fmin, fmax, device, dtype):
    """The banded blocks with every row doubled, as tensors: they weigh (re**2, im**2) pairs."""
    import torch

    return tuple((2 * lo, 2 * hi, torch.as_tensor(np.repeat(w, 2, axis=0), device=device,
                                                  dtype=dtype))
                 for lo, hi, w in _mel_blocks_np(sr, n_fft, n_mels, fmin, fmax))


def melspectrogram(y, sr, n_fft, hop_length, n_mels, win_length=None, fmin=0.0, fmax=None,
                   center=True):
    """Mel power spectrogram, time-major: (batch, n_frames, n_mels).

    The transpose of ``librosa.feature.melspectrogram`` with the same parameters. The
    squared real and imaginary parts of the STFT are projected directly, with every
    filter weight doubled (``(re**2, im**2) @ (w, w) = |X|**2 w``), so no power
    spectrogram is materialised; the projection is block-banded (see
    ``_mel_blocks_np``): the same result as the dense product with librosa's filter bank,
    a fraction of its work.
    """
    import torch

    spec = _stft(y, n_fft, hop_length, win_length, center)
    parts = torch.view_as_real(spec).square_().flatten(-2)  # (batch, frames, 2 * bins)
    blocks = _mel_blocks_interleaved(int(sr), int(n_fft), int(n_mels), float(fmin),
                                     None if fmax is None else float(fmax), y.device, y.dtype)
    return torch.cat([parts[..., lo:hi] @ w for lo, hi, w in blocks], dim=-1)


def power_to_db(S, amin=1e-10, *, inplace=False):
    """``10 log10(max(S, amin))`` (``librosa.power_to_db`` with ``ref=1, top_db=None``).

    No clip-relative ``top_db`` floor: a segment's values must not depend on the
    loudest part of the rest of the clip. ``inplace=True`` overwrites ``S`` (no
    temporaries) and returns it.
    """
    import torch

    if inplace:
        return S.clamp_(min=amin).log10_().mul_(10.0)
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


def dct_of_frames(S, dct):
    """``S @ dct.T`` for frames of dB values ``S`` (..., n_in), exact on constant frames.

    Every row of the orthonormal DCT-II but the first sums to zero, so coefficients 1 and up
    are computed from each frame minus its first value, and coefficient 0 adds that value
    back. A constant frame (digital silence, the -100 dB floor) then gives exactly 0 for
    coefficients 1 and up, whatever the matrix product's summation order: in a plain
    ``S @ dct.T`` the -100 dB offsets cancel only up to float32 round-off (about 1e-5),
    and the round-off depends on which BLAS kernel the batch size selects (MKL on
    AVX-512 picks another than on AVX2), so a silent frame's features would change with the
    other clips of its batch.
    """
    ref = S[..., :1]
    out = (S - ref) @ dct.T
    out[..., :1] += ref * dct[0].sum()
    return out
