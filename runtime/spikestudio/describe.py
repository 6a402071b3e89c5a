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

    from spikestudio.models import is_custom

    if model is None:
        cfg = dict(model_cfg)
        cfg["init_from"] = None  # shapes do not depend on weights
        model = build_model(cfg)
    if is_custom(model_cfg):
        return describe_any(model)
    return describe_module(model)


# ------------------------------------------------------------------------------------------------- any model

def _generic_kind(m: nn.Module, attention: set) -> str:
    from spikestudio.probe import is_spiking

    if m in attention:
        return "attention"
    if is_spiking(m):
        return "lif"
    k = _kind(m)
    if k != "other":
        return k
    if isinstance(m, nn.LayerNorm):
        return "norm"
    if isinstance(m, (nn.Dropout,)):
        return "dropout"
    if isinstance(m, (nn.ModuleList, nn.Sequential)):
        return "container"
    return "other"


def _batch_for(T: int) -> int:
    return 3 if T == 2 else 2


def _strip(shape, T: int, B: int) -> Optional[list[int]]:
    """A shape per time step without the batch: (T, B, ...) and (T*B, ...) and (B, ...) all give (...)."""
    if shape is None:
        return None
    s = list(shape)
    if len(s) >= 2 and s[0] == T and s[1] == B:
        return [int(v) for v in s[2:]]
    if s and (s[0] == T * B or s[0] == B):
        return [int(v) for v in s[1:]]
    return [int(v) for v in s]


def _first_tensor(v):
    if isinstance(v, torch.Tensor):
        return v
    if isinstance(v, (tuple, list)) and v and isinstance(v[0], torch.Tensor):
        return v[0]
    return None


def _fx_edges(net: nn.Module, listed: set) -> Optional[list[list[str]]]:
    """Edges between listed modules from a torch.fx trace (listed modules are leaves); None when it does not trace."""
    import torch.fx as fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):  # noqa: D401
            return qualname in listed or super().is_leaf_module(m, qualname)

    try:
        graph = Tracer().trace(net)
    except Exception:  # noqa: BLE001 - control flow on values, unsupported ops: fall back to module order
        return None
    # for each node, the listed modules that feed it (through any number of functions)
    feeds: dict[Any, set] = {}
    edges: list[list[str]] = []
    seen = set()
    for node in graph.nodes:
        srcs: set = set()
        for a in node.all_input_nodes:
            srcs |= feeds.get(a, set())
        if node.op == "call_module" and node.target in listed:
            for s in sorted(srcs):
                if (s, node.target) not in seen:
                    seen.add((s, node.target))
                    edges.append([s, str(node.target)])
            feeds[node] = {str(node.target)}
        else:
            feeds[node] = srcs
    return edges


def describe_any(model: nn.Module, x: Optional[torch.Tensor] = None, check_determinism: bool = True) -> dict:
    """Describe any model by running it once on a tiny batch (eval mode, no grad): every named module with its kind,
    shapes per time step (T and batch removed), own params, a spiking flag (a recognised neuron, or a layer whose
    input was binary), the Python class, nesting (`leaf`), and edges (torch.fx when the network traces, else the
    execution order of the leaves). `model` is a CustomModel (or any model with `cfg` / `time_steps`)."""
    from spikestudio import probe

    cfg = getattr(model, "cfg", {}) or {}
    net = getattr(model, "net", model)
    T = int(getattr(model, "time_steps", cfg.get("time_steps", 1)) or 1)
    B = _batch_for(T)
    if x is None:
        x = sample_input({"img_size": cfg.get("img_size", 28), "variant": cfg.get("variant", "cifar"),
                          "time_steps": T, "in_channels": cfg.get("in_channels", 1)}, batch=B)
    names = {m: n for n, m in net.named_modules()}
    records: dict[str, dict] = {}
    order: list[str] = []
    attention: set = set()
    warnings: list[str] = []

    def pre(m, inputs):
        name = names.get(m)
        if name is None:
            return
        r = records.get(name)
        if r is None:
            r = records[name] = {"calls": 0}
            order.append(name)
        r["calls"] += 1
        xi = _first_tensor(inputs)
        if xi is not None and "in" not in r:
            r["in"] = tuple(xi.shape)
            r["binary"] = bool(xi.numel()) and _is_binary(xi)

    def post(m, inputs, output):
        name = names.get(m)
        if name is None:
            return
        xo = _first_tensor(output)
        r = records[name]
        if xo is not None and "out" not in r:
            r["out"] = tuple(xo.shape)

    def sink(module, maps, tokens, kind):
        attention.add(module)
        r = records.setdefault(names.get(module, ""), {"calls": 0})
        t = _first_tensor(maps)
        if t is not None:
            r["attn_shape"] = tuple(t.shape)
        if tokens:
            r["tokens"] = list(tokens)

    handles = []
    for name, m in net.named_modules():
        if name:
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), probe.recording_attention(sink):
            out1 = model(x)
        if check_determinism:
            for h in handles:
                h.remove()
            handles = []
            with torch.no_grad():
                out2 = model(x)
            if out1.shape != out2.shape or not torch.allclose(out1, out2, rtol=1e-4, atol=1e-5):
                warnings.append("two forwards of the same batch give different outputs: the model keeps state between "
                                "calls (a neuron that is not reset, or a forward that changes module or global state)")
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    all_named = [(n, m) for n, m in net.named_modules() if n]
    leaves = {n for n, m in all_named if not any(True for _ in m.children())}
    spiking_libs = {}
    for n, m in all_named:
        lib = probe.neuron_library(m)
        if lib:
            spiking_libs[n] = lib
    listed = leaves | set(spiking_libs)
    # neurons and attention modules are shown as one layer: their children are hidden
    hidden = {n for n, _ in all_named if any(n.startswith(p + ".") for p in set(spiking_libs))}
    layers = []
    for n, m in all_named:
        if n in hidden:
            continue
        r = records.get(n, {})
        own = sum(p.numel() for p in m.parameters(recurse=n in spiking_libs))  # a neuron is one layer
        entry: dict[str, Any] = {"name": n, "kind": _generic_kind(m, attention), "params": int(own),
                                 "module": type(m).__name__, "leaf": n in listed}
        si, so = _strip(r.get("in"), T, B), _strip(r.get("out"), T, B)
        if si is not None:
            entry["shape_in"] = si
        if so is not None:
            entry["shape_out"] = so
        entry["flops"] = _flops(m, si, so, entry["kind"]) if si is not None and not isinstance(m, AttentionProbeMixin) else 0
        if n in spiking_libs:
            entry["spiking"] = True
            entry["library"] = spiking_libs[n]
        else:
            entry["spiking"] = bool(r.get("binary", False))
        if "attn_shape" in r:
            entry["attention_shape"] = [int(v) for v in r["attn_shape"]]
        layers.append(entry)
    total = sum(p.numel() for p in model.parameters())
    counted = sum(e["params"] for e in layers)
    if counted != total:  # parameters held by the root net itself
        root_own = total - counted
        if root_own > 0:
            layers.append({"name": "(root)", "kind": "other", "params": int(root_own), "flops": 0, "spiking": False,
                           "module": type(net).__name__, "leaf": True})
    if not spiking_libs:
        warnings.append("no spiking neuron recognised: the firing panel will be empty. Use Spike Studio's LIF, "
                        "SpikingJelly or snnTorch neurons, or call spikestudio.mark_spiking(module) on yours")
    edge_names = [n for n in order if n in listed and n not in hidden]
    edges = _fx_edges(net, {n for n in listed if n not in hidden})
    graph = "fx"
    if not edges:
        graph = "order"
        edges = [[a, b] for a, b in zip(edge_names, edge_names[1:])]
    grid = list(getattr(model, "token_grid", (0, 0)))
    if grid == [0, 0]:
        for r in records.values():
            if r.get("tokens"):
                grid = r["tokens"]
                break
    stale = probe.needs_reset_warning(net)
    if stale:
        warnings.append(stale)
    return {
        "arch": str(getattr(model, "arch", "custom")),
        "variant": cfg.get("variant", "cifar"),
        "params": int(total),
        "time_steps": T,
        "num_classes": int(getattr(model, "num_classes", cfg.get("num_classes", 0)) or 0),
        "token_grid": [int(v) for v in grid],
        "layers": layers,
        "edges": edges,
        "graph": graph,
        "warnings": warnings,
        "source": str(getattr(model, "entry_name", type(net).__name__)),
    }
