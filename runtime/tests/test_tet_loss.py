"""TET loss (spec §5.2) against a hand computation."""

import math

import pytest
import torch

from spikestudio.train.losses import tet_loss


def test_tet_against_hand_computation():
    o = torch.tensor([[[2.0, 0.0]], [[0.0, 1.0]]])  # T=2, B=1, K=2
    y = torch.tensor([0])
    ce0 = -math.log(math.exp(2) / (math.exp(2) + 1))
    ce1 = -math.log(1 / (1 + math.e))
    mse = ((2 - 1) ** 2 + (0 - 1) ** 2 + (0 - 1) ** 2 + (1 - 1) ** 2) / 4
    lam = 0.1
    expect = (1 - lam) * (ce0 + ce1) / 2 + lam * mse
    assert tet_loss(o, y, lam=lam, phi=1.0).item() == pytest.approx(expect, rel=1e-6)
    # phi = 0: the MSE term is the mean of the squared logits
    assert tet_loss(o, y, lam=lam, phi=0.0).item() == pytest.approx((1 - lam) * (ce0 + ce1) / 2 + lam * 5 / 4, rel=1e-6)


def test_defaults_soft_targets_and_gradient():
    torch.manual_seed(0)
    o = torch.randn(4, 3, 5, requires_grad=True)
    y = torch.tensor([0, 4, 2])
    hard = tet_loss(o, y)
    ce = sum(torch.nn.functional.cross_entropy(o[t], y) for t in range(4)) / 4
    assert hard.item() == pytest.approx((1 - 1e-3) * ce.item() + 1e-3 * ((o - 1) ** 2).mean().item(), rel=1e-6)
    soft = tet_loss(o, torch.nn.functional.one_hot(y, 5).float())
    assert soft.item() == pytest.approx(hard.item(), rel=1e-6)
    hard.backward()
    assert o.grad.shape == o.shape and torch.isfinite(o.grad).all()
    with pytest.raises(ValueError):
        tet_loss(o[0], y)
