"""The built-in architectures report firing and attention only through the public probe API (issue "Your own
model": no private path the users lack): the firing recorder sees exactly the modules `spikestudio.is_spiking`
recognises, with the spikes their forward returns; every attention map a recorder (or the ONNX exporter) gets
passed through `spikestudio.probe.attention`, so silencing that one function silences them all."""

import re
from pathlib import Path

import pytest
import torch

import spikestudio
from spikestudio import probe
from spikestudio.models import build_model
from spikestudio.telemetry.probes import AttentionRecorder, FiringRecorder

NEURON = {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True, "surrogate": "sigmoid", "alpha": 4.0}
ARCHS = {
    "spikformer": dict(arch="spikformer", embed_dim=16, num_heads=2, depth=2, time_steps=3, img_size=16),
    "spikingformer": dict(arch="spikingformer", embed_dim=16, num_heads=2, depth=2, time_steps=3, img_size=16),
    "spikeformer": dict(arch="spikeformer", embed_dim=16, num_heads=2, depth=2, mlp_ratio=2, time_steps=2, in_channels=1,
                        num_classes=10, img_size=16, tokenizer_channels=[8, 16], tokenizer_strides=[2, 2],
                        tokenizer_kernel=3, drop_path=0.0, neuron=dict(NEURON)),
    "stsa": dict(arch="stsa", embed_dim=16, num_heads=2, depth=1, mlp_ratio=2, time_steps=2, in_channels=2, num_classes=11,
                 img_size=32, mlp_dropout=0.0, neuron=dict(NEURON)),
}
BLOCKS = {"spikformer": 2, "spikingformer": 2, "spikeformer": 2, "stsa": 1}


def _model(arch):
    torch.manual_seed(0)
    return build_model(dict(ARCHS[arch])).eval()


def _input(model, arch):
    c = ARCHS[arch].get("in_channels", 1 if arch != "stsa" else 2)
    s = ARCHS[arch]["img_size"]
    return torch.rand(2, c, s, s) * 3


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_firing_is_what_the_public_recognition_and_outputs_give(arch):
    m = _model(arch)
    public = [(n, mod) for n, mod in m.named_modules() if spikestudio.is_spiking(mod)]
    rec = FiringRecorder(m)
    assert [n for n, _ in rec.layers] == [n for n, _ in public if not any(n.startswith(o + ".") for o, _ in public if o != n)]
    seen: dict[str, list] = {}
    handles = [mod.register_forward_hook(lambda mod, i, o, n=n: seen.setdefault(n, []).append(probe.spikes_of(o).detach()))
               for n, mod in rec.layers]
    with torch.no_grad(), rec.recording():
        m(_input(m, arch))
    for h in handles:
        h.remove()
    rates = {r["name"]: r["rate"] for r in rec.rates()}
    assert set(rates) == set(seen)
    for name, outs in seen.items():  # a hand count of the spikes each neuron returned
        assert rates[name] == pytest.approx(sum(float(o.sum()) for o in outs) / sum(o.numel() for o in outs), abs=1e-12)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_attention_maps_pass_only_through_probe_attention(arch, monkeypatch):
    m = _model(arch)
    x = _input(m, arch)
    real = probe.attention
    callers = []

    def spy(module, maps, tokens=None, kind="attention"):
        callers.append(module)
        return real(module, maps, tokens, kind)

    monkeypatch.setattr(probe, "attention", spy)
    rec = AttentionRecorder(m, samples=[0])
    with torch.no_grad(), rec.recording():
        m(x)
    blocks = {item["block"] for item in rec.maps()}
    assert len(set(map(id, callers))) == BLOCKS[arch] and blocks == set(range(BLOCKS[arch])), (len(callers), blocks)

    monkeypatch.setattr(probe, "attention", lambda *a, **k: None)  # the public function silenced: nothing arrives
    rec = AttentionRecorder(m, samples=[0])
    with torch.no_grad(), rec.recording():
        m(x)
    assert rec.maps() == []


def test_the_models_use_no_private_probe_hook():
    """The model files reach the recorders only through the public names (probe.attention / probe.active, the
    neurons' documented `_probe` slot aside); no exporter-only hook on a model module."""
    root = Path(spikestudio.__file__).resolve().parent
    for f in sorted((root / "models").glob("*.py")):
        text = f.read_text(encoding="utf-8")
        for private in ("_sink", "_export_attn", "recording_attention", "_receive"):
            assert not re.search(rf"\b{private}\b", text), f"{f.name} uses {private}"
    assert "_export_attn" not in (root / "export" / "onnx.py").read_text(encoding="utf-8")
