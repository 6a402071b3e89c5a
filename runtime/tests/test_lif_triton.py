"""Fused Triton LIF (spikestudio.kernels.lif_triton) against the plain paths, run in Triton's CPU interpreter.

TRITON_INTERPRET=1 is set before triton is imported (triton.jit decides at decoration time), so the kernels run on
CPU tensors here; on a GPU box the same kernels compile for CUDA. Skipped, with the reason, when triton is missing.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip(
    "triton",
    reason="triton is not installed (bash scripts/setup.sh pytest installs it); the fused LIF kernel tests need it",
)

from spikestudio.errors import ConfigError  # noqa: E402
from spikestudio.kernels.lif_triton import LIFMultiStepTriton, lif_multistep_triton  # noqa: E402
from spikestudio.neurons import LIF, LIFMultiStep, lif_multistep_reference  # noqa: E402

if os.environ.get("TRITON_INTERPRET") != "1":  # pragma: no cover - someone imported triton un-interpreted first
    pytest.skip("TRITON_INTERPRET=1 must be set before triton is imported", allow_module_level=True)

ALPHA = {"sigmoid": 4.0, "atan": 2.0}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30)).item()


def _run(fn, x, w, *args):
    x = x.detach().clone().requires_grad_()
    out = fn(x, *args)
    (out.float() * w).sum().backward()
    return out.detach(), x.grad


CASES = [
    # T, shape, tau, v_threshold
    (1, (7,), 2.0, 1.0),
    (4, (3, 17), 2.0, 1.0),
    (7, (2, 5, 9), 1.7, 0.8),
    (16, (33,), 3.0, 0.5),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"T{c[0]}")
@pytest.mark.parametrize("v_reset", [0.0, None])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("surrogate", ["sigmoid", "atan"])
@pytest.mark.parametrize("decay_input", [True, False])
def test_fp32_matches_plain_paths(case, v_reset, detach_reset, surrogate, decay_input):
    T, shape, tau, vth = case
    g = torch.Generator().manual_seed(hash((T, v_reset, detach_reset, surrogate, decay_input)) % 2**31)
    x = torch.randn(T, *shape, generator=g) * 1.5 + 0.6
    w = torch.randn(T, *shape, generator=g)
    args = (tau, vth, v_reset, detach_reset, surrogate, ALPHA[surrogate], decay_input)
    s_tr, g_tr = _run(LIFMultiStepTriton.apply, x, w, *args)
    s_ref, g_ref = _run(lambda x_, *a: lif_multistep_reference(x_, *a), x, w, *args)
    s_fast, g_fast = _run(LIFMultiStep.apply, x, w, *args)
    assert s_tr.dtype == torch.float32
    assert torch.equal(s_tr, s_ref)
    assert torch.equal(s_tr, s_fast)
    assert _rel(g_tr, g_ref) <= 1e-5
    assert _rel(g_tr, g_fast) <= 1e-5
    if T > 1:
        assert 0 < s_ref.sum() < s_ref.numel()  # the case exercises spikes, resets and silence


@pytest.mark.parametrize("v_reset", [-0.25, 0.3])
@pytest.mark.parametrize("detach_reset", [True, False])
def test_nonzero_v_reset_matches_fused_torch_path(v_reset, detach_reset):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 4, 19, generator=g) * 1.5 + 0.6
    w = torch.randn(6, 4, 19, generator=g)
    args = (2.0, 1.0, v_reset, detach_reset, "sigmoid", 4.0, True)
    s_tr, g_tr = _run(LIFMultiStepTriton.apply, x, w, *args)
    s_fast, g_fast = _run(LIFMultiStep.apply, x, w, *args)
    assert torch.equal(s_tr, s_fast)
    assert _rel(g_tr, g_fast) <= 1e-5


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("v_reset", [0.0, None])
@pytest.mark.parametrize("surrogate", ["sigmoid", "atan"])
def test_half_inputs_fp32_state(dtype, v_reset, surrogate):
    """bf16/fp16 in and out, fp32 state: spikes equal the plain path on x.float(); gradients close to fp32 ones
    (Z = H - V_th is saved in the input dtype, so the surrogate sees a rounded Z)."""
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(5, 3, 21, generator=g) * 1.5 + 0.6).to(dtype)
    w = torch.randn(5, 3, 21, generator=g)
    args = (2.0, 1.0, v_reset, False, surrogate, ALPHA[surrogate], True)
    s_tr, g_tr = _run(LIFMultiStepTriton.apply, x, w, *args)
    s_32, g_32 = _run(LIFMultiStep.apply, x.float(), w, *args)
    assert s_tr.dtype == dtype and g_tr.dtype == dtype
    assert torch.equal(s_tr.float(), s_32)
    assert _rel(g_tr, g_32) <= 2e-2


def test_fp16_negative_zero_is_no_spike():
    """H - V_th = -2^-33 rounds to -0.0 in fp16: the backward must still treat it as 'no spike' (dV/dH = 1)."""
    vth = 2.0**-10 + 2.0**-33
    x = torch.tensor([[2.0**-9], [0.0]], dtype=torch.float16)
    w = torch.tensor([[0.0], [1.0]])
    args = (2.0, vth, 0.0, True, "sigmoid", 4.0, True)
    s_tr, g_tr = _run(LIFMultiStepTriton.apply, x, w, *args)
    s_32, g_32 = _run(LIFMultiStep.apply, x.float(), w, *args)
    assert s_tr.sum() == 0 and s_32.sum() == 0
    assert g_32[0, 0] != 0
    assert _rel(g_tr, g_32) <= 1e-2


def test_no_grad_and_noncontiguous_input():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(8, 6, 4, generator=g).transpose(1, 2) * 2  # non-contiguous
    with torch.no_grad():
        s = lif_multistep_triton(x)
    assert torch.equal(s, LIFMultiStep.apply(x, 2.0, 1.0, 0.0, True, "sigmoid", 4.0, True))
    assert s.shape == x.shape


def test_lif_backend_option_selects_kernel(monkeypatch):
    calls = []
    orig = LIFMultiStepTriton.apply
    monkeypatch.setattr(LIFMultiStepTriton, "apply", lambda *a: calls.append(1) or orig(*a))
    x = torch.randn(4, 2, 10) + 0.8
    torch_out = LIF()(x)
    assert calls == []  # default backend: torch path
    assert LIF().backend == "torch"
    tri = LIF(backend="triton")
    assert torch.equal(tri(x), torch_out) and calls == [1]
    tri(x.double())  # unsupported dtype: falls back to the torch path
    assert calls == [1]


def test_backend_config_errors(monkeypatch):
    with pytest.raises(ConfigError, match="backend"):
        LIF(backend="cuda")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "triton" else real(n, *a))
    with pytest.raises(ConfigError, match="triton is requested but not importable") as e:
        LIF(backend="triton")
    assert e.value.key == "model.neuron.backend"
    LIF(backend="torch")  # unaffected
