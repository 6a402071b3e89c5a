"""Fused BatchNorm(eval) + LIF for inference (kernels.bn_lif_triton, kernels.fold.fuse_bn_lif), run in Triton's CPU
interpreter against the plain path (the BN module, then the torch LIF).

On CPU the plain eval BN computes fma(x, alpha, fma(-mean, alpha, beta)) with alpha = (1/sqrt(var + eps)) * gamma
in fp32 (`_cpu_bn_is_fma_affine` checks this PyTorch build does), and the kernel computes the same, so spikes are
compared bit for bit. On a build whose BN rounds differently, the tests instead require every differing spike to sit
within 1e-5 of the threshold and to be rare.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import fractions  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.modules.batchnorm import _BatchNorm  # noqa: E402

pytest.importorskip(
    "triton",
    reason="triton is not installed (bash scripts/setup.sh pytest installs it); the fused kernel tests need it",
)

import spikestudio.kernels.bn_lif_triton as bnk  # noqa: E402
from spikestudio.kernels.bn_lif_triton import bn_affine, bn_lif_triton, fma32  # noqa: E402
from spikestudio.kernels.fold import BNLIF, FoldError, bn_lif_pairs, fuse_bn_lif  # noqa: E402
from spikestudio.kernels.lif_triton import lif_multistep_triton  # noqa: E402
from spikestudio.models import build_model  # noqa: E402
from spikestudio.models.layers import TokenBN, from_time, to_time  # noqa: E402
from spikestudio.neurons import LIF, LIFMultiStep, lif_multistep_reference  # noqa: E402
from spikestudio.tolerance import accumulation_depth, assert_float_close  # noqa: E402

if os.environ.get("TRITON_INTERPRET") != "1":  # pragma: no cover
    pytest.skip("TRITON_INTERPRET=1 must be set before triton is imported", allow_module_level=True)

# spikformer-tiny/mnist's model (D=64, 4 heads, depth 1, T=4, 28x28) and Spikingformer at the same size
TINY = {"embed_dim": 64, "num_heads": 4, "depth": 1, "mlp_ratio": 4, "time_steps": 4, "in_channels": 1,
        "num_classes": 10, "img_size": 28}
ARCHS = {a: {"arch": a, "variant": "cifar", **TINY} for a in ("spikformer", "spikingformer")}


def _randomise_bn(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.2)
                m.weight.copy_(torch.randn(n, generator=g) + 1.0)
                m.bias.copy_(torch.randn(n, generator=g) * 0.5 + 0.3)
    return model.eval()


def _rand_bn(bn, seed):
    g = torch.Generator().manual_seed(seed)
    n = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(n, generator=g))
        bn.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.05)
        bn.weight.copy_(torch.randn(n, generator=g) * 2)
        bn.bias.copy_(torch.randn(n, generator=g))
    return bn.eval()


def _cpu_bn_is_fma_affine() -> bool:
    bn = _rand_bn(nn.BatchNorm2d(48), 11)
    x = torch.randn(6, 48, 5, 5, generator=torch.Generator().manual_seed(12)) * 4
    scale, shift = bn_affine(bn)
    want = fma32(x.numpy(), scale.view(1, -1, 1, 1).numpy(), shift.view(1, -1, 1, 1).numpy())
    with torch.no_grad():
        return torch.equal(bn(x), torch.from_numpy(want))


EXACT = _cpu_bn_is_fma_affine()


def _assert_spikes_match(got, want, lif_input, lif: LIF):
    """Bit-identical where this PyTorch's CPU BN is the fma affine; else rare flips within 1e-5 of the threshold."""
    if EXACT or torch.equal(got, want):
        assert torch.equal(got, want)
        return
    _, h = lif_multistep_reference(lif_input.float(), lif.tau, lif.v_threshold, lif.v_reset, lif.detach_reset,
                                   lif.surrogate, lif.alpha, lif.decay_input, return_h=True)
    bad = got != want
    assert (h[bad] - lif.v_threshold).abs().max() < 1e-5
    assert bad.float().mean() < 1e-3


# ------------------------------------------------------------------------------------------------------ the affine


def test_fma32_rounds_once():
    g = np.random.default_rng(0)
    a = g.standard_normal(2000).astype(np.float32)
    b = g.standard_normal(2000).astype(np.float32)
    c = (g.standard_normal(2000) * 2.0 ** g.integers(-30, 30, 2000)).astype(np.float32)
    # ties of the float64 sum: c = 1 and a * b = 2^-24 (1 + 2^-29): the float64 sum rounds to 1 + 2^-24 (a float32
    # half-way point), the exact value is above it, so the fma must round up
    a = np.append(a, [np.float32(2.0**-24)]).astype(np.float32)
    b = np.append(b, [np.float32(1 + 2.0**-23)]).astype(np.float32)
    c = np.append(c, [np.float32(1.0)]).astype(np.float32)
    got = fma32(a, b, c)
    exact = [fractions.Fraction(float(x)) * fractions.Fraction(float(y)) + fractions.Fraction(float(z))
             for x, y, z in zip(a, b, c)]
    for gv, ev, x, y, z in zip(got, exact, a, b, c):
        lo = np.float32(float(ev))
        cands = {lo, np.nextafter(lo, np.float32(np.inf)), np.nextafter(lo, np.float32(-np.inf))}
        best = min(cands, key=lambda f: (abs(fractions.Fraction(float(f)) - ev),
                                         int(np.array(f, np.float32).view(np.int32)) & 1))
        assert gv == best, (x, y, z)
    assert got[-1] == np.nextafter(np.float32(1.0), np.float32(2.0))


@pytest.mark.parametrize("affine", [True, False])
def test_bn_affine_reproduces_cpu_batchnorm(affine):
    bn = _rand_bn(nn.BatchNorm1d(37, affine=affine, eps=1e-3), 5) if affine else nn.BatchNorm1d(37, affine=False).eval()
    if not affine:
        with torch.no_grad():
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.1, 3.0)
    x = torch.randn(300, 37) * 3
    scale, shift = bn_affine(bn)
    assert scale.dtype == shift.dtype == torch.float32
    with torch.no_grad():
        ref = bn(x)
    got = torch.from_numpy(fma32(x.numpy(), scale.numpy(), shift.numpy()))
    if EXACT:
        assert torch.equal(got, ref)
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------------------ the kernel


LAYOUTS = [
    # BN type, BN-layout input shape (T*B leading), T
    ("conv2d", nn.BatchNorm2d, (4 * 3, 10, 5, 7), 4),
    ("token", TokenBN, (4 * 3, 9, 24), 4),
    ("bn1d-2d", nn.BatchNorm1d, (5 * 2, 33), 5),
    ("bn1d-3d", nn.BatchNorm1d, (3 * 2, 6, 11), 3),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda c: c[0])
@pytest.mark.parametrize("neuron", [dict(), dict(v_reset=None), dict(tau=1.7, v_threshold=0.8, decay_input=False),
                                    dict(v_reset=-0.2)], ids=["default", "soft", "tau1.7-nodecay", "vr-0.2"])
def test_kernel_matches_bn_then_lif(layout, neuron):
    _, cls, shape, T = layout
    C = shape[-1] if cls is TokenBN else shape[1]
    bn = _rand_bn(cls(C), 3)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(*shape, generator=g) * 2 + 0.5
    lif = LIF(**neuron)
    with torch.no_grad():
        y = to_time(bn(x), T)
        want = lif(y)
        scale, shift = bn_affine(bn)
        got = bn_lif_triton(to_time(x, T), scale, shift, -1 if cls is TokenBN else 2, lif.tau, lif.v_threshold,
                            lif.v_reset, lif.decay_input)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert 0 < want.sum() < want.numel()
    _assert_spikes_match(got, want, y, lif)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_kernel_half_inputs_round_y_like_the_bn(dtype):
    """bf16/fp16: the BN output is rounded to the input dtype, then the fp32-state LIF (= the fused LIF kernel run on
    the plain BN's output)."""
    bn = _rand_bn(nn.BatchNorm2d(8), 6)
    x = (torch.randn(3 * 2, 8, 4, 4, generator=torch.Generator().manual_seed(7)) * 2 + 0.5).to(dtype)
    with torch.no_grad():
        y = bn(x)  # mixed-dtype BN: fp32 maths, output in the input dtype
        assert y.dtype == dtype
        want = lif_multistep_triton(to_time(y, 3))
        scale, shift = bn_affine(bn)
        got = bn_lif_triton(to_time(x, 3), scale, shift, 2)
    assert got.dtype == dtype
    lif = LIF()
    _assert_spikes_match(got.float(), want.float(), to_time(y, 3).float(), lif)


@pytest.mark.parametrize("y", [1 + 2.0**-8, 1 + 3 * 2.0**-8, -(1 + 2.0**-8), 3 * 2.0**-9 + 2.0**-20])
def test_kernel_bf16_rounding_is_to_nearest_even(y):
    """y = x * scale exactly half-way between two bf16 values (or just above one): rounded like torch's fp32 -> bf16
    before the LIF. The threshold y / 2 tells a rounded-down y (no spike) from an unrounded or rounded-up one."""
    x = torch.ones(1, 1, 1, dtype=torch.bfloat16)
    rounded = torch.tensor([y], dtype=torch.float32).to(torch.bfloat16).float().item()
    vth = y / 2  # exact in fp32
    with torch.no_grad():
        got = bn_lif_triton(x, torch.tensor([y]), torch.zeros(1), -1, v_threshold=vth)
    assert got.item() == float(rounded / 2 >= vth)
    with torch.no_grad():  # the same through the plain path: a BN whose affine is scale y, shift 0
        want = lif_multistep_triton(torch.tensor([[[rounded]]], dtype=torch.bfloat16), v_threshold=vth)
    assert torch.equal(got, want)


def test_kernel_argument_errors():
    x = torch.randn(2, 3, 4)
    s = torch.ones(4)
    with pytest.raises(ValueError, match="channels"):
        bn_lif_triton(x, torch.ones(3), s, -1)
    with pytest.raises(ValueError, match="time dim"):
        bn_lif_triton(x, s, s, 0)
    with pytest.raises(TypeError):
        bn_lif_triton(x.double(), s, s, -1)


# ------------------------------------------------------------------------------------------------------ the models


def _capture(model):
    """LIF name -> (input, spikes) of the next forward."""
    rec, handles = {}, []
    for name, m in model.named_modules():
        if isinstance(m, LIF):
            handles.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: rec.__setitem__(name, (inp[0].detach().clone(), out.detach().clone()))))
    return rec, handles


def _root(t):
    return t._base if t._base is not None else t


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_declared_pairs_are_the_bn_to_lif_data_flow(arch):
    """Every declared (bn, lif): the LIF's input is (a view of) that BN's output; and no undeclared BN feeds a LIF."""
    model = _randomise_bn(build_model(ARCHS[arch]), 1)
    outs, ins, handles = {}, {}, []
    for name, m in model.named_modules():
        if isinstance(m, _BatchNorm):
            handles.append(m.register_forward_hook(lambda mod, i, o, name=name: outs.__setitem__(name, _root(o))))
        if isinstance(m, LIF):
            handles.append(m.register_forward_pre_hook(lambda mod, i, name=name: ins.__setitem__(name, _root(i[0]))))
    with torch.no_grad():
        model(torch.randn(2, 1, 28, 28))
    for h in handles:
        h.remove()
    flow = {(b, l) for b, ob in outs.items() for l, il in ins.items() if ob is il}
    declared = set(model.bn_lif_pairs())
    assert declared == flow
    assert set(bn_lif_pairs(model)) == declared
    n_bn = sum(isinstance(m, _BatchNorm) for m in model.modules())
    assert len(declared) == (n_bn if arch == "spikformer" else n_bn - 3)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_fused_model_matches_plain_path(arch, monkeypatch):
    torch.manual_seed(0)
    model = _randomise_bn(build_model(ARCHS[arch]), seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pairs = bn_lif_pairs(model)
    fused = fuse_bn_lif(model)
    assert fused is not model and not fused.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # original untouched
    for bn_name, lif_name in pairs:
        assert isinstance(fused.get_submodule(bn_name), nn.Identity)
        assert isinstance(fused.get_submodule(lif_name), BNLIF)
    for m in fused.modules():
        if isinstance(m, LIF):
            m.backend = "triton"
    calls = []
    orig = bnk.bn_lif_triton
    monkeypatch.setattr(bnk, "bn_lif_triton", lambda *a, **k: calls.append(1) or orig(*a, **k))

    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    ref_rec, h1 = _capture(model)
    got_rec, h2 = _capture(fused)
    with torch.no_grad():
        ref = model(x)
        got = fused(x)
    for h in h1 + h2:
        h.remove()
    assert len(calls) == len(pairs)  # every BNLIF ran the fused kernel
    assert ref_rec.keys() == got_rec.keys()
    bnlif = dict(pairs)
    for name, (inp, spikes) in ref_rec.items():
        lif = model.get_submodule(name)
        _assert_spikes_match(got_rec[name][1], spikes, inp, lif)
    assert any(s.any() for _, s in ref_rec.values())
    assert all(ref_rec[lname][1].any() for lname in bnlif.values())
    assert_float_close(got, ref, accumulation_depth(model), "logits")
    if EXACT:
        assert torch.equal(got, ref)


def test_bnlif_falls_back_to_the_plain_path():
    """backend torch, a gradient, or a BN in training mode: the wrapped BN module then the LIF (same outputs)."""
    model = _randomise_bn(build_model(ARCHS["spikingformer"]), seed=2)
    fused = fuse_bn_lif(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(fused(x), ref)  # backend torch: exactly the plain path
    for m in fused.modules():
        if isinstance(m, LIF):
            m.backend = "triton"
    calls = []
    orig = bnk.bn_lif_triton
    bnk.bn_lif_triton = lambda *a, **k: calls.append(1) or orig(*a, **k)
    try:
        out = fused(x)  # grad enabled and BN params require grad: plain path, differentiable
        out.sum().backward()
        assert calls == []
        assert fused.blocks[0].attn.q_lif.bn.weight.grad is not None
        torch.testing.assert_close(out.detach(), ref)
    finally:
        bnk.bn_lif_triton = orig


def test_fuse_refuses_training_mode_and_skips_non_lif_neurons():
    model = build_model(ARCHS["spikformer"])
    with pytest.raises(FoldError, match="eval"):
        fuse_bn_lif(model.train())

    class M(nn.Module):  # a declared pair whose neuron is not a plain LIF is left alone
        def __init__(self):
            super().__init__()
            from spikestudio.neurons import PLIF

            self.fc = nn.Linear(4, 4)
            self.fc_bn = TokenBN(4)
            self.fc_lif = PLIF()

        def bn_lif_pairs(self):
            return [("fc_bn", "fc_lif")]

        def forward(self, x):
            return self.fc_lif(self.fc_bn(self.fc(x)))

    assert bn_lif_pairs(M().eval()) == []
    assert isinstance(fuse_bn_lif(M().eval()).fc_bn, TokenBN)


# ------------------------------------------------------------------------------------------------------ neighbours


def _bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "throughput.py"
    spec = importlib.util.spec_from_file_location("bench_throughput", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_fused_check_and_packed_training():
    """throughput.py --fuse-bn-lif / --pack-spikes helpers on a small model (CPU, interpreter)."""
    bench = _bench()
    cfg = {**ARCHS["spikingformer"], "embed_dim": 32, "num_heads": 2, "mlp_ratio": 2, "time_steps": 2}
    torch.manual_seed(0)
    model = _randomise_bn(build_model(cfg), seed=4)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 1, 28, 28)
    fused = bench.fused_copy(model, init)
    assert sum(isinstance(m, BNLIF) for m in fused.modules()) == len(bn_lif_pairs(model)) > 0
    assert bench.check_fused(model, fused, init, x, torch.device("cpu"), False)
    with torch.no_grad():  # a fused copy that computes something else must fail the check
        fused.blocks[0].attn.q_lif.bn.running_mean.add_(0.5)
    assert not bench.check_fused(model, fused, init, x, torch.device("cpu"), False)
    y = torch.randint(0, 10, (2,))
    model.load_state_dict(init)
    speed, _ = bench.measure(model, x, y, torch.device("cpu"), False, 1, 0, True, pack=True)
    assert speed > 0 and not any(m._forward_hooks for m in model.modules())  # the packer's hooks are removed


def test_pack_spikes_with_the_triton_lif():
    """train.pack_spikes with backend triton: the fused LIF's output is registered and packed, same gradients."""
    from spikestudio.train.memory import SpikePacker

    grads = {}
    for pack in (False, True):
        torch.manual_seed(0)
        lif, fc = LIF(backend="triton"), nn.Linear(6, 5)
        x = (torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(1)) * 2 + 0.5).requires_grad_()
        model = nn.ModuleDict({"lif": lif, "fc": fc})
        p = SpikePacker(model) if pack else None
        with p.step() if p is not None else torch.enable_grad():
            out = fc(lif(x))
        (out * torch.arange(5.0)).sum().backward()
        grads[pack] = (fc.weight.grad.clone(), x.grad.clone())
        if p is not None:
            assert p.stats.packed_saves == 1
    assert all(torch.equal(a, b) for a, b in zip(grads[False], grads[True]))
