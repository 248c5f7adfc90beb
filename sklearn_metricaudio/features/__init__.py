"""Feature transformers: waveforms in, per-clip feature arrays out."""

from ._base import WaveformTransformer, check_waveforms
from ._cache import cached_transform, code_hash, file_fingerprint, library_versions
from .audio import AudioLoader
from .clip_mean import ClipMean
from .ins import INSTransformer
from .logmel import LogMelPatches
from .mfcc import MFCCStats

__all__ = ["AudioLoader", "ClipMean", "MFCCStats", "LogMelPatches", "INSTransformer", "cached_transform",
           "check_waveforms", "code_hash", "file_fingerprint", "library_versions", "WaveformTransformer"]
