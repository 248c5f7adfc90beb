"""Data sets: UrbanSound8K in its official layout, and a synthetic stand-in."""

from .synthetic import make_urban_sounds
from .urbansound8k import PAPER8_CLASSES, US8K_CLASSES, load_urbansound8k, urbansound8k_cv

__all__ = ["load_urbansound8k", "urbansound8k_cv", "make_urban_sounds", "PAPER8_CLASSES",
           "US8K_CLASSES"]
