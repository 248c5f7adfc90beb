"""Training machinery of MarginEmbeddingClassifier (private): the pieces its ``fit`` assembles.

- :func:`validation_mask`: the clips held out to pick the best epoch, group-aware;
- :func:`band_stats`: per-mel-band statistics of the training segments;
- :func:`embed`: batched embedding in eval mode;
- :func:`seeded_torch`: torch's global generators seeded for one block, then restored;
- :class:`PairBatches`: the N-pair sampler (one pair per class per batch);
- :class:`TrainingBatches`: shuffled batches gathered on the training device, deformed swaps;
- :class:`MarginNet`: skorch's ``NeuralNet`` with N-pair batches and mixup;
- :class:`WeightAverage`: an exponential moving average of the weights, what is validated and kept;
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
from skorch.hf import AccelerateMixin
from skorch.dataset import get_len, unpack_data
from skorch.utils import to_device

from .._torch import batch_slices, to_tensor
from ._losses import NPairLoss
from .centroid import CentroidClassifier

__all__ = ["validation_mask", "reference_segments", "band_stats", "embed", "seeded_torch", "check_pairs", "PairBatches", "TrainingBatches",
           "MarginNet", "AcceleratedMarginNet", "bare_module",
           "WeightAverage", "evaluated_module", "CentroidValidation", "DivergenceCheck",
           "SphereFaceAnnealing"]


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


def reference_segments(seg_y, size, rng, eligible=None):
    """Indices of up to ``size`` training segments, about as many of every class.

    The validation callback's centroids come from them: a class missing from the draw
    would count all its validation clips as errors. ``eligible`` (bool per segment) limits
    the draw to those segments (the sounding ones), except for a class that has none.
    """
    classes = np.unique(seg_y)
    per_class = int(np.ceil(size / classes.size))
    picks = []
    for c in classes:
        members = np.flatnonzero(seg_y == c)
        if eligible is not None and eligible[members].any():
            members = members[eligible[members]]
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


def embed(module, segments, batch_size=None, block=None, with_embedding=False):
    """Embeddings of (m, 1, n_mels, n_frames) segments, batched, in eval mode (``block``:
    that block's pooled activations instead, :meth:`EmbeddingNet.pooled_block`; with
    ``with_embedding`` as well, the pair ``(embeddings, activations)`` from one pass).

    ``batch_size`` None: 256 segments per batch on the CPU, 2048 on CUDA (where small
    batches leave the device idle between launches). ``segments`` may be a tensor already
    on the device.
    """
    was_training = module.training
    module.eval()
    dev = next(module.parameters()).device
    if batch_size is None:
        batch_size = 2048 if dev.type == "cuda" else 256
    both = with_embedding and block is not None
    out = ([], []) if both else ([],)
    with torch.no_grad():
        for sl in batch_slices(segments.shape[0], batch_size):
            x = to_tensor(segments[sl], dev)
            if both:
                y = bare_module(module).embed_and_pooled_block(x, block)
            else:
                y = (module(x) if block is None else bare_module(module).pooled_block(x, block),)
            for part, got in zip(out, y):
                part.append(got.cpu().numpy())
    module.train(was_training)
    out = tuple(np.concatenate(part).astype(np.float32, copy=False) for part in out)
    return out if both else out[0]


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


class TrainingBatches(torch.utils.data.IterableDataset):
    """Shuffled training mini-batches, gathered where the data lives, with deformed swaps.

    What skorch's ``DataLoader`` over the training items would yield, without its per-item
    Python work and per-batch host-to-device copies: the items and labels are held as tensors on
    ``data_device`` (the training device when they fit in half its free memory, else the host;
    on the CPU a view of the arrays, no copy), every epoch draws one permutation there (or
    N-pair batches: :class:`PairBatches`, one upload per epoch) and each batch is gathered with
    one indexing operation, the last one possibly smaller. No step waits for the device.

    With ``deformed``, each item of a batch is swapped, with probability ``share``, for the same
    item of one of its clip's ``n_variants`` deformed versions, drawn uniformly
    (training-time augmentation from precomputed deformations: Salamon & Bello, 2017). All
    draws come from torch's generator of ``data_device``, which ``fit`` seeds
    (:func:`seeded_torch`), so a ``random_state`` gives the same sequence. On the host,
    ``deformed`` may be float16 or memory-mapped: only the drawn items are read.

    Parameters
    ----------
    X : ndarray of shape (n_items, 1, n_mels, n_frames)
        The original items: segments, or whole clips (segments joined in time) when
        ``whole_clips``.
    y : ndarray of shape (n_items,)
    batch_size : int
    device : torch.device
        Where training runs: every batch is delivered there.
    deformed : array of shape (n_clips_all, n_variants, n_segments, n_mels, n_frames) or None
    clips : ndarray of int or None
        Row of ``deformed`` of each training clip, in the order of ``X``'s clips.
    share : float in [0, 1]
    whole_clips : bool
        Items are whole clips (``len(X) == len(clips)``), not segments.
    pair_batches : PairBatches or None
        Draw the batches from this sampler (N-pair) instead of a permutation.
    shard : (int, int), default=(0, 1)
        ``(index, count)``: this process reads batches ``index``, ``index + count``, ... of
        every epoch (data-parallel training over ``count`` processes that draw the same
        permutation); trailing batches that would leave a process one batch short are
        dropped, so that every process takes the same number of steps.
    outliers : array of shape (m, 1, n_mels, n_frames) or None
        A pool of sounds of none of the classes (outlier exposure): ``outlier_batch`` of
        them, drawn at random, are appended to every batch with the label -1.
    outlier_batch : int
    balanced : bool, default=False
        Draw every epoch's items with replacement, a class uniformly and then one of its
        items uniformly, instead of a permutation: each class equally likely in every
        batch, as many items per epoch as the permutation (class-balanced resampling).
    """

    def __init__(self, X, y, batch_size, device, *, deformed=None, clips=None, share=0.0,
                 whole_clips=False, pair_batches=None, shard=(0, 1), outliers=None,
                 outlier_batch=0, balanced=False):
        self.shard = (int(shard[0]), int(shard[1]))
        self.batch_size, self.device = int(batch_size), torch.device(device)
        self.share, self.whole_clips = float(share), bool(whole_clips)
        self.pair_batches = pair_batches
        if deformed is None or self.share == 0:
            deformed = None
        nbytes = X.nbytes + (0 if deformed is None else deformed.nbytes)
        self.data_device = self.device
        if self.device.type == "cuda" and nbytes > torch.cuda.mem_get_info(self.device)[0] / 2:
            self.data_device = torch.device("cpu")  # too large for the device: gather on the host
        self.X = to_tensor(X, self.data_device)
        self.outliers, self.outlier_batch = None, 0
        if outliers is not None and outlier_batch > 0:
            self.outliers = to_tensor(outliers, self.data_device)
            self.outlier_batch = int(outlier_batch)
        self.y = torch.as_tensor(np.asarray(y), dtype=torch.int64, device=self.data_device)
        self.by_class = None
        if balanced:  # the items sorted by class, and where each class starts and how many
            labels = np.asarray(y)
            order = np.argsort(labels, kind="stable")
            _, start, count = np.unique(labels[order], return_index=True, return_counts=True)
            self.by_class = tuple(torch.as_tensor(a, dtype=torch.int64, device=self.data_device)
                                  for a in (order, start, count))
        self.deformed, self.clips = None, None
        if deformed is not None:
            self.n_variants, self.n_segments = deformed.shape[1], deformed.shape[2]
            if self.data_device.type == "cuda":  # float16 stays float16 on the device
                deformed = to_tensor(deformed, self.data_device,
                                     dtype=getattr(torch, np.dtype(deformed.dtype).name))
            self.deformed = deformed
            self.clips = torch.as_tensor(np.asarray(clips), dtype=torch.int64,
                                         device=self.data_device)

    def __len__(self):
        return int(self.X.shape[0])

    def steps_per_epoch(self):
        """Training steps this process takes per epoch (the length of :meth:`batch_indices`)."""
        if self.pair_batches is not None:
            n = len(self.pair_batches)
        else:
            n = -(-len(self) // self.batch_size)
        count = self.shard[1]
        return (n - n % count) // count if count > 1 else n

    def batch_indices(self):
        """This epoch's batches (this process's share): index tensors on ``data_device``."""
        if self.pair_batches is not None:
            batches = np.asarray(list(self.pair_batches), dtype=np.int64)
            batches = torch.as_tensor(batches, device=self.data_device).unbind(0)
        elif self.by_class is not None:
            order, start, count = self.by_class
            c = torch.randint(count.shape[0], (len(self),), device=self.data_device)
            within = (torch.rand(len(self), device=self.data_device) * count[c]).long()
            within = torch.minimum(within, count[c] - 1)  # rand < 1, but float rounding
            batches = order[start[c] + within].split(self.batch_size)
        else:
            batches = torch.randperm(len(self), device=self.data_device).split(self.batch_size)
        index, count = self.shard
        if count == 1:
            return batches
        return batches[index:len(batches) - len(batches) % count:count]

    def deformed_items(self, idx, variant):
        """Items ``idx`` of deformed versions ``variant`` of their clips, shaped like ``X[idx]``."""
        if self.whole_clips:
            clip, where = idx, (variant,)
        else:
            clip, segment = idx // self.n_segments, idx % self.n_segments
            where = (variant, segment)
        rows = self.clips[clip]
        if isinstance(self.deformed, torch.Tensor):
            d = self.deformed[(rows, *where)]
        else:  # a host array, possibly float16 or memory-mapped: read the drawn items only
            d = torch.from_numpy(np.asarray(
                self.deformed[(rows.numpy(), *(w.numpy() for w in where))], dtype=np.float32))
        if self.whole_clips:  # (b, s, n_mels, f) -> (b, 1, n_mels, s * f): segments joined
            b, s, n_mels, f = d.shape
            return d.permute(0, 2, 1, 3).reshape(b, 1, n_mels, s * f).to(self.X.dtype)
        return d[:, None].to(self.X.dtype)

    def gather(self, idx):
        """The batch of items ``idx``, deformed versions swapped in, on ``device``."""
        x = self.X[idx]
        if self.deformed is not None:
            b = idx.shape[0]
            swap = torch.rand(b, device=self.data_device) < self.share
            variant = torch.randint(self.n_variants, (b,), device=self.data_device)
            x = torch.where(swap[:, None, None, None], self.deformed_items(idx, variant), x)
        y = self.y[idx]
        if x.device != self.device:
            x, y = x.to(self.device), y.to(self.device)
        return x, y

    def with_outliers(self, x, y):
        """``outlier_batch`` random items of the outlier pool appended to the batch, labelled
        -1 (the loss takes the last ``outlier_batch`` rows as outliers)."""
        if self.outliers is None:
            return x, y
        draw = torch.randint(self.outliers.shape[0], (self.outlier_batch,),
                             device=self.data_device)
        out = self.outliers[draw].to(x.device)
        return (torch.cat([x, out]),
                torch.cat([y, torch.full((self.outlier_batch,), -1, dtype=y.dtype,
                                         device=y.device)]))

    def __iter__(self):
        for idx in self.batch_indices():
            yield self.with_outliers(*self.gather(idx))


class MarginNet(NeuralNet):
    """skorch NeuralNet with device-side batches, bfloat16 autocast and optional mixup.

    Training batches come from :class:`TrainingBatches` (passed to ``fit`` as the data set:
    gathered on the device, N-pair batches for the N-pair loss). The epoch loop is skorch's,
    except that the batch losses are read back once per epoch instead of once per batch: no
    step makes the host wait for the device. With ``mixed_precision`` on CUDA the
    network runs under ``torch.autocast(dtype=torch.bfloat16)`` in training; the loss head
    gets float32 embeddings. With ``mixup_alpha > 0``, each training batch is replaced by convex
    mixtures of its examples with a shuffled copy, ``lam * x + (1 - lam) * x[perm]`` with
    ``lam ~ Beta(alpha, alpha)``, and the loss is the same mixture of the
    losses against both labels (Zhang et al., 2018). It works for any loss
    with a per-example target, so every margin head takes it unchanged.
    """

    mixup_alpha = 0.0
    mixed_precision = False
    channels_last = False
    outlier_rows = 0  # the last rows of a training batch that are outliers (label -1)
    outlier_weight = 0.0

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """skorch's loss; in a training batch with outliers appended (its last
        ``outlier_rows`` rows), the loss of the other rows plus ``outlier_weight`` times
        the loss head's ``outlier_loss`` of those (outlier exposure)."""
        k = self.outlier_rows
        if not (training and k):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        known = super().get_loss(y_pred[:-k], y_true[:-k], X=X, training=training)
        return known + self.outlier_weight * self.criterion_.outlier_loss(y_pred[-k:])

    def initialize_module(self):
        """skorch's, then the network in the channels-last layout if asked (before an
        accelerator wraps it)."""
        super().initialize_module()
        if self.channels_last:
            self.module_.to(memory_format=torch.channels_last)
        return self

    def infer(self, x, **fit_params):
        if self.mixed_precision and torch.device(self.device).type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = super().infer(x, **fit_params)
            return out.float()
        return super().infer(x, **fit_params)

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
        if training and isinstance(dataset, TrainingBatches):
            return dataset  # batches already gathered on the device
        return super().get_iterator(dataset, training=training)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop; the batch losses are read back together at the end.

        ``loss.item()`` after every batch (skorch's loop) makes the host wait for the device
        at every step; here the losses stay on the device until the epoch ends, then fill the
        same history entries (``<prefix>_loss`` per batch) before ``on_epoch_end`` reads them.
        """
        if iterator is None:
            return
        losses = []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            losses.append(step["loss"].detach().float())
            self.history.record_batch(prefix + "_batch_size", get_len(batch[0]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
        values = torch.stack(losses).cpu().tolist() if losses else []  # one read-back
        for record, value in zip(self.history[-1]["batches"][-len(values):], values):
            record[prefix + "_loss"] = value
        self.history.record(prefix + "_batch_count", len(values))


class AcceleratedMarginNet(AccelerateMixin, MarginNet):
    """:class:`MarginNet` trained through skorch's Accelerate integration.

    ``skorch.hf.AccelerateMixin`` prepares the network, the loss head, the optimiser and the
    learning-rate schedule with an ``accelerate.Accelerator`` (data-parallel over the
    processes ``accelerate launch`` starts, mixed precision as the accelerator says) and
    unwraps them after training. Each process reads its own share of every epoch's batches
    (:class:`TrainingBatches` ``shard``). Mixup is not supported (the mixin's training step
    replaces :class:`MarginNet`'s).
    """

    def on_train_end(self, net, **kwargs):
        """The mixin's unwrapping of the network and loss head, then of the optimiser and
        the schedule too, and the accelerator's references to them released
        (``Accelerator.free_memory``): accelerate's proxies cannot be pickled."""
        super().on_train_end(net, **kwargs)
        if not self.unwrap_after_train:
            return
        inner = {}
        for name in self._optimizers:
            optimizer = getattr(self, name + "_")
            inner[id(optimizer)] = getattr(optimizer, "optimizer", optimizer)
            setattr(self, name + "_", inner[id(optimizer)])
        for _, callback in self.callbacks_:
            for attr in ("policy_", "lr_scheduler_"):  # skorch's LRScheduler: class, instance
                schedule = getattr(callback, attr, None)
                if hasattr(schedule, "scheduler"):  # accelerate's AcceleratedScheduler
                    schedule = schedule.scheduler
                    setattr(callback, attr, schedule)
                if id(getattr(schedule, "optimizer", None)) in inner:  # a schedule of the proxy
                    schedule.optimizer = inner[id(schedule.optimizer)]
        self.accelerator.free_memory()  # its own references to what it prepared

    def release_accelerator(self):
        """Forget the accelerator once trained: the fitted net then loads and predicts
        where accelerate is not installed."""
        self.accelerator = None
        self.callbacks__print_log__sink = print
        for _, callback in self.callbacks_:
            if hasattr(callback, "sink"):
                callback.sink = print


def bare_module(module):
    """The network inside a ``DistributedDataParallel`` wrapper (itself otherwise)."""
    while isinstance(module, torch.nn.parallel.DistributedDataParallel):
        module = module.module
    return module


# ---------------------------------------------------------------------- callbacks
class WeightAverage(Callback):
    """An exponential moving average of the network's weights and batch-norm statistics.

    After every training step the average moves towards the current weights,
    ``avg <- decay * avg + (1 - decay) * w``, with the decay set so that a step's weight in
    the average halves every ``half_life`` epochs of ``steps_per_epoch`` steps:
    ``decay = 0.5 ** (1 / (half_life * steps_per_epoch))``. The average is what
    :class:`CentroidValidation` scores after each epoch (:func:`evaluated_module`) and what
    the network holds when training ends (the best epoch's average, with validation).
    Training itself is unchanged: the steps follow the raw weights. torch's
    ``swa_utils.AveragedModel`` keeps the average (its EMA update, buffers included).
    """

    def __init__(self, half_life, steps_per_epoch):
        self.half_life = half_life
        self.steps_per_epoch = steps_per_epoch

    @property
    def decay(self):
        """The per-step decay of the average."""
        return 0.5 ** (1.0 / (float(self.half_life) * max(int(self.steps_per_epoch), 1)))

    def initialize(self):
        self.average_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        self.average_ = AveragedModel(bare_module(net.module_), use_buffers=True,
                                      multi_avg_fn=get_ema_multi_avg_fn(self.decay))
        self.average_.eval()  # scored only, never trained

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.average_.update_parameters(bare_module(net.module_))

    def on_train_end(self, net, **kwargs):
        if self.average_ is not None:
            bare_module(net.module_).load_state_dict(self.average_.module.state_dict())
        self.average_ = None  # no second copy of the weights inside the pickled model


def evaluated_module(net):
    """The weights that are scored and kept: the running average when a
    :class:`WeightAverage` callback named ``weight_average`` keeps one, else the network."""
    average = dict(getattr(net, "callbacks_", ())).get("weight_average")
    if average is not None and getattr(average, "average_", None) is not None:
        return average.average_.module
    return bare_module(net.module_)


class CentroidValidation(Callback):
    """Clip accuracy on the validation clips by nearest centroid; keeps the best epoch.

    Centroids come from a fixed subset of training segments, embedded with
    the current weights at the end of every epoch; ``segment_mask`` says which
    validation segments count in a clip's mean distance (all when None). The weights of the best
    epoch are kept in memory and restored at the end; on a tie the later
    epoch wins (small validation sets saturate early, and the later
    weights are the better trained). With a :class:`WeightAverage` (listed before this
    callback), the averaged weights are scored and kept.
    """

    def __init__(self, X_ref, y_ref, X_valid, y_valid, segment_mask=None):
        self.X_ref, self.y_ref = X_ref, y_ref
        self.X_valid, self.y_valid = X_valid, y_valid
        self.segment_mask = segment_mask

    def initialize(self):
        self.best_acc_, self.best_epoch_, self.best_state_ = -1.0, 0, None
        self._on_device = None
        return self

    def accuracy(self, module):
        """Clip accuracy of ``module``'s embeddings on the validation clips."""
        n, s = self.X_valid.shape[:2]
        if self._on_device is None:  # uploaded once, not at every epoch
            dev = next(module.parameters()).device
            self._on_device = (to_tensor(self.X_ref, dev),
                               to_tensor(self.X_valid.reshape(n * s, 1, *self.X_valid.shape[2:]),
                                         dev))
        ref, valid = self._on_device
        centroid = CentroidClassifier(metric="cosine").fit(embed(module, ref)[:, None], self.y_ref)
        emb = embed(module, valid)
        pred = centroid.predict(emb.reshape(n, s, -1), segment_mask=self.segment_mask)
        return float(np.mean(pred == self.y_valid))

    def on_epoch_end(self, net, **kwargs):
        # the averaged weights if kept (WeightAverage), else the network's, without a
        # data-parallel wrapper
        module = evaluated_module(net)
        acc = self.accuracy(module)
        net.history.record("valid_acc", acc)
        if acc >= self.best_acc_:
            self.best_acc_, self.best_epoch_ = acc, len(net.history)
            self.best_state_ = copy.deepcopy(module.state_dict())

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            bare_module(net.module_).load_state_dict(self.best_state_)
        # do not carry the data and the weights copy inside the pickled model
        self.X_ref = self.X_valid = self.best_state_ = self.segment_mask = None
        self._on_device = None


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
