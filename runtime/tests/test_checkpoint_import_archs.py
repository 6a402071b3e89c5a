"""Spikeformer and STSA reference checkpoints (issue 19): the reference key layouts written out by hand from the
facts of the two repositories (spec §4.1, §5.1), converted by name, loaded strictly, forward unchanged; no silent
partial load; training-script checkpoints with an argparse.Namespace; where the weights came from; STSA's qkv_layout
recorded; and the reference's initialisation (tokenizer fan_in, STSA classifier, MLP DropPath per time step,
2-D nearest position-embedding resize)."""

import argparse
import json
import random
import re

import numpy as np
import pytest
import torch

from spikestudio import checkpoint_import as ci
from spikestudio.errors import ConfigError
from spikestudio.models import build_model
from spikestudio.models.spikeformer import DropPath, resize_pos_embed

torch.set_num_threads(1)


def randomize(model, seed=0):
    """Every parameter and BN statistic random (the zero-initialised temporal_fc included), PLIF w near 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".w"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1 and ("norm" in name or "bn" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                fan_in = max(1, p[0].numel()) if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, generator=g) * (1.5 / fan_in ** 0.5 if p.dim() > 1 else 0.3))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
    return model


def shuffled(d: dict, seed=1) -> dict:
    keys = list(d)
    random.Random(seed).shuffle(keys)
    return {k: d[k] for k in keys}


# ---------------------------------------------------------------- Spikeformer (Loydian/Spikeformer) key layout

def spikeformer_cfg(**kw):
    cfg = dict(arch="spikeformer", embed_dim=32, num_heads=2, depth=2, mlp_ratio=2, time_steps=3, in_channels=2,
               num_classes=5, img_size=16, tokenizer_channels=[16, 16, 32], tokenizer_strides=[2, 1, 2],
               tokenizer_kernel=3, drop_path=0.1)
    cfg.update(kw)
    return cfg


def spikeformer_reference_sd(model, container="module") -> dict:
    """Our state_dict written in the reference's names. `container`: `module` (SpikingJelly 0.0.0.0.10-12 keeps a
    SeqToANNContainer's modules under .module / .module.<i>) or `seq` (later versions: .<i>)."""
    one = "module" if container == "module" else "0"      # a container holding one module
    many = "module." if container == "module" else ""     # a container holding several
    ref = {}
    for k, v in model.state_dict().items():
        p = k.split(".")
        if p[0] == "tokenizer":  # tokenizer.blocks.i.{conv1,conv2,down}.{conv,bn,lif}.rest
            i, unit, part, rest = p[2], p[3], p[4], ".".join(p[5:])
            base = {"conv1": "residual_function.0", "conv2": "residual_function.1", "down": "shortcut.1"}[unit]
            inner = {"conv": f"0.{many}0", "bn": f"0.{many}1", "lif": "1"}[part]
            r = f"patch_embed.conv_layers.{i}.{base}.{inner}.{rest}"
        elif p[0] == "blocks":
            j, mod, rest = p[1], p[2], ".".join(p[3:])
            r = {
                "norm_t": f"blocks.{j}.temporal_norm1.{rest}",
                "attn_t": f"blocks.{j}.temporal_attn.{rest}",
                "temporal_fc": f"blocks.{j}.temporal_fc.{rest}",
                "norm1": f"blocks.{j}.norm1.{rest}",
                "attn": f"blocks.{j}.attn.{rest}",
                "norm2": f"blocks.{j}.norm2.{rest}",
                "fc1": f"blocks.{j}.mlp.mlp.0.{one}.{rest}",
                "mlp_lif": f"blocks.{j}.mlp.mlp.1.{rest}",
                "fc2": f"blocks.{j}.mlp.mlp.2.{many}0.{rest}",
            }[mod]
        elif p[0] == "head":
            r = {"norm": "norm", "attention_pool": "attention_pool", "fc": "head"}[p[1]] + "." + p[2]
        else:
            r = k
        if k in ("pos_embed", "time_embed"):
            v = v.unsqueeze(0)  # (1, N, D) / (1, T, D) in the reference
        ref["model." + r] = v.clone()
    return shuffled(ref)


def _dvs_input(cfg, B=2, side=None, seed=3):
    g = torch.Generator().manual_seed(seed)
    s = side or cfg["img_size"]
    return torch.poisson(torch.full((B, cfg["time_steps"], cfg["in_channels"], s, s), 0.7), generator=g)


@pytest.mark.parametrize("container", ["module", "seq"])
def test_spikeformer_reference_converts_loads_strictly_forward_unchanged(tmp_path, container):
    cfg = spikeformer_cfg()
    a = randomize(build_model(cfg)).eval()
    ref = spikeformer_reference_sd(a, container)
    assert "model.blocks.0.mlp.mlp.1.w" in ref and "model.pos_embed" in ref and ref["model.pos_embed"].shape[0] == 1
    new, unknown = ci.convert_state_dict(ref, "spikeformer")
    assert unknown == []
    b = build_model(cfg)
    assert set(new) == set(b.state_dict())
    b.load_state_dict(new, strict=True)
    x = _dvs_input(cfg)
    with torch.no_grad():
        torch.testing.assert_close(b.eval()(x), a(x), rtol=0, atol=0)

    # through a torchvision-style training checkpoint (args = argparse.Namespace) and the CLI
    src, dst = tmp_path / "checkpoint_max_test_acc1.pth", tmp_path / "sf.pth"
    torch.save({"model": ref, "optimizer": {"state": {}, "param_groups": []}, "epoch": 149,
                "args": argparse.Namespace(model="PLIF_spikeformer_7_5x3x1", lr=1e-3, T=3, device="cuda:0"),
                "max_test_acc1": np.float64(98.96)}, src)
    assert ci.main(["--arch", "spikeformer", str(src), str(dst)]) == 0
    meta = json.loads((tmp_path / "sf.pth.json").read_text())
    inferred = meta["inferred_model"]
    assert inferred["embed_dim"] == 32 and inferred["depth"] == 2 and inferred["time_steps"] == 3
    assert inferred["tokenizer_channels"] == [16, 16, 32] and inferred["tokenizer_kernel"] == 3
    assert inferred["in_channels"] == 2 and inferred["num_classes"] == 5 and inferred["mlp_ratio"] == 2
    # not determined by any shape: left out, with the reason
    for k in ("num_heads", "img_size", "tokenizer_strides", "neuron_kind"):
        assert k not in inferred and k in meta["undetermined"]
    c = build_model(dict(cfg, init_from=str(dst)))
    with torch.no_grad():
        torch.testing.assert_close(c.eval()(x), a(x), rtol=0, atol=0)
    assert c.init_report["kind"] == "imported" and "Loydian/Spikeformer" in c.init_report["converted_from"]
    # the raw reference file also loads directly (recognised, converted on the fly)
    d = build_model(dict(cfg, init_from=str(src)))
    with torch.no_grad():
        torch.testing.assert_close(d.eval()(x), a(x), rtol=0, atol=0)
    assert d.init_report["kind"] == "reference" and d.init_report["ignored"] == []


def test_spikeformer_missing_live_parameters_fail_naming_every_one(tmp_path):
    """pos_embed and the blocks' norm1/norm2 are dead in Spikformer/Spikingformer but live here: the issue's file
    missing all 29 of them (7 blocks) must fail and name them."""
    cfg = spikeformer_cfg(depth=7)
    ref = spikeformer_reference_sd(build_model(cfg))
    gone = [k for k in ref if k == "model.pos_embed" or ".norm1." in k or ".norm2." in k]
    assert len(gone) == 29
    for k in gone:
        del ref[k]
    torch.save(ref, tmp_path / "partial.pth")
    with pytest.raises(ConfigError) as e:
        build_model(dict(cfg, init_from=str(tmp_path / "partial.pth")))
    assert "missing (29)" in e.value.message
    ours = ["pos_embed"] + [f"blocks.{j}.norm{n}.{w}" for j in range(7) for n in (1, 2) for w in ("weight", "bias")]
    for k in ours:
        assert k in e.value.message
    assert ci.main(["--arch", "spikeformer", str(tmp_path / "partial.pth"), str(tmp_path / "out.pth")]) == 2
    assert not (tmp_path / "out.pth").exists()


def test_spikformer_dead_keys_still_tolerated_and_only_there():
    """norm1/norm2 stay tolerated for Spikformer (dead there); a missing live key of it is named."""
    cfg = dict(arch="spikformer", embed_dim=16, num_heads=2, reference_compat=True)
    a = build_model(cfg)
    sd = {k: v for k, v in a.state_dict().items() if ".norm" not in k}
    b = build_model(dict(cfg))
    assert ci.load_into(b, sd)["missing"] == []
    del sd["blocks.0.mlp.fc2.weight"]
    assert ci.load_into(b, sd)["missing"] == ["blocks.0.mlp.fc2.weight"]


# ---------------------------------------------------------------- STSA (ppppps/STSA_4_Asyn_SNN) key layout

def stsa_cfg(**kw):
    cfg = dict(arch="stsa", embed_dim=32, num_heads=2, depth=2, mlp_ratio=1, time_steps=3, in_channels=2,
               num_classes=5, img_size=32, qkv_layout="reference", reference_compat=True, mlp_dropout=0.3)
    cfg.update(kw)
    return cfg


def reference_mask(heads, T, N):
    """The reference's generate_mask_upper_triangle_mat: ones, with the blocks above the diagonal zeroed."""
    m = torch.ones(T * N, T * N)
    for t in range(T - 1):
        m[t * N:(t + 1) * N, (t + 1) * N:] = 0.0
    return m.unsqueeze(0).repeat(heads, 1, 1)


def reference_index(T, H, W):
    """The reference's relative_position_index, spelled out: shift each coordinate difference, weight, sum."""
    c = torch.stack(torch.meshgrid(torch.arange(T), torch.arange(H), torch.arange(W), indexing="ij")).flatten(1)
    rel = (c[:, :, None] - c[:, None, :]).permute(1, 2, 0).clone()
    rel[:, :, 0] += T - 1
    rel[:, :, 1] += H - 1
    rel[:, :, 2] += W - 1
    rel[:, :, 0] *= (2 * H - 1) * (2 * W - 1)
    rel[:, :, 1] *= 2 * W - 1
    return rel.sum(-1)


def stsa_reference_sd(model, T, H, W) -> dict:
    heads = model.cfg["num_heads"]
    ref = {}
    for k, v in model.state_dict().items():
        p = k.split(".")
        if p[0] == "stem":
            if p[1] == "rpe":
                r = f"conv_stem.block5_{p[2]}.{'.'.join(p[3:])}"
            else:
                r = f"conv_stem.block{int(p[2]) + 1}_{p[3]}.{'.'.join(p[4:])}"
        elif p[0] == "blocks":
            j, mod, sub, rest = p[1], p[2], p[3], ".".join(p[4:])
            if mod == "attn":
                r = f"block.{j}.attn.{sub}" + (f".{rest}" if rest else "")
            else:
                r = f"block.{j}.mlp." + {"fc1": "fc1_conv", "bn1": "fc1_bn", "fc2": "fc2_conv", "bn2": "fc2_bn"}[sub] + f".{rest}"
        else:
            r = f"classification.{p[1]}"
        ref[r] = v.clone()
    for j in range(model.cfg["depth"]):  # the buffers the reference registers (persistent there)
        ref[f"block.{j}.attn.mask_mat"] = reference_mask(heads, T, H * W)
        ref[f"block.{j}.attn.relative_position_index"] = reference_index(T, H, W)
    return shuffled(ref)


def _stsa_input(cfg, B=2, seed=4):
    g = torch.Generator().manual_seed(seed)
    h, w = (cfg["img_size"], cfg["img_size"]) if isinstance(cfg["img_size"], int) else cfg["img_size"]
    return torch.poisson(torch.full((B, cfg["time_steps"], cfg["in_channels"], h, w), 1.5), generator=g)


@pytest.mark.parametrize("img", [32, [32, 64]], ids=["square", "2x4-grid"])
def test_stsa_reference_converts_loads_strictly_forward_unchanged(tmp_path, img):
    cfg = stsa_cfg(img_size=img)
    a = randomize(build_model(cfg)).eval()
    H, W = a.token_grid
    ref = stsa_reference_sd(a, 3, H, W)
    assert "block.0.attn.to_qkv_proj.weight" in ref
    conv = ci.convert(ref, "stsa")
    assert conv.unknown == [] and sorted(conv.rebuilt) == sorted(
        f"blocks.{j}.attn.{b}" for j in range(2) for b in ("mask_mat", "relative_position_index"))
    b = build_model(cfg)
    assert set(conv.state_dict) == set(b.state_dict())
    b.load_state_dict(conv.state_dict, strict=True)
    assert ci.check_rebuilt(b, conv.rebuilt) == []
    x = _stsa_input(cfg)
    with torch.no_grad():
        torch.testing.assert_close(b.eval()(x), a(x), rtol=0, atol=0)

    src, dst = tmp_path / "STSTrans_dvs128.pth", tmp_path / "stsa.pth"
    torch.save(ref, src)  # the reference script saves the bare state_dict
    assert ci.main(["--arch", "stsa", str(src), str(dst)]) == 0
    meta = json.loads((tmp_path / "stsa.pth.json").read_text())
    assert meta["qkv_layout"] == "reference" and meta["arch"] == "stsa"
    inf = meta["inferred_model"]
    assert (inf["num_heads"], inf["time_steps"], inf["embed_dim"], inf["depth"]) == (2, 3, 32, 2)
    assert inf["reference_compat"] is True and "img_size" not in inf and f"{H}×{W}" in meta["undetermined"]["img_size"]
    # without reference_compat the unused to_qkv_* are ignored (and said), never loaded
    c = build_model(dict(cfg, reference_compat=False, init_from=str(dst)))
    assert sorted(c.init_report["ignored"]) == sorted(k for k in conv.state_dict if ".to_qkv_" in k)
    with torch.no_grad():
        torch.testing.assert_close(c.eval()(x), a(x), rtol=0, atol=0)


def test_raw_stsa_state_dict_in_init_from_is_recognised(tmp_path):
    cfg = stsa_cfg(depth=1)
    a = randomize(build_model(cfg)).eval()
    torch.save(stsa_reference_sd(a, 3, *a.token_grid), tmp_path / "raw.pth")
    m = build_model(dict(cfg, init_from=str(tmp_path / "raw.pth")))
    assert m.init_report["kind"] == "reference" and "ppppps/STSA_4_Asyn_SNN" in m.init_report["converted_from"]
    assert len(m.init_report["rebuilt"]) == 2
    # into another architecture: rejected with the command that converts it (never "unknown arch 'stsa'")
    with pytest.raises(ConfigError) as e:
        build_model(dict(arch="spikformer", embed_dim=32, num_heads=2, init_from=str(tmp_path / "raw.pth")))
    assert "import-checkpoint --arch stsa" in e.value.hint and "unknown arch" not in e.value.message
    # a rebuilt buffer for another T or grid does not pass for ours
    ref = stsa_reference_sd(a, 3, *a.token_grid)
    ref["block.0.attn.relative_position_index"] = reference_index(3, 1, 4)
    torch.save(ref, tmp_path / "odd.pth")
    with pytest.raises(ConfigError) as e:
        build_model(dict(cfg, init_from=str(tmp_path / "odd.pth")))
    assert "relative_position_index" in e.value.message


def test_stsa_missing_live_keys_named_dead_tolerated(tmp_path):
    cfg = stsa_cfg(depth=1)
    a = build_model(cfg)
    ref = stsa_reference_sd(a, 3, *a.token_grid)
    no_dead = {k: v for k, v in ref.items() if ".to_qkv_" not in k}
    torch.save(no_dead, tmp_path / "nodead.pth")
    build_model(dict(cfg, init_from=str(tmp_path / "nodead.pth")))  # dead in STSA: fine either way
    del no_dead["block.0.attn.relative_position_bias_table"], no_dead["classification.bias"]
    torch.save(no_dead, tmp_path / "partial.pth")
    with pytest.raises(ConfigError) as e:
        build_model(dict(cfg, init_from=str(tmp_path / "partial.pth")))
    assert "blocks.0.attn.relative_position_bias_table" in e.value.message and "head.bias" in e.value.message


def test_stsa_layout_recorded_and_enforced(tmp_path):
    cfg = stsa_cfg(depth=1)
    a = build_model(cfg)
    torch.save(stsa_reference_sd(a, 3, *a.token_grid), tmp_path / "raw.pth")
    assert ci.main(["--arch", "stsa", str(tmp_path / "raw.pth"), str(tmp_path / "ref.pth")]) == 0
    for path in ("ref.pth", "raw.pth"):
        with pytest.raises(ConfigError) as e:
            build_model(dict(cfg, qkv_layout="paper", init_from=str(tmp_path / path)))
        assert e.value.key == "model.init_from" and "qkv_layout: reference" in e.value.message
        assert "set model.qkv_layout: reference" in e.value.hint
    # deliberately converted for the paper layout (fine-tuning): recorded as such, loads there only
    assert ci.main(["--arch", "stsa", "--qkv-layout", "paper", str(tmp_path / "raw.pth"), str(tmp_path / "p.pth")]) == 0
    assert json.loads((tmp_path / "p.pth.json").read_text())["qkv_layout"] == "paper"
    build_model(dict(cfg, qkv_layout="paper", init_from=str(tmp_path / "p.pth")))
    with pytest.raises(ConfigError):
        build_model(dict(cfg, init_from=str(tmp_path / "p.pth")))


# ---------------------------------------------------------------- training-script checkpoints

def test_timm_checkpoint_with_namespace_loads(tmp_path):
    """timm's CheckpointSaver dict (Spikformer / Spikingformer train.py): args is an argparse.Namespace."""
    cfg = dict(arch="spikformer", embed_dim=16, num_heads=2, variant="cifar")
    a = randomize(build_model(cfg)).eval()
    torch.save({"epoch": 299, "arch": "spikformer", "state_dict": a.state_dict(), "optimizer": {},
                "version": 2, "args": argparse.Namespace(model="spikformer", lr=5e-4, dim=16, aa="rand-m9-n1"),
                "metric": 95.19, "state_dict_ema": a.state_dict()}, tmp_path / "model_best.pth.tar")
    b = build_model(dict(cfg, init_from=str(tmp_path / "model_best.pth.tar")))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(b.eval()(x), a(x))


class NotAllowed:  # a class a safe load will not import
    pass


def test_checkpoint_with_other_objects_fails_clearly(tmp_path):
    cfg = dict(arch="spikformer", embed_dim=16, num_heads=2)
    torch.save({"model": build_model(cfg).state_dict(), "extra": NotAllowed()}, tmp_path / "odd.pth")
    with pytest.raises(ConfigError) as e:
        build_model(dict(cfg, init_from=str(tmp_path / "odd.pth")))
    msg = e.value.message
    assert "\x1b" not in msg and "\x1b" not in e.value.hint and "\n" not in msg
    assert "NotAllowed" in msg and "argparse.Namespace" in msg and "weights_only=False" in e.value.hint
    rc = ci.main(["--arch", "spikformer", str(tmp_path / "odd.pth"), str(tmp_path / "o.pth")])
    assert rc == 2
    torch.save({"epoch": 3, "notes": "no weights"}, tmp_path / "empty.pth")
    with pytest.raises(ConfigError) as e:
        build_model(dict(cfg, init_from=str(tmp_path / "empty.pth")))
    assert "epoch (int)" in e.value.message and "notes (str)" in e.value.message


# ---------------------------------------------------------------- inferred_model of the other two

def test_inferred_model_leaves_out_what_shapes_do_not_determine():
    sd = build_model(dict(arch="spikingformer", embed_dim=64, num_heads=8, depth=2, in_channels=3, num_classes=100,
                          img_size=32, reference_compat=True)).state_dict()
    cfg, und, _ = ci.ARCHS["spikingformer"].infer(sd, None)
    assert cfg == {"arch": "spikingformer", "embed_dim": 64, "depth": 2, "num_classes": 100, "in_channels": 3,
                   "mlp_ratio": 4, "reference_compat": True}
    assert {"num_heads", "img_size", "time_steps", "variant"} <= set(und)
    sd = build_model(dict(arch="spikformer", variant="dvs", embed_dim=32, num_heads=4, in_channels=2, img_size=64,
                          reference_compat=True)).state_dict()
    cfg, und, _ = ci.ARCHS["spikformer"].infer(sd, None)
    assert cfg["variant"] == "dvs" and "num_heads" not in cfg and "img_size" not in cfg and "time_steps" not in cfg


# ---------------------------------------------------------------- training starts like the reference

def test_spikeformer_tokenizer_init_is_kaiming_fan_in():
    torch.manual_seed(0)
    m = build_model(spikeformer_cfg(tokenizer_channels=[64, 64, 32], tokenizer_kernel=5))
    for name, conv in (("blocks.0.conv1", m.tokenizer.blocks[0].conv1.conv), ("blocks.1.conv2", m.tokenizer.blocks[1].conv2.conv)):
        fan_in = conv.weight[0].numel()
        want = (2.0 / fan_in) ** 0.5
        assert conv.weight.std().item() == pytest.approx(want, rel=0.12), name
    # the first conv (2 input channels, 64 out, 5x5): fan_out would start it 5.7x smaller
    w = m.tokenizer.blocks[0].conv1.conv.weight
    assert w.std().item() > 3 * (2.0 / (w.shape[0] * 25)) ** 0.5


def test_stsa_classifier_init_trunc_normal_zero_bias():
    torch.manual_seed(0)
    m = build_model(stsa_cfg(embed_dim=128, num_classes=11, depth=1))
    assert m.head.weight.std().item() == pytest.approx(0.02, rel=0.12)
    assert m.head.weight.abs().max().item() < 0.02 * 5
    assert torch.equal(m.head.bias, torch.zeros(11))


def _mlp_masks(model, x):
    """The keep-masks (T, B) the last block's DropPath applied to the MLP branch (its third call per forward)."""
    calls = []
    dp = model.blocks[-1].drop_path
    h = dp.register_forward_hook(lambda mod, inp, out: calls.append((inp[0].detach(), out.detach())))
    model.train()
    model(x)
    h.remove()
    inp, out = calls[2]
    assert inp.shape[:2] == (x.shape[1], x.shape[0])  # (T, B, N, D)
    keep = (out != 0).to(torch.float32)
    return keep, inp


@pytest.mark.parametrize("mode", ["step", "sample"])
def test_spikeformer_mlp_drop_path_pattern(mode):
    cfg = spikeformer_cfg(drop_path=0.5, time_steps=8, mlp_drop_path=None if mode == "step" else "sample")
    torch.manual_seed(1)
    m = randomize(build_model(cfg))
    x = _dvs_input(cfg, B=6)
    seen = set()
    for _ in range(4):
        keep, inp = _mlp_masks(m, x)
        assert (inp != 0).all()
        per = keep.mean(dim=(2, 3))  # (T, B): each entry all-kept (1) or all-dropped (0)
        assert set(per.unique().tolist()) <= {0.0, 1.0}
        if mode == "step":  # the same steps dropped for every sample
            assert (per == per[:, :1]).all()
        else:  # the same samples dropped at every step
            assert (per == per[:1, :]).all()
        seen |= set(per.flatten().tolist())
    assert seen == {0.0, 1.0}
    assert m.blocks[-1].mlp_drop_dim == (0 if mode == "step" else 1)
    # the other branches keep the reference's units: temporal per (sample, token), spatial per (step, sample)
    d = DropPath(0.5).train()
    y = d(torch.ones(5, 7, 3), dim=0)
    assert ((y == 0).all(dim=(1, 2)) | (y == 2).all(dim=(1, 2))).all()


def test_position_embedding_resize_is_2d_nearest():
    torch.manual_seed(0)
    pos = torch.randn(4 * 4, 3)
    out = resize_pos_embed(pos, (4, 4), (8, 6))
    grid = pos.reshape(4, 4, 3)
    want = torch.stack([grid[i * 4 // 8, j * 4 // 6] for i in range(8) for j in range(6)])
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    flat = torch.nn.functional.interpolate(pos.t()[None], size=48, mode="nearest")[0].t()
    assert not torch.equal(out, flat)  # not 1-D over the flattened tokens
    # the model uses it when the input is larger than configured: 16x16 -> 4x4 tokens; 32x32 -> 8x8
    cfg = spikeformer_cfg()
    m = randomize(build_model(cfg)).eval()
    seen = {}
    orig = resize_pos_embed.__globals__["resize_pos_embed"]

    def spy(p, g, ng):
        seen["args"] = (g, ng)
        return orig(p, g, ng)
    resize_pos_embed.__globals__["resize_pos_embed"] = spy
    try:
        with torch.no_grad():
            y = m(_dvs_input(cfg, side=32))
    finally:
        resize_pos_embed.__globals__["resize_pos_embed"] = orig
    assert y.shape == (2, 5) and seen["args"] == ((4, 4), (8, 8))


# ---------------------------------------------------------------- a run says where its weights came from

def test_run_with_init_from_emits_and_logs_the_source(tmp_path):
    from test_train_run import run, tiny_config

    cfg = tiny_config(train={"epochs": 1, "max_steps_per_epoch": 2}, data={"limit_eval": 64})
    mcfg = dict(cfg["model"], reference_compat=True)
    a = build_model(mcfg)
    ref = {}
    for k, v in a.state_dict().items():  # Spikformer cifar10/model.py names (spec §2.1)
        r = (k.replace("blocks.", "block.").replace("tokenizer.stages.0.conv", "patch_embed.proj_conv")
             .replace("tokenizer.stages.0.bn", "patch_embed.proj_bn").replace("tokenizer.rpe.conv", "patch_embed.rpe_conv")
             .replace("tokenizer.rpe.bn", "patch_embed.rpe_bn"))
        r = re.sub(r"tokenizer\.stages\.(\d)\.(conv|bn)", lambda m: f"patch_embed.proj_{m[2]}{m[1]}", r)
        r = re.sub(r"attn\.([qkv])_proj", r"attn.\1_linear", r).replace("attn.proj.", "attn.proj_linear.")
        r = re.sub(r"mlp\.fc([12])\.", r"mlp.fc\1_linear.", r)
        ref[r] = v
    assert ci.detect_arch(ref) == ["spikformer"]
    torch.save({"state_dict": ref, "args": argparse.Namespace(model="spikformer"), "epoch": 0}, tmp_path / "ref.pth")
    cfg["model"]["init_from"] = str(tmp_path / "ref.pth")
    p, events = run(tmp_path, cfg)
    assert p.returncode == 0, p.stderr
    model = next(e for e in events if e["type"] == "model")
    info = model["init_from"]
    assert info["path"] == str((tmp_path / "ref.pth").resolve()) and info["kind"] == "reference"
    assert "ZK-Zhou/spikformer" in info["converted_from"]
    assert sorted(info["ignored"]) == ["blocks.0.norm1.bias", "blocks.0.norm1.weight", "blocks.0.norm2.bias",
                                       "blocks.0.norm2.weight"]
    assert "weights from" in p.stderr and "ZK-Zhou/spikformer" in p.stderr and "ignored 4 unused key(s)" in p.stderr


# ---------------------------------------------------------------- the presets' full sizes (shapes only, meta device)

PRESETS = json.load(open(__import__("os").path.join(__import__("os").path.dirname(__file__), "..", "spikestudio",
                                                     "presets", "presets.json")))


@pytest.mark.parametrize("name", sorted(n for n, p in PRESETS.items() if p["model"]["arch"] in ("spikeformer", "stsa")))
def test_preset_sized_reference_layouts_map_onto_every_key(name):
    cfg = dict(PRESETS[name]["model"], reference_compat=True)
    with torch.device("meta"):
        m = build_model(cfg)
    own = m.state_dict()
    if cfg["arch"] == "spikeformer":
        ref = spikeformer_reference_sd(m)
    else:
        ref = {k: v for k, v in stsa_reference_sd(m, cfg["time_steps"], *m.token_grid).items()}
    conv = ci.convert(ref, cfg["arch"])
    assert conv.unknown == []
    assert set(conv.state_dict) == set(own)
    assert all(tuple(conv.state_dict[k].shape) == tuple(own[k].shape) for k in own)
    inferred, und, _ = ci.ARCHS[cfg["arch"]].infer(conv.state_dict, ref)
    for key in ("embed_dim", "depth", "num_classes", "in_channels", "time_steps"):
        assert inferred[key] == cfg[key], key
    assert "img_size" in und and "img_size" not in inferred
    if cfg["arch"] == "stsa":
        assert inferred["num_heads"] == cfg["num_heads"]
    else:
        assert inferred["tokenizer_channels"] == cfg["tokenizer_channels"] and "num_heads" not in inferred
