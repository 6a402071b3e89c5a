"""Spikeformer (spec §4): parameter counts of the three configurations, PLIF/LIAF neurons, both attention modes."""

import json
import os

import pytest
import torch

from spikestudio.errors import ConfigError
from spikestudio.models import build_model
from spikestudio.models.spikeformer import closed_form_params
from spikestudio.neurons import LIAF, LIF, PLIF, lif_multistep_reference

torch.set_num_threads(1)
PRESETS = json.load(open(os.path.join(os.path.dirname(__file__), "..", "spikestudio", "presets", "presets.json")))
SPEC = {"spikeformer-7-256/cifar10-dvs": (8_792_993, 2_737_807), "spikeformer-7-256/dvs128-gesture": (9_279_900, 3_221_385),
        "spikeformer-7-512/imagenet": (39_320_836, 11_132_180)}


@pytest.mark.parametrize("name", sorted(SPEC))
def test_parameter_counts_match_spec(name):
    cfg = PRESETS[name]["model"]
    with torch.device("meta"):
        m = build_model(cfg)
    total = sum(p.numel() for p in m.parameters())
    assert total == SPEC[name][0] == closed_form_params(cfg) == PRESETS[name]["paper"]["params"]
    assert sum(p.numel() for p in m.tokenizer.parameters()) == SPEC[name][1]
    N = m.token_grid[0] * m.token_grid[1]
    assert N == (196 if "imagenet" in name else 256)
    kinds = {type(l) for l in m.modules() if isinstance(l, LIF)}
    assert kinds == ({LIAF} if "imagenet" in name else {PLIF})


def test_plif_matches_lif_at_init_and_learns_tau():
    x = torch.rand(6, 50) * 3
    p = PLIF(tau=2.0)
    assert p.w.item() == 0.0 and p.tau == pytest.approx(2.0)
    assert torch.equal(p(x), lif_multistep_reference(x, tau=2.0))
    p3 = PLIF(tau=3.0)
    assert torch.sigmoid(p3.w).item() == pytest.approx(1 / 3)
    assert torch.allclose(p3(x), lif_multistep_reference(x, tau=3.0))
    xr = x.clone().requires_grad_(True)
    p(xr).sum().backward()
    assert p.w.grad is not None and xr.grad.abs().sum() > 0


def test_liaf_outputs_relu_of_membrane_before_reset():
    n = LIAF(tau=2.0)
    x = torch.tensor([[1.0], [2.0], [-4.0], [3.0]])
    # H1 = .5 (V=.5), H2 = .25 + 1 = 1.25 (spike, V=0), H3 = -2 -> relu 0, V=-2, H4 = -1 + 1.5 = 0.5
    assert n(x).flatten().tolist() == [0.5, 1.25, 0.0, 0.5]


def tiny(**kw):
    cfg = dict(PRESETS["spikeformer-7-256/dvs128-gesture"]["model"], embed_dim=32, num_heads=2, depth=2, time_steps=3,
               img_size=32, tokenizer_channels=[8, 32], tokenizer_strides=[2, 2], tokenizer_kernel=3, num_classes=4)
    cfg.update(kw)
    return cfg


@pytest.mark.parametrize("attention", ["softmax", "spiking"])
def test_tiny_forward_shapes_and_one_training_step(attention):
    torch.manual_seed(0)
    m = build_model(tiny(attention=attention))
    assert m.token_grid == (8, 8)
    x = torch.poisson(torch.full((2, 3, 2, 32, 32), 1.0))
    out = m(x)
    assert out.shape == (2, 4)
    assert m(x, per_step=True).shape == (3, 2, 4)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    loss = torch.nn.functional.cross_entropy(out, torch.tensor([1, 3]))
    loss.backward()
    assert m.tokenizer.blocks[0].conv1.lif.w.grad is not None
    assert m.blocks[0].fc1.weight.grad.abs().sum() > 0
    opt.step()
    if attention == "spiking":
        assert isinstance(m.blocks[0].attn.q_lif, PLIF)
        with torch.device("meta"):
            mm = build_model(tiny(attention=attention))
        assert sum(p.numel() for p in mm.parameters()) == closed_form_params(tiny(attention=attention))


def test_temporal_fc_zero_init_and_static_input():
    m = build_model(tiny(variant="imagenet", in_channels=3, neuron_kind="liaf"))
    assert m.blocks[0].temporal_fc.weight.abs().sum() == 0
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 4)


@pytest.mark.parametrize("patch,key", [
    ({"attention": "linear"}, "model.attention"),
    ({"neuron_kind": "if"}, "model.neuron_kind"),
    ({"tokenizer_channels": [8, 16]}, "model.tokenizer_channels"),
    ({"tokenizer_strides": [2]}, "model.tokenizer_strides"),
    ({"tokenizer_kernel": 4}, "model.tokenizer_kernel"),
    ({"drop_path": 1.5}, "model.drop_path"),
])
def test_config_errors(patch, key):
    with pytest.raises(ConfigError) as e:
        build_model(tiny(**patch))
    assert e.value.key == key


def test_describe_runs():
    from spikestudio.describe import describe_model

    d = describe_model(tiny())
    assert d["arch"] == "spikeformer" and d["params"] == sum(l["params"] for l in d["layers"])
