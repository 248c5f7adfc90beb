"""Classifiers over per-clip feature arrays."""

from .baselines import GaussianMixtureClassifier, SegmentAggregateClassifier

__all__ = ["GaussianMixtureClassifier", "SegmentAggregateClassifier"]
