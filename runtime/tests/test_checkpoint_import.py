"""Reference-repo state_dicts -> ours, checked against an independent functional re-implementation of the
reference forward that reads the reference names directly (spec §2.1/§2.2, §3.2/§3.3)."""

import json

import pytest
import torch
import torch.nn.functional as F

from spikestudio import checkpoint_import as ci
from spikestudio.errors import ConfigError
from spikestudio.models import build_model
from spikestudio.telemetry.probes import FiringRecorder


# ---------------------------------------------------------------- reference key lists (names and shapes)

def spikformer_ref_shapes(variant, C, D, L, K, hidden, compat=True, n_tokens=64):
    s = {}
    chain = [C, D // 8, D // 4, D // 2, D]
    for i in range(4):
        suf = "" if i == 0 else str(i)
        s[f"patch_embed.proj_conv{suf}.weight"] = (chain[i + 1], chain[i], 3, 3)
        s[f"patch_embed.proj_bn{suf}"] = chain[i + 1]
    s["patch_embed.rpe_conv.weight"] = (D, D, 3, 3)
    s["patch_embed.rpe_bn"] = D
    for j in range(L):
        p = f"block.{j}"
        if compat:
            s[f"{p}.norm1.weight"] = s[f"{p}.norm1.bias"] = (D,)
            s[f"{p}.norm2.weight"] = s[f"{p}.norm2.bias"] = (D,)
        for n in "qkv":
            if variant == "cifar":
                s[f"{p}.attn.{n}_linear.weight"] = (D, D)
                s[f"{p}.attn.{n}_linear.bias"] = (D,)
            else:
                s[f"{p}.attn.{n}_conv.weight"] = (D, D, 1)
            s[f"{p}.attn.{n}_bn"] = D
        if variant == "cifar":
            s[f"{p}.attn.proj_linear.weight"], s[f"{p}.attn.proj_linear.bias"] = (D, D), (D,)
            s[f"{p}.mlp.fc1_linear.weight"], s[f"{p}.mlp.fc1_linear.bias"] = (hidden, D), (hidden,)
            s[f"{p}.mlp.fc2_linear.weight"], s[f"{p}.mlp.fc2_linear.bias"] = (D, hidden), (D,)
        elif variant == "imagenet":
            s[f"{p}.attn.proj_conv.weight"], s[f"{p}.attn.proj_conv.bias"] = (D, D, 1), (D,)
            s[f"{p}.mlp.fc1_conv.weight"], s[f"{p}.mlp.fc1_conv.bias"] = (hidden, D, 1, 1), (hidden,)
            s[f"{p}.mlp.fc2_conv.weight"], s[f"{p}.mlp.fc2_conv.bias"] = (D, hidden, 1, 1), (D,)
        else:
            s[f"{p}.attn.proj_conv.weight"], s[f"{p}.attn.proj_conv.bias"] = (D, D, 1), (D,)
            s[f"{p}.mlp.fc1_conv.weight"], s[f"{p}.mlp.fc1_conv.bias"] = (hidden, D, 1), (hidden,)
            s[f"{p}.mlp.fc2_conv.weight"], s[f"{p}.mlp.fc2_conv.bias"] = (D, hidden, 1), (D,)
        s[f"{p}.attn.proj_bn"] = D
        s[f"{p}.mlp.fc1_bn"] = hidden
        s[f"{p}.mlp.fc2_bn"] = D
    if compat and variant == "dvs":
        s["pos_embed"] = (1, n_tokens, D)
        s["norm.weight"] = s["norm.bias"] = (D,)
    s["head.weight"], s["head.bias"] = (K, D), (K,)
    return s


def spikingformer_ref_shapes(C, D, L, K, hidden, compat=True, old_names=False):
    s = {}
    chain = [C, D // 8, D // 4, D // 2, D, D]
    for i in range(5):
        if old_names:
            s[f"patch_embed.block{i}_conv.weight"] = (chain[i + 1], chain[i], 3, 3)
            s[f"patch_embed.block{i}_bn"] = chain[i + 1]
        else:
            pre = "proj" if i == 0 else f"proj{i}"
            s[f"patch_embed.{pre}_conv.weight"] = (chain[i + 1], chain[i], 3, 3)
            s[f"patch_embed.{pre}_bn"] = chain[i + 1]
    for j in range(L):
        p = f"block.{j}"
        if compat:
            s[f"{p}.norm1.weight"] = s[f"{p}.norm1.bias"] = (D,)
            s[f"{p}.norm2.weight"] = s[f"{p}.norm2.bias"] = (D,)
        for n in "qkv":
            s[f"{p}.attn.{n}_conv.weight"] = (D, D, 1)
            s[f"{p}.attn.{n}_bn"] = D
        s[f"{p}.attn.proj_conv.weight"], s[f"{p}.attn.proj_conv.bias"] = (D, D, 1), (D,)
        s[f"{p}.attn.proj_bn"] = D
        s[f"{p}.mlp.mlp1_conv.weight"], s[f"{p}.mlp.mlp1_conv.bias"] = (hidden, D, 1, 1), (hidden,)
        s[f"{p}.mlp.mlp1_bn"] = hidden
        s[f"{p}.mlp.mlp2_conv.weight"], s[f"{p}.mlp.mlp2_conv.bias"] = (D, hidden, 1, 1), (D,)
        s[f"{p}.mlp.mlp2_bn"] = D
    s["head.weight"], s["head.bias"] = (K, D), (K,)
    return s


def random_state_dict(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shp in shapes.items():
        if isinstance(shp, int):  # a BatchNorm
            sd[f"{k}.weight"] = 1.0 + 0.3 * torch.randn(shp, generator=g, dtype=torch.float64)
            sd[f"{k}.bias"] = 0.3 + 0.5 * torch.randn(shp, generator=g, dtype=torch.float64)
            sd[f"{k}.running_mean"] = 0.2 * torch.randn(shp, generator=g, dtype=torch.float64)
            sd[f"{k}.running_var"] = 0.5 + torch.rand(shp, generator=g, dtype=torch.float64)
            sd[f"{k}.num_batches_tracked"] = torch.tensor(7)
        else:
            fan_in = 1
            for v in shp[1:]:
                fan_in *= v
            sd[k] = torch.randn(*shp, generator=g, dtype=torch.float64) / max(1, fan_in) ** 0.5 * 1.5
    return sd


# ---------------------------------------------------------------- functional reference forward (eval mode)

def lif(x, tau=2.0, vth=1.0):
    v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) / tau
        s = (h >= vth).to(x.dtype)
        v = h * (1 - s)
        out.append(s)
    return torch.stack(out)


def bn(x, sd, p):
    return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"],
                        False, 0.0, 1e-5)


def pointwise(x, sd, p):
    """x (TB, Cin, N) through the reference's Linear / Conv1d(k=1) / Conv2d(1x1) named p."""
    w, b = sd[f"{p}.weight"], sd.get(f"{p}.bias")
    if w.dim() == 2:
        return F.linear(x.transpose(1, 2), w, b).transpose(1, 2)
    if w.dim() == 3:
        return F.conv1d(x, w, b)
    n = x.shape[-1]
    return F.conv2d(x.unsqueeze(-1), w, b).reshape(x.shape[0], w.shape[0], n)


def ssa_core(q, k, v, T, B, D, N, heads, scale):
    def split(z):
        return z.transpose(-1, -2).reshape(T, B, N, heads, D // heads).permute(0, 1, 3, 2, 4)
    q, k, v = split(q), split(k), split(v)
    y = (q @ k.transpose(-2, -1)) @ v * scale
    return y.transpose(3, 4).reshape(T, B, D, N)


def ref_spikformer(sd, x, variant, T, heads, tau=2.0):
    if x.dim() == 4:
        x = x.unsqueeze(0).repeat(T, 1, 1, 1, 1)
    else:
        x = x.permute(1, 0, 2, 3, 4)
    T, B = x.shape[:2]
    pools = [False, False, True, True] if variant == "cifar" else [True] * 4
    y = x.flatten(0, 1)
    for i in range(4):
        suf = "" if i == 0 else str(i)
        y = bn(F.conv2d(y, sd[f"patch_embed.proj_conv{suf}.weight"], padding=1), sd, f"patch_embed.proj_bn{suf}")
        y = lif(y.reshape(T, B, *y.shape[1:]), tau).flatten(0, 1)
        if pools[i]:
            y = F.max_pool2d(y, 3, 2, 1)
    r = bn(F.conv2d(y, sd["patch_embed.rpe_conv.weight"], padding=1), sd, "patch_embed.rpe_bn")
    y = y + lif(r.reshape(T, B, *r.shape[1:]), tau).flatten(0, 1)
    D, N = y.shape[1], y.shape[2] * y.shape[3]
    x = y.reshape(T, B, D, N)
    scale = 0.25 if variant == "dvs" else 0.125
    j = 0
    while f"block.{j}.attn.q_bn.weight" in sd:
        p = f"block.{j}"
        lin = "linear" if variant == "cifar" else "conv"
        xf = x.flatten(0, 1)
        qkv = [lif(bn(pointwise(xf, sd, f"{p}.attn.{n}_{lin}"), sd, f"{p}.attn.{n}_bn").reshape(T, B, D, N), tau)
               for n in "qkv"]
        a = lif(ssa_core(*qkv, T, B, D, N, heads, scale), tau, 0.5)
        a = lif(bn(pointwise(a.flatten(0, 1), sd, f"{p}.attn.proj_{lin}"), sd, f"{p}.attn.proj_bn").reshape(T, B, D, N), tau)
        x = x + a
        h = lif(bn(pointwise(x.flatten(0, 1), sd, f"{p}.mlp.fc1_{lin}"), sd, f"{p}.mlp.fc1_bn").reshape(T, B, -1, N), tau)
        h = lif(bn(pointwise(h.flatten(0, 1), sd, f"{p}.mlp.fc2_{lin}"), sd, f"{p}.mlp.fc2_bn").reshape(T, B, D, N), tau)
        x = x + h
        j += 1
    return F.linear(x.mean(3).mean(0), sd["head.weight"], sd["head.bias"])


def ref_spikingformer(sd, x, variant, T, heads, tau=2.0):
    if x.dim() == 4:
        x = x.unsqueeze(0).repeat(T, 1, 1, 1, 1)
    else:
        x = x.permute(1, 0, 2, 3, 4)
    T, B = x.shape[:2]
    pools = [False, False, True, True] if variant == "cifar" else [True] * 4
    y = bn(F.conv2d(x.flatten(0, 1), sd["patch_embed.proj_conv.weight"], padding=1), sd, "patch_embed.proj_bn")
    for i in range(1, 5):
        y = lif(y.reshape(T, B, *y.shape[1:]), tau).flatten(0, 1)
        if pools[i - 1]:
            y = F.max_pool2d(y, 3, 2, 1)
        y = bn(F.conv2d(y, sd[f"patch_embed.proj{i}_conv.weight"], padding=1), sd, f"patch_embed.proj{i}_bn")
    D, N = y.shape[1], y.shape[2] * y.shape[3]
    x = y.reshape(T, B, D, N)
    j = 0
    while f"block.{j}.attn.q_bn.weight" in sd:
        p = f"block.{j}"
        s = lif(x, tau).flatten(0, 1)
        qkv = [lif(bn(pointwise(s, sd, f"{p}.attn.{n}_conv"), sd, f"{p}.attn.{n}_bn").reshape(T, B, D, N), tau)
               for n in "qkv"]
        a = lif(ssa_core(*qkv, T, B, D, N, heads, 0.125), tau, 0.5)
        x = x + bn(pointwise(a.flatten(0, 1), sd, f"{p}.attn.proj_conv"), sd, f"{p}.attn.proj_bn").reshape(T, B, D, N)
        h = bn(pointwise(lif(x, tau).flatten(0, 1), sd, f"{p}.mlp.mlp1_conv"), sd, f"{p}.mlp.mlp1_bn")
        h = h.reshape(T, B, -1, N)
        h = bn(pointwise(lif(h, tau).flatten(0, 1), sd, f"{p}.mlp.mlp2_conv"), sd, f"{p}.mlp.mlp2_bn")
        x = x + h.reshape(T, B, D, N)
        j += 1
    return F.linear(x.mean(3).mean(0), sd["head.weight"], sd["head.bias"])


# ---------------------------------------------------------------- tests

CASES = [
    # arch, variant, C, D, L, K, img, T, heads, static
    ("spikformer", "cifar", 3, 32, 2, 10, 16, 3, 4, True),
    ("spikformer", "imagenet", 3, 32, 1, 7, 64, 2, 2, True),
    ("spikformer", "dvs", 2, 32, 2, 11, 32, 3, 4, False),
    ("spikingformer", "cifar", 3, 32, 2, 10, 16, 3, 4, True),
    ("spikingformer", "dvs", 2, 32, 1, 10, 32, 3, 2, False),
]


def _inputs(C, img, T, static, B=2):
    g = torch.Generator().manual_seed(5)
    if static:
        return torch.randn(B, C, img, img, generator=g, dtype=torch.float64) * 1.5
    return torch.poisson(torch.full((B, T, C, img, img), 0.8, dtype=torch.float64), generator=g)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_convert_load_strict_and_forward_equal(case, tmp_path):
    arch, variant, C, D, L, K, img, T, heads, static = case
    hidden = 4 * D
    tau = 1.5 if (arch == "spikingformer" and variant == "dvs") else 2.0
    if arch == "spikformer":
        side = img // (4 if variant == "cifar" else 16)
        shapes = spikformer_ref_shapes(variant, C, D, L, K, hidden, True, side * side)
    else:
        shapes = spikingformer_ref_shapes(C, D, L, K, hidden, True)
    ref_sd = random_state_dict(shapes)
    for k in ref_sd:  # denser Q/K/V so that the attention-output LIF (threshold 0.5) fires
        if any(k.endswith(f"attn.{n}_bn.bias") for n in "qkv"):
            ref_sd[k] += 1.0
    new, unknown = ci.convert_state_dict(ref_sd, arch)
    assert unknown == []
    cfg = dict(arch=arch, variant=variant, embed_dim=D, num_heads=heads, depth=L, in_channels=C, num_classes=K,
               img_size=img, time_steps=T, reference_compat=True, neuron={"tau": tau})
    model = build_model(cfg).double()
    # strict: the converted dict has exactly our keys and shapes
    own = model.state_dict()
    assert set(new) == set(own)
    assert all(tuple(new[k].shape) == tuple(own[k].shape) for k in own)
    model.load_state_dict(new, strict=True)
    model.eval()
    x = _inputs(C, img, T, static)
    rec = FiringRecorder(model)
    with torch.no_grad(), rec.recording():
        ours = model(x)
        ref = (ref_spikformer if arch == "spikformer" else ref_spikingformer)(ref_sd, x, variant, T, heads, tau)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)
    rates = {r["name"]: r["rate"] for r in rec.rates()}
    last = f"blocks.{L - 1}"
    # the comparison is only meaningful if spikes flow through attention and MLP of the last block
    for n in ("attn.q_lif", "attn.k_lif", "attn.v_lif", "attn.attn_lif", "mlp.fc1_lif"):
        assert 0.0 < rates[f"{last}.{n}"] < 1.0, (n, rates[f"{last}.{n}"])

    # the same through a file: CLI conversion, then model.init_from
    src, dst = tmp_path / "ref.pth", tmp_path / "ours.pt"
    torch.save({"epoch": 3, "state_dict": {k: v.float() for k, v in ref_sd.items()}}, src)
    assert ci.main(["--arch", arch, str(src), str(dst)]) == 0
    m2 = build_model(dict(cfg, reference_compat=False, init_from=str(dst)))
    for k, v in m2.state_dict().items():
        torch.testing.assert_close(v, new[k].to(v.dtype))
    # reference file loads directly through init_from too (converted on the fly)
    m3 = build_model(dict(cfg, init_from=str(src)))
    torch.testing.assert_close(m3.state_dict()["head.weight"], ref_sd["head.weight"].float())


def test_old_spikingformer_tokenizer_names_convert():
    shapes = spikingformer_ref_shapes(3, 16, 1, 10, 64, False, old_names=True)
    new, unknown = ci.convert_state_dict(random_state_dict(shapes), "spikingformer")
    assert unknown == []
    model = build_model(dict(arch="spikingformer", embed_dim=16, num_heads=2, in_channels=3, img_size=16))
    model.load_state_dict(new, strict=True)


def test_unknown_and_missing_keys_are_listed(tmp_path, capsys):
    shapes = spikformer_ref_shapes("cifar", 3, 16, 1, 10, 64, False)
    sd = random_state_dict(shapes)
    sd["block.0.attn.mystery.weight"] = torch.zeros(3)
    del sd["block.0.mlp.fc2_bn.running_mean"]
    src, dst = tmp_path / "ref.pth", tmp_path / "ours.pt"
    torch.save(sd, src)
    assert ci.main(["--arch", "spikformer", str(src), str(dst)]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["unknown"] == ["block.0.attn.mystery.weight"]
    assert out["missing"] == ["blocks.0.mlp.fc2_bn.running_mean"]
    assert not dst.exists()


def test_init_from_errors_are_config_errors(tmp_path):
    cfg = dict(arch="spikformer", embed_dim=16, num_heads=2)
    with pytest.raises(ConfigError) as e:
        build_model(dict(cfg, init_from=str(tmp_path / "nope.pt")))
    assert e.value.key == "model.init_from"
    other = build_model(dict(cfg, embed_dim=32))
    torch.save({"model": other.state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ConfigError) as e:
        build_model(dict(cfg, init_from=str(tmp_path / "other.pt")))
    assert "shape mismatch" in e.value.message


def test_own_checkpoint_round_trip(tmp_path):
    cfg = dict(arch="spikformer", embed_dim=16, num_heads=2, reference_compat=True)
    a = build_model(cfg)
    torch.save({"model": a.state_dict(), "epoch": 1, "optimizer": {}}, tmp_path / "last.pt")
    b = build_model(dict(cfg, reference_compat=False, init_from=str(tmp_path / "last.pt")))
    x = torch.randn(2, 1, 28, 28)
    a.eval(), b.eval()
    torch.testing.assert_close(a(x), b(x))
