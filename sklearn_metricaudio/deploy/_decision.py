"""What the deployment paths share: the pipeline's loader, and labels with scores at once."""

from __future__ import annotations

import numpy as np

from ..models import MarginEmbeddingClassifier

__all__ = ["loader_of", "min_clip_seconds", "labels_and_scores"]


def loader_of(model):
    """The AudioLoader that opens ``model``, after checking that ``model`` is a fitted pipeline."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    from ..features import AudioLoader

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        raise TypeError(
            "model must be a fitted scikit-learn Pipeline of at least two steps whose first "
            f"step is an AudioLoader (e.g. AudioLoader -> LogMelPatches -> "
            f"MarginEmbeddingClassifier), got {type(model).__name__}"
        )
    loader = model.steps[0][1]
    if not isinstance(loader, AudioLoader):
        raise TypeError(f"the first step of model must be an AudioLoader, got "
                        f"{type(loader).__name__}: its waveforms are cut and read here")
    check_is_fitted(model)
    return loader


def min_clip_seconds(model, loader):
    """Shortest clip the step after the loader makes features of: one segment (0 if the step
    has no such rule)."""
    step = model.steps[1][1]
    if hasattr(step, "min_samples"):  # our WaveformTransformers: LogMelPatches, MFCCStats
        return step.min_samples / float(getattr(step, "sr", loader.sr))
    return 0.0


def _score_matrix(final, Xt, method):
    """Scores of shape (n_clips, n_classes) from the final step."""
    s = np.asarray(getattr(final, method)(Xt), dtype=np.float64)
    if s.ndim == 1:  # binary decision_function: the score of classes_[1]
        s = np.stack([-s, s], axis=1)
    return s


def labels_and_scores(final, Xt, method):
    """``final.predict(Xt)`` and its scores by ``method`` (None: no scores, an empty matrix).

    A :class:`~sklearn_metricaudio.MarginEmbeddingClassifier` embeds the clips once for both
    (its ``predict`` and ``predict_proba`` would embed them twice): its ``embeddings`` go to
    its ``centroid_`` (and a calibrated block rejection, ``rejection_layer``), which is what
    its own ``predict`` does.
    """
    if isinstance(final, MarginEmbeddingClassifier):
        patches = final._patches(Xt, reset=False)  # checks fitted first
        labels, emb = final._predict_embedded(patches)  # its rejection too, one pass
        final, Xt = final.centroid_, emb
    else:
        labels = final.predict(Xt)
    if method is None:
        return labels, np.empty((len(labels), 0))
    return labels, _score_matrix(final, Xt, method)
