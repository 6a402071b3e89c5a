"""Spikformer / Spikingformer structure and behaviour (spec §2, §3) on tiny configs."""

import json
import os

import pytest
import torch

from spikestudio.errors import ConfigError
from spikestudio.models import build_model, list_models, normalize_model_cfg
from spikestudio.neurons import LIF
from spikestudio.tolerance import accumulation_depth, assert_float_close

PRESETS = json.load(open(os.path.join(os.path.dirname(__file__), "..", "spikestudio", "presets", "presets.json")))


def tiny(arch="spikformer", variant="cifar", **kw):
    cfg = dict(arch=arch, variant=variant, embed_dim=16, num_heads=2, depth=2, time_steps=3, in_channels=1,
               num_classes=5, img_size=16)
    if variant == "dvs":
        cfg.update(in_channels=2, img_size=32)
    cfg.update(kw)
    return cfg


def frames(B, T, C, S, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((B, T, C, S, S), 0.7), generator=g)


ARCH_VARIANTS = [(a, v) for a in ("spikformer", "spikingformer") for v in ("cifar", "imagenet", "dvs")]


def test_registry():
    assert {"spikformer", "spikingformer"} <= set(list_models())


@pytest.mark.parametrize("arch,variant", ARCH_VARIANTS)
def test_forward_shapes_and_per_step(arch, variant):
    cfg = tiny(arch, variant)
    m = build_model(cfg).eval()
    assert m.time_steps == 3
    x = frames(2, 3, 2, 32) if variant == "dvs" else torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        y = m(x)
        ys = m(x, per_step=True)
    assert y.shape == (2, 5)
    assert ys.shape == (3, 2, 5)
    assert_float_close(ys.mean(0), y, accumulation_depth(m), "mean of per-step logits")
    expected_grid = {"cifar": (4, 4), "imagenet": (1, 1), "dvs": (2, 2)}[variant]
    assert m.token_grid == expected_grid


def test_mnist_default_tokens():
    m = build_model(PRESETS["spikformer-tiny/mnist"]["model"])
    assert m.token_grid == (7, 7)  # 28 -> 14 -> 7, N = 49


@pytest.mark.parametrize("arch", ["spikformer", "spikingformer"])
def test_static_input_equals_repeated_frames(arch):
    m = build_model(tiny(arch))
    x = torch.randn(3, 1, 16, 16)
    rep = x.unsqueeze(1).repeat(1, 3, 1, 1, 1)
    for train in (False, True):
        m.train(train)
        torch.manual_seed(0)
        a = m(x)
        b = m(rep)
        assert_float_close(a, b, accumulation_depth(m), "logits")


@pytest.mark.parametrize("arch", ["spikformer", "spikingformer"])
def test_no_state_between_forwards_and_batch_independence(arch):
    m = build_model(tiny(arch)).eval()
    x = torch.randn(4, 1, 16, 16) * 2
    with torch.no_grad():
        a = m(x)
        m(torch.randn(4, 1, 16, 16) * 10)
        torch.testing.assert_close(m(x), a)
        assert_float_close(m(x[1:2]), a[1:2], accumulation_depth(m), "logits of one sample")


def test_spikformer_variant_details():
    c = build_model(tiny("spikformer", "cifar"))
    i = build_model(tiny("spikformer", "imagenet"))
    d = build_model(tiny("spikformer", "dvs"))
    assert c.blocks[0].attn.q_proj.bias is not None and i.blocks[0].attn.q_proj.bias is None
    assert d.blocks[0].attn.v_proj.bias is None and d.blocks[0].attn.proj.bias is not None
    assert (c.blocks[0].attn.scale, i.blocks[0].attn.scale, d.blocks[0].attn.scale) == (0.125, 0.125, 0.25)
    assert [s.pool is not None for s in c.tokenizer.stages] == [False, False, True, True]
    assert [s.pool is not None for s in i.tokenizer.stages] == [True] * 4
    for m in (c, i, d):
        assert m.blocks[0].attn.attn_lif.v_threshold == 0.5
        assert m.blocks[0].attn.q_lif.v_threshold == 1.0
        assert m.blocks[0].attn.proj_lif.tau == 2.0
    # cifar: trunc-normal(0.02) on every Linear; imagenet/dvs: default init except the head
    big = dict(embed_dim=256, num_heads=8, depth=1)
    cw = build_model(tiny("spikformer", "cifar", **big)).blocks[0].attn.q_proj.weight
    iw = build_model(tiny("spikformer", "imagenet", **big)).blocks[0].attn.q_proj.weight
    assert abs(cw.std().item() - 0.02) < 0.002
    assert abs(iw.std().item() - (1 / (3 * 256)) ** 0.5) < 0.003
    assert build_model(tiny("spikformer", "cifar")).blocks[0].mlp.fc1.bias.abs().sum() == 0
    assert build_model(tiny("spikformer", "dvs", attn_scale=0.5)).blocks[0].attn.scale == 0.5


def test_spikformer_residual_stream_is_a_spike_sum():
    L = 2
    m = build_model(tiny("spikformer", depth=L)).eval()
    outs = {}
    m.tokenizer.register_forward_hook(lambda mod, i, o: outs.__setitem__("tok", o))
    m.blocks[-1].register_forward_hook(lambda mod, i, o: outs.__setitem__("last", o))
    m.blocks[0].attn.register_forward_hook(lambda mod, i, o: outs.__setitem__("ssa", o))
    with torch.no_grad():
        m(torch.randn(2, 1, 16, 16) * 3)
    tok = outs["tok"]
    assert set(tok.unique().tolist()) <= {0.0, 1.0, 2.0}
    assert torch.equal(outs["last"], outs["last"].round()) and outs["last"].max() <= 2 + 2 * L
    assert set(outs["ssa"].unique().tolist()) <= {0.0, 1.0}  # SSA ends in a LIF


def test_spikingformer_structure():
    m = build_model(tiny("spikingformer")).eval()
    attn = m.blocks[0].attn
    assert list(dict(attn.named_children()))[-1] == "proj_bn"  # SSA ends in BN, no LIF
    assert attn.q_proj.bias is None and attn.scale == 0.125 and attn.attn_lif.v_threshold == 0.5
    assert not hasattr(m.tokenizer, "rpe")  # no RPE branch
    assert m.tokenizer.stem.__class__.__name__ == "ConvBN" and not any(isinstance(c, LIF) for c in m.tokenizer.stem.children())
    outs = {}
    m.blocks[0].attn.register_forward_hook(lambda mod, i, o: outs.__setitem__("ssa", o))
    with torch.no_grad():
        m(torch.randn(2, 1, 16, 16))
    assert not torch.equal(outs["ssa"], outs["ssa"].round())  # float (membrane-like) residual stream


def test_spikingformer_dvs_presets_use_tau_1_5():
    for name, p in PRESETS.items():
        mc = p["model"]
        if mc["arch"] == "spikingformer" and mc["variant"] == "dvs":
            assert mc["neuron"]["tau"] == 1.5
            m = build_model(dict(mc, embed_dim=16, num_heads=2, img_size=32))
            assert all(l.tau == 1.5 for l in m.modules() if isinstance(l, LIF))
        elif mc["arch"] == "spikformer":
            assert mc["neuron"]["tau"] == 2.0


@pytest.mark.parametrize("arch", ["spikformer", "spikingformer"])
def test_gradients_reach_every_used_parameter(arch):
    m = build_model(tiny(arch, depth=1, reference_compat=True))
    x = torch.randn(4, 1, 16, 16) * 3
    loss = torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, p in m.named_parameters():
        if "norm" in name or name == "pos_embed":
            assert p.grad is None  # the reference's dead modules
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert m.head.weight.grad.abs().sum() > 0
    assert m.tokenizer.stages[0].conv.weight.grad.abs().sum() > 0 if arch == "spikformer" else \
        m.tokenizer.stem.conv.weight.grad.abs().sum() > 0


def test_neuron_settings_and_overrides():
    m = build_model(tiny(neuron={"tau": 3.0, "surrogate": "atan", "v_reset": None},
                         neuron_overrides={"blocks.*.mlp.*": {"tau": 1.5, "v_threshold": 0.7}}))
    assert m.blocks[0].attn.q_lif.tau == 3.0 and m.blocks[0].attn.q_lif.surrogate == "atan"
    assert m.blocks[0].attn.q_lif.alpha == 2.0 and m.blocks[0].attn.q_lif.v_reset is None
    assert m.blocks[1].mlp.fc2_lif.tau == 1.5 and m.blocks[1].mlp.fc2_lif.v_threshold == 0.7
    with pytest.raises(ConfigError) as e:
        build_model(tiny(neuron_overrides={"nothing.*": {"tau": 1.5}}))
    assert e.value.key == "model.neuron_overrides.nothing.*"


@pytest.mark.parametrize("patch,key", [
    ({"num_heads": 3}, "model.num_heads"),
    ({"embed_dim": 20}, "model.embed_dim"),
    ({"embed_dim": 0}, "model.embed_dim"),
    ({"variant": "vit"}, "model.variant"),
    ({"arch": "resnet"}, "model.arch"),
    ({"depth": 1.5}, "model.depth"),
    ({"time_steps": 0}, "model.time_steps"),
    ({"num_classes": 1}, "model.num_classes"),
    ({"img_size": "big"}, "model.img_size"),
    ({"mlp_ratio": -1}, "model.mlp_ratio"),
    ({"attn_scale": 0}, "model.attn_scale"),
    ({"reference_compat": "yes"}, "model.reference_compat"),
    ({"neuron": {"tau": 1.0}}, "model.neuron.tau"),
    ({"neuron": {"surrogate": "relu"}}, "model.neuron.surrogate"),
    ({"neuron": {"v_reset": 2.0}}, "model.neuron.v_reset"),
    ({"neuron": {"detach_reset": 1}}, "model.neuron.detach_reset"),
    ({"neuron": {"alpha": -1}}, "model.neuron.alpha"),
    ({"neuron": {"bogus": 1}}, "model.neuron.bogus"),
])
def test_config_errors_name_the_key(patch, key):
    with pytest.raises(ConfigError) as e:
        build_model(dict(tiny(), **patch))
    assert e.value.key == key
    assert e.value.kind == "config" and e.value.exit_code == 2


def test_every_preset_config_is_valid():
    for name, p in PRESETS.items():
        cfg = normalize_model_cfg(p["model"], known_archs=list_models())
        assert cfg["embed_dim"] % cfg["num_heads"] == 0, name
        for section in ("model", "data", "train"):
            assert section in p, (name, section)
    assert next(iter(PRESETS)) == "spikformer-tiny/mnist"


def test_accepts_img_size_pair_and_integer_floats():
    m = build_model(tiny(img_size=[16, 24], depth=1.0))
    assert m.token_grid == (4, 6)
    assert m(torch.randn(1, 1, 16, 24)).shape == (1, 5)
