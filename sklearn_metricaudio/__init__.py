"""sklearn_metricaudio: metric-learning classification of non-stationary sounds.

scikit-learn compatible transformers and classifiers that compose into
Pipelines and cross-validators with predefined UrbanSound8K folds.
"""

from .augment import (BackgroundNoise, DynamicRangeCompression, MetricAugmentationSelector,
                      PitchShift, TimeStretch)
from .datasets import (load_esc50, load_folder, load_manifest, load_urbansound8k,
                       make_urban_sounds, predefined_fold_cv, urbansound8k_cv)
from .features import AudioLoader, ClipMean, INSTransformer, LogMelPatches, MFCCStats
from .models import (CentroidClassifier, GaussianMixtureClassifier, MarginEmbeddingClassifier,
                     SegmentAggregateClassifier)

__version__ = "0.1.0"

__all__ = [
    "AudioLoader",
    "MFCCStats",
    "LogMelPatches",
    "INSTransformer",
    "ClipMean",
    "GaussianMixtureClassifier",
    "SegmentAggregateClassifier",
    "MarginEmbeddingClassifier",
    "CentroidClassifier",
    "load_urbansound8k",
    "urbansound8k_cv",
    "load_esc50",
    "load_folder",
    "load_manifest",
    "predefined_fold_cv",
    "make_urban_sounds",
    "TimeStretch",
    "PitchShift",
    "DynamicRangeCompression",
    "BackgroundNoise",
    "MetricAugmentationSelector",
]
