"""Device choice and batching helpers for the torch code paths (ground floor)."""

from __future__ import annotations

import numpy as np

__all__ = ["resolve_device", "batch_slices", "to_tensor"]

_VALID = ("cpu", "cuda", "auto")


def resolve_device(device):
    """Turn ``"cpu" | "cuda" | "cuda:N" | "auto"`` into a :class:`torch.device`.

    ``"auto"`` picks CUDA when available, else the CPU. Asking for CUDA on a
    machine without it raises a ``RuntimeError`` that says so (no silent
    fallback: a user who asked for a GPU wants to know they did not get one).

    Examples
    --------
    >>> from sklearn_metricaudio._torch import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or device.split(":")[0] not in _VALID:
        raise ValueError(f"device must be one of 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='cpu' or device='auto'"
        )
    return torch.device(device)


def batch_slices(n, batch_size):
    """Yield ``slice`` objects covering ``range(n)`` in chunks of ``batch_size``.

    >>> [ (s.start, s.stop) for s in batch_slices(5, 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def to_tensor(x, device, dtype=None):
    """Convert an array to a tensor on ``device`` (float32 by default)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    x = np.ascontiguousarray(x)
    if not x.flags.writeable:
        # a read-only array (a memmap, a broadcast view) cannot back a tensor safely
        x = x.copy()
    return torch.as_tensor(x, dtype=dtype, device=device)
