"""MarginEmbeddingClassifier: MobileNet embeddings trained with margin losses (skorch)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_random_state, column_or_1d

from .._torch import resolve_device
from . import _training
from ._losses import LOSSES, loss_parameters
from ._mobilenet import N_BLOCKS, EmbeddingNet
from ._validation import check_clips, check_fit_labels
from .centroid import CentroidClassifier, with_unknown

__all__ = ["MarginEmbeddingClassifier"]

# Train in NHWC (channels last): oneDNN on the CPU runs the small depthwise-separable blocks
# faster in that layout; on CUDA the two layouts measured level (launch-bound steps), so one
# layout serves both. A switch only so that benchmarks/bench_margin.py can time both.
_CHANNELS_LAST = True


#: At most this many windows (``segment_hop``) are cut at once: the re-cut copy of a large
#: data set would be several times its patches' size
_WINDOWS_AT_ONCE = 4096

class MarginEmbeddingClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """MobileNet embeddings of log-mel segments, trained with a margin loss (skorch).

    The seed paper's model (Zucatelli & Barioni, 2022): a MobileNet v1
    backbone with a ``width`` multiplier, global average pooling and a dense
    layer to a ``embedding_dim``-d embedding, trained on segments with one of
    the metric-learning losses; clips are classified by the smallest mean
    cosine distance of their segment embeddings (of overlapping windows,
    ``segment_hop``) to the class centroids of the training clips. Use it as the last step of a pipeline, or follow it
    with :class:`CentroidClassifier` (``transform`` returns the embeddings,
    unless ``transform_layer`` names a block) to enroll new classes. The
    measured effect of every option below is in ``benchmarks/RESULTS.md``.

    Parameters
    ----------
    loss : {"softmax", "sphereface", "cosface", "arcface", "npair"}, default="cosface"
        Paper eqs. 3-6 (modified softmax, multiplicative angular, additive
        cosine, additive angular margin) and the multi-class N-pair loss of
        the second paper (batches of one pair per class). CosFace is the
        default: with modified softmax, the paper's best (Fig. 3).
    margin, scale : float or None, default=None
        ``None`` takes the loss's own default (see ``models/_losses.py``):
        softmax has no margin and ``s`` = the embedding's norm (eq. 3);
        SphereFace ``m=4`` (an integer) with its lambda annealing, CosFace
        ``m=0.35``, ArcFace ``m=0.5`` rad, all three ``s=30`` (rather than the
        face papers' 64: a handful of classes). Setting one that the loss does
        not have (a margin for softmax, either for npair) is an error.
    width : float, default=0.25
        MobileNet width multiplier. The paper uses the published network
        (1.0); 0.25 trains several times faster on a CPU at a small cost
        in accuracy.
    embedding_dim : int, default=32
    epochs : int, default=100
        The paper trains 20 epochs; on small real sets the validation accuracy
        keeps rising well past that under a cosine schedule: 100 epochs beat 60 on
        both real sets over two seeds (ESC-10 +1.5, US8K-dev +4.5 points;
        benchmarks/RESULTS.md, issue 24). Pass ``epochs=20, width=1.0, lr=0.005,
        lr_schedule="constant"`` (the ``paper`` preset of
        :data:`~sklearn_metricaudio.evaluation.MARGIN_PRESETS`) for the paper's recipe.
    batch_size : int, default=32
    optimizer : {"sgd", "adam"}, default="sgd"
        SGD with momentum (the paper's recipe: SGD, learning rate 0.005,
        batches of 32, best epoch by validation accuracy), or AdamW.
    lr : float, default=0.01
        The paper's 0.005 suits its constant schedule; the cosine schedule
        starts higher.
    lr_schedule : {"constant", "cosine"}, default="cosine"
        ``"cosine"`` anneals the learning rate to 0 over ``epochs`` (skorch's
        ``LRScheduler`` with ``CosineAnnealingLR``); ``"constant"`` keeps it.
    momentum : float, default=0.9
        SGD momentum (not stated in the paper; 0.9 is the usual choice).
    weight_decay : float, default=1e-4
    mask_fraction : float, default=0.15
        SpecAugment in training: per segment, zero a random band of up to this
        fraction of the mel bands and a random run of up to this fraction of
        the frames. 0 disables it.
    level_norm : bool, default=False
        Subtract each segment's mean level (in dB) before the per-band
        standardisation: the network then ignores the recording gain. It
        helps where the gain says nothing about the class (the synthetic set
        draws one at random per clip) and hurts where it does (ESC-10).
    mixup : float, default=0.0
        Mixup in training: ``alpha`` of the Beta(alpha, alpha) mixing weight of
        pairs of segments and of their losses; 0 disables it. Ignored by
        ``npair``.
    deformed_share : float in [0, 1], default=0.5
        Training-time deformations, used when ``fit`` gets ``deformed``: at every
        training step each segment is replaced, with this probability, by the same
        segment of one of its clip's deformed versions, drawn at random. 0 trains on
        the original clips only.
    outlier_weight : float, default=0.5
        Outlier exposure, when ``fit`` gets ``outliers``: every training batch is extended
        by a quarter of its size with segments drawn from them, and the loss adds this
        weight times their cross-entropy against the uniform distribution over the classes
        (Hendrycks et al., 2019; 0.5 is theirs): the network learns to keep sounds of none
        of the classes away from all of them, which :meth:`score_samples` and
        :meth:`calibrate` then reject. Not with ``loss="npair"``, ``mixup`` or
        ``random_crop``.
    weight_averaging : float in (0, 1] or None, default=0.1
        Average the weights over training: an exponential moving average of the
        weights and batch-norm statistics, updated after every training step (torch's
        ``swa_utils.AveragedModel``), in which a step's weight halves every
        ``weight_averaging * epochs`` epochs (0.1 of 100 epochs: every 10 epochs), so
        that the average spans the same share of a short or a long training. The
        per-epoch validation scores the average, and the average (of the best epoch) is
        the fitted network; training itself follows the raw weights as without it. None
        keeps the raw weights. At 0.1 the two real sets, two seeds each, were never
        worse than without and better in three of the four runs (benchmarks/RESULTS.md,
        issue 24: ESC-10 86.5 / 87.0 % against 85.8 / 87.0 %, US8K-dev 57.1 / 54.6 %
        against 55.1 / 54.5 %, seeds 0 / 1).
    random_crop : bool, default=False
        Train on whole clips: at every step each clip gives a random window of
        one segment's length, anywhere in the clip (its segments joined in
        time), instead of the fixed segments. An epoch is then one pass over
        the clips. Prediction uses the windows of ``segment_hop``.
    balanced_sampling : bool, default=False
        Class-balanced training: every epoch draws its training segments (clips with
        ``random_crop``) with replacement, a class uniformly and then one of its
        segments, instead of a shuffle of them all, so that a rare class is seen as
        often as a common one; an epoch takes as many steps as without. ``npair``
        batches are balanced already (one pair per class) and ignore it. Off by default:
        on US8K-dev (27 to 214 clips per class) it lost 4.6 and 11.8 points of balanced
        accuracy at two seeds (benchmarks/RESULTS.md, issue 24, eighth session).
    silence_db : float or None, default=-80.0
        Segments whose loudest log-mel bin is below this level (dB, the log-mel
        features' scale, whose floor is -100 dB) are digital silence: ESC pads its
        shorter recordings with it. They are left out of each clip's mean distance
        (at prediction and in the per-epoch validation), so that a clip is judged
        by the segments that hold sound; a clip with no louder segment keeps all of
        them. ``None`` counts every segment (the paper's rule).
    segment_hop : float in (0, 1], default=0.25
        How the fitted model cuts the clips it embeds, as a share of a segment. ``1``: the
        segments as given. Below 1: each clip's segments are joined in time (as
        :class:`LogMelPatches` cut them) and re-cut into segment-long windows every
        ``segment_hop`` of a segment (``int(segment_hop * n_frames)`` frames; the last
        frames short of a hop are left out), so that each clip is judged from more,
        overlapping views. Every embedding the model computes after training uses them:
        the class centroids (made in :meth:`fit`), :meth:`predict` and the scores,
        :meth:`calibrate`, :meth:`enroll`, :meth:`transform` (one row per window) and
        :meth:`sounding_segments`. The network itself trains on the segments as given.
        Clips of one segment are unchanged. Set after :meth:`fit`, it changes how clips are
        cut from then on; the centroids (and a rejection's centroids, scales and threshold)
        stay those made at the hop they were made with. At 0.25 against 1, on the same networks (five
        ESC-10 folds, six US8K-dev folds, seeds 0 / 1): ESC-10 88.2 / 88.5 % against
        86.8 / 87.0 %, US8K-dev 54.1 / 54.1 % against 53.3 / 53.4 % (pooled balanced
        accuracy), the open-set AUROC within 0.01, for 3.8 times the prediction time
        (``benchmarks/RESULTS.md``, issue 24, sixth session).
    transform_layer : "embedding" or int in [1, 13], default="embedding"
        What :meth:`transform` gives per segment (per window: ``segment_hop``). ``"embedding"``: the embedding, which the
        class centroids hold (:meth:`embeddings`). A block number ``k``: the activations
        after the network's ``k``-th depthwise-separable block (MobileNet v1 has 13),
        averaged over frequency and time, one value per channel (128 for blocks 6-11 at
        width 0.25). Only :meth:`transform` changes: :meth:`predict`, :meth:`enroll`, the
        scores and :meth:`calibrate` always use the embedding. The middle blocks describe
        sounds the network was never trained on better than the embedding, which the margin
        loss fits to the training classes: to enroll new classes, block 9, standardised
        and averaged per clip (:class:`ClipMean` ``rows="standard"``) and joined with MFCC
        statistics, was 7.9 to 26.8 points above MFCC statistics alone in four directions
        between ESC-10 and US8K-dev at 1 and 5 shots and two seeds (10 or more in 11 of the
        16), the embedding joined with them 1.2 to 24.7 (8 of 16; ``benchmarks/RESULTS.md``,
        issue 24; the pipeline in :class:`ClipMean`).
    rejection_layer : "embedding", int in [1, 13] or ("embedding", int), default="embedding"
        What the open-set score (:meth:`score_samples`), :meth:`calibrate` and the rejection
        of a calibrated :meth:`predict` measure. ``"embedding"``: each clip's smallest mean
        segment distance to a class centroid of the embeddings (the decision's own
        distance). A block number ``k``: the clip's activations after block ``k`` (as
        ``transform_layer=k``), standardised on the training segments and averaged over its
        sounding segments (:class:`ClipMean` ``rows="standard"``), its cosine distance to
        the nearest class centroid of the training clips' such vectors (``rejection_``).
        The pair ``("embedding", k)``: the two distances, each divided by its median over
        the validation clips of :meth:`fit` (``rejection_scale_``; ``validation_split``
        must hold some out), summed. Each pass through the network gives both.
        The labels, :meth:`decision_function` and :meth:`predict_proba` always come from the
        embedding. Which rejects better depends on what the unknown sounds are: trained on
        ESC-10 (five folds), block 9 took the AUROC of ESC-10's test clips against US8K-dev's
        sounds from 0.62 to 0.80 (better in every fold); trained on US8K-dev (six folds), it
        took that of US8K-dev's test clips against ESC-10's sounds from 0.73 down to 0.65
        (worse in four folds, 0.47 in one: ESC-10's rain and sea waves sit nearer US8K-dev's
        noise-like classes there than US8K-dev's own test clips; ``benchmarks/RESULTS.md``,
        issue 24, fifth session). The pair ``("embedding", 9)`` was above the embedding in
        both directions over two seeds: 0.73 against 0.63 from ESC-10, 0.73 against 0.72
        from US8K-dev, never more than 0.015 below it in a fold (``benchmarks/RESULTS.md``,
        issue 24, sixth session). Measure it on your own "none of these" recordings
        (``bench_open_set.py --folds``) before you choose it. The block's centroids are
        made in :meth:`fit`: set it before, not after.
    mixed_precision : bool, default=False
        On CUDA, train the network under bfloat16 autocast (``torch.autocast``): the
        convolutions run in bfloat16, the batch norms, the loss head and the weights stay
        float32. Embeddings for the centroids, the per-epoch validation and prediction are
        computed in float32. No effect on the CPU. Off by default: at the paper's sizes a
        training step is bound by kernel launches, not arithmetic, and bfloat16 did not
        make it faster on an H200 (``benchmarks/RESULTS.md``).
    validation_split : float, array-like of bool or None, default=0.1
        Clips held out to pick the best epoch by validation accuracy: a
        fraction (stratified, seeded by ``random_state``; group-aware when
        ``fit`` gets ``groups``), a boolean mask over the clips (True =
        validation: a predefined split), or None to keep the last epoch.
    device : str or torch.device, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``. ``"cuda"`` where none
        exists raises a ``RuntimeError``. A model fitted on CUDA pickles and
        predicts on a CPU-only machine; set ``device="cpu"`` on a loaded model
        to move it explicitly. The network trains in the channels-last (NHWC)
        memory layout (faster on a CPU, level on CUDA, the same results up to
        float rounding), on batches gathered where the data lives (on the
        device when the training set fits in half its free memory).
    accelerator : accelerate.Accelerator or None, default=None
        Train through skorch's Accelerate integration (``skorch.hf.AccelerateMixin``;
        ``pip install sklearn_metricaudio[scale]``): data-parallel over the processes that
        ``accelerate launch`` starts, each reading its share of every epoch's batches, with
        the gradients averaged; mixed precision as the accelerator says. Training then runs
        on ``accelerator.device`` and ``device`` only says where the fitted model predicts.
        With several processes, ``random_state`` must be an int (every process must draw the
        same batches). ``mixup`` is not supported. See
        ``examples/multi_gpu_accelerate.py``.
    random_state : int, RandomState or None, default=None
        Seeds weights, shuffling, masks and the validation split. torch's
        global random state is left as it was.
    verbose : int, default=0
        1 prints skorch's per-epoch table (loss, validation accuracy, time).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Mel bands of the training patches.
    net_ : skorch.NeuralNet
        The trained network (``net_.module_`` is the embedding network).
    centroid_ : CentroidClassifier
        Cosine centroids of the training clips' embeddings (of their windows:
        ``segment_hop``).
    rejection_ : sklearn.pipeline.Pipeline or None
        With a block in ``rejection_layer``: ``ClipMean(rows="standard") ->
        CentroidClassifier()`` fitted on the training clips' block activations, whose
        ``score_samples`` is the open-set score and whose ``threshold_`` (after
        :meth:`calibrate`) rejects; None with ``"embedding"``.
    rejection_block_ : int or None
        The block ``rejection_`` was fitted on (None: the embedding).
    rejection_scale_ : ndarray of shape (2,) or None
        With ``rejection_layer=("embedding", k)``: the medians of the embedding's distance
        and of block ``k``'s over the validation clips, which divide them; None otherwise.
    rejection_threshold_ : float
        With ``rejection_layer=("embedding", k)``, set by :meth:`calibrate` (absent before):
        the threshold on the summed distance. ``"embedding"`` keeps its threshold in
        ``centroid_.threshold_``, a block in ``rejection_[-1].threshold_``.
    rejection_true_accept_ : float
        With the pair, after :meth:`calibrate`: the share of its clips accepted.
    validation_mask_ : ndarray of bool, shape (n_clips,)
        The clips of ``fit`` held out for model selection (all False without).
    best_epoch_ : int
        Epoch whose weights were kept (1-based).
    history_ : list of dict
        skorch's per-epoch history (train_loss, valid_acc, dur).

    Notes
    -----
    UrbanSound8K and ESC cut several clips from one source recording and keep
    them in one fold, so that they are never on both sides of a split. Pass the
    recording ids as ``groups`` (``fit(X, y, groups=data.fsID)``; in a pipeline,
    ``set_fit_request(groups=True)`` with metadata routing, or the
    ``marginembeddingclassifier__groups`` fit parameter) and the inner
    validation split keeps them together too.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import MarginEmbeddingClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(12, 2, 16, 8)).astype(np.float32)   # 12 clips, 2 segments each
    >>> X[6:, :, :8] += 3.0                                        # class 1: louder low bands
    >>> y = np.repeat([0, 1], 6)
    >>> clf = MarginEmbeddingClassifier(width=0.25, epochs=3, batch_size=8,
    ...                                 validation_split=None, random_state=0).fit(X, y)
    >>> clf.transform(X).shape        # windows every quarter segment: 5 per clip
    (12, 5, 32)
    >>> clf.predict_proba(X).shape
    (12, 2)
    """

    #: What models pickled before an option existed were fitted with: they load with it
    #: (``__setstate__``), while a new estimator takes ``__init__``'s defaults.
    _BEFORE_THE_OPTION = {"silence_db": None, "segment_hop": 1.0, "deformed_share": 0.0,
                          "mixed_precision": False, "balanced_sampling": False,
                          "accelerator": None, "weight_averaging": None,
                          "outlier_weight": 0.5, "transform_layer": "embedding",
                          "rejection_layer": "embedding"}

    _parameter_constraints = {
        "loss": [StrOptions(set(LOSSES))],
        "margin": [Interval(numbers.Real, 0, None, closed="left"), None],
        "scale": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "width": [Interval(numbers.Real, 0, None, closed="neither")],
        "embedding_dim": [Interval(numbers.Integral, 2, None, closed="left")],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "optimizer": [StrOptions({"sgd", "adam"})],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "mask_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "level_norm": ["boolean"],
        "mixup": [Interval(numbers.Real, 0, None, closed="left")],
        "deformed_share": [Interval(numbers.Real, 0, 1, closed="both")],
        "outlier_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "weight_averaging": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "random_crop": ["boolean"],
        "balanced_sampling": ["boolean"],
        "silence_db": [numbers.Real, None],
        "segment_hop": [Interval(numbers.Real, 0, 1, closed="right")],
        "transform_layer": [StrOptions({"embedding"}),
                            Interval(numbers.Integral, 1, N_BLOCKS, closed="both")],
        "rejection_layer": [StrOptions({"embedding"}),
                            Interval(numbers.Integral, 1, N_BLOCKS, closed="both"),
                            tuple, list],
        "mixed_precision": ["boolean"],
        "validation_split": [Interval(numbers.Real, 0, 1, closed="neither"), "array-like", None],
        "device": [str, torch.device],
        "accelerator": [HasMethods(["prepare", "backward"]), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, loss="cosface", *, margin=None, scale=None, width=0.25, embedding_dim=32,
                 epochs=100, batch_size=32, optimizer="sgd", lr=0.01, lr_schedule="cosine",
                 momentum=0.9, weight_decay=1e-4, mask_fraction=0.15, level_norm=False,
                 mixup=0.0, deformed_share=0.5, outlier_weight=0.5, weight_averaging=0.1,
                 random_crop=False, balanced_sampling=False, silence_db=-80.0, segment_hop=0.25,
                 transform_layer="embedding",
                 rejection_layer="embedding", mixed_precision=False, validation_split=0.1,
                 device="cpu", accelerator=None, random_state=None, verbose=0):
        self.loss = loss
        self.margin = margin
        self.scale = scale
        self.width = width
        self.embedding_dim = embedding_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.mask_fraction = mask_fraction
        self.level_norm = level_norm
        self.mixup = mixup
        self.deformed_share = deformed_share
        self.outlier_weight = outlier_weight
        self.weight_averaging = weight_averaging
        self.random_crop = random_crop
        self.balanced_sampling = balanced_sampling
        self.silence_db = silence_db
        self.segment_hop = segment_hop
        self.transform_layer = transform_layer
        self.rejection_layer = rejection_layer
        self.mixed_precision = mixed_precision
        self.validation_split = validation_split
        self.device = device
        self.accelerator = accelerator
        self.random_state = random_state
        self.verbose = verbose

    def __setstate__(self, state):
        """Unpickle; a model saved before an option existed gets the value it was fitted
        with (not today's default)."""
        state = {**self._BEFORE_THE_OPTION, **state}
        super().__setstate__(state)

    def _validate_params(self):
        """scikit-learn's parameter checks, then the margin and scale against the loss."""
        super()._validate_params()
        self._block_of("transform_layer")
        self._rejection_spec()
        self._criterion_params()

    def _block_of(self, name, layer=None):
        """The block the ``name`` parameter (``transform_layer``, ``rejection_layer``; or
        ``layer``, one entry of it) names, None for ``"embedding"``; a ValueError for
        anything else, a bool included."""
        layer = getattr(self, name) if layer is None else layer
        if isinstance(layer, str) and layer == "embedding":
            return None
        if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, numbers.Integral) \
                or not 1 <= layer <= N_BLOCKS:
            raise ValueError(f"The {name!r} parameter of MarginEmbeddingClassifier "
                             f"must be 'embedding' or a block number in [1, {N_BLOCKS}]"
                             f"{', or a pair of the two' if name == 'rejection_layer' else ''}"
                             f", got {getattr(self, name)!r}")
        return int(layer)

    def _rejection_spec(self):
        """``(summed, block)`` from ``rejection_layer``: ``"embedding"`` is ``(False, None)``,
        ``k`` is ``(False, k)``, ``("embedding", k)`` (either order) is ``(True, k)``."""
        layer = self.rejection_layer
        if not isinstance(layer, (tuple, list)):
            return False, self._block_of("rejection_layer")
        blocks = [self._block_of("rejection_layer", part) for part in layer]
        if len(blocks) != 2 or blocks.count(None) != 1:
            raise ValueError(
                f"The 'rejection_layer' parameter of MarginEmbeddingClassifier, as a pair, "
                f"must be 'embedding' and one block number in [1, {N_BLOCKS}], e.g. "
                f"('embedding', 9), got {layer!r}")
        return True, next(b for b in blocks if b is not None)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, groups=None, deformed=None, outliers=None):
        """Train the embedding network on the clips' segments.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_mels, n_frames)
            Log-mel patches, e.g. from :class:`LogMelPatches`; (n_clips, n_mels,
            n_frames) is one segment per clip.
        y : array-like of shape (n_clips,)
        groups : array-like of shape (n_clips,), default=None
            Source recording of each clip (e.g. UrbanSound8K's ``fsID``): a
            fractional ``validation_split`` then never separates clips of one
            recording. Routed by scikit-learn's metadata routing
            (``set_fit_request(groups=True)``).
        deformed : array of shape (n_clips, n_variants, n_segments, n_mels, n_frames), \
default=None
            Log-mel patches of every clip's deformed versions (e.g.
            :func:`~sklearn_metricaudio.evaluation.deformed_features` with
            :func:`~sklearn_metricaudio.augment.training_deformations`), float16 or
            memory-mapped if need be: each training segment is swapped for one of them
            with probability ``deformed_share`` at every step. Never used at prediction.
        outliers : array-like of shape (n_outlier_clips, n_segments', n_mels, n_frames), \
default=None
            Log-mel patches of sounds of none of the classes (e.g. a user's "none of these"
            recordings, cut like ``X``; any number of segments per clip), for outlier
            exposure (``outlier_weight``). Their silent segments are left out. They enter no
            centroid, no validation and not ``classes_``. Routed by metadata routing
            (``set_fit_request(outliers=True)``).

        Returns
        -------
        self : MarginEmbeddingClassifier
        """
        self._validate_params()
        criterion_params = self._criterion_params()
        X = self._patches(X, reset=True)
        self.classes_, y_enc = check_fit_labels(self, y, X.shape[0])
        if groups is not None:
            groups = column_or_1d(np.asarray(groups))
            if groups.shape[0] != X.shape[0]:
                raise ValueError(f"groups must hold one entry per clip ({X.shape[0]}), got "
                                 f"{groups.shape[0]}")
        device, shard = self._training_device()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2 ** 31 - 1))
        valid = _training.validation_mask(y_enc, self.validation_split, groups,
                                          rng.randint(2 ** 31 - 1))
        if self._rejection_spec()[0] and not valid.any():
            raise ValueError(
                f"rejection_layer={self.rejection_layer!r} divides each distance by its median "
                "over the validation clips, and validation_split holds none out; set "
                "validation_split (e.g. 0.1) or rejection_layer to one layer")
        deformed = self._check_deformed(deformed, X)
        outliers = self._check_outliers(outliers, X)
        outlier_rows = 0 if outliers is None else max(1, self.batch_size // 4)  # a quarter
        seg, seg_y, fit_X, fit_y = self._training_arrays(X, y_enc, ~valid)
        pairs = None
        if self.loss == "npair":
            _training.check_pairs(fit_y, names=self.classes_)
            pairs = _training.PairBatches(fit_y, seed)
        batches = _training.TrainingBatches(
            fit_X, fit_y, self.batch_size, device, deformed=deformed,
            clips=np.flatnonzero(~valid), share=self.deformed_share,
            whole_clips=fit_X is not seg, pair_batches=pairs, shard=shard,
            outliers=outliers, outlier_batch=outlier_rows, balanced=self.balanced_sampling)
        callbacks = self._callbacks(seg, seg_y, X[valid], y_enc[valid], rng,
                                    batches.steps_per_epoch())
        net = self._build_net(X.shape[2], X.shape[3], _training.band_stats(seg, self.level_norm),
                              criterion_params, callbacks, device)
        net.outlier_rows = outlier_rows
        net.outlier_weight = float(self.outlier_weight)
        with _training.seeded_torch(seed, device):
            net.fit(batches)
        self._finish(net, X[~valid], seg, seg_y, valid, X[valid])
        return self

    def _build_net(self, n_mels, n_frames, band_stats, criterion_params, callbacks, device,
                   n_classes=None):
        """The skorch net: embedding network, loss head (``n_classes`` rows, default the
        number of classes: enrolled classes have none), optimiser and callbacks."""
        band_mean, band_std = band_stats
        accelerated = {}
        if self.accelerator is not None:  # the accelerator places everything
            accelerated = dict(accelerator=self.accelerator, device=None,
                               # the epoch table from the main process only, and only if asked
                               callbacks__print_log__sink=(self.accelerator.print
                                                           if self.verbose else print))
        cls = _training.AcceleratedMarginNet if accelerated else _training.MarginNet
        net = cls(
            module=EmbeddingNet,
            module__n_mels=n_mels,
            module__width=self.width,
            module__embedding_dim=self.embedding_dim,
            module__band_mean=band_mean,
            module__band_std=band_std + 1e-3,
            module__level_norm=self.level_norm,
            module__mask_fraction=self.mask_fraction,
            module__crop_frames=n_frames,
            criterion=LOSSES[self.loss],
            criterion__n_classes=self.classes_.size if n_classes is None else n_classes,
            criterion__embedding_dim=self.embedding_dim,
            **criterion_params,
            **self._optimizer_params(),
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.epochs,
            train_split=None,
            callbacks=callbacks,
            **{"device": str(device), **accelerated},
            verbose=self.verbose,
        )
        net.channels_last = _CHANNELS_LAST  # NHWC: faster training (benchmarks/RESULTS.md)
        net.mixup_alpha = float(self.mixup)
        net.mixed_precision = bool(self.mixed_precision)
        return net

    def _training_device(self):
        """Where this process trains, and its share of the batches ``(index, count)``."""
        acc = self.accelerator
        if acc is None:
            return resolve_device(self.device), (0, 1)
        if self.mixup > 0:
            raise ValueError("mixup is not supported with an accelerator (skorch's "
                             "AccelerateMixin replaces the training step); set mixup=0")
        if acc.num_processes > 1 and not isinstance(self.random_state, numbers.Integral):
            raise ValueError(
                f"training over {acc.num_processes} processes needs random_state to be an int "
                f"(every process must draw the same batches), got {self.random_state!r}")
        return torch.device(acc.device), (acc.process_index, acc.num_processes)

    def _patches(self, X, reset):
        """X as (n_clips, n_segments, n_mels, n_frames) float32 (the shared clip validator)."""
        return check_clips(self, X, reset=reset, item_ndim=2, dtype=np.float32,
                           item_shape="n_mels, n_frames")

    def _check_deformed(self, deformed, X):
        """``deformed`` checked against the clips (not converted: it is read item by item)."""
        if deformed is None:
            return None
        if not hasattr(deformed, "shape") or not hasattr(deformed, "dtype"):
            deformed = np.asarray(deformed, dtype=np.float32)
        expected = (X.shape[0], "n_variants", *X.shape[1:])
        if (deformed.ndim != 5 or deformed.shape[0] != X.shape[0]
                or tuple(deformed.shape[2:]) != X.shape[1:] or deformed.shape[1] < 1):
            raise ValueError(
                f"deformed must hold every clip's deformed versions as patches like X, of "
                f"shape {expected}, got shape {tuple(deformed.shape)}")
        if deformed.dtype.kind != "f":
            raise ValueError(f"deformed must hold floating-point log-mel values, got dtype "
                             f"{deformed.dtype}")
        return deformed

    def _check_outliers(self, outliers, X):
        """The outlier pool as (m, 1, n_mels, n_frames) float32 sounding segments, or None."""
        if outliers is None:
            return None
        for option, off in (("loss", self.loss != "npair"), ("mixup", self.mixup == 0),
                            ("random_crop", not self.random_crop)):
            if not off:
                raise ValueError(f"outliers (outlier exposure) cannot be used with "
                                 f"{option}={getattr(self, option)!r}")
        outliers = np.asarray(outliers, dtype=np.float32)
        if outliers.ndim == 3:
            outliers = outliers[:, None]
        if outliers.ndim != 4 or outliers.shape[2:] != X.shape[2:] or outliers.shape[0] < 1:
            raise ValueError(
                f"outliers must hold log-mel patches cut like X, of shape (n_outlier_clips, "
                f"n_segments, {X.shape[2]}, {X.shape[3]}), got shape {outliers.shape}")
        if not np.isfinite(outliers).all():
            raise ValueError("outliers holds NaN or infinite values")
        seg = outliers.reshape(-1, 1, *X.shape[2:])
        if self.silence_db is not None:
            seg = seg[seg.max(axis=(1, 2, 3)) > self.silence_db]
            if seg.shape[0] == 0:
                raise ValueError(f"every segment of outliers is silent (below silence_db="
                                 f"{self.silence_db} dB): nothing to expose the network to")
        return np.ascontiguousarray(seg)

    def _criterion_params(self):
        """``criterion__*`` settings: the margin and scale set, checked against the loss."""
        accepted = loss_parameters(self.loss)
        params = {}
        for key in ("margin", "scale"):
            value = getattr(self, key)
            if value is None:
                continue
            if key not in accepted:
                raise ValueError(
                    f"{key}={value!r} does not apply to loss={self.loss!r}, whose parameters "
                    f"are {sorted(accepted)}; leave {key}=None"
                )
            params[f"criterion__{key}"] = value
        if self.loss == "sphereface" and self.margin is not None:
            if not float(self.margin).is_integer() or self.margin < 1:
                raise ValueError(
                    f"margin={self.margin!r} for loss='sphereface' must be an integer m >= 1: "
                    "psi(theta) = (-1)^k cos(m theta) - 2k is defined for integer m"
                )
        return params

    def _training_arrays(self, X, y_enc, train):
        """Training segments and labels, and what the network is fitted on (crops: clips)."""
        Xt, yt = X[train], y_enc[train]
        n, s, n_mels, n_frames = Xt.shape
        seg = Xt.reshape(-1, 1, n_mels, n_frames)
        seg_y = np.repeat(yt, s).astype(np.int64)
        if self.random_crop and s > 1:
            # whole clips (segments joined in time); the network cuts a random segment-long
            # window from each clip at every step
            clips = Xt.transpose(0, 2, 1, 3).reshape(n, 1, n_mels, s * n_frames)
            fit_X = np.ascontiguousarray(clips)
            return seg, seg_y, fit_X, yt.astype(np.int64)
        return seg, seg_y, seg, seg_y

    def _callbacks(self, seg, seg_y, X_valid, y_valid, rng, steps_per_epoch):
        callbacks = [("divergence_check", _training.DivergenceCheck())]
        if self.weight_averaging is not None:
            # before the validation: it scores the average, and restores its best epoch last
            callbacks.append(("weight_average", _training.WeightAverage(
                self.weight_averaging * self.epochs, steps_per_epoch)))
        if self.lr_schedule == "cosine":
            from skorch.callbacks import LRScheduler

            callbacks.append(("lr_schedule", LRScheduler(
                policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=self.epochs)))
        if self.loss == "sphereface":
            callbacks.append(("sphereface_annealing", _training.SphereFaceAnnealing()))
        if len(X_valid):
            # reference segments among the sounding ones: silence enters no centroid
            ref = _training.reference_segments(seg_y, 256, rng,
                                               eligible=self._sounding(seg)[:, 0])
            callbacks.append(("centroid_validation", _training.CentroidValidation(
                seg[ref], seg_y[ref], X_valid, y_valid, self._sounding(X_valid))))
        return callbacks

    def _optimizer_params(self):
        if self.optimizer == "adam":
            return dict(optimizer=torch.optim.AdamW, optimizer__weight_decay=self.weight_decay)
        return dict(optimizer=torch.optim.SGD, optimizer__momentum=self.momentum,
                    optimizer__weight_decay=self.weight_decay)

    def _finish(self, net, X_train, seg, seg_y, valid, X_valid):
        """Fitted attributes: network, history, best epoch, training centroids, rejection."""
        if isinstance(net, _training.AcceleratedMarginNet):
            net.release_accelerator()
        self.net_ = net
        self.validation_mask_ = valid
        self.history_ = [dict(h) for h in net.history]
        validation = dict(net.callbacks_).get("centroid_validation")
        self.best_epoch_ = int(validation.best_epoch_) if validation else len(net.history)
        net.module_.eval()
        emb = _training.embed(net.module_, seg)
        # the training clips' centroids, their silent segments missing as in transform
        clips = X_train.shape[:2]
        self.centroid_ = CentroidClassifier(metric="cosine").fit(
            self._embed(X_train) if self._recuts(X_train)
            else self._missing_silence(emb.reshape(*clips, -1), X_train),
            self.classes_[seg_y[::clips[1]]])
        summed, self.rejection_block_ = self._rejection_spec()
        self.rejection_ = self._fit_rejection(X_train, self.classes_[seg_y[::clips[1]]],
                                              self.rejection_block_)
        self.rejection_scale_ = None
        if summed:  # each distance's typical size on clips the network was not trained on
            embedded = self._embed(X_valid, block=self.rejection_block_, with_embedding=True)
            self.rejection_scale_ = np.array(
                [max(float(np.median(d)), 1e-12)
                 for d in self._rejection_distances(*embedded)])
        self._warn_if_degenerate(emb, net)

    def _fit_rejection(self, X, y, block):
        """``rejection_`` on block ``block`` (None: none) of the checked training patches
        ``X`` with labels ``y``."""
        if block is None:
            return None
        from sklearn.pipeline import make_pipeline

        from ..features.clip_mean import ClipMean

        return make_pipeline(ClipMean(rows="standard"), CentroidClassifier(metric="cosine")).fit(
            self._embed(X, block=block), y)

    def _warn_if_degenerate(self, emb, net):
        """Warn when the fitted embedding says nothing: every training segment embedded
        alike, or a validation accuracy at chance."""
        from sklearn.exceptions import ConvergenceWarning

        spread = float(emb.std(axis=0).mean())
        size = float(np.linalg.norm(emb, axis=1).mean())
        steps = sum(len(h.get("batches", ())) for h in net.history)
        if emb.shape[0] > 1 and spread <= 1e-3 * max(size, 1e-12):
            warnings.warn(
                f"the fitted embedding has collapsed: all {emb.shape[0]} training segments "
                f"embed to nearly one point (spread {spread:.2g} for a norm of {size:.2g}), so "
                "its labels are decided by round-off. After "
                f"{steps} training steps the batch-norm statistics are not yet those of the "
                "data; train for more epochs or on more clips", ConvergenceWarning,
                stacklevel=4)
            return
        acc = [h["valid_acc"] for h in net.history if "valid_acc" in h]
        n_valid = int(self.validation_mask_.sum())
        if not acc or n_valid == 0:
            return
        from scipy.stats import binomtest

        chance = 1.0 / self.classes_.size
        if chance ** n_valid > 0.05:  # too few clips for even a perfect score to tell
            return
        best = max(acc)
        # the best epoch's validation accuracy, against guessing: one-sided binomial test
        p = binomtest(int(round(best * n_valid)), n_valid, chance,
                      alternative="greater").pvalue
        if p > 0.05:
            warnings.warn(
                f"the validation accuracy never rose clearly above chance: at best "
                f"{best:.2f} on {n_valid} clips of {self.classes_.size} classes (chance "
                f"{chance:.2f}; p = {p:.2f} that guessing does as well): the embedding has "
                "not shown that it learned the classes; train for more epochs or on more "
                "clips, or check the labels", ConvergenceWarning, stacklevel=4)

    # ------------------------------------------------------------------ persistence
    def _net_state(self):
        """The fitted network as tensors and plain numbers, for ``deploy.save_model``.

        Returns ``{"n_mels", "n_frames", "module", "criterion"}``: the two sizes the network
        is built from and the state dicts of the embedding network and the loss head, on
        the CPU. Everything else that rebuilds the network is in the estimator's parameters.
        """
        module = _training.bare_module(self.net_.module_)

        def cpu(state):
            return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}

        return {"n_mels": int(module.band_mean.shape[2]),
                "n_frames": None if module.crop_frames is None else int(module.crop_frames),
                "module": cpu(module.state_dict()),
                "criterion": cpu(self.net_.criterion_.state_dict())}

    def _restore_net(self, state, device="cpu"):
        """Rebuild ``net_`` from :meth:`_net_state`'s output (no pickled module involved)."""
        n_mels = int(state["n_mels"])
        band = (np.zeros(n_mels, dtype=np.float32), np.ones(n_mels, dtype=np.float32))
        accelerator, self.accelerator = self.accelerator, None  # a plain net predicts
        # the loss head has a row per class the network was trained on; classes enrolled
        # since (``enroll``) live in the centroids only
        rows = [v.shape[0] for v in state["criterion"].values() if v.ndim == 2]
        try:
            net = self._build_net(n_mels, state["n_frames"], band, self._criterion_params(),
                                  [], torch.device("cpu"),
                                  n_classes=rows[0] if rows else None)
        finally:
            self.accelerator = accelerator
        net.initialize()
        net.module_.load_state_dict(state["module"])
        net.criterion_.load_state_dict(state["criterion"])
        net.module_.eval()
        self.net_ = net
        self.device = device
        self._sync_device()
        return self

    # ------------------------------------------------------------------ inference
    def _sync_device(self):
        """Move the fitted network to ``self.device`` (e.g. "cpu" after loading)."""
        dev = resolve_device(self.device)
        if str(self.net_.device) != str(dev):
            self.net_.module_.to(dev)
            self.net_.criterion_.to(dev)
            self.net_.device = str(dev)

    def transform(self, X):
        """Per-segment vectors, shape (n_clips, n_segments, n_features): the embeddings, or
        the block activations ``transform_layer`` names.

        With ``transform_layer="embedding"`` (the default) this is :meth:`embeddings`, which
        the class centroids hold: ``MarginEmbeddingClassifier -> CentroidClassifier``
        then decides as this model does. With a block number ``k``, each segment's
        activations after the network's ``k``-th depthwise-separable block, averaged over
        frequency and time (one value per channel): a representation for sounds the
        network was not trained on (see ``transform_layer``). Either way a segment that
        does not count (:meth:`sounding_segments`) is a row of NaN (missing). With
        ``segment_hop`` below 1, one row per window instead of per segment.
        """
        return self._embed(self._patches(X, reset=False),  # checks fitted first
                           block=self._block_of("transform_layer"))

    def embeddings(self, X):
        """Segment embeddings, shape (n_clips, n_segments, embedding_dim): what the class
        centroids hold and every decision uses (``transform_layer`` does not change them).

        A segment that does not count (:meth:`sounding_segments`: digital silence) has no
        embedding: its row is NaN, which :class:`CentroidClassifier` reads as a missing
        segment, so that ``MarginEmbeddingClassifier -> CentroidClassifier`` decides as this
        model does. With ``silence_db=None`` every row holds values. With ``segment_hop``
        below 1, one row per window instead of per segment.
        """
        return self._embed(self._patches(X, reset=False))  # checks fitted first

    def _missing_silence(self, emb, X):
        """``emb`` with the rows of the segments that do not count (of patches ``X``) NaN."""
        counted = self._sounding(X)
        counted[~counted.any(axis=1)] = True  # a clip with no sounding segment counts all
        return np.where(counted[..., None], emb, np.nan).astype(emb.dtype, copy=False)

    def _embed(self, X, block=None, with_embedding=False):
        """Embeddings (``block``: that block's pooled activations; with ``with_embedding``
        too, the pair from one pass) of already checked patches (n_clips, n_segments,
        n_mels, n_frames), the segments that do not count NaN (:meth:`_missing_silence`)."""
        self._sync_device()
        if not self._recuts(X):
            return self._embed_views(X, block, with_embedding)
        # windows cut a batch of clips at a time: never all of them in memory at once
        s, f = X.shape[1], X.shape[3]
        step = max(1, _WINDOWS_AT_ONCE // ((s * f - f) // self._hop_frames(f) + 1))
        parts = [self._embed_views(self._views(X[i:i + step]), block, with_embedding)
                 for i in range(0, X.shape[0], step)]
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate(p) for p in zip(*parts))
        return np.concatenate(parts)

    def _embed_views(self, X, block, with_embedding):
        """:meth:`_embed` of the windows ``X`` themselves (no re-cutting)."""
        n, s = X.shape[:2]
        segments = X.reshape(n * s, 1, *X.shape[2:])
        out = _training.embed(self.net_.module_, segments, block=block,
                              with_embedding=with_embedding)
        if isinstance(out, tuple):
            return tuple(self._missing_silence(o.reshape(n, s, -1), X) for o in out)
        return self._missing_silence(out.reshape(n, s, -1), X)

    def _hop_frames(self, n_frames):
        """The windows' hop in frames for segments of ``n_frames`` (``segment_hop``)."""
        return max(1, int(round(getattr(self, "segment_hop", 1.0) * n_frames, 9)))

    def _recuts(self, X):
        """Whether :meth:`_views` re-cuts the patches ``X`` (a hop under a segment, and more
        than one segment per clip)."""
        return X.shape[1] > 1 and self._hop_frames(X.shape[3]) < X.shape[3]

    def _views(self, X):
        """What the model embeds of checked patches ``X``: ``X`` itself (``segment_hop=1``
        or one segment per clip), else the clips' segments joined in time and re-cut into
        segment-long windows every ``int(segment_hop * n_frames)`` frames."""
        if not self._recuts(X):
            return X
        n, s, n_mels, f = X.shape
        hop = self._hop_frames(f)
        whole = X.transpose(0, 2, 1, 3).reshape(n, n_mels, s * f)
        index = np.arange(0, s * f - f + 1, hop)[:, None] + np.arange(f)  # (windows, f)
        return np.ascontiguousarray(whole[:, :, index].transpose(0, 2, 1, 3))

    def sounding_segments(self, X):
        """The segments that count, by the one rule of every decision of this model.

        A segment whose loudest log-mel bin is below ``silence_db`` is digital silence (ESC
        pads its short recordings with it): it enters no class centroid (:meth:`fit`,
        :meth:`enroll`) and no clip's mean distance (:meth:`predict` and the rest). A clip
        with no louder segment counts all of them. :meth:`transform` leaves the others NaN
        (missing), so a :class:`CentroidClassifier` fed with its embeddings decides as this
        model does.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_mels, n_frames)

        Returns
        -------
        ndarray of bool, shape (n_clips, n_segments)
            One column per window with ``segment_hop`` below 1. All True when
            ``silence_db`` is None.
        """
        return self._sounding(self._views(self._patches(X, reset=False)))

    def _sounding(self, X):
        """(n_clips, n_segments) bool mask of checked patches (see sounding_segments)."""
        if self.silence_db is None:
            return np.ones(X.shape[:2], dtype=bool)
        return X.max(axis=(2, 3)) > self.silence_db

    def _rejection(self):
        """``rejection_``, checked against ``rejection_layer`` (which must not change after
        ``fit``: the block's centroids are made there); None when the embedding's distances
        reject. Read where the rejection is used: the scores, calibrate, enroll and a
        calibrated predict."""
        summed, block = self._rejection_spec()
        rejection = getattr(self, "rejection_", None)
        fitted = getattr(self, "rejection_block_", None)
        fitted_summed = getattr(self, "rejection_scale_", None) is not None
        if (summed, block) != (fitted_summed, fitted):
            name = "embedding" if fitted is None else fitted
            raise ValueError(
                f"rejection_layer is {self.rejection_layer!r} but the model was fitted with "
                f"{('embedding', name) if fitted_summed else name!r}: its rejection centroids "
                "and scales are made in fit; set it back or fit again")
        return rejection

    def _rejection_vectors(self, X):
        """Each clip's block vector, as ``rejection_`` compares them (patches checked)."""
        return self.rejection_[:-1].transform(self._embed(X, block=self.rejection_block_))

    def _rejection_distances(self, emb, acts):
        """The embedding's distance and the block's, per clip, from the segments'
        embeddings ``emb`` and block activations ``acts`` (as :meth:`_embed` gives them)."""
        return (-self.centroid_.score_samples(emb),
                -self.rejection_[-1].score_samples(self.rejection_[:-1].transform(acts)))

    def _rejection_inputs(self, X):
        """``(emb, acts)`` of checked patches ``X``: what :meth:`_rejection_distance` needs
        (None where it needs nothing), from one network pass."""
        if getattr(self, "rejection_", None) is None:  # models pickled before it: none
            return self._embed(X), None
        return self._embed(X, block=self.rejection_block_, with_embedding=True)

    def _rejection_distance(self, emb, acts):
        """Each clip's open-set distance by ``rejection_layer`` (:meth:`_rejection` checked
        it), from :meth:`_rejection_inputs`: the embedding's smallest mean segment distance,
        the block's, or their sum, each divided by its median on the validation clips."""
        if getattr(self, "rejection_", None) is None:
            return -self.centroid_.score_samples(emb)
        distances = self._rejection_distances(emb, acts)
        if getattr(self, "rejection_scale_", None) is None:
            return distances[1]
        return sum(d / s for d, s in zip(distances, self.rejection_scale_))

    def _rejection_threshold(self):
        """The calibrated threshold of a rejection other than the embedding's alone (None:
        none, or the embedding's, which ``centroid_.predict`` applies itself)."""
        rejection = getattr(self, "rejection_", None)
        if rejection is None:
            return None
        if getattr(self, "rejection_scale_", None) is not None:
            return getattr(self, "rejection_threshold_", None)
        return getattr(rejection[-1], "threshold_", None)

    def enroll(self, X, y):
        """Register new classes (or more clips of known ones) without retraining the network.

        The clips' sounding segments (:meth:`sounding_segments`) are embedded and added to
        the class centroids (:meth:`CentroidClassifier.enroll`): the paper's Enrollment.
        From then on :meth:`predict` may answer the new classes.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_mels, n_frames)
        y : array-like of shape (n_clips,)

        Returns
        -------
        self : MarginEmbeddingClassifier
        """
        X = self._patches(X, reset=False)  # checks fitted first
        if self._rejection() is not None:  # the same clips into the rejection centroids
            self.rejection_[-1].enroll(self._rejection_vectors(X), y)
        self.centroid_.enroll(self._embed(X), y)
        self.classes_ = self.centroid_.classes_
        return self

    def decision_function(self, X):
        """Negated mean cosine distance per class (see :class:`CentroidClassifier`)."""
        emb = self.embeddings(X)  # checks fitted first
        return self.centroid_.decision_function(emb)

    def predict(self, X):
        """Class with the smallest mean segment distance to its training centroid
        (silent segments left out: ``silence_db``); after :meth:`calibrate`, ``"unknown"``
        (``-1`` for numeric labels; ``centroid_.unknown_label`` when set) for a clip farther
        than the threshold from every class centroid (:meth:`score_samples` below minus
        the threshold)."""
        return self._predict_embedded(self._patches(X, reset=False))[0]  # checks fitted

    def _predict_embedded(self, X):
        """``(predict(X), embeddings(X))`` of checked patches ``X``, from one network pass."""
        threshold = self._rejection_threshold()
        if threshold is None:  # no rejection but the embedding's own (centroid_.predict)
            emb = self._embed(X)
            return self.centroid_.predict(emb), emb
        self._rejection()  # its layer checked
        emb, acts = self._rejection_inputs(X)
        return (with_unknown(self.centroid_.predict(emb),
                             self._rejection_distance(emb, acts) > threshold,
                             self.centroid_._unknown_label()), emb)

    def score_samples(self, X):
        """Open-set score, higher for clips more like a known class: minus each clip's
        distance to the nearest class centroid, by ``rejection_layer`` (the embedding's
        smallest mean segment distance, :meth:`CentroidClassifier.score_samples`; the
        block vector's cosine distance; or the two, each divided by ``rejection_scale_``,
        summed)."""
        X = self._patches(X, reset=False)  # checks fitted first
        self._rejection()  # its layer checked
        return -self._rejection_distance(*self._rejection_inputs(X))

    def calibrate(self, X, *, true_accept=0.95):
        """Fit the open-set rejection threshold on held-out clips of the known classes.

        From then on :meth:`predict` returns ``"unknown"`` (``-1`` for numeric labels)
        for a clip farther than the threshold from every class centroid, by the distance of
        ``rejection_layer`` (:meth:`score_samples`); see :meth:`CentroidClassifier.calibrate`.
        The threshold is ``centroid_.threshold_`` (``"embedding"``),
        ``rejection_[-1].threshold_`` (a block) or ``rejection_threshold_`` (a pair). Use
        clips the network was not trained on, e.g. ``X[clf.validation_mask_]`` of the clips
        given to ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_mels, n_frames)
        true_accept : float in (0, 1], default=0.95
            Target share of the known clips accepted.

        Returns
        -------
        self : MarginEmbeddingClassifier
        """
        X = self._patches(X, reset=False)  # checks fitted first
        if self._rejection() is None:
            self.centroid_.calibrate(self._embed(X), true_accept=true_accept)
        elif getattr(self, "rejection_scale_", None) is None:
            self.rejection_[-1].calibrate(self._rejection_vectors(X), true_accept=true_accept)
        else:
            if isinstance(true_accept, (bool, np.bool_)) or not (
                    isinstance(true_accept, numbers.Real) and 0 < true_accept <= 1):
                raise ValueError(f"true_accept must be a share in (0, 1], got {true_accept!r}")
            distance = self._rejection_distance(*self._rejection_inputs(X))
            self.centroid_._unknown_label()  # a clash with a class is an error now
            self.rejection_threshold_ = float(np.quantile(distance, true_accept,
                                                          method="higher"))
            self.rejection_true_accept_ = float(np.mean(distance <= self.rejection_threshold_))
        return self

    def predict_proba(self, X):
        """Class probabilities from the mean segment distances."""
        emb = self.embeddings(X)  # checks fitted first
        return self.centroid_.predict_proba(emb)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False    # log-mel patches: 3-D or 4-D,
        tags.input_tags.three_d_array = True   # covered by explicit contract tests
        tags.non_deterministic = False
        return tags
