"""Tolerances for comparing accumulated float outputs (PyTorch vs ONNX Runtime, a folded or fused path vs the
plain one): the one rule the tests use, so that a fixed 1e-5 never decides by luck.

    tol = K · eps(dtype) · sqrt(depth) · max|ref|

- eps(dtype): the dtype's machine epsilon (float32: 1.19e-7).
- depth: how many terms were summed on the way to the output (`accumulation_depth`: the fan-in of every Conv and
  Linear layer plus the time steps a membrane integrates). Rounding errors of n summed terms grow like sqrt(n)·eps
  when the summation order differs (another GEMM blocking, FMA or not, another thread split).
- max|ref|: the scale of the output; errors are relative to the magnitudes summed, so every element of a map gets
  the same absolute tolerance as its largest.
- K = 32: headroom for the amplification through BatchNorm gains and weights. Measured: the worst ratio
  |Δ| / (eps·sqrt(depth)·max|ref|) is ≤ 0.7 on the test machine (ONNX Runtime, 1 and 2 threads) and ≈ 8 where
  spikeformer-spiking-liaf failed against atol = rtol = 1e-5 (|Δ| 2.26e-5 on 0.93).

Spike counts stay exact: the tests draw inputs whose membranes keep a margin from threshold (`min_margin`)."""

from __future__ import annotations

import math

K = 32.0
EPS = {"float16": 9.765625e-04, "bfloat16": 7.8125e-03, "float32": 1.1920928955078125e-07,
       "float64": 2.220446049250313e-16}


def accumulation_depth(model) -> int:
    """Terms summed along a path through `model`: every Conv/Linear's fan-in plus the model's time steps."""
    import torch

    depth = 0
    for m in model.modules():
        if isinstance(m, torch.nn.modules.conv._ConvNd):
            depth += m.in_channels // m.groups * math.prod(m.kernel_size)
        elif isinstance(m, torch.nn.Linear):
            depth += m.in_features
    return depth + int(getattr(model, "time_steps", 1) or 1)


def float_tol(ref, depth: int, dtype: str = "float32", k: float = K) -> float:
    """The absolute tolerance for an output `ref` (tensor, array or number) accumulated over `depth` terms."""
    try:
        scale = float(abs(ref).max())
    except (AttributeError, TypeError):
        scale = max((abs(float(v)) for v in ref), default=0.0) if hasattr(ref, "__iter__") else abs(float(ref))
    return k * EPS[dtype] * math.sqrt(max(int(depth), 1)) * scale


def assert_float_close(got, ref, depth: int, what: str = "", dtype: str = "float32", k: float = K) -> None:
    """|got - ref| ≤ float_tol(ref, depth) everywhere (numpy or torch; shapes must agree)."""
    import numpy as np

    g = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=np.float64)
    r = np.asarray(ref.detach().cpu() if hasattr(ref, "detach") else ref, dtype=np.float64)
    assert g.shape == r.shape, f"{what}: shape {g.shape} vs {r.shape}"
    tol = float_tol(r, depth, dtype, k)
    err = float(np.abs(g - r).max()) if r.size else 0.0
    assert err <= tol, (f"{what}: max |Δ| {err:.3g} > tol {tol:.3g} = {k:g}·eps({dtype})·sqrt({depth})·max|ref| "
                        f"({float(np.abs(r).max()):.3g})")
