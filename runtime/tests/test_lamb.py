"""train.optimizer: lamb -- one step against a hand computation (timm's Lamb equations), the trust-ratio clip, the
global gradient clip, the weight-decay-free group, and the trainer's construction from the config."""

import math

import pytest
import torch

from spikestudio.train.lamb import Lamb


def one_step(w, g, **kw):
    p = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))
    opt = Lamb([p], **kw)
    p.grad = torch.tensor(g, dtype=torch.float64)
    opt.step()
    return p.detach().tolist()


def test_first_step_by_hand():
    """w = (3, 4), g = (0.3, -0.4): ||g|| = 0.5 < 1 (no global clip). Step 1: m = 0.1 g, v = 0.001 g^2, bias-corrected
    m/bc1 = g, sqrt(v/bc2) = |g|, so u_i = g_i / (|g_i| + eps) + wd w_i = sign(g_i)·|g_i|/(|g_i|+1e-6) + 0.01 w_i."""
    w, g, lr, wd, eps = [3.0, 4.0], [0.3, -0.4], 0.1, 0.01, 1e-6
    u = [gi / (abs(gi) + eps) + wd * wi for wi, gi in zip(w, g)]  # (1.03, -0.96) up to eps
    r = math.hypot(*w) / math.hypot(*u)  # 5 / 1.408... = 3.55
    want = [wi - lr * r * ui for wi, ui in zip(w, u)]
    got = one_step(w, g, lr=lr, weight_decay=wd)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert got == pytest.approx([3 - 0.1 * r * 1.03, 4 + 0.1 * r * 0.96], abs=1e-5)


def test_trust_clip_caps_the_ratio_at_one():
    w, g, lr, wd = [3.0, 4.0], [0.3, -0.4], 0.1, 0.01
    u = [gi / (abs(gi) + 1e-6) + wd * wi for wi, gi in zip(w, g)]
    want = [wi - lr * ui for wi, ui in zip(w, u)]  # ratio 3.55 clipped to 1
    assert one_step(w, g, lr=lr, weight_decay=wd, trust_clip=True) == pytest.approx(want, rel=1e-12)


def test_global_gradient_clip_and_no_decay_group():
    """||g|| = 5 > 1: g / 5 first. With wd 0 there is no trust ratio: p - lr * m̂/(sqrt(v̂)+eps) = p - lr*sign(g)."""
    p = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
    q = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    opt = Lamb([{"params": [p], "weight_decay": 0.0}, {"params": [q], "weight_decay": 0.0}], lr=0.5)
    p.grad = torch.tensor([3.0, 0.0], dtype=torch.float64)
    q.grad = torch.tensor([-4.0], dtype=torch.float64)
    opt.step()
    assert p.detach().tolist() == pytest.approx([1 - 0.5 * 0.6 / (0.6 + 1e-6), 1.0], rel=1e-12)
    assert q.detach().tolist() == pytest.approx([2 + 0.5 * 0.8 / (0.8 + 1e-6)], rel=1e-12)


def test_second_step_uses_the_moments():
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = Lamb([p], lr=0.1, weight_decay=0.0)
    for gi in (0.5, -0.25):
        p.grad = torch.tensor([gi], dtype=torch.float64)
        opt.step()
    m = 0.9 * 0.1 * 0.5 + 0.1 * -0.25
    v = 0.999 * 0.001 * 0.25 + 0.001 * 0.0625
    u = (m / (1 - 0.9 ** 2)) / (math.sqrt(v) / math.sqrt(1 - 0.999 ** 2) + 1e-6)
    assert p.item() == pytest.approx(1 - 0.1 * 0.5 / (0.5 + 1e-6) - 0.1 * u, rel=1e-12)


def test_trainer_builds_lamb_from_the_config():
    from spikestudio.train.trainer import make_optimizer

    model = torch.nn.Linear(3, 2)
    opt = make_optimizer(model, {"optimizer": "lamb", "lr": 2e-3, "weight_decay": 0.05, "momentum": 0.9,
                                 "nesterov": False, "lamb_trust_clip": True})
    assert isinstance(opt, Lamb)
    assert opt.param_groups[0]["lr"] == 2e-3 and opt.param_groups[0]["trust_clip"] is True


def test_a_training_run_with_lamb(tmp_path):
    """train.optimizer lamb (with the trust clip) end to end: the run completes and the loss goes down."""
    from tests.test_train_run import run, tiny_config

    cfg = tiny_config(train={"optimizer": "lamb", "lamb_trust_clip": True, "lr": 0.01, "epochs": 1})
    p, events = run(tmp_path, cfg)
    assert p.returncode == 0, p.stderr[-2000:]
    losses = [e["loss"] for e in events if e["type"] == "step"]
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed"
    assert len(losses) >= 2 and losses[-1] < losses[0]
