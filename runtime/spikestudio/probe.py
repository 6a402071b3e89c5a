"""The public probe API: how any model -- ours or the researcher's -- tells Spike Studio what to show.

    import spikestudio

    spikestudio.probe.attention(self, q @ k.transpose(-2, -1), tokens=(H, W))   # inside a forward
    spikestudio.mark_spiking(my_neuron)                                           # a neuron we would not know
    spikestudio.is_spiking(module)                                                # what the firing probes count

Attention maps: `attention(module, maps, tokens=(H, W), kind="map")` takes (B, h, N, N) or (T, B, h, N, N)
maps (N = H * W tokens). Attention that computes binary masks instead of maps says so with a mask kind and sends
(B, h, L) or (T, B, h, L): `kind="token_mask"` (one value per head and token, L = N, e.g. QKFormer's QKTA),
`"column_mask"` (one value per channel of each head, L = d: SDT's SDSA) or `"channel_mask"` (one value per channel,
h = 1 and L = C: QKFormer's QKCA). Any other kind names a map (e.g. "qk", "softmax"). When no recorder is active it returns at once (one global read: no copy, no sync); when an
AttentionRecorder (attention panel, side panel) or the ONNX exporter is recording it gets the maps. `maps` may also
be a zero-argument callable returning the tensor, so that a model computes them only when they are wanted.

Spiking neurons (`is_spiking`), in this order:

* Spike Studio's own neurons (`spikestudio.neurons.LIF` and subclasses);
* modules marked with `mark_spiking(module, time_dim=...)`;
* the duck type: a module (or its class) with `spikestudio_spiking = True`; optional `spikestudio_time_dim`
  (0: the output is (T, B, ...); None: one call is one time step);
* SpikingJelly `activation_based` neurons (`BaseNode` subclasses; step mode 'm' -> (T, B, ...), 's' -> one step
  per call) and `clock_driven` neurons (`MultiStep*` classes -> (T, B, ...), the others one step per call);
* snnTorch `SpikingNeuron` subclasses (Leaky, Synaptic, ...): one step per call; a tuple output's first item is
  the spikes.

Neither SpikingJelly nor snnTorch is imported here: classes are recognised by their module path and name.

Per-time-step counting rule for single-step neurons: within one forward of the model being recorded, the k-th call
of a neuron is time step k (calls are counted from the start of each top-level forward).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from spikestudio.protocol_events import ATTENTION_KINDS

__all__ = ["attention", "active", "MASK_KINDS", "event_kind", "is_spiking", "mark_spiking", "time_dim", "reset_state", "neuron_library",
           "needs_reset_warning"]

# The recorder that receives attention maps (AttentionRecorder / ONNX ExportWrapper), None when nobody listens.
_sink: Optional[Callable[[Any, Any, Optional[tuple], str], None]] = None


# what a mask kind's tensor holds: (…, h, L) with L = tokens, or channels of a head, or all channels (h = 1)
MASK_KINDS = tuple(kind for kind in ATTENTION_KINDS if kind != "map")  # the attention event's kinds (events.schema.json)


def event_kind(kind: str) -> str:
    """The `attention` event's `kind` for a probe kind: the mask kind itself, "map" for every map kind."""
    return kind if kind in MASK_KINDS else "map"


def active() -> bool:
    """True while something records attention maps (use it to skip work a map would need)."""
    return _sink is not None


def attention(module, maps, tokens: Optional[tuple] = None, kind: str = "map") -> None:
    """Record attention maps of `module`: (B, h, N, N) or (T, B, h, N, N), or a callable returning them; for a mask
    kind (`MASK_KINDS`) masks (B, h, L) or (T, B, h, L).

    tokens: the token grid (H, W) with H * W == N (default: the model's `token_grid`, else one row of N).
    kind: "map" or a short name of what the map is ("qk", "softmax", ...), or one of "token_mask", "column_mask",
    "channel_mask" (see the module docstring)."""
    sink = _sink
    if sink is None:
        return
    if callable(maps):
        maps = maps()
    sink(module, maps, None if tokens is None else (int(tokens[0]), int(tokens[1])), str(kind))


class _Sink:
    """Context manager installing a sink for the duration of a recording (nested recordings are restored)."""

    def __init__(self, fn):
        self.fn = fn
        self.prev = None

    def __enter__(self):
        global _sink
        self.prev = _sink
        _sink = self.fn
        return self

    def __exit__(self, *exc):
        global _sink
        _sink = self.prev
        return False


def recording_attention(fn) -> _Sink:
    """`with recording_attention(fn): model(x)` -- fn(module, maps, tokens, kind) gets every map (recorders use it)."""
    return _Sink(fn)


# ---------------------------------------------------------------------------------------------- spiking neurons

_MARK = "_spikestudio_spiking"
_UNSET = object()


def mark_spiking(module, time_dim: Optional[int] = None):
    """Mark `module` as a spiking neuron whose output holds spikes (0/1 values).

    time_dim=0: each call gets and returns the whole sequence (T, B, ...); None (default): each call is one time
    step (B, ...). Returns the module, so `self.act = spikestudio.mark_spiking(MyNeuron())` works."""
    if time_dim not in (None, 0):
        raise ValueError(f"time_dim must be 0 or None, got {time_dim!r}")
    object.__setattr__(module, _MARK, {"time_dim": time_dim})
    return module


def _mro_names(m) -> list[tuple[str, str]]:
    return [(getattr(c, "__module__", "") or "", c.__name__) for c in type(m).__mro__]


def neuron_library(module) -> Optional[str]:
    """'spikestudio' | 'marked' | 'duck' | 'spikingjelly' | 'spikingjelly-clock' | 'snntorch', or None."""
    mro = _mro_names(module)
    for mod, name in mro:
        if mod == "spikestudio.neurons" and name == "LIF":
            return "spikestudio"
    if _MARK in getattr(module, "__dict__", {}):
        return "marked"
    if getattr(module, "spikestudio_spiking", False) is True:
        return "duck"
    for mod, name in mro:
        if name == "BaseNode" and mod.startswith("spikingjelly.activation_based"):
            return "spikingjelly"
        if name == "BaseNode" and mod.startswith("spikingjelly.clock_driven"):
            return "spikingjelly-clock"
        if name == "SpikingNeuron" and mod.startswith("snntorch"):
            return "snntorch"
    return None


def is_spiking(module) -> bool:
    """Whether `module` is a spiking neuron the firing probes count (see the module docstring for the rules)."""
    return neuron_library(module) is not None


def time_dim(module) -> Optional[int]:
    """0 when a call of this neuron carries all T steps in dim 0, None when one call is one time step."""
    lib = neuron_library(module)
    if lib == "spikestudio":
        return 0
    if lib == "marked":
        return module.__dict__[_MARK]["time_dim"]
    if lib == "duck":
        return getattr(module, "spikestudio_time_dim", None)
    if lib == "spikingjelly":
        return 0 if getattr(module, "step_mode", "s") == "m" else None
    if lib == "spikingjelly-clock":
        return 0 if type(module).__name__.startswith("MultiStep") else None
    return None


def spikes_of(output):
    """The spike tensor in a neuron's output (snnTorch returns (spk, mem, ...): the first item)."""
    if isinstance(output, (tuple, list)):
        return output[0] if output else None
    return output


def named_layers(model):
    """(name, module) of every submodule, named as the model's own code names them: a wrapped researcher network
    (a model with `probe_root`, e.g. `net`) is walked from that root, so firing and energy events use the names the
    described graph shows (stem_lif, not net.stem_lif)."""
    root = getattr(model, "probe_root", None)
    return (getattr(model, root) if root else model).named_modules()


def reset_state(model) -> list:
    """Reset the state of every stateful neuron in `model` (SpikingJelly `reset()` -- what `functional.reset_net`
    does --, snnTorch `reset_mem()`, a `spikestudio_reset()` method of any module). Our LIF keeps no state.
    Returns the neurons that are recognised, keep state between calls and could not be reset."""
    unreset = []
    for m in model.modules():
        fn = getattr(m, "spikestudio_reset", None)
        if callable(fn):
            fn()
            continue
        lib = neuron_library(m)
        if lib is None:
            # SpikingJelly's MemoryModule that is not a neuron (stateful synapses) is reset too, as reset_net does
            if any(n == "MemoryModule" and mod.startswith("spikingjelly") for mod, n in _mro_names(m)):
                m.reset()
            continue
        if lib in ("spikingjelly", "spikingjelly-clock"):
            m.reset()
        elif lib == "snntorch":
            if callable(getattr(m, "reset_mem", None)):
                m.reset_mem()
        elif lib in ("marked", "duck"):
            if callable(getattr(m, "reset", None)):
                m.reset()
            else:
                unreset.append(m)
    return unreset


def needs_reset_warning(model) -> Optional[str]:
    """One warning text when recognised neurons keep state that Spike Studio cannot reset, else None."""
    import torch

    names = []
    for name, m in model.named_modules():
        lib = neuron_library(m)
        if lib in ("marked", "duck") and not callable(getattr(m, "reset", None)) \
                and not callable(getattr(m, "spikestudio_reset", None)):
            state = [k for k, v in vars(m).items() if isinstance(v, torch.Tensor)]
            if state:
                names.append(name)
    if not names:
        return None
    return (f"neuron state is not reset between batches for {', '.join(names[:4])}"
            f"{' ...' if len(names) > 4 else ''}: give the module a reset() (or spikestudio_reset()) method")


Maps = Union[Any, Callable[[], Any]]
