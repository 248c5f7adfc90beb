"""The papers' models by name: one registry for the CLI, the benchmarks and the examples.

scikit-learn keeps a default-estimator factory beside the estimator that uses it
(``compose/_target.py``); here :func:`paper_models` builds the models the papers compare,
each with the features it reads, so that ``metricaudio evaluate``, ``metricaudio demo`` and
``benchmarks/bench_real.py`` run exactly the same configurations.
"""

from __future__ import annotations

from sklearn.utils import Bunch

from ..models import (GaussianMixtureClassifier, MarginEmbeddingClassifier,
                      SegmentAggregateClassifier)
from ..models._losses import LOSSES

__all__ = ["BASELINES", "MARGIN_PRESETS", "MODEL_NAMES", "PAPER_BALANCED_ACCURACY",
           "paper_baselines", "paper_models"]

#: The two MFCC baselines.
BASELINES = ("gmm", "svm")
#: Every model name :func:`paper_models` knows: the baselines, then the margin losses.
MODEL_NAMES = BASELINES + tuple(LOSSES)
#: What ``"all"`` means: the paper's three models (Tables I-III).
PAPER_MODELS = ("gmm", "svm", "cosface")
#: Named settings of the margin models: estimator parameters, whether they train with the
#: deformed versions of the clips (:func:`~sklearn_metricaudio.augment.training_deformations`)
#: and the log-mel segment they read. ``"default"``: the estimator's own defaults, with
#: deformations, 1-s segments; ``"fast"``: half the steps at the earlier constant learning
#: rate, no deformations and no weight averaging, for a CPU in a hurry (the demo);
#: ``"paper"``: the first paper's recipe for its tables (section 4: SGD at 0.005, batches of
#: 32, 20 epochs, the epoch of best validation accuracy kept, no weight averaging; 5-s inputs,
#: clips repeated to fill them; ``--model softmax`` is its "Modified Softmax"; MobileNet at its
#: full width, several times the default's training time on a CPU). Their measured accuracy is
#: in benchmarks/RESULTS.md.
MARGIN_PRESETS = {
    "default": Bunch(params={}, deformations=True, segment_seconds=1.0),
    "fast": Bunch(params=dict(epochs=30, lr=0.005, lr_schedule="constant",
                              weight_averaging=None, segment_hop=1.0),
                  deformations=False, segment_seconds=1.0),
    "paper": Bunch(params=dict(epochs=20, lr=0.005, lr_schedule="constant", batch_size=32,
                               width=1.0, weight_averaging=None, segment_hop=1.0),
                   deformations=False, segment_seconds=5.0),
}
#: Balanced accuracies the paper reports (Tables I-III), in %.
PAPER_BALANCED_ACCURACY = {"gmm": 53.2, "svm": 56.1, "cosface": 76.1}


def paper_baselines(*, random_state=0):
    """The paper's two baselines over :class:`MFCCStats` frames.

    ``gmm``: one 32-component diagonal GMM per class, summed frame
    log-likelihood. ``svm``: standardised frames, linear SVM (C=0.01), mean
    frame decision value. Both train on at most 100 / 40 random frames per
    clip, which keeps a 10-fold run to minutes on a CPU; prediction uses
    every frame.

    Returns
    -------
    dict
        ``{"gmm": GaussianMixtureClassifier, "svm": SegmentAggregateClassifier}``
    """
    return {
        "gmm": GaussianMixtureClassifier(n_components=32, covariance_type="diag",
                                         max_frames_per_clip=100, random_state=random_state),
        "svm": SegmentAggregateClassifier(max_frames_per_clip=40, random_state=random_state),
    }


def paper_models(names="all", *, random_state=0, preset="default", sr=22050, **margin_params):
    """The named models, each with the features it reads and a title.

    Parameters
    ----------
    names : "all", str or sequence of str, default="all"
        Names from :data:`MODEL_NAMES` (``"gmm"``, ``"svm"`` or a loss of
        :class:`MarginEmbeddingClassifier`), as a list or a comma-separated
        string; ``"all"`` is the paper's three (GMM, SVM, CosFace).
    random_state : int, default=0
    preset : {"default", "fast", "paper"}, default="default"
        A name from :data:`MARGIN_PRESETS`: the margin models' settings, whether
        they train with deformed clips and the log-mel segment they read.
    sr : int, default=22050
        The sample rate of the waveforms the models' features are made from: the training
        deformations are built for it (compression time constants, pitch-shift filters).
    **margin_params
        Settings of every margin model (``epochs``, ``width``, ``device``, ...), over
        the preset's; checked here, so that a bad value fails before any model runs.

    Returns
    -------
    dict
        Name -> Bunch(``kind`` ("mfcc" or "logmel"), ``estimator``, ``title``,
        ``deformations``: the list of (name, Deformation) whose outputs the model trains
        with, or None; for a margin model ``segment_seconds``, the input length its
        log-mel patches are cut to, see :func:`~sklearn_metricaudio.evaluation.
        compute_model_features`), in the order asked.

    Raises
    ------
    ValueError
        An unknown name, or a margin setting that the estimator refuses.
    RuntimeError
        ``device="cuda"`` on a machine without CUDA.

    Examples
    --------
    >>> from sklearn_metricaudio.evaluation import paper_models
    >>> models = paper_models("svm,cosface", epochs=5)
    >>> [(name, m.kind) for name, m in models.items()]
    [('svm', 'mfcc'), ('cosface', 'logmel')]
    >>> models["cosface"].estimator.epochs
    5
    """
    if isinstance(names, str):
        names = PAPER_MODELS if names == "all" else [n.strip() for n in names.split(",")]
    names = list(names)
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown or not names:
        raise ValueError(f"unknown model name(s) {unknown}; choose from {list(MODEL_NAMES)}, "
                         "a comma-separated list of them, or 'all'")
    if preset not in MARGIN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {list(MARGIN_PRESETS)}")
    margin_params = {**MARGIN_PRESETS[preset].params, **margin_params}
    deformations = None
    if MARGIN_PRESETS[preset].deformations:
        from ..augment import training_deformations

        deformations = training_deformations(sr)
    baselines = paper_baselines(random_state=random_state)
    models = {}
    for name in names:
        if name in BASELINES:
            models[name] = Bunch(kind="mfcc", estimator=baselines[name],
                                 title=f"MFCC + {name.upper()}", deformations=None)
            continue
        est = MarginEmbeddingClassifier(loss=name, random_state=random_state, **margin_params)
        est._validate_params()  # a bad epochs / width / margin fails here, not after other models
        if "device" in margin_params:
            from .._torch import resolve_device

            resolve_device(margin_params["device"])  # "cuda" without CUDA: fail now
        segment = MARGIN_PRESETS[preset].segment_seconds
        models[name] = Bunch(kind="logmel", estimator=est,
                             title=f"log-mel + MobileNet ({name}, centroids"
                                   + (f", {segment:g}-s input)" if segment != 1.0 else ")"),
                             deformations=deformations, segment_seconds=segment)
    return models
