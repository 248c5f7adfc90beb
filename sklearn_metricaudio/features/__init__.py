"""Feature transformers: waveforms in, per-clip feature arrays out."""

from .audio import AudioLoader
from .logmel import LogMelPatches
from .mfcc import MFCCStats

__all__ = ["AudioLoader", "MFCCStats", "LogMelPatches"]
