"""Energy per spec §6 / §3.5: the Spikingformer tool's worked example and the recorder on real modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikestudio.telemetry.energy import EnergyRecorder, compute_energy, energy_mj


class Wrap(nn.Module):
    """A stand-in with the Spikingformer-8-512 ImageNet first conv (3→64, 3×3, 224²) and head (512→1000)."""

    time_steps = 4

    def __init__(self):
        super().__init__()
        self.proj_conv = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.head = nn.Linear(512, 1000)

    def forward(self, x):
        y = self.proj_conv(x)  # static image: computed once, repeated over T
        return self.head(y.mean((2, 3)).repeat(1, 8))


def test_spikingformer_8_512_worked_example():
    """§3.5: first conv 3→64 at 224², T=4 → 346,816,512 MACs; total MACs 0.3473 G (first conv + head); 6.5175 G
    ACs (all spiking conv/linear layers plus the SSA term, given only as a total) → 7.46 mJ."""
    model = Wrap()
    rec = EnergyRecorder(model)
    with torch.no_grad(), rec.recording():
        rec.count_images(2)
        model(torch.randn(2, 3, 224, 224))
    layers, ssa = rec.layer_stats()
    assert [l["name"] for l in layers] == ["proj_conv", "head"]
    assert layers[0]["dense_ops"] == 3 * 3 * 3 * 64 * 224 * 224  # 86,704,128 per time step
    assert layers[1]["dense_ops"] == 512 * 1000 + 1000
    acs_total = 6.5175e9
    layers.append({"name": "spiking conv/linear + SSA (the log's AC total)", "dense_ops": acs_total / 0.125,
                   "rate": 0.125, "binary": True, "integer": True, "runs_per_image": 4})
    rep = compute_energy(layers, [], time_steps=4, convention="binary-only", first_layer_times_t=True)
    assert rep["layers"][0]["macs"] == 346_816_512
    assert rep["macs"] == pytest.approx(0.3473e9, rel=2e-4)
    assert rep["acs"] == pytest.approx(acs_total)
    assert rep["total_mj"] == pytest.approx(7.46, abs=0.05)
    assert abs(rep["total_mj"] - 7.46) < 0.01  # 7.4635
    # first layer not multiplied by T: the MAC term shrinks by 3/4 of the first conv
    once = compute_energy(layers, [], time_steps=4, first_layer_times_t=False)
    assert rep["total_mj"] - once["total_mj"] == pytest.approx(4.6e-9 * 3 * 86_704_128)
    assert "binary-only" in rep["convention"] and "x T" in rep["convention"]


def test_8_768_totals():
    assert energy_mj(0.5210e9, 12.514e9) == pytest.approx(13.66, abs=0.01)


def test_ssa_term_formula():
    blk = {"name": "b0", "T": 4, "heads": 8, "tokens": 196, "head_dim": 64, "fr_q": 0.1, "fr_k": 0.05, "fr_v": 0.2}
    rep = compute_energy([], [blk], time_steps=4)
    assert rep["acs"] == pytest.approx(4 * 8 * 196 * 64 ** 2 * (0.05 + 0.1))


def test_conventions_on_a_spikformer():
    from spikestudio.models import build_model

    from test_train_run import tiny_config

    model = build_model(tiny_config()["model"]).eval()
    rec = EnergyRecorder(model)
    with torch.no_grad(), rec.recording():
        x = torch.randn(4, 1, 28, 28)
        rec.count_images(4)
        model(x)
    strict = rec.report("binary-only")
    loose = rec.report("integer-as-spikes")
    names = [l["name"] for l in strict["layers"]]
    assert names[0] == "tokenizer.stages.0.conv" and strict["layers"][0]["mode"] == "mac-first"
    modes = {l["name"]: l["mode"] for l in strict["layers"]}
    assert modes["blocks.0.attn.q_proj"] == "mac" and modes["blocks.0.attn.proj"] == "ac"
    assert modes["head"] == "mac" and modes["blocks.0.attn (ssa)"] == "ssa"
    lmodes = {l["name"]: l["mode"] for l in loose["layers"]}
    assert lmodes["blocks.0.attn.q_proj"] == "ac-integer"  # the integer residual stream counted as spikes
    assert loose["total_mj"] < strict["total_mj"]
    assert all(0 <= l["rate"] <= 2 for l in strict["layers"])
    # first conv (static image, computed once) counted T times
    first = strict["layers"][0]
    assert first["macs"] == pytest.approx(rec.layer_stats()[0][0]["dense_ops"] * model.time_steps)
