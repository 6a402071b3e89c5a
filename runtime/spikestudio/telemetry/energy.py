"""Energy / SOPs per reference spec §6 (the Spikingformer tool's method, §3.5), measured during evaluation.

    rec = EnergyRecorder(model)
    with rec.recording():
        for x in batches: rec.count_images(x.shape[0]); model(x)
    layers, ssa = rec.layer_stats()
    report = compute_energy(layers, ssa, T, convention="binary-only", first_layer_times_t=True)
    # {"total_mj", "convention", "macs", "acs", "layers": [{"name", "sops", "macs", "mj", "rate", "mode"}, ...]}

Per weight layer (every Conv1d/Conv2d/Linear, in execution order) a forward pre-hook counts the dense ops the
layer performs (conv: k_h·k_w·C_in/groups·C_out·H_out·W_out per output map, times the conv's batch T·B; linear:
tokens·(in·out) + bias terms) and statistics of its INPUT tensor: the mean value (= the firing rate for binary
spikes), whether all values were in {0, 1}, whether all were non-negative integers. Figures are per image
(totals ÷ images seen); rates are element-weighted over the whole evaluation (the tool averages per-batch
rates, identical for equal batch sizes).

Counting (spec §6):
* the first weight layer (it reads the image or the event counts) → MACs = dense ops, × T when it ran once per
  image on a static image repeated over T and `first_layer_times_t` (the Spikingformer tool's convention);
* a layer whose input is binary spikes → ACs (SOPs) = rate × dense ops (dense ops already include T);
* `integer-as-spikes`: a layer whose input holds non-negative integers (the Spikformer integer residual
  stream) → ACs = mean value × dense ops (an integer k counts as k spikes, the Spikformer paper's way);
  `binary-only`: such a layer → MACs = dense ops (the Spikingformer tool's strict rule);
* any other input (floats, the classifier head after the mean over T) → MACs = dense ops;
* SSA (every attention module with q/k/v LIFs): T·h·N·d²·(min(fr_K, fr_V) + fr_Q) ACs per block, fr = the Q/K/V
  LIF output rates, N = tokens, d = D/h;
* E = 4.6 pJ·MACs + 0.9 pJ·ACs; reported in mJ per image. BN, LIF, pooling and residual adds are not counted.
Which layers' inputs are binary is the model's `spiking_inputs()` when it has one, else what was observed.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Optional

from spikestudio import config_schema
from spikestudio.telemetry.estimates import ESTIMATES

E_MAC_PJ = ESTIMATES["energy"]["e_mac_pj"]
E_AC_PJ = ESTIMATES["energy"]["e_ac_pj"]
CONVENTIONS = config_schema.choices("telemetry.energy_convention")


def energy_mj(macs: float, acs: float) -> float:
    """Energy in mJ of `macs` multiply-accumulates and `acs` accumulates (4.6 pJ / 0.9 pJ)."""
    return (E_MAC_PJ * macs + E_AC_PJ * acs) * 1e-9


def compute_energy(layers: Iterable[dict], ssa: Iterable[dict] = (), time_steps: int = 1,
                   convention: str = "binary-only", first_layer_times_t: bool = True) -> dict:
    """Energy per image from per-layer statistics.

    layers: [{"name", "dense_ops" (per image, T included when the layer ran T times), "rate" (mean input value),
              "binary": bool, "integer": bool, "runs_per_image": number of times the layer ran per image (1 for a
              static first conv computed once), "first": bool (optional; default: the first entry)}]
    ssa:    [{"name", "T", "heads", "tokens", "head_dim", "fr_q", "fr_k", "fr_v"}]
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    out_layers = []
    total_macs = total_acs = 0.0
    layers = list(layers)
    has_first = any("first" in layer for layer in layers)
    for i, layer in enumerate(layers):
        ops = float(layer["dense_ops"])
        rate = float(layer.get("rate", 1.0))
        first = bool(layer.get("first")) if has_first else i == 0
        macs = acs = 0.0
        if first:
            mode = "mac-first"
            macs = ops
            if first_layer_times_t and int(layer.get("runs_per_image", time_steps)) == 1 and time_steps > 1:
                macs *= time_steps
        elif layer.get("binary"):
            mode = "ac"
            acs = rate * ops
        elif convention == "integer-as-spikes" and layer.get("integer"):
            mode = "ac-integer"
            acs = rate * ops
        else:
            mode = "mac"
            macs = ops
        if mode.startswith("mac"):
            rate = 1.0  # the tool records non-spiking inputs as 100 %
        total_macs += macs
        total_acs += acs
        out_layers.append({"name": str(layer["name"]), "sops": acs, "macs": macs, "mj": energy_mj(macs, acs),
                           "rate": rate, "mode": mode})
    for blk in ssa:
        fr = min(float(blk["fr_k"]), float(blk["fr_v"])) + float(blk["fr_q"])
        acs = float(blk["T"]) * float(blk["heads"]) * float(blk["tokens"]) * float(blk["head_dim"]) ** 2 * fr
        total_acs += acs
        out_layers.append({"name": str(blk["name"]), "sops": acs, "macs": 0.0, "mj": energy_mj(0.0, acs),
                           "rate": fr, "mode": "ssa"})
    conv = f"{convention}; first layer {'x T' if first_layer_times_t else 'once'}; E_MAC 4.6 pJ, E_AC 0.9 pJ; " \
           f"SSA T*h*N*d^2*(min(fr_K,fr_V)+fr_Q)"
    return {"total_mj": energy_mj(total_macs, total_acs), "convention": conv, "macs": total_macs,
            "acs": total_acs, "layers": out_layers}


class EnergyRecorder:
    """Forward pre-hooks (installed only inside `recording()`) that gather `compute_energy`'s inputs."""

    def __init__(self, model: Any):
        import torch.nn as nn

        self.model = model
        self.time_steps = int(getattr(model, "time_steps", 1) or 1)
        from spikestudio.probe import named_layers

        self.weights = [(n, m) for n, m in named_layers(model) if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
        try:
            self.spiking = set(model.spiking_inputs()) if hasattr(model, "spiking_inputs") else None
        except Exception:  # noqa: BLE001
            self.spiking = None
        self.attn = []
        try:
            from spikestudio.models.layers import AttentionProbeMixin
        except ImportError:  # pragma: no cover
            AttentionProbeMixin = ()  # type: ignore
        for name, m in named_layers(model):
            if AttentionProbeMixin and isinstance(m, AttentionProbeMixin):
                lifs = {k: getattr(m, f"{k}_lif", None) for k in ("q", "k", "v")}
                if all(v is not None for v in lifs.values()):
                    self.attn.append((name, m, lifs))
        self.reset()

    def reset(self) -> None:
        self.images = 0
        self._stats: dict[str, dict] = {}
        self._order: list[str] = []
        self._lif: dict[str, list] = {}  # key -> [sum, numel]
        self._attn_shape: dict[str, tuple] = {}

    def count_images(self, n: int) -> None:
        self.images += int(n)
        self._batch = int(n)

    def _weight_hook(self, name: str):
        import torch
        import torch.nn as nn

        def hook(m, inputs, output):
            x = inputs[0] if inputs else None
            if not isinstance(x, torch.Tensor):
                return
            with torch.no_grad():
                if isinstance(m, nn.Linear):
                    tokens = x.numel() // x.shape[-1]
                    ops = tokens * (m.in_features * m.out_features + (m.out_features if m.bias is not None else 0))
                    runs = x.shape[0] if x.dim() >= 3 else 1
                else:
                    out_per_map = output[0].numel()  # C_out·H_out·W_out (or C_out·L)
                    k = 1
                    for v in m.kernel_size:
                        k *= v
                    ops = output.shape[0] * (k * (m.in_channels // m.groups) * out_per_map
                                             + (out_per_map if m.bias is not None else 0))
                    runs = output.shape[0]
                xf = x.detach()
                s = self._stats.get(name)
                if s is None:
                    s = self._stats[name] = {"ops": 0, "sum": xf.new_zeros((), dtype=torch.float64), "numel": 0,
                                             "nonbin": xf.new_zeros((), dtype=torch.bool),
                                             "nonint": xf.new_zeros((), dtype=torch.bool), "runs": 0}
                    self._order.append(name)
                s["ops"] += int(ops)
                s["runs"] += int(runs)
                s["sum"] += xf.sum(dtype=torch.float64)
                s["numel"] += xf.numel()
                s["nonbin"] |= ((xf != 0) & (xf != 1)).any()
                s["nonint"] |= ((xf < 0) | (xf != xf.round())).any()

        return hook

    def _lif_hook(self, key: str, attn_name: str):
        import torch

        def hook(m, inputs, output):
            if isinstance(output, torch.Tensor):
                with torch.no_grad():
                    acc = self._lif.setdefault(key, [output.new_zeros((), dtype=torch.float64), 0])
                    acc[0] += output.detach().sum(dtype=torch.float64)
                    acc[1] += output.numel()
                    if key.endswith(".q"):
                        self._attn_shape[attn_name] = tuple(output.shape)

        return hook

    @contextmanager
    def recording(self):
        handles = []
        try:
            for name, m in self.weights:
                handles.append(m.register_forward_hook(self._weight_hook(name)))
            for name, m, lifs in self.attn:
                for k, lif in lifs.items():
                    handles.append(lif.register_forward_hook(self._lif_hook(f"{name}.{k}", name)))
            yield self
        finally:
            for h in handles:
                h.remove()

    def layer_stats(self) -> tuple[list[dict], list[dict]]:
        n = max(1, self.images)
        layers = []
        for i, name in enumerate(self._order):
            s = self._stats[name]
            observed_binary = not bool(s["nonbin"])
            binary = (name in self.spiking) if self.spiking is not None else observed_binary
            if binary and not observed_binary:
                binary = observed_binary  # never count a float input as spikes
            layers.append({"name": name, "dense_ops": s["ops"] / n, "rate": float(s["sum"]) / max(1, s["numel"]),
                           "binary": binary, "integer": not bool(s["nonint"]), "runs_per_image": s["runs"] / n,
                           "first": i == 0})
        ssa = []
        for name, m, _ in self.attn:
            shape = self._attn_shape.get(name)
            if shape is None or len(shape) < 3:
                continue
            rates = {}
            for k in ("q", "k", "v"):
                acc = self._lif.get(f"{name}.{k}")
                rates[k] = float(acc[0]) / max(1, acc[1]) if acc else 0.0
            heads = int(getattr(m, "num_heads", 1))
            T = int(shape[0])
            per_sample = 1
            for v in shape[2:]:
                per_sample *= int(v)
            D = getattr(m, "dim", None)  # attention modules that state their width (QKFormer, Meta-SpikeFormer)
            for attr in () if D else ("q_proj", "q_linear", "q_conv"):
                mod = getattr(m, attr, None)
                if mod is not None:
                    D = getattr(mod, "out_features", None) or getattr(mod, "out_channels", None)
                    break
            if not D:
                continue
            tokens = per_sample // int(D)
            ssa.append({"name": f"{name} (ssa)", "T": T, "heads": heads, "tokens": tokens, "head_dim": int(D) // heads,
                        "fr_q": rates["q"], "fr_k": rates["k"], "fr_v": rates["v"]})
        return layers, ssa

    def report(self, convention: str = "binary-only", first_layer_times_t: bool = True) -> Optional[dict]:
        layers, ssa = self.layer_stats()
        if not layers and not ssa:
            return None
        return compute_energy(layers, ssa, self.time_steps, convention, first_layer_times_t)
