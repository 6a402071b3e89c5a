"""Recipe keys of spec 2's presets: train.weight_decay_exempt, train.accum_steps, data.eval_crop_pct."""

from __future__ import annotations

import pytest
import torch

from spikestudio.train.trainer import make_optimizer, weight_decay_param_groups


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2, bias=True)
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, 5, 4))

    def no_weight_decay(self):
        return {"pos_embed"}


def _names(model, params):
    ids = {id(p) for p in params}
    return sorted(n for n, p in model.named_parameters() if id(p) in ids)


def test_bias_and_norm_exempts_biases_1d_tensors_and_no_weight_decay_names():
    model = _Net()
    exempt, decayed = weight_decay_param_groups(model, 0.05, "bias_and_norm")
    assert exempt["weight_decay"] == 0.0 and decayed["weight_decay"] == 0.05
    assert _names(model, exempt["params"]) == ["bn.bias", "bn.weight", "conv.bias", "fc.bias", "pos_embed"]
    assert _names(model, decayed["params"]) == ["conv.weight", "fc.weight"]


def test_none_decays_every_trainable_tensor_in_one_group():
    model = _Net()
    model.fc.weight.requires_grad_(False)
    (group,) = weight_decay_param_groups(model, 0.05, "none")
    assert group["weight_decay"] == 0.05 and len(group["params"]) == len(list(model.parameters())) - 1


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd", "lamb"])
def test_the_optimiser_gets_the_groups(optimizer):
    opt = make_optimizer(_Net(), {"optimizer": optimizer, "lr": 1e-3, "weight_decay": 0.05, "momentum": 0.9,
                                  "nesterov": False, "weight_decay_exempt": "bias_and_norm"})
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 0.05]
    assert all(g["lr"] == 1e-3 for g in opt.param_groups)


def test_an_exempt_tensor_is_not_decayed_by_a_step():
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.bias.fill_(1.0)
    opt = make_optimizer(model, {"optimizer": "sgd", "lr": 0.1, "weight_decay": 0.5, "momentum": 0.0,
                                 "nesterov": False, "weight_decay_exempt": "bias_and_norm"})
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    weight_before = model.weight.detach().clone()
    opt.step()
    assert torch.equal(model.bias.detach(), torch.ones(2))
    assert torch.allclose(model.weight.detach(), weight_before * (1 - 0.1 * 0.5))


def test_the_config_rejects_an_unknown_exemption():
    from spikestudio.errors import ConfigError
    from spikestudio.train.config import check_config
    from tests.test_train_run import tiny_config

    cfg = tiny_config(train={"weight_decay_exempt": "all"})
    with pytest.raises(ConfigError, match="weight_decay_exempt"):
        check_config(cfg)
