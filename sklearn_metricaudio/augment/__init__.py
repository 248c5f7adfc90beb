"""Audio deformations and the metric-learning selection of deformed clips (Lu, Duan & Zhang).

Each deformation is a stateless transformer from waveforms (n_clips, n_samples) to all
its variants, (n_clips, n_variants, n_samples), batched on torch (CPU or CUDA).
:class:`MetricAugmentationSelector` keeps the deformed clips a learned metric agrees with.
"""

from ._base import Deformation
from ._defaults import paper_deformations, training_deformations
from .background import BackgroundNoise
from .compression import DRC_PRESETS, DynamicRangeCompression
from .pitch_shift import PS1, PS2, PitchShift
from .selector import MetricAugmentationSelector, PartitionVote, knn_agreement
from .time_stretch import TimeStretch

__all__ = ["DRC_PRESETS", "PS1", "PS2", "BackgroundNoise", "Deformation",
           "DynamicRangeCompression", "PitchShift", "TimeStretch", "training_deformations", "paper_deformations",
           "MetricAugmentationSelector", "PartitionVote", "knn_agreement"]
