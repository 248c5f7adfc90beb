"""Small synthetic clips shared by the decision and ONNX tests."""

from __future__ import annotations

import numpy as np


def three_class_clips(n_per_class, seed, seconds=1.0, sr=8000):
    """Three classes (a low tone, a high tone, band noise), random gains; labels."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    X, y = [], []
    for k, name in enumerate(["low", "high", "noise"]):
        for _ in range(n_per_class):
            if k < 2:
                f0 = (300 if k == 0 else 1800) * rng.uniform(0.9, 1.1)
                x = np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(t.size)
            else:
                x = np.convolve(rng.standard_normal(t.size), np.ones(4) / 4, mode="same")
            X.append(rng.uniform(0.05, 0.5) * x)
            y.append(name)
    return np.asarray(X, dtype=np.float32), np.asarray(y)


def with_silence(X):
    """Clips whose first or last half is digital zeros (whole silent segments), and one
    all-zeros clip (no sounding segment: all of its segments count)."""
    X = X.copy()
    half = X.shape[1] // 2
    X[0::2, :half] = 0.0
    X[1::2, half:] = 0.0
    X[-1] = 0.0
    return X
