"""Evaluation shared by `train` (at each eval) and `python -m spikestudio eval`: metrics (top-1/top-5/loss,
all-reduced over ranks), firing rates, energy (telemetry/energy.py) and attention maps of fixed probe samples."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Optional

from spikestudio.train.distributed import DistContext, shard_bounds


def evaluate(torch, model, x_all, y_all, batch_size: int, device, autocast: Callable, recorder=None,
             energy=None, should_stop: Optional[Callable[[], bool]] = None, dist: Optional[DistContext] = None
             ) -> dict | None:
    """Top-1/top-5/mean CE over (x_all, y_all). recorder (FiringRecorder) / energy (EnergyRecorder) are reset and
    record this rank's shard. Returns None when `should_stop()` turns true (single process only)."""
    import torch.nn.functional as F

    dist = dist or DistContext()
    t0 = time.time()
    was_training = model.training
    model.eval()
    n_total = int(x_all.shape[0])
    lo, hi = shard_bounds(n_total, dist.rank, dist.world_size) if dist.enabled else (0, n_total)
    loss_sum, top1, top5, seen = 0.0, 0, 0, 0
    if recorder is not None:
        recorder.reset()
    if energy is not None:
        energy.reset()
    stack = contextlib.ExitStack()
    with torch.no_grad(), stack:
        if recorder is not None:
            stack.enter_context(recorder.recording())
        if energy is not None:
            stack.enter_context(energy.recording())
        for start in range(lo, hi, batch_size):
            if should_stop is not None and not dist.enabled and should_stop():
                model.train(was_training)
                return None
            x = x_all[start:min(start + batch_size, hi)].to(device, non_blocking=True)
            y = y_all[start:min(start + batch_size, hi)].to(device, non_blocking=True)
            if energy is not None:
                energy.count_images(x.shape[0])
            with autocast():
                logits = model(x)
            logits = logits.float()
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            pred = logits.topk(min(5, logits.shape[1]), dim=1).indices
            top1 += int((pred[:, 0] == y).sum())
            top5 += int((pred == y[:, None]).any(dim=1).sum())
            seen += int(y.shape[0])
    model.train(was_training)
    if dist.enabled:
        loss_sum, top1, top5, seen = dist.all_reduce_sum([loss_sum, top1, top5, seen], device)
        top1, top5, seen = int(round(top1)), int(round(top5)), int(round(seen))
    n = max(1, seen)
    return {
        "loss": loss_sum / n,
        "top1": top1 / n,
        "top5": top5 / n,
        "samples": seen,
        "seconds": round(time.time() - t0, 3),
    }


def attention_events(torch, model, x_all, samples: int, device, autocast: Callable, max_maps: int) -> list[dict]:
    """`attention` event payloads (without epoch/step) for the first `samples` evaluation samples."""
    if samples <= 0 or max_maps <= 0:
        return []
    try:
        from spikestudio.telemetry.probes import AttentionRecorder, attention_payload
    except ImportError:
        return []
    k = min(int(samples), int(x_all.shape[0]))
    rec = AttentionRecorder(model, samples=range(k))
    if k == 0:  # modules report maps through spikestudio.probe.attention (found while recording)
        return []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), rec.recording(), autocast():
            model(x_all[:k].to(device))
    finally:
        model.train(was_training)
    maps = rec.maps()
    maps.sort(key=lambda m: (m["sample"], m["block"], m["head"], m["time_step"]))
    return [attention_payload(m) for m in maps[:max_maps]]


def energy_fields(energy, tel: dict) -> dict | None:
    if energy is None:
        return None
    rep = energy.report(tel.get("energy_convention", "binary-only"), bool(tel.get("energy_first_layer_times_t", True)))
    if rep is None:
        return None
    rep["samples"] = int(energy.images)
    return rep


def make_energy_recorder(model: Any, tel: dict):
    if not tel.get("energy", True):
        return None
    try:
        from spikestudio.telemetry.energy import EnergyRecorder
    except ImportError:
        return None
    rec = EnergyRecorder(model)
    return rec if rec.weights else None
