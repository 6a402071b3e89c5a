"""BatchNorm folding (spikestudio.kernels.fold): the folded model reproduces the unfolded one.

Spikes are a Heaviside of the membrane, so inputs are drawn until no fused LIF membrane lies within 1e-4 of its
threshold (`min_margin`, on the unfolded model); on those, spikes must be identical per LIF layer and logits equal
within spikestudio.tolerance's float_tol. BN running stats / affine params are randomised so that folding is not a no-op. Spikingformer
uses attention scale 0.13 (with 0.125 binary Q K^T V * s sits exactly on attn_lif's 0.5 threshold; see
test_export_onnx)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from spikestudio.export.onnx import min_margin
from spikestudio.kernels.fold import FoldError, fold_batchnorm, foldable_pairs
from spikestudio.models import build_model
from spikestudio.neurons import LIF
from spikestudio.tolerance import accumulation_depth, assert_float_close

TINY = {"embed_dim": 32, "num_heads": 2, "depth": 1, "mlp_ratio": 2, "time_steps": 2, "in_channels": 1,
        "num_classes": 10, "img_size": 28}
ARCHS = {
    "spikformer": {"arch": "spikformer", "variant": "cifar", "attn_scale": 0.13, **TINY},
    "spikingformer": {"arch": "spikingformer", "variant": "cifar", "attn_scale": 0.13, **TINY},
}


def _randomise_bn(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.02 + 0.01)
                m.weight.copy_(torch.rand(n, generator=g) * 24 + 8)  # wide spread: few membranes near threshold
                m.bias.copy_(torch.rand(n, generator=g) + 0.2)
    return model.eval()


def _inputs(model, count=2, margin=1e-4):
    g = torch.Generator().manual_seed(3)
    out = []
    for _ in range(200):
        x = torch.randn(1, 1, 28, 28, generator=g)
        if min_margin(model, x) >= margin:
            out.append(x)
            if len(out) == count:
                return out
    pytest.fail(f"only {len(out)} of 200 inputs kept every membrane {margin} away from threshold")


def _run_with_spikes(model, x):
    spikes = {}
    lifs = [(n, m) for n, m in model.named_modules() if isinstance(m, LIF)]
    for name, m in lifs:
        m._probe = lambda mod, out, name=name: spikes.__setitem__(name, out.detach().clone())
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for _, m in lifs:
            m.__dict__.pop("_probe", None)
    return logits, spikes


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_fold_matches_unfolded(arch):
    torch.manual_seed(0)
    model = _randomise_bn(build_model(ARCHS[arch]), seed=1)
    before = _state(model)
    n_bn = sum(isinstance(m, _BatchNorm) for m in model.modules())
    pairs = foldable_pairs(model)
    assert n_bn > 0 and len(pairs) == n_bn  # every BN in these models follows a conv/linear

    folded = fold_batchnorm(model)

    assert folded is not model and not folded.training
    assert sum(isinstance(m, _BatchNorm) for m in folded.modules()) == 0
    for layer_name, bn_name in pairs:
        assert isinstance(folded.get_submodule(bn_name), nn.Identity)
        assert folded.get_submodule(layer_name).bias is not None
    # original untouched: same params/buffers, BNs still in place
    after = _state(model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert sum(isinstance(m, _BatchNorm) for m in model.modules()) == n_bn

    for x in _inputs(model):
        ref_logits, ref_spikes = _run_with_spikes(model, x)
        got_logits, got_spikes = _run_with_spikes(folded, x)
        assert ref_spikes.keys() == got_spikes.keys() and ref_spikes
        for name in ref_spikes:
            assert torch.equal(ref_spikes[name], got_spikes[name]), name
        assert any(s.any() for s in ref_spikes.values())
        assert_float_close(got_logits, ref_logits, accumulation_depth(model), "logits")


def test_fold_refuses_training_mode():
    model = build_model(ARCHS["spikformer"])
    model.train()
    with pytest.raises(FoldError, match="eval"):
        fold_batchnorm(model)
    assert model.training and any(isinstance(m, _BatchNorm) for m in model.modules())
    model.eval()
    model.blocks[0].mlp.fc1_bn.train()  # one stray module in training mode is refused too
    with pytest.raises(FoldError):
        fold_batchnorm(model)


def test_fold_conv1d_and_plain_bn1d():
    torch.manual_seed(0)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv_conv = nn.Conv1d(4, 6, 1, bias=False)
            self.qkv_bn = nn.BatchNorm1d(6)
            self.fc = nn.Linear(6, 3)
            self.fc_bn = nn.BatchNorm1d(3)

        def forward(self, x):  # (B, 4, L)
            y = self.qkv_bn(self.qkv_conv(x)).mean(-1)
            return self.fc_bn(self.fc(y))

    m = _randomise_bn(M(), seed=2)
    f = fold_batchnorm(m)
    assert sum(isinstance(k, _BatchNorm) for k in f.modules()) == 0
    x = torch.randn(5, 4, 7)
    with torch.no_grad():
        ref = m(x)  # two chained BNs with large gains: float32 rounding, not folding, sets the tolerance
        assert_float_close(f(x), ref, 4 * 7 + 6, "folded output")  # conv fan-in 4, mean over 7, fc fan-in 6
