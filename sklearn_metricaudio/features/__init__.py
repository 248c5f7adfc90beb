"""Feature transformers: waveforms in, per-clip feature arrays out."""

from .audio import AudioLoader
from .ins import INSTransformer
from .logmel import LogMelPatches
from .mfcc import MFCCStats

__all__ = ["AudioLoader", "MFCCStats", "LogMelPatches", "INSTransformer"]
