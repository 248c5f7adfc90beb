"""Classifiers over per-clip feature arrays."""

from .baselines import GaussianMixtureClassifier, SegmentAggregateClassifier
from .centroid import CentroidClassifier
from .margin import MarginEmbeddingClassifier

__all__ = ["GaussianMixtureClassifier", "SegmentAggregateClassifier", "CentroidClassifier",
           "MarginEmbeddingClassifier"]
