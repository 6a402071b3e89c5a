"""Rough training-memory estimate, a line-for-line port of `estimateTrainingMemory` / `largestBatchThatFits` in
src/core/arch/index.ts (keep the two in step; tests/test_memory_estimate.py compares them on presets).

    total_mb = Σ|shape_out| · T · batch · bytes · ACTIVATION_FACTOR / 2^20  +  params · 16 / 2^20  +  MEMORY_OVERHEAD_MB

Σ|shape_out| is the elements every layer of a `describe_model` dict outputs per sample per time step, except
composites (kinds block, mlp, ssa, add) and layers without shapes (never called); bytes = 2 with AMP (fp16/bf16),
else 4; 16 bytes per parameter = fp32 weights + gradients + two AdamW moments. Meant for "will this batch fit",
±50 %, not for capacity planning.
"""

from __future__ import annotations

import math
from typing import Any, Optional

ACTIVATION_FACTOR = 1.5
MEMORY_OVERHEAD_MB = 500
BYTES_PER_PARAM = 16
_MB = 1024 * 1024
_COMPOSITE_KINDS = ("block", "mlp", "ssa", "add")


def _stored_elements(desc: dict) -> int:
    total = 0
    for layer in desc.get("layers") or []:
        shape = layer.get("shape_out")
        if not shape or layer.get("kind") in _COMPOSITE_KINDS:
            continue
        n = 1
        for s in shape:
            n *= int(s)
        total += n
    return total


def _bytes(amp: Any) -> int:
    return 2 if amp in ("fp16", "bf16") or amp is True else 4


def _parts(desc: dict, amp: Any) -> tuple[float, float]:
    """(activation MB per sample, parameter MB)."""
    per_sample = (_stored_elements(desc) * int(desc.get("time_steps") or 0) * _bytes(amp) * ACTIVATION_FACTOR) / _MB
    params_mb = (int(desc.get("params") or 0) * BYTES_PER_PARAM) / _MB
    return per_sample, params_mb


def estimate_training_memory_mb(desc: dict, batch_size: int, amp: Any = False) -> float:
    """Estimated peak GPU memory (MB = 2^20 bytes) of training `desc` (a describe_model dict) at `batch_size`."""
    per_sample, params_mb = _parts(desc, amp)
    return per_sample * batch_size + params_mb + MEMORY_OVERHEAD_MB


def largest_batch_that_fits(desc: dict, gpu_memory_mb: float, amp: Any = False) -> int:
    """The largest batch whose estimate fits in `gpu_memory_mb` (0 when not even one sample fits)."""
    per_sample, params_mb = _parts(desc, amp)
    free = gpu_memory_mb - params_mb - MEMORY_OVERHEAD_MB
    if free <= 0 or per_sample <= 0:
        return 0
    return math.floor(free / per_sample)  # as Math.floor(free / perSample)


def gpu_total_memory(device: Any) -> Optional[tuple[str, float]]:
    """(name, total MB) of a CUDA device, else None. Tests replace this to fake a GPU on CPU."""
    import torch

    if getattr(device, "type", None) != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    return props.name, props.total_memory / _MB


def oom_batch_hint(desc: Optional[dict], batch_size: Any, amp: Any, device: Any) -> Optional[str]:
    """The sentence the OOM error carries, or None when there is no GPU or no usable estimate."""
    if not desc or not batch_size:
        return None
    gpu = gpu_total_memory(device)
    if gpu is None:
        return None
    name, total_mb = gpu
    per_sample, _ = _parts(desc, amp)
    if per_sample <= 0:
        return None
    n = largest_batch_that_fits(desc, total_mb, amp)
    est = estimate_training_memory_mb(desc, int(batch_size), amp)
    return (f"the largest batch that fits by the estimate is {n} "
            f"(estimated {est:,.0f} MB at batch {int(batch_size)} vs {total_mb:,.0f} MB on {name})")
