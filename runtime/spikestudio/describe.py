"""The layer graph of a model as built: the payload of the protocol's `model` event (schemas/describe.schema.json).

    describe_model(model_cfg) -> {"arch", "params", "time_steps", "num_classes", "token_grid", "layers": [...]}

Each layer: {name, kind, shape_in, shape_out, params, flops, spiking}.

* shapes are per time step without the batch dimension, observed in one forward with batch 1 (eval mode);
  layers the forward never calls (the reference's dead LayerNorms / pos_embed) have no shapes;
* params counts the layer's *own* parameters (not its children's), so the sum over layers equals `params`;
* flops are dense multiply-accumulates per time step performed by the layer itself: conv k*k*Cin*Cout*Ho*Wo
  (+ Cout*Ho*Wo with bias), linear in*out per token (+ out), ssa the two attention products
  (2*h*N*d*min(N, d)... see `_attention_flops`); composite entries (block, mlp) have 0;
* spiking: the layer's input is binary spikes, so its synaptic operations are accumulates (spec §6 strict
  counting: the integer-valued Spikformer residual stream is not spiking); lif layers: true (they emit spikes).
  From the model's `spiking_inputs()`, else from the values seen in the forward.

Entries are in execution order (a composite appears before its children).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from spikestudio.models.layers import AttentionProbeMixin, SpikeAdd, TokenBN, TokenTimeMean
from spikestudio.neurons import LIF


def _kind(m: nn.Module) -> str:
    k = getattr(type(m), "describe_kind", None)
    if k:
        return k
    if isinstance(m, LIF):
        return "lif"
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return "conv"
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        return "bn"
    if isinstance(m, nn.Linear):
        return "linear"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        return "pool"
    return "other"


_LISTED = (LIF, nn.Conv2d, nn.Conv1d, nn.Conv3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.Linear,
           nn.MaxPool2d, nn.AvgPool2d, nn.LayerNorm,
           SpikeAdd, TokenTimeMean, TokenBN)


def _listed(m: nn.Module) -> bool:
    return isinstance(m, _LISTED) or getattr(type(m), "describe_kind", None) is not None


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def _attention_flops(m, N: int) -> int:
    h = m.num_heads
    D = getattr(m, "dim", None) or m.q_proj.out_features  # `dim`: attention modules with conv projections
    d = D // h
    # the cheaper association (what attention_product runs): Q K^T then .V (2 N^2 d) or K^T V then Q. (2 N d^2)
    return int(h * 2 * N * d * min(N, d))


def _flops(m: nn.Module, shape_in, shape_out, kind: str) -> int:
    if isinstance(m, nn.Conv2d) and shape_out:
        cout, ho, wo = shape_out[-3], shape_out[-2], shape_out[-1]
        k = m.kernel_size[0] * m.kernel_size[1]
        f = k * (m.in_channels // m.groups) * cout * ho * wo
        return int(f + (cout * ho * wo if m.bias is not None else 0))
    if isinstance(m, nn.Linear) and shape_in:
        tokens = 1
        for v in shape_in[:-1]:
            tokens *= v
        return int(tokens * (m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)))
    if isinstance(m, AttentionProbeMixin) and shape_in:
        # token layout [N, D]; conv layout [C, H, W] (QKFormer / Meta-SpikeFormer SSA): N = H * W
        return _attention_flops(m, int(shape_in[0]) if len(shape_in) == 2 else int(shape_in[1]) * int(shape_in[2]))
    return 0


def sample_input(cfg: dict, batch: int = 1) -> torch.Tensor:
    """A deterministic input for shape tracing: images for static variants, event-count frames for dvs."""
    g = torch.Generator().manual_seed(0)
    img = cfg["img_size"]
    h, w = (img, img) if isinstance(img, int) else (img[0], img[1])
    if cfg["variant"] == "dvs":
        counts = torch.poisson(torch.full((batch, cfg["time_steps"], cfg["in_channels"], h, w), 0.3), generator=g)
        return counts
    return torch.randn(batch, cfg["in_channels"], h, w, generator=g)


def describe_module(model: nn.Module, x: Optional[torch.Tensor] = None) -> dict:
    """Describe an already built model (one forward with `x`, default: a batch-1 sample input)."""
    cfg = model.cfg
    if x is None:
        x = sample_input(cfg)
    records: dict[str, dict] = {}
    order: list[str] = []
    handles = []
    names = {m: n for n, m in model.named_modules()}

    def pre_hook(m, inputs):
        name = names[m]
        if name not in records:
            order.append(name)
            records[name] = {}
        r = records[name]
        if inputs and isinstance(inputs[0], torch.Tensor) and "shape_in" not in r:
            xi = inputs[0]
            r["raw_in"] = tuple(xi.shape)
            r["binary_in"] = _is_binary(xi)

    def post_hook(m, inputs, output):
        r = records[names[m]]
        if isinstance(output, torch.Tensor) and "raw_out" not in r:
            r["raw_out"] = tuple(output.shape)

    for name, m in model.named_modules():
        if name and _listed(m):
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(post_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    spiking_names = model.spiking_inputs() if hasattr(model, "spiking_inputs") else None
    layers = []
    listed = [(n, m) for n, m in model.named_modules() if n and _listed(m)]
    seen = set()
    for name in order + [n for n, _ in listed if n not in records]:
        if name in seen:
            continue
        seen.add(name)
        m = model.get_submodule(name)
        kind = _kind(m)
        r = records.get(name, {})
        time_layout = isinstance(m, (LIF, TokenTimeMean)) or getattr(m, "time_layout", False)
        si = _shape(r.get("raw_in"), time_layout)
        so = _shape(r.get("raw_out"), time_layout and not isinstance(m, TokenTimeMean))
        if isinstance(m, TokenTimeMean) and so is not None and len(r["raw_out"]) == 3:  # per_step (T, B, D)
            so = [int(v) for v in r["raw_out"][2:]]
        own = sum(p.numel() for p in m.parameters(recurse=False))
        entry: dict[str, Any] = {"name": name, "kind": kind, "params": int(own)}
        if si is not None:
            entry["shape_in"] = si
        if so is not None:
            entry["shape_out"] = so
        entry["flops"] = _flops(m, si, so, kind) if si is not None else 0
        if kind == "lif":
            entry["spiking"] = True
        elif spiking_names is not None:
            entry["spiking"] = name in spiking_names
        else:
            entry["spiking"] = bool(r.get("binary_in", False))
        layers.append(entry)
    root_own = sum(p.numel() for p in model.parameters(recurse=False))
    if root_own:
        for pname, p in model.named_parameters(recurse=False):
            layers.append({"name": pname, "kind": "other", "params": int(p.numel()), "flops": 0, "spiking": False})
    total = sum(p.numel() for p in model.parameters())
    return {
        "arch": model.arch,
        "variant": cfg["variant"],
        "params": int(total),
        "time_steps": int(model.time_steps),
        "num_classes": int(model.num_classes),
        "token_grid": [int(v) for v in model.token_grid],
        "layers": layers,
    }


def _shape(shape, time_layout: bool) -> Optional[list[int]]:
    if shape is None:
        return None
    return [int(v) for v in shape[2:]] if time_layout else [int(v) for v in shape[1:]]


def describe_model(model_cfg: dict, model: Optional[nn.Module] = None) -> dict:
    """Build (unless given) and describe the model of a resolved `model` section."""
    from spikestudio.models import build_model

    if model is None:
        cfg = dict(model_cfg)
        cfg["init_from"] = None  # shapes do not depend on weights
        model = build_model(cfg)
    return describe_module(model)
