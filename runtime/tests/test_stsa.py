"""STSA (spec §5): parameter counts, neuron, qkv layouts (sample mixing vs independence), causality, per-step head."""

import json
import os

import pytest
import torch

from spikestudio.errors import ConfigError
from spikestudio.models import build_model
from spikestudio.models.stsa import block_causal_mask, closed_form_params, relative_position_index
from spikestudio.neurons import STSANeuron

torch.set_num_threads(1)
PRESETS = json.load(open(os.path.join(os.path.dirname(__file__), "..", "spikestudio", "presets", "presets.json")))
SPEC = {("stsa-2-256-t10/dvs128-gesture", True): 1_963_633, ("stsa-2-256-t10/dvs128-gesture", False): 1_567_345,
        ("stsa-2-256-t16/dvs128-gesture", True): 1_969_033, ("stsa-2-256-t16/dvs128-gesture", False): 1_572_745}


def meta_count(cfg):
    with torch.device("meta"):
        m = build_model(cfg)
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name,compat", sorted(SPEC))
def test_parameter_counts_match_spec(name, compat):
    cfg = dict(PRESETS[name]["model"], reference_compat=compat)
    assert meta_count(cfg) == SPEC[(name, compat)] == closed_form_params(cfg)


def tiny(**kw):
    cfg = dict(PRESETS["stsa-2-256-t10/dvs128-gesture"]["model"], embed_dim=32, img_size=32, time_steps=3, depth=1,
               num_classes=5, mlp_dropout=0.0)
    cfg.update(kw)
    return cfg


def calibrated(m, x):
    """Fresh BN running stats (mean 0, var 1) silence the stem in eval mode: set them from one batch, then eval."""
    for mod in m.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.momentum = None
            mod.reset_running_stats()
    m.train()
    with torch.no_grad():
        m(x)
    return m.eval()


def frames(B=3, T=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((B, T, 2, 32, 32), 1.5), generator=g)


def test_bias_table_index_and_mask():
    T, H, W = 3, 2, 2
    idx = relative_position_index(T, H, W)
    assert idx.shape == (12, 12) and idx.min() == 0 and idx.max() == (2 * T - 1) * (2 * H - 1) * (2 * W - 1) - 1
    assert (idx.diagonal() == (T - 1) * 9 + (H - 1) * 3 + (W - 1)).all()  # delta 0
    # token i=(t=2,y=1,x=0) vs j=(t=0,y=0,x=1): d=(2,1,-1)
    assert idx[2 * 4 + 2, 1] == (2 + 2) * 9 + (1 + 1) * 3 + (-1 + 1)
    m = block_causal_mask(3, 4)
    assert m[0, 4] == 0 and m[4, 0] == 1 and m[5, 7] == 1 and m[11, 0] == 1 and m[3, 4] == 0
    model = build_model(tiny())
    assert model.blocks[0].attn.relative_position_bias_table.shape == (5 * 3 * 3, 1)


def test_neuron_equations_and_surrogate():
    n = STSANeuron()
    x = torch.tensor([[0.6], [0.7], [1.0], [2.0]], requires_grad=True)
    s = n(x)
    # m1 = .6 (no), m2 = .3 + .7 = 1.0 (not > 1: no spike), m3 = .5 + 1 = 1.5 spike -> 0, m4 = 2 spike
    assert s.flatten().tolist() == [0.0, 0.0, 1.0, 1.0]
    s.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # triangle surrogate at m=1.5: 1 - 0.5 = 0.5; through t3 only (gradient to x[3] goes via m4 = 2: 0)
    y = torch.tensor([1.5], requires_grad=True)
    STSANeuron()(y[None]).sum().backward()
    assert y.grad.item() == pytest.approx(0.5)


def test_paper_layout_keeps_samples_independent_reference_mixes_them():
    torch.manual_seed(0)
    for layout, independent in (("paper", True), ("reference", False)):
        torch.manual_seed(0)
        x = frames()
        m = calibrated(build_model(tiny(qkv_layout=layout)), x)
        x2 = x.clone()
        x2[1] = frames(seed=5)[1]
        with torch.no_grad():
            a, b = m(x, per_step=True), m(x2, per_step=True)
        assert a.shape == (3, 3, 5)
        assert not torch.equal(a[:, 0], a[:, 2])  # spikes reach the head
        same0 = torch.equal(a[:, 0], b[:, 0])
        assert same0 == independent, layout


def test_paper_layout_is_causal():
    torch.manual_seed(1)
    x = frames(B=2)
    m = calibrated(build_model(tiny(qkv_layout="paper")), x)
    x2 = x.clone()
    x2[:, 2] = frames(B=2, seed=9)[:, 2]  # change the frames at t = 2
    with torch.no_grad():
        a, b = m(x, per_step=True), m(x2, per_step=True)
    assert torch.equal(a[:2], b[:2])  # steps 0, 1 unchanged
    assert not torch.equal(a[2], b[2])
    x3 = x.clone()
    x3[:, 1] = frames(B=2, seed=11)[:, 1]
    with torch.no_grad():
        c = m(x3, per_step=True)
    assert torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


def test_default_forward_averages_per_step_logits_and_trains():
    from spikestudio.train.losses import tet_loss

    torch.manual_seed(0)
    m = build_model(tiny())
    x = frames(B=2)
    m.eval()
    with torch.no_grad():
        assert torch.allclose(m(x), m(x, per_step=True).mean(0))
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    loss = tet_loss(m(x, per_step=True), torch.tensor([0, 3]))
    loss.backward()
    assert m.blocks[0].attn.relative_position_bias_table.grad is not None
    assert m.stem.stages[0].conv.weight.grad.abs().sum() > 0
    opt.step()


def test_config_errors():
    with pytest.raises(ConfigError) as e:
        build_model(tiny(qkv_layout="weird"))
    assert e.value.key == "model.qkv_layout"
    with pytest.raises(ConfigError) as e:
        build_model(tiny(embed_dim=40, num_heads=1))
    assert e.value.key == "model.embed_dim"


def test_describe_runs():
    from spikestudio.describe import describe_model

    d = describe_model(tiny())
    assert d["arch"] == "stsa" and d["params"] == sum(l["params"] for l in d["layers"])
