"""Metric-learning losses over embeddings: one base, a small hook per margin.

``MarginLoss`` computes ``cos(theta_j)`` between L2-normalised embeddings and
L2-normalised class weights ``W_j`` and a softmax cross-entropy over
``s * cos(theta_j)``; each subclass only says how the target logit is
penalised (paper eqs. 3-6), and carries its published defaults in its own
signature (as pytorch-metric-learning's losses do):

==============  ==========================================  ===============
loss            target logit                                default m, s
==============  ==========================================  ===============
``softmax``     ``cos(theta_y)``                             -, ``||x||``
``sphereface``  ``psi(theta_y) = (-1)^k cos(m theta_y) - 2k``  4, 30
``cosface``     ``cos(theta_y) - m``                         0.35, 30
``arcface``     ``cos(theta_y + m)``                         0.5, 30
==============  ==========================================  ===============

``NPairLoss`` is the multi-class N-pair loss of the second paper (eq. 1):
batches of one (anchor, positive) pair per class.
"""

from __future__ import annotations

import inspect
import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MarginLoss", "SoftmaxLoss", "SphereFaceLoss", "CosFaceLoss", "ArcFaceLoss",
           "NPairLoss", "LOSSES", "loss_parameters"]


class MarginLoss(nn.Module):
    """Base: normalised-softmax cross-entropy with a hook on the target logit.

    Parameters
    ----------
    n_classes, embedding_dim : int
    margin : float
        The subclass's penalty; unused by the base (identity hook).
    scale : float or None
        ``s`` of the paper; ``None`` uses each embedding's norm (eq. 3's
        hypersphere radius).
    """

    def __init__(self, n_classes, embedding_dim, *, margin=0.0, scale=30.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)
        self.margin = margin
        self.scale = scale

    def target_logit(self, cos_t):
        """Penalised cosine of the target class (the hook). Identity here."""
        return cos_t

    def cosines(self, emb):
        return F.normalize(emb, dim=1) @ F.normalize(self.weight, dim=1).T

    def outlier_loss(self, emb):
        """Outlier exposure (Hendrycks et al., 2019): the cross-entropy of the scaled
        cosines ``s * cos(theta_j)`` against the uniform distribution over the classes,
        ``logsumexp_j(s cos) - mean_j(s cos)``, averaged over ``emb``'s rows: smallest when
        a sound of none of the classes is equally far from all of them."""
        cos = self.cosines(emb).clamp(-1.0, 1.0)
        s = emb.norm(dim=1, keepdim=True) if self.scale is None else self.scale
        z = s * cos
        return (torch.logsumexp(z, dim=1) - z.mean(dim=1)).mean()

    def forward(self, emb, y):
        cos = self.cosines(emb).clamp(-1.0, 1.0)
        y = y.long()
        cos_t = cos.gather(1, y[:, None])
        logits = cos.scatter(1, y[:, None], self.target_logit(cos_t))
        s = emb.norm(dim=1, keepdim=True) if self.scale is None else self.scale
        return F.cross_entropy(s * logits, y)


class SoftmaxLoss(MarginLoss):
    """Modified softmax (eq. 3): no margin; ``s`` is the embedding's norm by default."""

    def __init__(self, n_classes, embedding_dim, *, scale=None):
        super().__init__(n_classes, embedding_dim, margin=0.0, scale=scale)


class CosFaceLoss(MarginLoss):
    """Additive cosine margin (eq. 5): ``cos(theta_y) - m``, ``m=0.35, s=30``."""

    def __init__(self, n_classes, embedding_dim, *, margin=0.35, scale=30.0):
        super().__init__(n_classes, embedding_dim, margin=margin, scale=scale)

    def target_logit(self, cos_t):
        return cos_t - self.margin


class ArcFaceLoss(MarginLoss):
    """Additive angular margin (eq. 6): ``cos(theta_y + m)``, ``m=0.5`` rad, ``s=30``.

    Past ``theta_y = pi - m`` the plain formula turns back up and rewards a
    segment for moving away from its class; there it is continued by the
    line ``cos(theta_y) - m sin(pi - m)``, as in the ArcFace authors' code
    (its effect on ESC-10 is in ``benchmarks/RESULTS.md``). The value is
    computed as ``cos t cos m - sin t sin m`` rather than through ``acos``.
    """

    def __init__(self, n_classes, embedding_dim, *, margin=0.5, scale=30.0):
        super().__init__(n_classes, embedding_dim, margin=margin, scale=scale)

    def target_logit(self, cos_t):
        m = self.margin
        sin_t = torch.sqrt((1.0 - cos_t * cos_t).clamp_min(1e-12))
        phi = cos_t * math.cos(m) - sin_t * math.sin(m)  # cos(theta + m)
        return torch.where(cos_t > math.cos(math.pi - m), phi, cos_t - math.sin(math.pi - m) * m)


class SphereFaceLoss(MarginLoss):
    """Multiplicative angular margin (eq. 4), ``m=4`` (an integer >= 1), ``s=30``.

    ``cos(m theta)`` is made monotonic on [0, pi] as
    ``psi(theta) = (-1)^k cos(m theta) - 2k`` for ``theta`` in
    ``[k pi / m, (k + 1) pi / m]`` (which needs an integer ``m``), and blended
    with the plain cosine as ``(lam * cos(theta) + psi(theta)) / (1 + lam)``.
    With ``lam = 0`` the target logit is eq. 4's ``psi`` itself. In training,
    ``lam`` is annealed from outside, once per optimiser step, by
    :class:`~sklearn_metricaudio.models._training.SphereFaceAnnealing` (SphereFace's
    published schedule ``max(5, 1000 / (1 + 0.12 step))``): without the blend
    the network does not start to train. So the margin that is actually trained
    is softer than eq. 4's: the penalty ``cos(theta) - target`` is
    ``(cos(theta) - psi(theta)) / (1 + lam)``, a thousandth of eq. 4's at the
    first step and a sixth of it at the schedule's floor of 5.
    """

    def __init__(self, n_classes, embedding_dim, *, margin=4, scale=30.0):
        if not (isinstance(margin, numbers.Real) and float(margin).is_integer() and margin >= 1):
            raise ValueError(
                f"SphereFace's margin must be an integer m >= 1 (psi(theta) = (-1)^k cos(m theta)"
                f" - 2k is monotonic only for integer m), got margin={margin!r}"
            )
        super().__init__(n_classes, embedding_dim, margin=int(margin), scale=scale)
        self.lam = 0.0

    def target_logit(self, cos_t):
        m = self.margin
        theta = torch.acos(cos_t.clamp(-1 + 1e-7, 1 - 1e-7))
        k = torch.floor(m * theta / math.pi)
        psi = (1 - 2 * torch.remainder(k, 2)) * torch.cos(m * theta) - 2 * k
        return (self.lam * cos_t + psi) / (1 + self.lam)


class NPairLoss(nn.Module):
    """Multi-class N-pair loss (Sohn 2016; second paper, eq. 1).

    For each class present twice or more in the batch, its first occurrence
    is the anchor ``f_i`` and its second the positive ``f'_i``;
    ``L = mean_i log(1 + sum_{j != i} exp(f_i.f'_j - f_i.f'_i))``, plus
    ``l2_reg * mean ||f||^2`` over the pairs (Sohn's regulariser, which keeps
    the unnormalised embeddings from growing without bound). It has no class
    weights, margin or scale; ``n_classes`` and ``embedding_dim`` are accepted
    so that every loss is built the same way.
    """

    def __init__(self, n_classes=None, embedding_dim=None, *, l2_reg=0.002):
        super().__init__()
        self.l2_reg = l2_reg

    def forward(self, emb, y):
        y = y.long()
        order = torch.argsort(y, stable=True)
        ys = y[order]
        n = ys.numel()
        new_class = torch.ones_like(ys, dtype=torch.bool)
        new_class[1:] = ys[1:] != ys[:-1]
        starts = torch.nonzero(new_class).flatten()          # first of each class (sorted)
        second = (starts + 1).clamp(max=n - 1)
        has_pair = (starts + 1 < n) & (ys[second] == ys[starts])
        if has_pair.sum() < 2:
            return emb.sum() * 0.0  # fewer than two pairs: nothing to contrast
        anchors = emb[order[starts[has_pair]]]
        positives = emb[order[second[has_pair]]]
        logits = anchors @ positives.T
        target = torch.arange(logits.shape[0], device=emb.device)
        reg = (anchors.square().sum(1).mean() + positives.square().sum(1).mean()) / 2
        return F.cross_entropy(logits, target) + self.l2_reg * reg


#: The losses by name: the one registry the estimator, the CLI and the benchmarks read.
LOSSES = {"softmax": SoftmaxLoss, "sphereface": SphereFaceLoss, "cosface": CosFaceLoss,
          "arcface": ArcFaceLoss, "npair": NPairLoss}


def loss_parameters(name):
    """The tunable parameters of a loss and their defaults, read off its signature.

    >>> loss_parameters("cosface")
    {'margin': 0.35, 'scale': 30.0}
    >>> loss_parameters("npair")
    {'l2_reg': 0.002}
    """
    params = inspect.signature(LOSSES[name].__init__).parameters
    return {k: p.default for k, p in params.items()
            if p.kind is p.KEYWORD_ONLY}
