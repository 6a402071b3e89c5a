"""BatchNorm (eval) + multi-step LIF fused for inference, in Triton: one read of the pre-BN activations, one write of
the spikes, no BN output tensor in between.

The BN is the per-channel affine of its running statistics, ``y = fma(x, scale, shift)`` with (all fp32, computed
once on the host by :func:`bn_affine`)::

    scale = fl(fl(1 / fl(sqrt(fl(var + eps)))) * gamma)        shift = fma(-mean, scale, beta)

which is, operation for operation, what ATen's CPU eval BatchNorm computes (``batch_norm_cpu_collect_linear_and_
constant_terms`` then ``x * alpha + beta`` per element; the PyTorch CPU wheels compile both ``beta - mean * alpha`` and
``x * alpha + beta`` into fused multiply-adds, which is what the fma here reproduces -- checked against torch 2.13's
CPU build, where the BN outputs are bit-identical). The LIF then runs the equations, operation order and ``>=`` rule
of :class:`spikestudio.neurons.LIFMultiStep` (and of ``kernels.lif_triton``) on ``y`` with an fp32 state.

Consequences, stated exactly:

* fp32 on CPU (Triton's interpreter, the tests): spikes bit-identical to ``LIF(BN_eval(x))`` on the torch path.
  If a PyTorch build computed its CPU BN without those fused multiply-adds, the BN outputs (and so H) would differ in
  the last bit of y and a spike could differ only where |H - V_th| is within a few ulp of V_th's scale.
* CUDA: the plain path's eval BN is cuDNN's or ATen's CUDA kernel, which evaluates ``((x - mean) * invstd) * gamma +
  beta`` with its own rsqrt; y differs from this affine in the last bits, so spikes can differ where |H - V_th| is
  about 1e-6 relative (not measured on a GPU yet).
* bf16 / fp16 inputs: y is rounded to the input dtype before the LIF (as the plain BN's output is), then the LIF runs
  with an fp32 state like ``kernels.lif_triton`` (so the spikes equal the fused LIF applied to the plain BN output).

Forward only: no autograd (use it under ``torch.no_grad()`` / ``inference_mode``; :class:`BNLIF` falls back to the
plain BN + LIF whenever a gradient could be needed).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from spikestudio.kernels import lif_triton as _lt  # sets TRITON_INTERPRET from SPIKESTUDIO_TRITON_INTERPRET first
from spikestudio.kernels.lif_triton import lif_step  # noqa: E402

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

__all__ = ["bn_affine", "fma32", "bn_lif_triton", "supports"]

supports = _lt.supports


def fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32 a * b + c rounded once (an IEEE fma), with numpy: the product of two float32 is exact in float64, the
    float64 sum's own rounding error is recovered (TwoSum) and breaks the only case where rounding twice differs from
    rounding once (the float64 sum lands exactly half-way between two float32)."""
    a, b, c = (np.asarray(v, dtype=np.float32) for v in (a, b, c))
    p = a.astype(np.float64) * b.astype(np.float64)
    c64 = c.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = p + c64
        bb = s - p
        err = (p - (s - bb)) + (c64 - bb)  # exact: s + err == p + c
        r = s.astype(np.float32)
        toward = np.where(r.astype(np.float64) < s, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
        nb = np.nextafter(r, toward)
        mid = (r.astype(np.float64) + nb.astype(np.float64)) / 2.0
        tie = (s == mid) & (err != 0) & np.isfinite(s)
        if np.any(tie):
            hi, lo = np.maximum(r, nb), np.minimum(r, nb)
            r = np.where(tie, np.where(err > 0, hi, lo), r).astype(np.float32)
    return r


def bn_affine(bn: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), fp32 on the BN's device, of an eval-mode BatchNorm's running statistics (module docstring)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("bn_affine needs a BatchNorm with running statistics")
    f32 = np.float32
    var = bn.running_var.detach().float().cpu().numpy()
    mean = bn.running_mean.detach().float().cpu().numpy()
    n = var.shape[0]
    gamma = bn.weight.detach().float().cpu().numpy() if bn.weight is not None else np.ones(n, f32)
    beta = bn.bias.detach().float().cpu().numpy() if bn.bias is not None else np.zeros(n, f32)
    invstd = f32(1.0) / np.sqrt(var + f32(bn.eps))  # numpy float32 sqrt and division: IEEE, correctly rounded
    scale = (invstd * gamma).astype(f32)
    shift = fma32(-mean, scale, beta)
    dev = bn.running_var.device
    return torch.from_numpy(scale.copy()).to(dev), torch.from_numpy(shift.copy()).to(dev)


@triton.jit
def _bn_lif_fwd_kernel(
    x_ptr, scale_ptr, shift_ptr, s_ptr, N, T, C, INNER,
    tau, v_th, v_reset,
    HARD: tl.constexpr, VR_NONZERO: tl.constexpr, DECAY_INPUT: tl.constexpr, ROUND_Y: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    ch = (offs // INNER) % C  # channel of each neuron (INNER = 1: channel-last token layout)
    sc = tl.load(scale_ptr + ch, mask=mask, other=0.0)
    sh = tl.load(shift_ptr + ch, mask=mask, other=0.0)
    xp = x_ptr + offs
    sp = s_ptr + offs
    if HARD:
        v = tl.zeros([BLOCK], dtype=tl.float32) + v_reset
    else:
        v = tl.zeros([BLOCK], dtype=tl.float32)
    tau_b = tl.zeros([BLOCK], dtype=tl.float32) + tau
    for _t in range(T):
        xr = tl.load(xp, mask=mask, other=0.0).to(tl.float32)
        x = tl.fma(xr, sc, sh)  # the BN affine, rounded once (see the module docstring)
        # half inputs: the plain BN writes its output in the input dtype, rounded to nearest even
        if ROUND_Y == 1:  # bf16, by integer arithmetic on the fp32 bits (Triton's interpreter does not round bf16
            #               casts to nearest even; this is exact on both)
            b = x.to(tl.int32, bitcast=True)
            b = (b + 0x7FFF + ((b >> 16) & 1)) & -65536
            x = b.to(tl.float32, bitcast=True)
        elif ROUND_Y == 2:  # fp16
            x = x.to(tl.float16).to(tl.float32)
        _h, s_f, v = lif_step(x, v, tau_b, v_th, v_reset, HARD, VR_NONZERO, DECAY_INPUT)
        tl.store(sp, s_f.to(s_ptr.dtype.element_ty), mask=mask)
        xp += N
        sp += N


def bn_lif_triton(
    x_seq: torch.Tensor,
    scale: torch.Tensor,
    shift: torch.Tensor,
    channel_dim: int,
    tau: float = 2.0,
    v_threshold: float = 1.0,
    v_reset: Optional[float] = 0.0,
    decay_input: bool = True,
) -> torch.Tensor:
    """Spikes (input dtype, shape of x_seq) of LIF(x * scale + shift) over the leading T dimension, the affine applied
    per channel along `channel_dim` of x_seq (e.g. 2 for (T, B, C, H, W), -1 for token-major (T, B, N, D)).
    No autograd: call it without a gradient."""
    if x_seq.dtype not in _lt.SUPPORTED_DTYPES:
        raise TypeError(f"bn_lif_triton: unsupported dtype {x_seq.dtype} (supported: fp32, bf16, fp16)")
    if x_seq.dim() < 2:
        raise ValueError("bn_lif_triton: expected (T, ..., C, ...) input")
    cd = channel_dim % x_seq.dim()
    if cd == 0:
        raise ValueError("bn_lif_triton: the channel dim cannot be the time dim")
    C = x_seq.shape[cd]
    if scale.numel() != C or shift.numel() != C:
        raise ValueError(f"bn_lif_triton: {scale.numel()} scales / {shift.numel()} shifts for {C} channels")
    inner = 1
    for d in x_seq.shape[cd + 1:]:
        inner *= int(d)
    x = x_seq.contiguous()
    T = x.shape[0]
    N = x.numel() // max(T, 1)
    s = torch.empty_like(x)
    sc = scale.to(device=x.device, dtype=torch.float32).contiguous()
    sh = shift.to(device=x.device, dtype=torch.float32).contiguous()
    vr = 0.0 if v_reset is None else float(v_reset)
    if N > 0 and T > 0:
        blk = _lt._block(N)
        _bn_lif_fwd_kernel[(triton.cdiv(N, blk),)](
            x, sc, sh, s, N, T, C, max(inner, 1), float(tau), float(v_threshold), vr,
            HARD=v_reset is not None, VR_NONZERO=vr != 0.0, DECAY_INPUT=bool(decay_input),
            ROUND_Y={torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}[x.dtype], BLOCK=blk,
        )
    return s
