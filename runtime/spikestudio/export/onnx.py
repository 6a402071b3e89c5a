"""`python -m spikestudio export --checkpoint FILE --out model.onnx [--probes]`: a checkpoint as an ONNX model.

All architectures export: Spikformer, Spikingformer, Spikeformer (softmax or spiking attention, PLIF or LIAF
neurons), STSA (both qkv layouts), QKFormer (`ssa_neuron: per_sample` only: the reference neuron couples the samples
of a batch), SDT v1 and Meta-SpikeFormer (attention maps: Q K^T of their SSA blocks; QKTA/QKCA and SDSA compute binary masks,
exported as ``mask:<block>``). The T-loop of every spiking neuron is unrolled in the trace (the legacy
TorchScript exporter, `dynamo=False`, so no onnxscript is needed; the `onnx` package is). Graph:

* input  ``input``: (B, C, H, W) float32, already normalised ((x/255 - mean) / std per channel) -- or
  (B, T, C, H, W) frames for event datasets; the batch axis is dynamic;
* output ``logits``: (B, classes), averaged over T (what the runtime's model returns; STSA: the mean of its per-step
  head's logits);
* with ``--probes``, per neuron layer (LIF, PLIF, LIAF, STSA neuron) ``spikes:<layer>``: (T, B) spike counts (sum over
  the layer's neurons of one sample at one step; a LIAF, whose output is the analog ReLU(H), counts its threshold
  crossings), and per block ``attn:<block>``: (T, B, heads, N, N), N the tokens of the token grid:
  - Spikformer / Spikingformer SSA: Q K^T before the scale (exactly what telemetry.probes.AttentionRecorder records);
  - Spikeformer: the spatial attention (each step's N tokens): softmax(Q K^T / sqrt(d)) with `attention: softmax`,
    Q K^T of the Q/K neurons' outputs before the scale with `attention: spiking`; the temporal attention (T x T
    maps per token) is not exported;
  - STSA: per step t, the t-to-t block of its (T*N) x (T*N) map, Q_t K_t^T + relative-position bias (before
    attn_scale; the block-causal mask is 1 there); the blocks between different steps are not exported;
  and per mask-computing block ``mask:<block>``: (T, B, h, L) binary masks (`probe.MASK_KINDS`): QKFormer's QKTA
  "token_mask" (per head and token, L = tokens of its stage), QKCA "channel_mask" (h = 1, L = channels), SDSA
  "column_mask" (per head and channel of the head). Blocks are numbered like the recorder's
  (`layers.attention_modules`, model order), so QKFormer's SSA blocks follow its QKTA/QKCA blocks.

Metadata (``metadata_props``, every value a string; JSON where structured): ``spikestudio.format`` = "1",
``spikestudio.arch``, ``spikestudio.variant``, ``spikestudio.time_steps``, ``spikestudio.input_shape`` (JSON, batch
as -1), ``spikestudio.class_names`` (JSON), ``spikestudio.mean`` / ``spikestudio.std`` (JSON, per channel),
``spikestudio.dataset``, ``spikestudio.token_grid`` (JSON), ``spikestudio.probes`` (JSON: {"firing": [{"name",
"output", "neurons"}], "attention": [{"block", "output", "heads", "grid", "kind"}], "notes": [...]}; kind is one of
`ATTENTION_KINDS` ("qk", "softmax", "qk+bias") for attn:<block>, a mask kind for mask:<block> (grid: the stage's
token grid for a token mask, [1, L] otherwise); "notes" (only when there are any) says in a sentence each what the
probes leave out or mean differently for the architecture; empty lists without --probes) and ``spikestudio.config``
(the model section, JSON).

Spikes are a Heaviside of the membrane: the export path replaces the surrogate autograd Functions by the plain
comparison they compute in forward (>= for LIF/PLIF/LIAF, STSA's strict >), and runs every neuron's equations out of
place in the same operation order as its training forward (PLIF/LIAF with the learnt 1/tau = sigmoid(w)), so ONNX
Runtime reproduces PyTorch up to float rounding (a membrane within ~1e-5 of threshold may flip). A neuron class the
exporter does not know, or a failing trace, is a one-line SpikeStudioError naming it / the architecture.
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from spikestudio import neurons
from spikestudio.errors import ConfigError, SpikeStudioError

__all__ = ["load_checkpoint", "export_onnx", "ExportWrapper", "export_mode", "dataset_info", "main",
           "attention_sources", "probe_notes", "ATTENTION_KINDS"]

def dataset_info(data_cfg: dict, num_classes: int, in_channels: int) -> dict:
    """Class names, per-channel normalisation and whether the input is frames (B, T, C, H, W), from datasets.json:
    a dataset without mean/std there is fed unnormalised (0 / 1), one without class names (or with another class
    count) gets "0", "1", …"""
    from spikestudio.data.facts import dataset_facts

    name = str((data_cfg or {}).get("dataset") or "")
    facts = dataset_facts(name)
    mean, std = facts.get("mean", [0.0]), facts.get("std", [1.0])
    if len(mean) != in_channels:
        mean, std = [mean[0]] * in_channels, [std[0]] * in_channels
    names = facts.get("class_names")
    if names is None or len(names) != num_classes:
        names = [str(i) for i in range(num_classes)]
    return {"dataset": name, "mean": [float(v) for v in mean], "std": [float(v) for v in std], "class_names": list(names),
            "frames": bool(facts.get("event"))}


def load_checkpoint(path: str | Path, config: Optional[str | Path] = None):
    """(model in eval mode on CPU, resolved config) from a Spike Studio checkpoint (or a bare state_dict + config)."""
    from spikestudio.models import build_model

    from spikestudio.train.checkpoint import read_checkpoint

    path = Path(path)
    ck = read_checkpoint(path, SpikeStudioError, missing=f"checkpoint not found: {path}")
    cfg = None
    if config is not None:
        cfg = json.loads(Path(config).read_text(encoding="utf-8"))
    elif isinstance(ck, dict) and isinstance(ck.get("config"), dict):
        cfg = ck["config"]
    if not cfg or "model" not in cfg:
        raise SpikeStudioError(f"{path} holds no config; pass --config RESOLVED.json")
    state = ck.get("model") if isinstance(ck, dict) and isinstance(ck.get("model"), dict) else ck
    model_cfg = dict(cfg["model"], init_from=None)
    model_cfg.setdefault("neuron", {})
    if isinstance(model_cfg["neuron"], dict) and model_cfg["neuron"].get("backend") == "triton":
        model_cfg["neuron"] = dict(model_cfg["neuron"], backend="torch")
    model = build_model(model_cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError("model", f"checkpoint does not fit the model (missing: {list(missing)[:8]}, "
                                   f"unexpected: {list(unexpected)[:8]})")
    return model.eval(), cfg


# ------------------------------------------------------------------------------------------------ export mode

_plain_heaviside, _PlainTriangle = neurons.plain_heaviside, neurons.PlainTriangle  # the neurons' plain firing rules


class _UnknownNeuron(Exception):
    pass


class _Unexportable(Exception):
    pass


def _export_forward_for(m: nn.Module):
    """The export-mode forward for a module, None to keep its own; raises for a neuron the exporter does not know."""
    if type(m) is neurons.LIF:
        return type(m).export_forward if m.impl != "reference" else None  # reference: plain autograd + heaviside
    if type(m) in (neurons.PLIF, neurons.LIAF, neurons.STSANeuron):
        return type(m).export_forward
    if type(m) is neurons.BatchCoupledLIF:
        if m.couple:
            raise _Unexportable("QKFormer's SSA neuron with model.ssa_neuron: reference integrates across the samples "
                                "of a batch (spec 2 §2.1), which a graph with a dynamic batch axis cannot express; "
                                "export a per_sample model")
        return type(m).export_forward
    if isinstance(m, neurons.LIF):
        raise _UnknownNeuron(type(m).__name__)
    return None


@contextmanager
def export_mode(model: nn.Module):
    """Plain comparisons instead of the surrogate autograd Functions: the neurons run their own `export_forward`
    (the STSA neuron's is its forward), the reference LIF its forward, both under `neurons.plain_firing`; attention
    maps reach the graph's outputs through spikestudio.probe.attention like in training."""
    patched = []
    try:
        with neurons.plain_firing():
            yield _patch_export_forwards(model, patched)
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)


def _patch_export_forwards(model: nn.Module, patched: list) -> nn.Module:
    for name, m in model.named_modules():
        try:
            fwd = _export_forward_for(m)
        except _Unexportable as exc:
            arch = getattr(model, "arch", type(model).__name__)
            raise SpikeStudioError(f"export: cannot export the {arch} model to ONNX: its layer {name}: {exc}") \
                from None
        except _UnknownNeuron as exc:
            arch = getattr(model, "arch", type(model).__name__)
            raise SpikeStudioError(
                f"export: cannot export the {arch} model to ONNX: its layer {name} is a {exc} neuron, which the "
                f"exporter does not know (it knows LIF, PLIF, LIAF and the STSA neuron)") from None
        if fwd is not None:
            m.forward = fwd.__get__(m)  # instance attribute, removed on exit
            patched.append(m)
    return model


ATTENTION_KINDS = {
    "qk": "Q K^T of the Q/K neurons' outputs (spikes; ReLU(H) for LIAF), before the attention scale",
    "softmax": "softmax(Q K^T / sqrt(d)) (rows sum to 1)",
    "qk+bias": "per time step t, the t-to-t block of STSA's (T*N)x(T*N) map: Q_t K_t^T + relative-position bias, "
               "before attn_scale",
}


def attention_sources(model: nn.Module) -> list[tuple[int, nn.Module, str]]:
    """(block, module, kind) of every attention map (T, B, heads, N, N) or mask (T, B, h, L; kind in MASK_KINDS)."""
    from spikestudio.models import spikeformer, stsa
    from spikestudio.models.layers import AttentionProbeMixin, attention_modules

    known = attention_modules(model)
    if known:  # the built-in SSA (Q K^T) and QKTA / QKCA / SDSA (masks): numbered like the recorder's blocks
        return [(i, m, "qk" if isinstance(m, AttentionProbeMixin) else m.mask_kind) for i, m in enumerate(known)]
    out = []
    for j, blk in enumerate(getattr(model, "blocks", [])):
        if isinstance(blk, spikeformer.Block):
            out.append((j, blk.attn, "qk" if blk.attn.spiking else "softmax"))
        elif isinstance(blk, stsa.Block):
            out.append((j, blk.attn, "qk+bias"))
    return out


def probe_notes(model: nn.Module) -> list[str]:
    """What the probe outputs of this model leave out or mean differently (spikestudio.probes "notes")."""
    from spikestudio.models import spikeformer, stsa

    notes = []
    if any(type(m) is neurons.LIAF for m in model.modules()):
        notes.append("LIAF layers output ReLU(H), an analog value; their spikes:<layer> count the threshold "
                     "crossings that reset the membrane")
    if any(isinstance(b, spikeformer.Block) for b in getattr(model, "blocks", [])):
        notes.append("attn:<block> is Spikeformer's spatial attention (the N tokens of each step); the temporal "
                     "attention (each token over the T steps, T x T maps) is not exported")
    if any(isinstance(b, stsa.Block) for b in getattr(model, "blocks", [])):
        notes.append("attn:<block> holds, per time step, the same-step block of STSA's (T*N)x(T*N) spatio-temporal "
                     "map (Q K^T + relative-position bias); the entries between different steps are not exported")
    return notes


class ExportWrapper(nn.Module):
    """model(x) -> (logits, *spike counts per LIF (T, B), *attention maps per block (T, B, h, N, N)) when probes.

    Attention maps (see `attention_sources`): Q K^T of the SSA blocks (Spikformer, Spikingformer), Spikeformer's
    spatial attention (softmax probabilities, or Q K^T of the spikes with `attention: spiking`), STSA's same-step
    blocks. Spikeformer's and STSA's maps are recorded only inside `export_mode`."""

    def __init__(self, model: nn.Module, probes: bool):
        super().__init__()
        self.model = model
        self.probes = probes
        from spikestudio.probe import is_spiking, neuron_library

        self.lifs = [(n, m) for n, m in model.named_modules() if isinstance(m, neurons.LIF)]
        # other recognised neurons (a custom model's SpikingJelly / snnTorch / marked neurons): forward hooks
        self.foreign = [(n, m) for n, m in model.named_modules()
                        if is_spiking(m) and neuron_library(m) != "spikestudio"]
        self.attn_sources = attention_sources(model)

    def forward(self, x: torch.Tensor):
        if not self.probes:
            return self.model(x)
        from spikestudio import probe

        spikes: dict[str, torch.Tensor] = {}
        attn: dict[int, torch.Tensor] = {}
        B = x.shape[0]
        for name, m in self.lifs:
            def fprobe(module, out, name=name):
                # dim 1 is the batch, or batch-major sequences (Spikeformer's temporal attention: B*N): per sample
                spikes[name] = out.reshape(out.shape[0], B, -1).sum(2)
            m._probe = fprobe
        handles = []
        steps: dict[str, list] = {}
        for name, m in self.foreign:
            multi = probe.time_dim(m) == 0

            def hook(module, inputs, output, name=name, multi=multi):
                s = probe.spikes_of(output)
                if not isinstance(s, torch.Tensor):
                    return
                if multi:
                    spikes[name] = s.reshape(s.shape[0], B, -1).sum(2)
                else:  # one call per time step: stacked in call order
                    steps.setdefault(name, []).append(s.reshape(B, -1).sum(1))
            handles.append(m.register_forward_hook(hook))
        known = {id(m): block for block, m, _ in self.attn_sources}

        masks: dict[int, torch.Tensor] = {}
        self.mask_info: dict[int, tuple] = {}  # block: (kind, tokens, shape)

        def sink(module, maps, tokens, kind):  # spikestudio.probe.attention (SSA, masks and any custom module)
            i = known.get(id(module))
            if i is None:
                i = known[id(module)] = len(known)
            if not isinstance(maps, torch.Tensor):
                return
            if kind in probe.MASK_KINDS:  # (T, B, h, L) binary masks
                if maps.dim() in (3, 4):
                    masks[i] = maps if maps.dim() == 4 else maps.unsqueeze(0)
                    self.mask_info[i] = (kind, tokens, tuple(int(v) for v in masks[i].shape))
            elif maps.dim() in (4, 5):
                attn[i] = maps if maps.dim() == 5 else maps.unsqueeze(0)

        try:
            with probe.recording_attention(sink):
                logits = self.model(x)
        finally:
            for _, m in self.lifs:
                m.__dict__.pop("_probe", None)
            for h in handles:
                h.remove()
        for name, seq in steps.items():
            spikes[name] = torch.stack(seq)
        order = [n for n, _ in self.model.named_modules()]
        self.seen_spikes = [n for n in order if n in spikes]
        self.seen_attn = sorted(attn)  # maps, then masks (self.seen_masks), each by block
        self.seen_masks = sorted(masks)
        return (logits, *[spikes[n] for n in self.seen_spikes], *[attn[i] for i in self.seen_attn],
                *[masks[i] for i in self.seen_masks])


def _layer_running_op(model: nn.Module, x: torch.Tensor, op: str) -> str | None:
    """The innermost layer whose forward runs the aten operator `op` (a name like 'special_bessel_j0')."""
    from torch.utils._python_dispatch import TorchDispatchMode

    found: list[str] = []

    class Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func._schema.name.split("::")[-1]
            if name == op and stack.stack and not found:
                found.append(stack.stack[-1])
            return func(*args, **(kwargs or {}))

    stack = _ModuleStack(model)
    try:
        with stack, Mode(), torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001 - only a better message is at stake
        pass
    return found[0] if found else None


class _ModuleStack:
    """Which module is running (forward pre/post hooks): names the failing layer when an export fails."""

    def __init__(self, model: nn.Module):
        self.stack: list[str] = []
        self.failed: str | None = None
        self.handles = []
        for name, m in model.named_modules():
            if name:
                self.handles.append(m.register_forward_pre_hook(self._enter(name)))
                self.handles.append(m.register_forward_hook(self._leave))

    def _enter(self, name: str):
        def pre(m, inputs) -> None:
            self.stack.append(name)
        return pre

    def _leave(self, m, inputs, output) -> None:
        if self.stack:
            self.stack.pop()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if ev is not None and self.stack:
            self.failed = self.stack[-1]
        for h in self.handles:
            h.remove()
        return False


def _neurons_per_sample(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    counts: dict[str, int] = {}
    lifs = [(n, m) for n, m in model.named_modules() if isinstance(m, neurons.LIF)]
    for name, m in lifs:
        m._probe = lambda mod, out, name=name: counts.__setitem__(name, int(out[0].numel()) // int(x.shape[0]))
    from spikestudio import probe

    handles = []
    for name, m in model.named_modules():
        if probe.is_spiking(m) and probe.neuron_library(m) != "spikestudio":
            multi = probe.time_dim(m) == 0

            def hook(mod, inputs, output, name=name, multi=multi):
                s = probe.spikes_of(output)
                if isinstance(s, torch.Tensor):
                    counts[name] = int((s[0] if multi else s).numel()) // int(x.shape[0])
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for _, m in lifs:
            m.__dict__.pop("_probe", None)
        for h in handles:
            h.remove()
    return counts


def min_margin(model: nn.Module, x: torch.Tensor) -> float:
    """The smallest |H - V_th| of any fused LIF neuron for input x (how close the nearest spike is to flipping)."""
    neurons.margin_sink = sink = []
    try:
        with export_mode(model), torch.no_grad():
            model(x)
        return min(sink) if sink else float("inf")
    finally:
        neurons.margin_sink = None


def inputs_clear_of_threshold(model: nn.Module, shape: tuple, count: int = 2, margin: float = 1e-4, tries: int = 600,
                              seed: int = 3) -> list[torch.Tensor]:
    """`count` random normal inputs of `shape` whose every membrane stays at least `margin` from threshold
    (:func:`min_margin`), so a spike decision cannot flip with float rounding when comparing runtimes. Raises
    ValueError when fewer than `count` of `tries` draws qualify."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(tries):
        x = torch.randn(*shape, generator=g)
        if min_margin(model, x) >= margin:
            out.append(x)
            if len(out) == count:
                return out
    raise ValueError(f"only {len(out)} of {tries} inputs kept every membrane {margin} away from threshold")


def example_input(model: nn.Module, cfg: dict, batch: int = 1, seed: int = 0) -> torch.Tensor:
    mc = model.cfg if hasattr(model, "cfg") else cfg["model"]
    from spikestudio.models.layers import as_hw

    h, w = as_hw(mc["img_size"])
    info = dataset_info(cfg.get("data") or {}, int(mc["num_classes"]), int(mc["in_channels"]))
    g = torch.Generator().manual_seed(seed)
    shape = (batch, int(mc["time_steps"]), int(mc["in_channels"]), h, w) if info["frames"] else (batch, int(mc["in_channels"]), h, w)
    return torch.randn(*shape, generator=g)


def export_onnx(model: nn.Module, cfg: dict, out: str | Path, probes: bool = False, opset: int = 17) -> dict:
    """Writes the ONNX model; returns the metadata dict (also stored in metadata_props)."""
    import onnx

    model = model.eval().cpu()
    mc = getattr(model, "cfg", None) or cfg["model"]
    x = example_input(model, cfg, batch=2)
    info = dataset_info(cfg.get("data") or {}, int(mc["num_classes"]), int(mc["in_channels"]))
    wrapper = ExportWrapper(model, probes).eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with export_mode(model), torch.no_grad():
        wrapper(x)  # discovers the probe outputs in execution order
        neuron_counts = _neurons_per_sample(model, x)
        spike_names = list(getattr(wrapper, "seen_spikes", [])) if probes else []
        attn_blocks = list(getattr(wrapper, "seen_attn", [])) if probes else []
        mask_blocks = list(getattr(wrapper, "seen_masks", [])) if probes else []
        output_names = ["logits"] + [f"spikes:{n}" for n in spike_names] + [f"attn:{i}" for i in attn_blocks] \
            + [f"mask:{i}" for i in mask_blocks]
        dyn = {"input": {0: "batch"}, "logits": {0: "batch"}}
        for n in spike_names:
            dyn[f"spikes:{n}"] = {1: "batch"}
        for i in attn_blocks:
            dyn[f"attn:{i}"] = {1: "batch"}
        for i in mask_blocks:
            dyn[f"mask:{i}"] = {1: "batch"}
        arch = str(getattr(model, "arch", mc.get("arch")))
        where = _ModuleStack(model)
        try:
            with where, warnings.catch_warnings():
                # shape checks in the models' forward (e.g. `if T != self.T`) are constant in the trace: expected
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                torch.onnx.export(wrapper, (x,), str(out), input_names=["input"], output_names=output_names,
                                  dynamic_axes=dyn, opset_version=opset, do_constant_folding=True, dynamo=False)
        except SpikeStudioError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line naming the architecture, never a traceback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if not where.failed and "aten::" in first:  # failed when converting the trace: find the op's layer
                where.failed = _layer_running_op(model, x, first.split("aten::", 1)[1].split("'")[0].split()[0])
            if where.failed:
                layer = model.get_submodule(where.failed)
                first = f"layer {where.failed} ({type(layer).__name__}) does not trace: {first}"
            raise SpikeStudioError(f"export: cannot export the {arch} model to ONNX: {type(exc).__name__}: {first}",
                                   "report this with the checkpoint's model section (python -m spikestudio describe)"
                                   ) from None
    grid = [int(v) for v in getattr(model, "token_grid", (0, 0))]
    heads = int(mc.get("num_heads", 1))
    kinds = {b: k for b, _, k in wrapper.attn_sources}
    probe_meta = {
        "firing": [{"name": n, "output": f"spikes:{n}", "neurons": neuron_counts.get(n, 0)} for n in spike_names],
        "attention": [{"block": i, "output": f"attn:{i}", "heads": heads, "grid": grid, "kind": kinds.get(i, "qk")}
                      for i in attn_blocks]
        + [_mask_probe(i, *wrapper.mask_info[i]) for i in mask_blocks],
    }
    notes = probe_notes(model) if probes else []
    if notes:
        probe_meta["notes"] = notes
    meta = {
        "spikestudio.format": "1",
        "spikestudio.arch": arch,
        "spikestudio.variant": str(mc.get("variant") or ""),
        "spikestudio.time_steps": str(int(mc["time_steps"])),
        "spikestudio.input_shape": json.dumps([-1, *list(x.shape[1:])]),
        "spikestudio.class_names": json.dumps(info["class_names"]),
        "spikestudio.mean": json.dumps(info["mean"]),
        "spikestudio.std": json.dumps(info["std"]),
        "spikestudio.dataset": info["dataset"],
        "spikestudio.token_grid": json.dumps(grid),
        "spikestudio.probes": json.dumps(probe_meta),
        "spikestudio.config": json.dumps(mc, default=str),
    }
    proto = onnx.load(str(out))
    _compact_names(proto.graph)
    del proto.metadata_props[:]
    for k, v in meta.items():
        p = proto.metadata_props.add()
        p.key, p.value = k, v
    proto.producer_name = "spikestudio"
    onnx.save(proto, str(out))
    return meta


def _mask_probe(block: int, kind: str, tokens: Optional[tuple], shape: tuple) -> dict:
    """The `attention` metadata entry of a mask output (T, B, h, L): its grid is the token grid of its stage for a
    token mask (L = H * W), [1, L] for column / channel masks (as the recorder's `attention` events)."""
    heads, length = int(shape[2]), int(shape[3])
    grid = [int(tokens[0]), int(tokens[1])] if kind == "token_mask" and tokens and tokens[0] * tokens[1] == length \
        else [1, length]
    return {"block": block, "output": f"mask:{block}", "heads": heads, "grid": grid, "kind": kind}


def _compact_names(graph) -> None:
    """Short names for nodes and intermediate tensors (the traced names are long paths; this halves small files)."""
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {i.name for i in graph.initializer}
    rename: dict[str, str] = {}
    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        for j, name in enumerate(node.output):
            if name and name not in keep:
                rename.setdefault(name, f"t{len(rename)}")
                node.output[j] = rename[name]
    for node in graph.node:
        for j, name in enumerate(node.input):
            if name in rename:
                node.input[j] = rename[name]
    for v in graph.value_info:
        if v.name in rename:
            v.name = rename[v.name]


def main(args) -> int:
    """CLI entry (cli.py): prints one JSON summary line on stdout."""
    from spikestudio.protocol import claim_stdout

    out_stream = claim_stdout()
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SpikeStudioError("export needs the `onnx` package", "python -m pip install onnx") from None
    model, cfg = load_checkpoint(args.checkpoint, getattr(args, "config", None))
    meta = export_onnx(model, cfg, args.out, probes=bool(args.probes), opset=int(getattr(args, "opset", 17) or 17))
    probes = json.loads(meta["spikestudio.probes"])
    summary = {"ok": True, "out": str(Path(args.out).resolve()), "arch": meta["spikestudio.arch"],
               "time_steps": int(meta["spikestudio.time_steps"]), "outputs": 1 + len(probes["firing"]) + len(probes["attention"]),
               "bytes": Path(args.out).stat().st_size}
    out_stream.write(json.dumps(summary) + "\n")
    out_stream.flush()
    return 0
