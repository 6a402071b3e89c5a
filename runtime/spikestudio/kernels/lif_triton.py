"""Fused multi-step LIF in Triton (reference spec §1.1): one program per block of neurons, the loop over T inside.

Same equations, operation order and ``>=`` firing rule as :class:`spikestudio.neurons.LIFMultiStep`, so for fp32
inputs the spikes are bit-identical to the torch path (divisions use ``tl.math.div_rn``, IEEE round-to-nearest,
like ``torch.div``; a plain ``/`` would lower to an approximate division on NVIDIA GPUs).

* Inputs fp32 / bf16 / fp16; the membrane state and all arithmetic are fp32 (a bf16/fp16 input is upcast exactly,
  so the spikes equal the torch path run on ``x.float()``; the torch path run on a bf16 tensor keeps a bf16 state
  and can differ near the threshold). Spikes are written in the input dtype.
* Saved for backward: one tensor ``Z = H - V_th`` in the input dtype (nothing when no gradient is needed). The
  backward recomputes S from the sign of Z (sign bit included, so a tiny negative that rounds to -0.0 in fp16
  stays "no spike") and the surrogate from Z. For fp32 that is 4 bytes per neuron-step, vs 8 (H and S) in the
  torch path; 2 bytes for bf16/fp16.
* Backward: the reverse recursion of spec §1.1 (sigmoid / atan surrogate, hard / soft reset, detach_reset,
  decay_input), fp32 accumulation, dL/dX written in the input dtype.

Import side effect: when ``SPIKESTUDIO_TRITON_INTERPRET=1`` is set, ``TRITON_INTERPRET=1`` is set before triton is
imported, so the kernels run in Triton's CPU interpreter on CPU tensors (tests; slow).
"""

from __future__ import annotations

import math
import os
from typing import Optional

import torch

if os.environ.get("SPIKESTUDIO_TRITON_INTERPRET") == "1":
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

__all__ = ["SUPPORTED_DTYPES", "interpreting", "supports", "lif_step", "triton_forward", "triton_backward",
           "LIFMultiStepTriton", "lif_multistep_triton"]

SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_SURR = {"sigmoid": 0, "atan": 1}


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def supports(x: torch.Tensor) -> bool:
    """Whether the fused kernel can run on this tensor: CUDA (or the CPU interpreter), a supported dtype, T >= 1."""
    if x.dtype not in SUPPORTED_DTYPES or x.dim() < 1 or x.shape[0] == 0:
        return False
    return x.is_cuda or (interpreting() and x.device.type == "cpu")


@triton.jit
def lif_step(x, v, tau_b, v_th, v_reset, HARD: tl.constexpr, VR_NONZERO: tl.constexpr, DECAY_INPUT: tl.constexpr):
    """One time step of LIFMultiStep.forward in its operation order (bit-identical fp32 results): charge H, fire
    S = H >= V_th, reset. Returns (H, S as 0.0/1.0 fp32, the next V). Shared by every fused forward kernel."""
    if DECAY_INPUT:  # H = ((X - V) + vr) / tau + V
        a = x - v
        if VR_NONZERO:
            a = a + v_reset
        h = tl.math.div_rn(a, tau_b) + v
    else:  # H = (-((V - vr) / tau) + V) + X
        if VR_NONZERO:
            a = v - v_reset
        else:
            a = v
        h = (v - tl.math.div_rn(a, tau_b)) + x
    spike = h >= v_th
    s_f = tl.where(spike, 1.0, 0.0)  # via fp32: bool -> bf16 directly breaks Triton's CPU interpreter
    if HARD:
        v_next = tl.where(spike, v_reset, h)
    else:
        v_next = h - v_th * s_f
    return h, s_f, v_next


@triton.jit
def _lif_fwd_kernel(
    x_ptr, s_ptr, z_ptr, N, T,
    tau, v_th, v_reset,
    HARD: tl.constexpr, VR_NONZERO: tl.constexpr, DECAY_INPUT: tl.constexpr, STORE_Z: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    xp = x_ptr + offs
    sp = s_ptr + offs
    zp = z_ptr + offs
    if HARD:
        v = tl.zeros([BLOCK], dtype=tl.float32) + v_reset
    else:
        v = tl.zeros([BLOCK], dtype=tl.float32)
    tau_b = tl.zeros([BLOCK], dtype=tl.float32) + tau
    for _t in range(T):
        x = tl.load(xp, mask=mask, other=0.0).to(tl.float32)
        h, s_f, v = lif_step(x, v, tau_b, v_th, v_reset, HARD, VR_NONZERO, DECAY_INPUT)
        tl.store(sp, s_f.to(s_ptr.dtype.element_ty), mask=mask)
        if STORE_Z:
            tl.store(zp, (h - v_th).to(z_ptr.dtype.element_ty), mask=mask)
        xp += N
        sp += N
        zp += N


@triton.jit
def _lif_bwd_kernel(
    gs_ptr, z_ptr, gx_ptr, N, T, last,
    tau, v_th, v_reset, alpha, atan_c, half_alpha, k,
    HARD: tl.constexpr, DETACH: tl.constexpr, DECAY_INPUT: tl.constexpr, SURROGATE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    gsp = gs_ptr + last + offs
    zp = z_ptr + last + offs
    gxp = gx_ptr + last + offs
    grad_h_next = tl.zeros([BLOCK], dtype=tl.float32)
    tau_b = tl.zeros([BLOCK], dtype=tl.float32) + tau
    for _t in range(T):
        z = tl.load(zp, mask=mask, other=0.0).to(tl.float32)
        gs = tl.load(gsp, mask=mask, other=0.0).to(tl.float32)
        if SURROGATE == 0:  # sigmoid: alpha * sig(alpha z) * (1 - sig(alpha z))
            sig = tl.sigmoid(alpha * z)
            sg = alpha * sig * (1.0 - sig)
        else:  # atan: (alpha / 2) / (1 + (pi/2 * alpha * z)^2)
            u = atan_c * z  # atan_c = pi/2 * alpha, half_alpha = alpha/2, both from the host like the torch path
            sg = half_alpha / (1.0 + u * u)
        grad_h = gs * sg
        grad_v = grad_h_next * k
        if HARD:
            # S = (Z >= 0) with -0.0 (a negative that underflowed in fp16) counted as no spike
            neg = z.to(tl.int32, bitcast=True) < 0  # sign bit (the fp32 upcast keeps the sign of zero)
            spike = (z > 0.0) | ((z == 0.0) & (~neg))
            dv_dh = 1.0 - tl.where(spike, 1.0, 0.0)
            if not DETACH:
                dv_dh = dv_dh + (v_reset - (z + v_th)) * sg
            grad_h = grad_h + grad_v * dv_dh
        else:
            if DETACH:
                grad_h = grad_h + grad_v
            else:
                grad_h = grad_h + grad_v * (1.0 - v_th * sg)
        if DECAY_INPUT:
            gx = tl.math.div_rn(grad_h, tau_b)
        else:
            gx = grad_h
        tl.store(gxp, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        grad_h_next = grad_h
        gsp -= N
        zp -= N
        gxp -= N


def _block(n: int) -> int:
    if interpreting():
        return max(16, min(1024, triton.next_power_of_2(max(n, 1))))
    return 1024


def triton_forward(x_seq, tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input, store_z=True):
    """The fused forward without autograd: (spikes, Z = H - V_th or None). ``store_z=False`` writes no Z (what
    train.recompute_membranes' forward does; its backward calls this again with ``store_z=True``)."""
    if x_seq.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"lif_triton: unsupported dtype {x_seq.dtype} (supported: fp32, bf16, fp16)")
    x = x_seq.contiguous()
    T = x.shape[0]
    N = x.numel() // max(T, 1)
    s = torch.empty_like(x)
    z = torch.empty_like(x) if store_z else s  # dummy pointer when not stored
    vr = 0.0 if v_reset is None else float(v_reset)
    if N > 0 and T > 0:
        blk = _block(N)
        _lif_fwd_kernel[(triton.cdiv(N, blk),)](
            x, s, z, N, T, float(tau), float(v_threshold), vr,
            HARD=v_reset is not None, VR_NONZERO=vr != 0.0, DECAY_INPUT=bool(decay_input), STORE_Z=store_z,
            BLOCK=blk,
        )
    return s, (z if store_z else None)


def triton_backward(grad_s, z, tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input):
    """dL/dX from dL/dS and the Z sequence written by :func:`triton_forward`."""
    T = z.shape[0]
    N = z.numel() // max(T, 1)
    gs = grad_s.contiguous()
    gx = torch.empty_like(z)
    if N > 0 and T > 0:
        blk = _block(N)
        vr = 0.0 if v_reset is None else float(v_reset)
        _lif_bwd_kernel[(triton.cdiv(N, blk),)](
            gs, z, gx, N, T, (T - 1) * N,
            float(tau), float(v_threshold), vr, float(alpha),
            math.pi / 2.0 * float(alpha), float(alpha) / 2.0, 1.0 - 1.0 / float(tau),
            HARD=v_reset is not None, DETACH=bool(detach_reset), DECAY_INPUT=bool(decay_input),
            SURROGATE=_SURR[surrogate], BLOCK=blk,
        )
    return gx


class LIFMultiStepTriton(torch.autograd.Function):
    """Same signature and semantics as :class:`spikestudio.neurons.LIFMultiStep`, fused in Triton."""

    @staticmethod
    def forward(ctx, x_seq, tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input):  # type: ignore[override]
        cfg = (tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input)
        need_grad = bool(ctx.needs_input_grad[0])
        s, z = triton_forward(x_seq, *cfg, store_z=need_grad)
        if need_grad:
            ctx.save_for_backward(z)
        ctx.cfg = cfg
        return s

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        (z,) = ctx.saved_tensors
        return (triton_backward(grad_s, z, *ctx.cfg),) + (None,) * 7


def lif_multistep_triton(
    x_seq: torch.Tensor,
    tau: float = 2.0,
    v_threshold: float = 1.0,
    v_reset: Optional[float] = 0.0,
    detach_reset: bool = True,
    surrogate: str = "sigmoid",
    alpha: float = 4.0,
    decay_input: bool = True,
) -> torch.Tensor:
    """Fused LIF over the leading T dimension; spikes in the input dtype."""
    if surrogate not in _SURR:
        raise ValueError(f"unknown surrogate {surrogate!r}")
    return LIFMultiStepTriton.apply(x_seq, tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input)

