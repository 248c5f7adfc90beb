"""Per-clip fit parameters (``groups``, ``deformed``) to whatever estimator takes them.

The one place every fold loop asks how an estimator's ``fit`` takes a per-clip parameter:
the evaluation folds (:func:`~sklearn_metricaudio.evaluation.evaluate_folds`),
:func:`~sklearn_metricaudio.evaluation.fit_pipeline`, the augmentation study and
:class:`~sklearn_metricaudio.augment.MetricAugmentationSelector`. With scikit-learn's
metadata routing enabled (``sklearn.set_config(enable_metadata_routing=True)``), it is
routing that decides (what the estimator and its steps request); without it, a parameter goes
to an estimator whose ``fit`` names it, or to a Pipeline's last step that does.
"""

from __future__ import annotations

import sklearn
from sklearn.utils.metadata_routing import get_routing_for_object
from sklearn.utils.validation import has_fit_parameter

__all__ = ["clip_fit_params"]


def _keys(est, key):
    """The ``fit`` keyword(s) through which ``est`` takes ``key``, without routing."""
    from sklearn.pipeline import Pipeline

    if has_fit_parameter(est, key):
        return [key]
    if isinstance(est, Pipeline):
        name, last = est.steps[-1]
        if last is not None and last != "passthrough":
            return [f"{name}__{k}" for k in _keys(last, key)]
    return []


def clip_fit_params(est, params):
    """How ``est.fit`` takes each per-clip parameter of ``params`` (None values left out).

    Parameters
    ----------
    est : estimator
    params : dict
        Name (e.g. ``"groups"``, ``"deformed"``) -> value or None.

    Returns
    -------
    dict
        The keyword arguments for ``est.fit``: ``{"groups": g}`` for an estimator that takes
        it, ``{"step__groups": g}`` for a Pipeline whose last step does, routed metadata
        as it is requested when routing is enabled, nothing for an estimator that takes none.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_metricaudio import MarginEmbeddingClassifier
    >>> from sklearn_metricaudio._routing import clip_fit_params
    >>> pipe = make_pipeline(StandardScaler(), MarginEmbeddingClassifier())
    >>> sorted(clip_fit_params(pipe, {"groups": [0, 1], "deformed": None}))
    ['marginembeddingclassifier__groups']
    """
    routed = sklearn.get_config()["enable_metadata_routing"]
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        if routed:
            if has_fit_parameter(est, key) or key in get_routing_for_object(est).consumes(
                    "fit", [key]):
                out[key] = value
        else:
            out.update({k: value for k in _keys(est, key)})
    return out
