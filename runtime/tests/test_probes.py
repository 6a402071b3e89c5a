"""Firing-rate and attention probes."""

import numpy as np
import pytest
import torch

from event_schema import validate_event
from spikestudio.models import build_model
from spikestudio.neurons import LIF
from spikestudio.telemetry.probes import (
    AttentionRecorder,
    FiringRecorder,
    attention_payload,
    dequantize_map,
    quantize_map,
)



def model(arch="spikformer"):
    return build_model(dict(arch=arch, embed_dim=16, num_heads=2, depth=2, time_steps=3, img_size=16)).eval()


@pytest.mark.parametrize("arch", ["spikformer", "spikingformer"])
def test_rates_match_spike_counts(arch):
    m = model(arch)
    rec = FiringRecorder(m)
    seen = {}

    def hook(mod, i, o):
        seen.setdefault(mod, []).append(o.detach().clone())

    handles = [l.register_forward_hook(hook) for l in m.modules() if isinstance(l, LIF)]
    x1, x2 = torch.randn(2, 1, 16, 16) * 3, torch.randn(3, 1, 16, 16) * 3
    with torch.no_grad(), rec.recording():
        m(x1)
        m(x2)
    for h in handles:
        h.remove()
    rates = rec.rates()
    names = {mod: n for n, mod in m.named_modules()}
    assert len(rates) == sum(isinstance(l, LIF) for l in m.modules())
    by_name = {r["name"]: r for r in rates}
    for mod, outs in seen.items():
        r = by_name[names[mod]]
        total = sum(o.sum().item() for o in outs) / sum(o.numel() for o in outs)
        assert r["rate"] == pytest.approx(total)
        assert len(r["per_t"]) == 3
        per_t0 = sum(o[0].sum().item() for o in outs) / sum(o[0].numel() for o in outs)
        assert r["per_t"][0] == pytest.approx(per_t0)
        assert 0.0 <= r["rate"] <= 1.0 and all(0.0 <= v <= 1.0 for v in r["per_t"])
    assert any(r["rate"] > 0 for r in rates)
    event = {"v": 1, "type": "firing", "t": 0.0, "seq": 3, "epoch": 1, "step": 2, "split": "eval", "layers": rates}
    validate_event(event)


def test_not_recording_accumulates_nothing_and_leaves_no_hooks():
    m = model()
    rec = FiringRecorder(m)
    m(torch.randn(2, 1, 16, 16))
    assert rec.rates() == []
    with rec.recording():
        assert rec.active
        m(torch.randn(2, 1, 16, 16))
    assert not rec.active
    n = len(rec.rates())
    before = [r["rate"] for r in rec.rates()]
    m(torch.randn(2, 1, 16, 16) * 5)  # outside: no change
    assert [r["rate"] for r in rec.rates()] == before and n > 0
    for l in m.modules():
        if isinstance(l, LIF):
            assert "_probe" not in l.__dict__ and l._probe is None
            assert not l._forward_hooks and not l._forward_pre_hooks
    rec.reset()
    assert rec.rates() == []


def test_recording_cleans_up_after_an_exception():
    m = model()
    rec = FiringRecorder(m)
    with pytest.raises(RuntimeError):
        with rec.recording():
            raise RuntimeError("boom")
    assert not rec.active


def test_attention_maps_are_q_kt():
    m = model()
    caps = {}
    attn = m.blocks[1].attn
    attn.q_lif.register_forward_hook(lambda mod, i, o: caps.__setitem__("q", o))
    attn.k_lif.register_forward_hook(lambda mod, i, o: caps.__setitem__("k", o))
    rec = AttentionRecorder(m, samples=[1, 7])  # 7 is beyond the batch: skipped
    x = torch.randn(2, 1, 16, 16) * 3
    with torch.no_grad(), rec.recording():
        m(x)
    maps = rec.maps()
    assert len(maps) == 2 * 2 * 3 * 1  # blocks x heads x T x samples
    T, B, N, D = caps["q"].shape
    q = caps["q"].reshape(T, B, N, 2, D // 2).transpose(2, 3)
    k = caps["k"].reshape(T, B, N, 2, D // 2).transpose(2, 3)
    for item in maps:
        assert item["grid"] == [4, 4] and item["map"].shape == (16, 16) and item["sample"] == 1
        if item["block"] == 1:
            ref = (q[item["time_step"], 1, item["head"]] @ k[item["time_step"], 1, item["head"]].T).numpy()
            np.testing.assert_array_equal(item["map"], ref)
    assert "_attn_probe" not in attn.__dict__


def test_attention_selection_and_payload():
    m = model("spikingformer")
    rec = AttentionRecorder(m, samples=[0], heads=[1], time_steps=[2], blocks=[0])
    with torch.no_grad(), rec.recording():
        m(torch.randn(1, 1, 16, 16) * 3)
    maps = rec.maps()
    assert [(i["block"], i["head"], i["time_step"]) for i in maps] == [(0, 1, 2)]
    ev = dict(attention_payload(maps[0]), type="attention", v=1, t=0.0, seq=5, epoch=1, step=10)
    validate_event(ev)


def test_quantize_round_trip():
    a = np.arange(16, dtype=np.float64).reshape(4, 4)
    b64, scale = quantize_map(a)
    assert scale == 15.0
    back = dequantize_map(b64, scale, 4)
    assert np.abs(back - a).max() <= scale / 255 / 2 + 1e-12
    b64z, sz = quantize_map(np.zeros((3, 3)))
    assert sz == 1.0 and dequantize_map(b64z, sz, 3).sum() == 0
