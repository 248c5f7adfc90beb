"""Feature transformers: waveforms in, per-clip feature arrays out."""

from ._cache import cached_transform
from .audio import AudioLoader
from .ins import INSTransformer
from .logmel import LogMelPatches
from .mfcc import MFCCStats

__all__ = ["AudioLoader", "MFCCStats", "LogMelPatches", "INSTransformer", "cached_transform"]
