"""Rough training-memory estimate, a line-for-line port of `estimateTrainingMemory` / `largestBatchThatFits` in
src/core/arch/index.ts (keep the two in step; tests/test_memory_estimate.py compares them on presets).

    total_mb = Σ|shape_out| · T · batch · bytes · ACTIVATION_FACTOR · option factors / 2^20  +  params · 16 / 2^20
               +  MEMORY_OVERHEAD_MB

The training-memory options (``options``: the train section, or any dict with its keys) change it as in the
TypeScript: pack_spikes × PACK_SPIKES_FACTOR, recompute_membranes × RECOMPUTE_MEMBRANES_FACTOR, checkpoint_blocks
keeps each block's input plus the largest block's layers, temporal_grad sltt counts T as 1. No options: the plain
path.

Σ|shape_out| is the elements every layer of a `describe_model` dict outputs per sample per time step, except
composites (kinds block, mlp, ssa, add) and layers without shapes (never called); bytes = 2 with AMP (fp16/bf16),
else 4; 16 bytes per parameter = fp32 weights + gradients + two AdamW moments. Meant for "will this batch fit",
±50 %, not for capacity planning.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from spikestudio.telemetry.estimates import ESTIMATES

ACTIVATION_FACTOR = ESTIMATES["memory"]["activation_factor"]
PACK_SPIKES_FACTOR = ESTIMATES["memory"]["pack_spikes_factor"]
RECOMPUTE_MEMBRANES_FACTOR = ESTIMATES["memory"]["recompute_membranes_factor"]
MEMORY_OVERHEAD_MB = ESTIMATES["memory"]["overhead_mb"]
BYTES_PER_PARAM = ESTIMATES["memory"]["bytes_per_param"]
_MB = 1024 * 1024
_COMPOSITE_KINDS = ("block", "mlp", "ssa", "add")


def _elements(shape) -> int:
    n = 1
    for s in shape or ():
        n *= int(s)
    return n if shape else 0


def _stored_elements(desc: dict, checkpoint_blocks: bool = False) -> int:
    layers = desc.get("layers") or []
    blocks = [l for l in layers if l.get("kind") == "block" and l.get("shape_out")] if checkpoint_blocks else []
    inner = {b["name"]: 0 for b in blocks}
    total = 0
    for layer in layers:
        shape = layer.get("shape_out")
        if not shape or layer.get("kind") in _COMPOSITE_KINDS:
            continue
        owner = next((b for b in blocks if str(layer.get("name", "")).startswith(b["name"] + ".")), None)
        if owner is not None:
            inner[owner["name"]] += _elements(shape)
        else:
            total += _elements(shape)
    for b in blocks:
        total += _elements(b.get("shape_in") or b.get("shape_out"))
    return total + max([0, *inner.values()])


def _bytes(amp: Any) -> int:
    return 2 if amp in ("fp16", "bf16") or amp is True else 4


def _parts(desc: dict, amp: Any, options: Optional[dict] = None) -> tuple[float, float]:
    """(activation MB per sample, parameter MB)."""
    o = options or {}
    steps = 1 if o.get("temporal_grad") == "sltt" else int(desc.get("time_steps") or 0)
    factor = (ACTIVATION_FACTOR * (PACK_SPIKES_FACTOR if o.get("pack_spikes") else 1)
              * (RECOMPUTE_MEMBRANES_FACTOR if o.get("recompute_membranes") else 1))
    per_sample = (_stored_elements(desc, o.get("checkpoint_blocks") is True) * steps * _bytes(amp) * factor) / _MB
    params_mb = (int(desc.get("params") or 0) * BYTES_PER_PARAM) / _MB
    return per_sample, params_mb


def estimate_training_memory_mb(desc: dict, batch_size: int, amp: Any = False, options: Optional[dict] = None) -> float:
    """Estimated peak GPU memory (MB = 2^20 bytes) of training `desc` (a describe_model dict) at `batch_size`."""
    per_sample, params_mb = _parts(desc, amp, options)
    return per_sample * batch_size + params_mb + MEMORY_OVERHEAD_MB


def largest_batch_that_fits(desc: dict, gpu_memory_mb: float, amp: Any = False, options: Optional[dict] = None) -> int:
    """The largest batch whose estimate fits in `gpu_memory_mb` (0 when not even one sample fits)."""
    per_sample, params_mb = _parts(desc, amp, options)
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


def oom_batch_hint(desc: Optional[dict], batch_size: Any, amp: Any, device: Any,
                   options: Optional[dict] = None) -> Optional[str]:
    """The sentence the OOM error carries, or None when there is no GPU or no usable estimate."""
    if not desc or not batch_size:
        return None
    gpu = gpu_total_memory(device)
    if gpu is None:
        return None
    name, total_mb = gpu
    per_sample, _ = _parts(desc, amp, options)
    if per_sample <= 0:
        return None
    n = largest_batch_that_fits(desc, total_mb, amp, options)
    est = estimate_training_memory_mb(desc, int(batch_size), amp, options)
    return (f"the largest batch that fits by the estimate is {n} "
            f"(estimated {est:,.0f} MB at batch {int(batch_size)} vs {total_mb:,.0f} MB on {name})")
