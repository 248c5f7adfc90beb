"""Metric-learning losses over embeddings: one base, a small hook per margin.

``MarginLoss`` computes ``cos(theta_j)`` between L2-normalised embeddings and
L2-normalised class weights ``W_j`` and a softmax cross-entropy over
``s * cos(theta_j)``; each subclass only says how the target logit is
penalised (paper eqs. 3-6):

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

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MarginLoss", "SoftmaxLoss", "SphereFaceLoss", "CosFaceLoss", "ArcFaceLoss",
           "NPairLoss", "LOSSES", "DEFAULTS"]


class MarginLoss(nn.Module):
    """Base: normalised-softmax cross-entropy with a hook on the target logit.

    Parameters
    ----------
    n_classes, embedding_dim : int
    margin : float
    scale : float or None
        ``s`` of the paper; ``None`` uses each embedding's norm (eq. 3's
        hypersphere radius).
    """

    def __init__(self, n_classes, embedding_dim, margin=0.0, scale=30.0):
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

    def forward(self, emb, y):
        cos = self.cosines(emb).clamp(-1.0, 1.0)
        y = y.long()
        cos_t = cos.gather(1, y[:, None])
        logits = cos.scatter(1, y[:, None], self.target_logit(cos_t))
        s = emb.norm(dim=1, keepdim=True) if self.scale is None else self.scale
        return F.cross_entropy(s * logits, y)


class SoftmaxLoss(MarginLoss):
    """Modified softmax (eq. 3): no margin."""


class CosFaceLoss(MarginLoss):
    """Additive cosine margin (eq. 5): ``cos(theta_y) - m``."""

    def target_logit(self, cos_t):
        return cos_t - self.margin


class ArcFaceLoss(MarginLoss):
    """Additive angular margin (eq. 6): ``cos(theta_y + m)``.

    Past ``theta_y = pi - m`` the plain formula turns back up and rewards a
    segment for moving away from its class; there it is continued by the
    line ``cos(theta_y) - m sin(pi - m)``, as in the ArcFace authors' code.
    On ESC-10 fold 1 this lifted ArcFace from 23.8 % to 68.8 %. The value is
    computed as ``cos t cos m - sin t sin m`` rather than through ``acos``.
    """

    def target_logit(self, cos_t):
        m = self.margin
        sin_t = torch.sqrt((1.0 - cos_t * cos_t).clamp_min(1e-12))
        phi = cos_t * math.cos(m) - sin_t * math.sin(m)  # cos(theta + m)
        return torch.where(cos_t > math.cos(math.pi - m), phi, cos_t - math.sin(math.pi - m) * m)


class SphereFaceLoss(MarginLoss):
    """Multiplicative angular margin (eq. 4) with SphereFace's annealing.

    ``cos(m theta)`` is made monotonic on [0, pi] as
    ``psi(theta) = (-1)^k cos(m theta) - 2k`` for ``theta`` in
    ``[k pi / m, (k + 1) pi / m]``, and blended with the plain cosine as
    ``(lambda cos(theta) + psi(theta)) / (1 + lambda)``, where ``lambda``
    decays per training step as ``max(lambda_min, base / (1 + gamma * step))``
    (SphereFace's published 1000, 0.12, 5). Without the annealing the network
    does not start to train.
    """

    def __init__(self, n_classes, embedding_dim, margin=4, scale=30.0, lambda_base=1000.0,
                 lambda_gamma=0.12, lambda_min=5.0):
        super().__init__(n_classes, embedding_dim, margin, scale)
        self.lambda_base, self.lambda_gamma, self.lambda_min = lambda_base, lambda_gamma, lambda_min
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def current_lambda(self):
        return max(self.lambda_min, self.lambda_base / (1.0 + self.lambda_gamma * float(self.step)))

    def target_logit(self, cos_t):
        m = self.margin
        theta = torch.acos(cos_t.clamp(-1 + 1e-7, 1 - 1e-7))
        k = torch.floor(m * theta / math.pi)
        psi = (1 - 2 * torch.remainder(k, 2)) * torch.cos(m * theta) - 2 * k
        lam = self.current_lambda()
        if self.training:
            self.step += 1
        return (lam * cos_t + psi) / (1 + lam)


class NPairLoss(nn.Module):
    """Multi-class N-pair loss (Sohn 2016; second paper, eq. 1).

    For each class present twice or more in the batch, its first occurrence
    is the anchor ``f_i`` and its second the positive ``f'_i``;
    ``L = mean_i log(1 + sum_{j != i} exp(f_i.f'_j - f_i.f'_i))``, plus
    ``l2_reg * mean ||f||^2`` over the pairs (Sohn's regulariser, which keeps
    the unnormalised embeddings from growing without bound).
    """

    def __init__(self, n_classes=None, embedding_dim=None, margin=None, scale=None, l2_reg=0.002):
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


LOSSES = {"softmax": SoftmaxLoss, "sphereface": SphereFaceLoss, "cosface": CosFaceLoss,
          "arcface": ArcFaceLoss, "npair": NPairLoss}

#: Published (margin, scale) defaults per loss; ``None`` scale = embedding norm.
DEFAULTS = {"softmax": (0.0, None), "sphereface": (4, 30.0), "cosface": (0.35, 30.0),
            "arcface": (0.5, 30.0), "npair": (None, None)}
