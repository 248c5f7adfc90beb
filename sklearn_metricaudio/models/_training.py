"""Training machinery of MarginEmbeddingClassifier (private): the pieces its ``fit`` assembles.

- :func:`validation_mask`: the clips held out to pick the best epoch, group-aware;
- :func:`band_stats`: per-mel-band statistics of the training segments;
- :func:`embed`: batched embedding in eval mode;
- :func:`seeded_torch`: torch's global generators seeded for one block, then restored;
- :class:`PairBatches`: the N-pair sampler (one pair per class per batch);
- :class:`DeformedItems`: training items swapped at random for deformed versions of them;
- :class:`MarginNet`: skorch's ``NeuralNet`` with N-pair batches and mixup;
- :class:`CentroidValidation`: clip accuracy by nearest centroid per epoch, best epoch kept;
- :class:`DivergenceCheck`: a clear error when the loss stops being finite;
- :class:`SphereFaceAnnealing`: SphereFace's lambda schedule, one step per training batch.

The callbacks follow skorch's own (``skorch/callbacks``): parameters in ``__init__``, state
created in ``initialize``, work in the ``on_*`` hooks.
"""

from __future__ import annotations

import contextlib
import copy
import numbers

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_device

from .._torch import batch_slices, to_tensor
from ._losses import NPairLoss
from .centroid import CentroidClassifier

__all__ = ["validation_mask", "reference_segments", "band_stats", "embed", "seeded_torch", "check_pairs", "PairBatches", "DeformedItems",
           "MarginNet",
           "CentroidValidation", "DivergenceCheck", "SphereFaceAnnealing"]


# ---------------------------------------------------------------------- validation split
def validation_mask(y, validation_split, groups=None, random_state=None):
    """Boolean mask of the clips held out for model selection (True = validation).

    Parameters
    ----------
    y : ndarray of shape (n_clips,)
        Encoded labels.
    validation_split : float in (0, 1), array-like of bool or None
        A fraction of the clips (stratified by class), a predefined mask, or None
        (no validation: an all-False mask).
    groups : array-like of shape (n_clips,) or None
        Source recording of each clip (UrbanSound8K's ``fsID``). With groups, whole
        recordings are drawn at random until the fraction is reached, skipping any
        that would take more than ``round(validation_split * n_class)`` clips of one
        of its classes (on small sets: its smallest recording; never more than half
        of a class): the slices of one recording are never on both sides
        (near-copies of training clips would flatter the epoch chosen) and no class
        gives up more than its share of training data. A class whose recordings are
        all larger than its share gets no validation clip.
    random_state : int or None
        Seeds the draw.

    Returns
    -------
    ndarray of bool, shape (n_clips,)
    """
    n = y.shape[0]
    vs = validation_split
    if vs is None:
        return np.zeros(n, bool)
    if isinstance(vs, numbers.Real):
        valid = _fraction_mask(y, vs, groups, random_state)
    else:
        valid = column_or_1d(np.asarray(vs))
        if valid.dtype != bool or valid.shape[0] != n:
            raise ValueError(
                f"validation_split as an array must be a boolean mask with one entry per "
                f"clip ({n}), got dtype {valid.dtype} and {valid.shape[0]} entries"
            )
    if valid.all() or not valid.any():
        raise ValueError(f"validation_split={vs!r} leaves no training or no validation clip")
    if np.unique(y[~valid]).size < np.unique(y).size:
        raise ValueError("validation_split leaves a class without training clips")
    return valid


def _fraction_mask(y, fraction, groups, random_state):
    n = y.shape[0]
    valid = np.zeros(n, bool)
    if groups is None:
        idx = np.arange(n)
        try:
            _, held = train_test_split(idx, test_size=fraction, stratify=y,
                                       random_state=random_state)
        except ValueError:  # a class too small to stratify: draw clips one by one instead
            held = _draw_keeping_every_class(y, max(1, int(round(fraction * n))), random_state)
        valid[held] = True
        return valid
    groups = column_or_1d(np.asarray(groups))
    if groups.shape[0] != n:
        raise ValueError(f"groups must hold one entry per clip ({n}), got {groups.shape[0]}")
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError(f"groups holds {n_groups} group; a group-aware validation split "
                         "needs at least 2 (or pass validation_split=None)")
    valid[_draw_groups_within_class_budgets(y, groups, fraction, random_state)] = True
    return valid


def _draw_groups_within_class_budgets(y, groups, fraction, random_state):
    """Whole groups, in random order, while no class gives up more than its share.

    Every class may lose at most ``round(fraction * n_class)`` clips, or its smallest
    recording where that is larger (on small sets), and never more than half of its
    clips; a group that would push any of its classes past that is skipped. This is a
    stratified group shuffle split with per-class caps, written here because
    scikit-learn's ``StratifiedGroupKFold`` (tried first) balances folds, not classes
    within a fold: on UrbanSound8K clips it held out 44 % of one class (one recording of
    31 of its 71 training clips) for a 10 % split, and that class's accuracy paid for it.
    """
    classes, y_idx = np.unique(y, return_inverse=True)
    counts = np.bincount(y_idx, minlength=classes.size)
    target = fraction * y.shape[0]
    group_ids, g_idx = np.unique(groups, return_inverse=True)
    per_group = np.zeros((group_ids.size, classes.size), dtype=np.int64)
    np.add.at(per_group, (g_idx, y_idx), 1)
    # a class's share, or its smallest recording where that is larger (small sets), and never
    # more than half of the class
    smallest = np.where(per_group > 0, per_group, np.iinfo(np.int64).max).min(axis=0)
    budget = np.minimum(np.maximum(np.round(fraction * counts), smallest), counts // 2)
    held_per_class = np.zeros(classes.size, dtype=np.int64)
    chosen = []
    for g in np.random.default_rng(random_state).permutation(group_ids.size):
        if held_per_class.sum() >= target:
            break
        if np.all(held_per_class + per_group[g] <= budget):
            held_per_class += per_group[g]
            chosen.append(g)
    return np.flatnonzero(np.isin(g_idx, chosen))


def _draw_keeping_every_class(y, n_valid, random_state):
    """Up to ``n_valid`` random clips, never the last training clip of a class."""
    rng = np.random.default_rng(random_state)
    left = np.bincount(y)
    held = []
    for i in rng.permutation(y.shape[0]):
        if len(held) == n_valid:
            break
        if left[y[i]] > 1:
            held.append(i)
            left[y[i]] -= 1
    return np.asarray(held, dtype=np.intp)


def reference_segments(seg_y, size, rng):
    """Indices of up to ``size`` training segments, about as many of every class.

    The validation callback's centroids come from them: a class missing from the draw
    would count all its validation clips as errors.
    """
    classes = np.unique(seg_y)
    per_class = int(np.ceil(size / classes.size))
    picks = []
    for c in classes:
        members = np.flatnonzero(seg_y == c)
        picks.append(rng.choice(members, size=min(per_class, members.size), replace=False))
    return np.sort(np.concatenate(picks))


# ---------------------------------------------------------------------- arrays and tensors
def band_stats(seg, level_norm, chunk=4096):
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


def embed(module, segments, batch_size=256):
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


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Run the block with torch's global generators seeded by ``seed``; restore them after.

    Weight initialisation, shuffling, masks and crops draw from torch's global
    generators. Seeding them inside :func:`torch.random.fork_rng` makes a fit
    reproducible without resetting the caller's random stream: after the block the
    CPU generator (and, when training on CUDA, that device's) is back where it was.
    """
    device = torch.device(device)
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(int(seed))
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
        yield


# ---------------------------------------------------------------------- batches
def check_pairs(labels, names=None):
    """Raise a clear error if a class has fewer than 2 segments (N-pair needs a pair).

    ``names`` maps encoded labels to the user's labels for the message.
    """
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    short = [(v, int(k)) for v, k in zip(values, counts) if k < 2]
    if short:
        label = (lambda v: names[v].item()) if names is not None else (lambda v: v.item())
        shown = ", ".join(f"{label(v)!r}: {k}" for v, k in short)
        raise ValueError(
            f"the N-pair loss needs at least 2 training segments per class, and some classes "
            f"have fewer ({shown}); give them more clips or segments, or a smaller "
            "validation split"
        )


class PairBatches(torch.utils.data.Sampler):
    """Batches of two distinct segments per class (N-pair-mc needs one pair per class).

    Each class's segments are drawn without replacement from a shuffled pool; a pool
    with fewer than two left is refilled with a fresh permutation (the leftover is
    dropped), so a segment is never paired with itself. Every class needs at least two
    segments.
    """

    def __init__(self, labels, seed):
        self.labels = np.asarray(labels)
        self.seed = seed
        self.epoch = 0
        check_pairs(self.labels)

    def __iter__(self):
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        members = {c: np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        pools = {c: list(rng.permutation(idx)) for c, idx in members.items()}
        for _ in range(len(self)):
            batch = []
            for c, pool in pools.items():
                if len(pool) < 2:
                    pool[:] = rng.permutation(members[c])
                batch += [pool.pop(), pool.pop()]
            yield batch

    def __len__(self):
        return max(1, len(self.labels) // (2 * len(np.unique(self.labels))))


class DeformedItems(torch.utils.data.Dataset):
    """Training items, each swapped at random for the same item of a deformed version.

    Training-time augmentation from precomputed deformations (time stretch, pitch shift,
    compression, ...: Salamon & Bello, 2017). Every time item ``i`` is read it is, with
    probability ``share``, replaced by the same item of one of its clip's
    ``n_variants`` deformed versions, drawn uniformly; the draws come from torch's
    global generator, which ``fit`` seeds (:func:`seeded_torch`), so a ``random_state``
    gives the same sequence. Items are read one at a time, so ``deformed`` may be a
    float16 or memory-mapped array: only a batch is ever converted.

    Parameters
    ----------
    X : ndarray of shape (n_items, 1, n_mels, n_frames)
        The original items: segments, or whole clips (segments joined in time) when
        ``whole_clips``.
    y : ndarray of shape (n_items,)
    deformed : array of shape (n_clips_all, n_variants, n_segments, n_mels, n_frames)
    clips : ndarray of int
        Row of ``deformed`` of each training clip, in the order of ``X``'s clips.
    share : float in [0, 1]
    whole_clips : bool
        Items are whole clips (``len(X) == len(clips)``), not segments.
    """

    def __init__(self, X, y, deformed, clips, share, whole_clips=False):
        self.X, self.y = X, y
        self.deformed, self.clips = deformed, np.asarray(clips)
        self.share, self.whole_clips = float(share), bool(whole_clips)
        self.n_segments = deformed.shape[2]

    def __len__(self):
        return len(self.X)

    def deformed_item(self, i, variant):
        """Item ``i`` of deformed version ``variant`` of its clip, shaped like ``X[i]``."""
        if self.whole_clips:
            segments = self.deformed[self.clips[i], variant]          # (s, n_mels, f)
            x = np.concatenate(list(segments), axis=-1)[None]         # (1, n_mels, s * f)
        else:
            clip, segment = divmod(i, self.n_segments)
            x = self.deformed[self.clips[clip], variant, segment][None]
        return np.asarray(x, dtype=np.float32)

    def __getitem__(self, i):
        if self.share > 0 and float(torch.rand(())) < self.share:
            x = self.deformed_item(i, int(torch.randint(self.deformed.shape[1], ())))
        else:
            x = self.X[i]
        return torch.from_numpy(np.ascontiguousarray(x)), self.y[i]


class MarginNet(NeuralNet):
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
        loss_a = self.get_loss(y_pred, yi, X=Xm, training=True)
        loss_b = self.get_loss(y_pred, yi[perm], X=Xm, training=True)
        loss = lam * loss_a + (1.0 - lam) * loss_b
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_iterator(self, dataset, training=False):
        if training and self.criterion is NPairLoss:
            return torch.utils.data.DataLoader(
                dataset, batch_sampler=PairBatches(np.asarray(dataset.y), self.pair_seed))
        return super().get_iterator(dataset, training=training)


# ---------------------------------------------------------------------- callbacks
class CentroidValidation(Callback):
    """Clip accuracy on the validation clips by nearest centroid; keeps the best epoch.

    Centroids come from a fixed subset of training segments, embedded with
    the current weights at the end of every epoch; ``segment_mask`` says which
    validation segments count in a clip's mean distance (all when None). The weights of the best
    epoch are kept in memory and restored at the end; on a tie the later
    epoch wins (small validation sets saturate early, and the later
    weights are the better trained).
    """

    def __init__(self, X_ref, y_ref, X_valid, y_valid, segment_mask=None):
        self.X_ref, self.y_ref = X_ref, y_ref
        self.X_valid, self.y_valid = X_valid, y_valid
        self.segment_mask = segment_mask

    def initialize(self):
        self.best_acc_, self.best_epoch_, self.best_state_ = -1.0, 0, None
        return self

    def accuracy(self, module):
        """Clip accuracy of ``module``'s embeddings on the validation clips."""
        emb_ref = embed(module, self.X_ref)
        centroid = CentroidClassifier(metric="cosine").fit(emb_ref[:, None], self.y_ref)
        n, s = self.X_valid.shape[:2]
        emb = embed(module, self.X_valid.reshape(n * s, 1, *self.X_valid.shape[2:]))
        pred = centroid.predict(emb.reshape(n, s, -1), segment_mask=self.segment_mask)
        return float(np.mean(pred == self.y_valid))

    def on_epoch_end(self, net, **kwargs):
        acc = self.accuracy(net.module_)
        net.history.record("valid_acc", acc)
        if acc >= self.best_acc_:
            self.best_acc_, self.best_epoch_ = acc, len(net.history)
            self.best_state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        # do not carry the data and the weights copy inside the pickled model
        self.X_ref = self.X_valid = self.best_state_ = self.segment_mask = None


class DivergenceCheck(Callback):
    """Stop with a clear error as soon as the training loss is no longer finite.

    A diverged network has NaN weights; without this check the failure would surface
    later and elsewhere (NaN embeddings in the validation centroids).
    """

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is not None and not np.isfinite(loss):
            raise FloatingPointError(
                f"training diverged: the training loss is {loss} at epoch {len(net.history)} "
                f"(lr={net.lr}); lower lr, or try another loss or optimizer"
            )


class SphereFaceAnnealing(Callback):
    """SphereFace's lambda schedule: ``max(minimum, base / (1 + gamma * step))``.

    Before every training batch the criterion's ``lam`` is set from the number of
    training batches seen so far (SphereFace's published 1000, 0.12, 5); validation
    and prediction do not advance it. A skorch callback, as skorch drives its
    learning-rate schedules (``skorch.callbacks.LRScheduler``), so that the loss has no
    hidden counter and a mixup step, which evaluates the loss twice, is one step.
    """

    def __init__(self, base=1000.0, gamma=0.12, minimum=5.0):
        self.base, self.gamma, self.minimum = base, gamma, minimum

    def initialize(self):
        self.step_ = 0
        return self

    def lam(self, step):
        """Lambda after ``step`` training batches."""
        return max(self.minimum, self.base / (1.0 + self.gamma * step))

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            net.criterion_.lam = self.lam(self.step_)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.step_ += 1
