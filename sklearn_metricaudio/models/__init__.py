"""Classifiers over per-clip feature arrays."""

from .baselines import GaussianMixtureClassifier, SegmentAggregateClassifier
from .centroid import CentroidClassifier, clip_distances, nearest_labels
from .margin import MarginEmbeddingClassifier

__all__ = ["GaussianMixtureClassifier", "SegmentAggregateClassifier", "CentroidClassifier",
           "MarginEmbeddingClassifier", "clip_distances", "nearest_labels"]
