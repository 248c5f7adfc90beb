"""Each loss against the papers' formulas, written out here in NumPy."""

import math

import numpy as np
import pytest
import torch

from sklearn_metricaudio.models._losses import (ArcFaceLoss, CosFaceLoss, NPairLoss,
                                                SoftmaxLoss, SphereFaceLoss)


def _setup(seed=0, n=7, d=5, c=3):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, d))
    y = rng.integers(0, c, n)
    return emb, y


def _cos(emb, W):
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    w = W / np.linalg.norm(W, axis=1, keepdims=True)
    return e @ w.T


def _paper_loss(emb, W, y, s, target):
    """-1/N sum log( e^{s f(theta_y)} / (e^{s f(theta_y)} + sum_{j != y} e^{s cos theta_j}) )."""
    cos = _cos(emb, W)
    total = 0.0
    for i in range(len(y)):
        si = s[i] if np.ndim(s) else s
        num = np.exp(si * target(cos[i, y[i]]))
        den = num + sum(np.exp(si * cos[i, j]) for j in range(W.shape[0]) if j != y[i])
        total += -np.log(num / den)
    return total / len(y)


def _torch_loss(loss, emb, y):
    return loss(torch.tensor(emb, dtype=torch.float64), torch.tensor(y)).item()


@pytest.mark.parametrize("seed", [0, 1])
def test_modified_softmax_eq3(seed):
    emb, y = _setup(seed)
    loss = SoftmaxLoss(3, 5, scale=None).double()
    W = loss.weight.detach().numpy()
    s = np.linalg.norm(emb, axis=1)  # eq. 3: s is the norm of the embedding
    assert _torch_loss(loss, emb, y) == pytest.approx(_paper_loss(emb, W, y, s, lambda c: c),
                                                      rel=1e-10)
    fixed = SoftmaxLoss(3, 5, scale=10.0).double()
    fixed.weight.data = loss.weight.data.clone()
    assert _torch_loss(fixed, emb, y) == pytest.approx(_paper_loss(emb, W, y, 10.0, lambda c: c),
                                                       rel=1e-10)


@pytest.mark.parametrize("m", [0.2, 0.35])
def test_cosface_eq5(m):
    emb, y = _setup()
    loss = CosFaceLoss(3, 5, margin=m, scale=30.0).double()
    W = loss.weight.detach().numpy()
    ref = _paper_loss(emb, W, y, 30.0, lambda c: c - m)
    assert _torch_loss(loss, emb, y) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("m", [0.3, 0.5])
def test_arcface_eq6(m):
    emb, y = _setup(2)
    loss = ArcFaceLoss(3, 5, margin=m, scale=30.0).double()
    W = loss.weight.detach().numpy()
    ref = _paper_loss(emb, W, y, 30.0, lambda c: _arc(c, m))
    assert _torch_loss(loss, emb, y) == pytest.approx(ref, rel=1e-8)


def _arc(c, m):
    """cos(theta + m) up to theta = pi - m, then the ArcFace authors' monotonic continuation."""
    c = min(1.0, max(-1.0, c))  # rounding can put c a hair outside [-1, 1]
    theta = math.acos(c)
    return math.cos(theta + m) if theta < math.pi - m else c - math.sin(math.pi - m) * m


def test_arcface_target_logit_decreases_with_the_angle():
    m = 0.5
    torch.manual_seed(0)
    loss = ArcFaceLoss(3, 5, margin=m, scale=30.0).double()
    theta = torch.linspace(0.0, math.pi, 721, dtype=torch.float64)
    logit = loss.target_logit(torch.cos(theta))
    assert torch.all(torch.diff(logit) <= 1e-12)  # plain cos(theta + m) rises again past pi - m
    want = torch.tensor([_arc(math.cos(t), m) for t in theta.tolist()], dtype=torch.float64)
    torch.testing.assert_close(logit, want, atol=1e-6, rtol=0)
    # a sample pointing away from its class (theta > pi - m) takes the continuation branch
    emb = -loss.weight.detach()[:1].clone()
    y = torch.tensor([0])
    ref = _paper_loss(emb.numpy(), loss.weight.detach().numpy(), y.numpy(), 30.0,
                      lambda c: _arc(c, m))
    assert _torch_loss(loss, emb.numpy(), y.numpy()) == pytest.approx(ref, rel=1e-8)


def _psi(theta, m):
    k = math.floor(m * theta / math.pi)
    return (-1) ** k * math.cos(m * theta) - 2 * k


@pytest.mark.parametrize("lam", [1000.0, 5.0, 0.0])
def test_sphereface_eq4_with_the_annealing_blend(lam):
    emb, y = _setup(3)
    loss = SphereFaceLoss(3, 5, margin=4, scale=30.0).double()
    loss.lam = lam
    W = loss.weight.detach().numpy()

    def target(c):
        theta = math.acos(c)
        return (lam * c + _psi(theta, 4)) / (1 + lam)

    assert _torch_loss(loss, emb, y) == pytest.approx(_paper_loss(emb, W, y, 30.0, target),
                                                      rel=1e-8)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_sphereface_target_logit_is_cos_m_theta_below_pi_over_m(m):
    """With the annealing off (lam = 0) the trained target logit is eq. 4's cos(m theta)."""
    loss = SphereFaceLoss(3, 5, margin=m).double()
    assert loss.lam == 0.0  # no blend unless a training schedule sets one
    theta = torch.linspace(1e-3, math.pi / m - 1e-3, 200, dtype=torch.float64)
    torch.testing.assert_close(loss.target_logit(torch.cos(theta)), torch.cos(m * theta),
                               atol=1e-6, rtol=0)
    # beyond pi/m it is psi, monotonically decreasing down to -(2m - 1) at pi
    full = torch.linspace(0, math.pi, 721, dtype=torch.float64)
    logit = loss.target_logit(torch.cos(full))
    assert torch.all(torch.diff(logit) <= 1e-9)
    assert float(logit[-1]) == pytest.approx(-(2 * m - 1), abs=1e-3)
    # the softer margin trained while lam > 0: the penalty cos - target shrinks by 1 + lam
    loss.lam = 5.0
    cos = torch.cos(full)
    torch.testing.assert_close(cos - loss.target_logit(cos), (cos - logit) / 6.0, atol=1e-9,
                               rtol=0)


@pytest.mark.parametrize("margin", [2.5, 0, -1, "4"])
def test_sphereface_margin_must_be_an_integer(margin):
    with pytest.raises(ValueError, match="integer m >= 1"):
        SphereFaceLoss(3, 5, margin=margin)


def test_sphereface_annealing_callback_follows_the_published_schedule():
    from sklearn_metricaudio.models._training import SphereFaceAnnealing

    cb = SphereFaceAnnealing().initialize()

    class _Net:
        criterion_ = SphereFaceLoss(3, 5)

    net = _Net()
    seen = []
    for training in (True, True, False, True):
        cb.on_batch_begin(net, training=training)
        seen.append(net.criterion_.lam)
        cb.on_batch_end(net, training=training)
    # steps 0, 1, (validation batch: no change, no step), 2
    assert seen == [1000.0, pytest.approx(1000 / 1.12), pytest.approx(1000 / 1.12),
                    pytest.approx(1000 / 1.24)]
    assert cb.step_ == 3
    assert cb.lam(10 ** 6) == 5.0


def test_defaults_live_in_each_loss_signature():
    from sklearn_metricaudio.models._losses import loss_parameters

    assert loss_parameters("softmax") == {"scale": None}
    assert loss_parameters("cosface") == {"margin": 0.35, "scale": 30.0}
    assert loss_parameters("arcface") == {"margin": 0.5, "scale": 30.0}
    assert loss_parameters("sphereface") == {"margin": 4, "scale": 30.0}
    assert loss_parameters("npair") == {"l2_reg": 0.002}
    # a bare loss has its published margin (it had none when the defaults lived elsewhere)
    assert CosFaceLoss(3, 5).margin == 0.35 and ArcFaceLoss(3, 5).margin == 0.5
    assert SoftmaxLoss(3, 5).scale is None


@pytest.mark.parametrize("l2", [0.0, 0.002])
def test_npair_eq1(l2):
    rng = np.random.default_rng(4)
    emb = rng.normal(size=(9, 5))
    y = np.array([2, 0, 1, 0, 2, 1, 3, 0, 1])  # class 3 has no pair; 0 and 1 have extras
    # pairs: first two occurrences of each class with two or more members
    pairs = {c: np.flatnonzero(y == c)[:2] for c in (0, 1, 2)}
    f = np.stack([emb[pairs[c][0]] for c in (0, 1, 2)])
    fp = np.stack([emb[pairs[c][1]] for c in (0, 1, 2)])
    C = 3
    ref = np.mean([np.log(1 + sum(np.exp(f[i] @ fp[j] - f[i] @ fp[i])
                                  for j in range(C) if j != i)) for i in range(C)])
    ref += l2 * ((f ** 2).sum(1).mean() + (fp ** 2).sum(1).mean()) / 2
    got = float(NPairLoss(l2_reg=l2)(torch.tensor(emb), torch.tensor(y)))
    assert got == pytest.approx(ref, rel=1e-10)


def test_npair_without_two_pairs_is_zero_with_gradient():
    emb = torch.randn(3, 4, requires_grad=True)
    out = NPairLoss()(emb, torch.tensor([0, 1, 1]))
    out.backward()
    assert float(out.detach()) == 0.0 and emb.grad is not None


@pytest.mark.parametrize("cls", [SoftmaxLoss, CosFaceLoss, ArcFaceLoss, SphereFaceLoss])
def test_margin_losses_share_one_base_and_their_gradients_are_exact(cls):
    """Analytic gradients (embeddings and class weights) against finite differences."""
    from sklearn_metricaudio.models._losses import MarginLoss

    assert issubclass(cls, MarginLoss)
    torch.manual_seed(0)
    loss = cls(3, 5).double()
    if cls is SphereFaceLoss:
        loss.lam = 5.0
    emb, y = _setup()
    emb = torch.tensor(emb, requires_grad=True)
    y = torch.tensor(y)
    weight = loss.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e, w: _with_weight(loss, w, e, y), (emb, weight),
                                    eps=1e-6, atol=1e-5)


def _with_weight(loss, w, e, y):
    """The loss with its class weights replaced by ``w`` (a differentiable input)."""
    original = loss.weight
    del loss.weight
    loss.weight = w
    try:
        return loss(e, y)
    finally:
        del loss.weight
        loss.weight = original


@pytest.mark.parametrize("loss_cls, s", [(CosFaceLoss, 30.0), (SoftmaxLoss, None)])
def test_outlier_loss_is_the_cross_entropy_against_uniform(loss_cls, s):
    """-1/N sum_i sum_j (1/C) log softmax(s_i cos theta_ij): written out in NumPy; log C for
    an embedding equally far from every class."""
    emb, _ = _setup(3)
    loss = loss_cls(3, 5, scale=s).double()
    W = loss.weight.detach().numpy()
    z = (np.linalg.norm(emb, axis=1, keepdims=True) if s is None else s) * _cos(emb, W)
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    ref = -log_softmax.mean(axis=1).mean()
    got = loss.outlier_loss(torch.tensor(emb, dtype=torch.float64)).item()
    assert got == pytest.approx(ref, rel=1e-10)
    # orthogonal to all three class weights: uniform, the minimum log 3
    loss.weight.data = torch.eye(5, dtype=torch.float64)[:3]
    assert loss.outlier_loss(torch.tensor([[0, 0, 0, 1.0, 2.0]], dtype=torch.float64)).item() \
        == pytest.approx(math.log(3), rel=1e-12)
