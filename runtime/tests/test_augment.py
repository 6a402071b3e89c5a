"""Batch augmentations (train/augment.py): mixup/cutmix, random erasing, RandAugment, DVS flip/roll."""

from __future__ import annotations

import pytest
import torch

from spikestudio.train.augment import (AugRNG, Mixup, RandAugment, dvs_augment, parse_randaugment, random_erasing,
                                       soft_target_ce)


def _batch(b=8, c=3, h=16, w=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, c, h, w, generator=g), torch.arange(b) % 5


@pytest.mark.parametrize("mix,cut", [(0.8, 0.0), (0.0, 1.0), (0.8, 1.0)])
def test_mixup_cutmix_shapes_and_label_mass(mix, cut):
    x, y = _batch()
    m = Mixup(mix, cut, prob=1.0, switch_prob=0.5, label_smoothing=0.1, num_classes=5, rng=AugRNG(1))
    for _ in range(5):
        xm, t = m(x, y)
        assert xm.shape == x.shape and xm.dtype == x.dtype
        assert t.shape == (8, 5)
        assert torch.allclose(t.sum(1), torch.ones(8))  # every row is a distribution
        assert (t >= 0.1 / 5 - 1e-6).all()  # smoothing off-value s/K
    assert torch.equal(x, _batch()[0])  # the input is untouched


def test_cutmix_pastes_a_box_from_the_flipped_batch():
    x, y = _batch()
    m = Mixup(0.0, 1.0, prob=1.0, switch_prob=0.5, label_smoothing=0.0, num_classes=5, rng=AugRNG(3))
    xm, t = m(x, y)
    changed = (xm != x).any(1)  # (B, H, W)
    lam = t[0, y[0]].item() if y[0] != y.flip(0)[0] else None
    if lam is not None:
        assert 1 - changed[0].float().mean().item() == pytest.approx(lam, abs=1e-6)  # correct_lam: lam = 1 - box area


def test_mixup_off_and_prob_zero_are_plain_targets():
    x, y = _batch()
    m = Mixup(0.8, 0.0, prob=0.0, switch_prob=0.5, label_smoothing=0.0, num_classes=5, rng=AugRNG(1))
    xm, t = m(x, y)
    assert torch.equal(xm, x) and torch.equal(t.argmax(1), y) and torch.allclose(t.max(1).values, torch.ones(8))
    loss = soft_target_ce(torch.zeros(8, 5), t)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(5.0)).item())


def test_random_erasing_zeroes_one_box_per_erased_sample():
    x, _ = _batch()
    x = x.abs() + 1
    out = random_erasing(x, 1.0, AugRNG(0))
    for b in range(8):
        z = (out[b] == 0).all(0)
        assert z.any()
        rows, cols = z.any(1).nonzero(), z.any(0).nonzero()
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert int(z.sum()) == int(box)  # one rectangle
    assert torch.equal(random_erasing(x, 0.0, AugRNG(0)), x)


def test_randaugment_deterministic_under_seed_and_preserves_shape_dtype():
    x, _ = _batch(c=3, h=32, w=32)
    lo, hi = x.amin(dim=(0, 2, 3)), x.amax(dim=(0, 2, 3))
    a = RandAugment("rand-m9-n2-mstd0.5-inc1", lo, hi, AugRNG(7))(x)
    b = RandAugment("rand-m9-n2-mstd0.5-inc1", lo, hi, AugRNG(7))(x)
    c = RandAugment("rand-m9-n2-mstd0.5-inc1", lo, hi, AugRNG(8))(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.dtype == x.dtype and torch.isfinite(a).all()
    assert (a >= lo.view(1, -1, 1, 1) - 1e-5).all() and (a <= hi.view(1, -1, 1, 1) + 1e-5).all()


def test_randaugment_every_op_runs():
    from spikestudio.train.augment import ALL_OPS, _apply_op

    img = torch.rand(3, 16, 16)
    fill = torch.full((3,), 0.5)
    for op in ALL_OPS + ("Identity",):
        out = _apply_op(op, img, 9.0, 1.0, fill)
        assert out.shape == img.shape and (out >= 0).all() and (out <= 1).all(), op


def test_parse_randaugment():
    p = parse_randaugment("rand-m9-n1-mstd0.4-inc1")
    assert (p["m"], p["n"], p["mstd"]) == (9.0, 1, 0.4)
    assert parse_randaugment("rand-m9-ops=Equalize,Rotate")["ops"] == ["Equalize", "Rotate"]
    with pytest.raises(ValueError):
        parse_randaugment("auto-m9")
    with pytest.raises(ValueError):
        parse_randaugment("rand-m9-ops=Nope")


def test_dvs_roll_uses_h_and_w_and_flip_mirrors_w():
    x = torch.zeros(1, 2, 2, 8, 8)
    x[0, :, 0, 3, 3] = 1  # polarity 0 only
    rolled = dvs_augment(x, 0.0, 2, AugRNG(5))
    assert rolled[0, :, 1].sum() == 0  # the polarity axis is never rolled (the reference's bug)
    assert rolled[0, :, 0].sum() == 2 and torch.equal(rolled[0, 0], rolled[0, 1])  # same shift for all T
    flipped = dvs_augment(x, 1.0, 0, AugRNG(5))
    assert flipped[0, 0, 0, 3, 8 - 1 - 3] == 1
    static = torch.randn(2, 1, 8, 8)
    assert dvs_augment(static, 1.0, 3, AugRNG(0)) is static  # static images untouched


def test_hflip_static():
    from spikestudio.train.augment import hflip

    x, _ = _batch()
    assert torch.equal(hflip(x, 1.0, AugRNG(0)), x.flip(-1))
    assert torch.equal(hflip(x, 0.0, AugRNG(0)), x)
