"""MarginEmbeddingClassifier: MobileNet embeddings trained with margin losses (skorch)."""

from __future__ import annotations

import copy
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_random_state, column_or_1d

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_device

from .._torch import batch_slices, resolve_device, to_tensor
from ._losses import DEFAULTS, LOSSES, NPairLoss
from ._mobilenet import EmbeddingNet
from ._validation import check_clip_labels, check_known_labels
from .centroid import CentroidClassifier

__all__ = ["MarginEmbeddingClassifier"]

# Train in NHWC on the CPU (oneDNN runs the small depthwise-separable blocks faster in that
# layout). A switch only so that benchmarks/bench_margin.py can time both layouts in one run.
_CPU_CHANNELS_LAST = True


def _as_segments(X):
    """Validate X: (n, n_segments, n_mels, n_frames) or (n, n_mels, n_frames) -> 4-D float32."""
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    if ndim not in (3, 4):
        raise ValueError(
            "X must be log-mel patches of shape (n_clips, n_segments, n_mels, n_frames) or "
            f"(n_clips, n_mels, n_frames), got {ndim}-D input with shape {np.shape(X)}"
        )
    X = check_array(X, allow_nd=True, dtype=np.float32, ensure_all_finite=True, input_name="X")
    return X if ndim == 4 else X[:, None]


def _band_stats(seg, level_norm, chunk=4096):
    """Per-mel-band mean and std of (m, 1, n_mels, n_frames) segments, in float64 chunks.

    With ``level_norm`` each segment's mean level is removed first, as the
    network does; chunking keeps memory flat on large sets (no full copy).
    """
    n_mels = seg.shape[2]
    s1, s2, count = np.zeros(n_mels), np.zeros(n_mels), 0
    for start in range(0, seg.shape[0], chunk):
        x = seg[start:start + chunk, 0].astype(np.float64)  # (c, n_mels, n_frames)
        if level_norm:
            x -= x.mean(axis=(1, 2), keepdims=True)
        s1 += x.sum(axis=(0, 2))
        s2 += np.square(x).sum(axis=(0, 2))
        count += x.shape[0] * x.shape[2]
    mean = s1 / count
    return mean, np.sqrt(np.maximum(s2 / count - mean ** 2, 0.0))


def _embed(module, segments, batch_size=256):
    """Embeddings of (m, 1, n_mels, n_frames) segments, batched, in eval mode."""
    was_training = module.training
    module.eval()
    dev = next(module.parameters()).device
    out = []
    with torch.no_grad():
        for sl in batch_slices(segments.shape[0], batch_size):
            out.append(module(to_tensor(segments[sl], dev)).cpu().numpy())
    module.train(was_training)
    return np.concatenate(out).astype(np.float32, copy=False)


class _PairBatches(torch.utils.data.Sampler):
    """Batches of two segments per class (N-pair-mc needs one pair per class)."""

    def __init__(self, labels, seed):
        self.labels = np.asarray(labels)
        self.seed = seed
        self.epoch = 0

    def __iter__(self):
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        pools = {c: list(rng.permutation(np.flatnonzero(self.labels == c)))
                 for c in np.unique(self.labels)}
        for _ in range(len(self)):
            batch = []
            for c, pool in pools.items():
                if len(pool) < 2:
                    pool.extend(rng.permutation(np.flatnonzero(self.labels == c)))
                batch += [pool.pop(), pool.pop()]
            yield batch

    def __len__(self):
        return max(1, len(self.labels) // (2 * len(np.unique(self.labels))))


class _MarginNet(NeuralNet):
    """skorch NeuralNet with N-pair batches and optional mixup.

    For N-pair, training batches hold one pair per class. With
    ``mixup_alpha > 0``, each training batch is replaced by convex mixtures of
    its examples with a shuffled copy, ``lam * x + (1 - lam) * x[perm]`` with
    ``lam ~ Beta(alpha, alpha)``, and the loss is the same mixture of the
    losses against both labels (Zhang et al., 2018). It works for any loss
    with a per-example target, so every margin head takes it unchanged.
    """

    pair_seed = 0
    mixup_alpha = 0.0

    def train_step_single(self, batch, **fit_params):
        if self.mixup_alpha <= 0 or self.criterion is NPairLoss:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi, yi = to_device(Xi, self.device), to_device(yi, self.device)
        lam = float(np.random.default_rng(int(torch.randint(2 ** 31 - 1, ())))
                    .beta(self.mixup_alpha, self.mixup_alpha))
        perm = torch.randperm(Xi.shape[0], device=Xi.device)
        Xm = lam * Xi + (1.0 - lam) * Xi[perm]
        y_pred = self.infer(Xm, **fit_params)
        # a criterion that counts its training calls (SphereFace's annealing) counts this step once
        step = getattr(self.criterion_, "step", None)
        step = step.clone() if torch.is_tensor(step) else step
        loss_a = self.get_loss(y_pred, yi, X=Xm, training=True)
        if step is not None:
            self.criterion_.step = step
        loss_b = self.get_loss(y_pred, yi[perm], X=Xm, training=True)
        loss = lam * loss_a + (1.0 - lam) * loss_b
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_iterator(self, dataset, training=False):
        if training and self.criterion is NPairLoss:
            return torch.utils.data.DataLoader(
                dataset, batch_sampler=_PairBatches(np.asarray(dataset.y), self.pair_seed))
        return super().get_iterator(dataset, training=training)


class _CentroidValidation(Callback):
    """Clip accuracy on the validation clips by nearest centroid; keeps the best epoch.

    Centroids come from a fixed subset of training segments, embedded with
    the current weights at the end of every epoch. The weights of the best
    epoch are kept in memory and restored at the end; on a tie the later
    epoch wins (small validation sets saturate early, and the later
    weights are the better trained).
    """

    def __init__(self, X_ref, y_ref, X_valid, y_valid):
        self.X_ref, self.y_ref = X_ref, y_ref
        self.X_valid, self.y_valid = X_valid, y_valid
        self.best_acc_, self.best_epoch_, self.best_state_ = -1.0, 0, None

    def on_epoch_end(self, net, **kwargs):
        emb_ref = _embed(net.module_, self.X_ref)
        centroid = CentroidClassifier(metric="cosine").fit(emb_ref[:, None], self.y_ref)
        n, s = self.X_valid.shape[:2]
        emb = _embed(net.module_, self.X_valid.reshape(n * s, 1, *self.X_valid.shape[2:]))
        acc = float(np.mean(centroid.predict(emb.reshape(n, s, -1)) == self.y_valid))
        net.history.record("valid_acc", acc)
        if acc >= self.best_acc_:
            self.best_acc_, self.best_epoch_ = acc, len(net.history)
            self.best_state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        # do not carry the data and the weights copy inside the pickled model
        self.X_ref = self.X_valid = self.best_state_ = None


class MarginEmbeddingClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """MobileNet embeddings of log-mel segments, trained with a margin loss (skorch).

    The seed paper's model (Zucatelli & Barioni, 2022): a MobileNet v1
    backbone with a ``width`` multiplier, global average pooling and a dense
    layer to a ``embedding_dim``-d embedding, trained on segments with one of
    the metric-learning losses; clips are classified by the smallest mean
    cosine distance of their segment embeddings to the class centroids of the
    training segments. Use it as the last step of a pipeline, or follow it
    with :class:`CentroidClassifier` (``transform`` returns the embeddings)
    to enroll new classes.

    Parameters
    ----------
    loss : {"softmax", "sphereface", "cosface", "arcface", "npair"}, default="cosface"
        Paper eqs. 3-6 (modified softmax, multiplicative angular, additive
        cosine, additive angular margin) and the multi-class N-pair loss of
        the second paper (batches of one pair per class). CosFace is the
        default: with modified softmax, the paper's best (Fig. 3).
    margin, scale : float or None, default=None
        ``None`` takes each loss's published default: softmax (no margin,
        ``s`` = embedding norm as in eq. 3), SphereFace ``m=4`` with its
        lambda annealing (1000 -> 5) and ``s=30``, CosFace ``m=0.35, s=30``,
        ArcFace ``m=0.5`` rad ``, s=30`` (``s=30`` rather than the face
        papers' 64 suits a handful of classes). Ignored by ``npair``.
    width : float, default=0.25
        MobileNet width multiplier. The paper uses the published network
        (1.0); 0.25 is the default because it trains 3.6x faster than 1.0 on
        a CPU and costs little on the data we measured: ESC-10, 5 folds, 30
        epochs, 82.3 % at 0.25 against 83.5 % at 0.5, within the fold spread
        (1.0 not measured there; ``benchmarks/RESULTS.md``).
    embedding_dim : int, default=32
    epochs : int, default=30
        The paper trains 20 epochs. At 20 the validation accuracy is still
        rising on small sets (ESC-10 folds 1-2: 75.0 % at 20 epochs, 80.0 %
        at 30; synthetic set, 10 folds: 65.6 % and 71.6 %), so the default is
        30; pass ``epochs=20, width=1.0`` for the paper's exact recipe.
    batch_size : int, default=32
    optimizer : {"sgd", "adam"}, default="sgd"
        SGD with momentum (the paper's recipe: SGD, learning rate 0.005,
        batches of 32, 20 epochs, best epoch by validation accuracy), or AdamW
        (it lost on ESC-10: 74.3 % against 82.3 % for SGD).
    lr : float, default=0.005
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` anneals the learning rate to 0 over ``epochs`` (skorch's
        ``LRScheduler`` with ``CosineAnnealingLR``).
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
        draws one at random per clip: 10 folds, 71.6 % -> 75.9 %) and hurts
        where it does (ESC-10, 5 folds: 82.3 % -> 76.8 %), hence off by default.
    mixup : float, default=0.0
        Mixup in training: ``alpha`` of the Beta(alpha, alpha) mixing weight of
        pairs of segments and of their losses; 0 disables it. Ignored by
        ``npair``. On ESC-10 it lowered accuracy (alpha 0.2: 74.5 %, against
        82.3 % without).
    random_crop : bool, default=False
        Train on whole clips: at every step each clip gives a random window of
        one segment's length, anywhere in the clip (its segments joined in
        time), instead of the fixed segments. An epoch is then one pass over
        the clips. Prediction always uses the fixed segments.
    validation_split : float, array-like of bool or None, default=0.1
        Clips held out to pick the best epoch by validation accuracy: a
        fraction (stratified, seeded by ``random_state``), a boolean mask
        over the clips (True = validation: a predefined split), or None to
        keep the last epoch.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        ``"cuda"`` where none exists raises a ``RuntimeError``. A model fitted
        on CUDA pickles and predicts on a CPU-only machine; set
        ``device="cpu"`` on a loaded model to move it explicitly.
        On the CPU the network trains in the channels-last (NHWC) memory
        layout, 1.1-1.6x faster than the default layout with the same results
        up to float rounding.
    random_state : int or None, default=None
        Seeds weights, shuffling, masks and the validation split.
    verbose : int, default=0
        1 prints skorch's per-epoch table (loss, validation accuracy, time).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    net_ : skorch.NeuralNet
        The trained network (``net_.module_`` is the embedding network).
    centroid_ : CentroidClassifier
        Cosine centroids of the training segments' embeddings.
    best_epoch_ : int
        Epoch whose weights were kept (1-based).
    history_ : list of dict
        skorch's per-epoch history (train_loss, valid_acc, dur).
    n_mels_ : int

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
    >>> clf.transform(X).shape
    (12, 2, 32)
    >>> clf.predict_proba(X).shape
    (12, 2)
    """

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
        "random_crop": ["boolean"],
        "validation_split": [Interval(numbers.Real, 0, 1, closed="neither"), "array-like", None],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, loss="cosface", margin=None, scale=None, width=0.25, embedding_dim=32,
                 epochs=30, batch_size=32, optimizer="sgd", lr=0.005, lr_schedule="constant",
                 momentum=0.9, weight_decay=1e-4,
                 mask_fraction=0.15, level_norm=False, mixup=0.0, random_crop=False, validation_split=0.1,
                 device="cpu", random_state=None, verbose=0):
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
        self.random_crop = random_crop
        self.validation_split = validation_split
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def _split(self, y, rng):
        n = y.shape[0]
        vs = self.validation_split
        if vs is None:
            return np.ones(n, bool)
        if isinstance(vs, numbers.Real):
            idx = np.arange(n)
            try:
                _, valid = train_test_split(idx, test_size=vs, stratify=y,
                                            random_state=rng.randint(2 ** 31 - 1))
            except ValueError:  # a class too small to stratify: plain random split
                _, valid = train_test_split(idx, test_size=vs,
                                            random_state=rng.randint(2 ** 31 - 1))
            train = np.ones(n, bool)
            train[valid] = False
        else:
            mask = column_or_1d(np.asarray(vs))
            if mask.dtype != bool or mask.shape[0] != n:
                raise ValueError(
                    f"validation_split as an array must be a boolean mask with one entry per "
                    f"clip ({n}), got dtype {mask.dtype} and {mask.shape[0]} entries"
                )
            train = ~mask
        if train.all() or not train.any():
            raise ValueError(f"validation_split={vs!r} leaves no training or no validation clip")
        if np.unique(y[train]).size < np.unique(y).size:
            raise ValueError("validation_split leaves a class without training clips")
        return train

    def fit(self, X, y):
        """Train the embedding network on the clips' segments.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_segments, n_mels, n_frames) or (n_clips, n_mels, n_frames)
            Log-mel patches, e.g. from :class:`LogMelPatches`.
        y : array-like of shape (n_clips,)
        """
        self._validate_params()
        X = _as_segments(X)
        y = check_clip_labels(self, y, X.shape[0])
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(
                f"MarginEmbeddingClassifier needs at least 2 classes, got 1: {self.classes_[0]!r}"
            )
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2 ** 31 - 1))
        torch.manual_seed(seed)

        train = self._split(y_enc, rng)
        n, s, n_mels, n_frames = X.shape
        Xt, yt = X[train], y_enc[train]
        seg = Xt.reshape(-1, 1, n_mels, n_frames)
        seg_y = np.repeat(yt, s).astype(np.int64)
        if self.random_crop and s > 1:
            # train on whole clips (segments joined in time); the network cuts a random
            # segment-long window from each clip at every step
            fit_X = np.ascontiguousarray(Xt.transpose(0, 2, 1, 3).reshape(-1, 1, n_mels, s * n_frames))
            fit_y = yt.astype(np.int64)
        else:
            fit_X, fit_y = seg, seg_y
        self.n_mels_ = n_mels
        band_mean, band_std = _band_stats(seg, self.level_norm)
        margin, scale = DEFAULTS[self.loss]
        margin = margin if self.margin is None else self.margin
        scale = scale if self.scale is None else self.scale

        callbacks = []
        if self.lr_schedule == "cosine":
            from skorch.callbacks import LRScheduler

            callbacks.append(("lr_schedule", LRScheduler(
                policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=self.epochs)))
        if self.validation_split is not None:
            ref = rng.choice(seg.shape[0], size=min(seg.shape[0], 256), replace=False)
            callbacks.append(("centroid_validation", _CentroidValidation(
                seg[ref], seg_y[ref], X[~train], y_enc[~train])))
        net = _MarginNet(
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
            criterion__n_classes=self.classes_.size,
            criterion__embedding_dim=self.embedding_dim,
            criterion__margin=margin,
            criterion__scale=scale,
            **self._optimizer_params(),
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.epochs,
            train_split=None,
            iterator_train__shuffle=True,
            callbacks=callbacks,
            device=str(device),
            verbose=self.verbose,
        )
        net.pair_seed = seed
        net.mixup_alpha = float(self.mixup)
        net.initialize()
        if device.type == "cpu" and _CPU_CHANNELS_LAST:
            # NHWC: 1.1-1.6x faster training here (benchmarks/RESULTS.md); CUDA keeps NCHW
            net.module_.to(memory_format=torch.channels_last)
        net.partial_fit(fit_X, fit_y)  # = net.fit, with the layout set in between
        self.net_ = net
        self.history_ = [dict(h) for h in net.history]
        if self.validation_split is not None:
            self.best_epoch_ = int(dict(net.callbacks_)["centroid_validation"].best_epoch_)
        else:
            self.best_epoch_ = len(net.history)
        self.net_.module_.eval()
        emb = _embed(net.module_, seg).reshape(Xt.shape[0], s, -1)
        self.centroid_ = CentroidClassifier(metric="cosine").fit(emb, self.classes_[yt])
        return self

    def _optimizer_params(self):
        if self.optimizer == "adam":
            return dict(optimizer=torch.optim.AdamW, optimizer__weight_decay=self.weight_decay)
        return dict(optimizer=torch.optim.SGD, optimizer__momentum=self.momentum,
                    optimizer__weight_decay=self.weight_decay)

    # ------------------------------------------------------------------ inference
    def _sync_device(self):
        """Move the fitted network to ``self.device`` (e.g. "cpu" after loading)."""
        dev = resolve_device(self.device)
        if str(self.net_.device) != str(dev):
            self.net_.module_.to(dev)
            self.net_.criterion_.to(dev)
            self.net_.device = str(dev)

    def transform(self, X):
        """Segment embeddings, shape (n_clips, n_segments, embedding_dim)."""
        check_is_fitted(self)
        X = _as_segments(X)
        if X.shape[2] != self.n_mels_:
            raise ValueError(f"X has {X.shape[2]} mel bands, the model was fitted on {self.n_mels_}")
        self._sync_device()
        n, s = X.shape[:2]
        return _embed(self.net_.module_, X.reshape(n * s, 1, *X.shape[2:])).reshape(n, s, -1)

    def decision_function(self, X):
        """Mean cosine similarity-based scores per class (see :class:`CentroidClassifier`)."""
        emb = self.transform(X)  # checks fitted first
        return self.centroid_.decision_function(emb)

    def predict(self, X):
        """Class with the smallest mean segment distance to its training centroid."""
        emb = self.transform(X)
        return self.centroid_.predict(emb)

    def predict_proba(self, X):
        """Class probabilities from the mean segment distances."""
        emb = self.transform(X)
        return self.centroid_.predict_proba(emb)

    def score(self, X, y, sample_weight=None):
        """Accuracy; labels not seen in fit raise a ``ValueError``."""
        check_is_fitted(self)
        check_known_labels(self, y)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # 3-D/4-D patches: covered by explicit tests
        return tags
