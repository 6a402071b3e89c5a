"""Attention that computes masks is recorded as what it is (issue #15): QKFormer's QKTA token masks and QKCA channel
masks, SDT's SDSA column masks -- kinds and shapes through spikestudio.probe.attention, the recorder and the
`attention` event; Meta-SpikeFormer's and QKFormer's SSA blocks stay N x N maps."""

import jsonschema
import numpy as np
import pytest
import torch

from event_schema import validate_event
from spikestudio import probe
from spikestudio.models import build_model
from spikestudio.telemetry.probes import AttentionRecorder, attention_payload, dequantize_map

NEURON = {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True, "surrogate": "sigmoid", "alpha": 4.0}
SMALL = {"qkformer": dict(variant="cifar", embed_dim=64, num_heads=4, depth=3, img_size=16),
         "sdt": dict(variant="cifar", embed_dim=32, num_heads=4, depth=2, img_size=16),
         "meta-spikeformer": dict(variant="imagenet", embed_dim=32, num_heads=4, depth=3, img_size=32)}


def small(arch: str, **kw):
    cfg = dict(arch=arch, in_channels=3, num_classes=5, time_steps=2, neuron=dict(NEURON), **SMALL[arch])
    cfg.update(kw)
    torch.manual_seed(0)
    return build_model(cfg).eval()


def record(model, size: int):
    rec = AttentionRecorder(model, samples=[0, 1])
    with torch.no_grad(), rec.recording():
        model(torch.randn(2, 3, size, size) * 2)
    return rec.maps()


def by_block(maps):
    out = {}
    for m in maps:
        out.setdefault(m["block"], []).append(m)
    return out


def test_qkformer_token_masks_then_maps():
    """cifar QKFormer, 16 px: stage 1 QKTA (16 x 16 tokens, 4 heads of 16 ch), stage 2 QKTA (8 x 8), stage 3 SSA."""
    m = small("qkformer")
    blocks = by_block(record(m, 16))
    assert sorted(blocks) == [0, 1, 2]
    kinds = {b: {i["kind"] for i in items} for b, items in blocks.items()}
    assert kinds == {0: {"token_mask"}, 1: {"token_mask"}, 2: {"map"}}
    for item in blocks[0]:
        assert item["grid"] == [16, 16] and item["map"].shape == (256,)
        assert set(np.unique(item["map"]).tolist()) <= {0.0, 1.0}
    assert all(i["grid"] == [8, 8] and i["map"].shape == (64,) for i in blocks[1])
    assert all(i["grid"] == [4, 4] and i["map"].shape == (16, 16) for i in blocks[2])
    assert len(blocks[0]) == 4 * 2 * 2  # heads x T x samples


def test_qkformer_token_mask_is_the_attn_lif_output():
    m = small("qkformer")
    seen = {}
    m.stage1[0].tssa.attn_lif.register_forward_hook(lambda mod, i, o: seen.setdefault("a", o.detach()))
    maps = record(m, 16)
    a = seen["a"]  # (T, B, h, 1, N)
    for item in (i for i in maps if i["block"] == 0):
        np.testing.assert_array_equal(item["map"], a[item["time_step"], item["sample"], item["head"], 0].numpy())


def test_qkca_channel_masks():
    m = small("qkformer", early_attention="qkca")
    blocks = by_block(record(m, 16))
    first = blocks[0]
    assert {i["kind"] for i in first} == {"channel_mask"}
    assert {i["head"] for i in first} == {0}  # one mask over all channels
    assert all(i["grid"] == [1, 16] and i["map"].shape == (16,) for i in first)  # stage 1 width 64 / 4


def test_sdt_column_masks():
    m = small("sdt")
    seen = {}
    m.block[0].attn.talking_heads_lif.register_forward_hook(lambda mod, i, o: seen.setdefault("a", o.detach()))
    blocks = by_block(record(m, 16))
    assert sorted(blocks) == [0, 1]
    for item in blocks[0]:
        assert item["kind"] == "column_mask" and item["grid"] == [1, 8] and item["map"].shape == (8,)
        np.testing.assert_array_equal(item["map"], seen["a"][item["time_step"], item["sample"], item["head"], 0].numpy())
    assert len(blocks[0]) == 4 * 2 * 2


def test_meta_spikeformer_maps():
    maps = record(small("meta-spikeformer"), 32)
    assert maps and {i["kind"] for i in maps} == {"map"}
    assert all(i["map"].shape == (i["grid"][0] * i["grid"][1],) * 2 for i in maps)


@pytest.mark.parametrize("arch,early", [("qkformer", "qkta"), ("qkformer", "qkca"), ("sdt", None)])
def test_mask_events_validate_and_round_trip(arch, early):
    m = small(arch, **({"early_attention": early} if early else {}))
    for item in record(m, 16):
        ev = dict(attention_payload(item), type="attention", v=1, t=0.0, seq=1, epoch=1, step=1)
        validate_event(ev)
        assert ev["kind"] == item["kind"]
        mask = ev["kind"] != "map"
        n = item["map"].shape[0]
        back = dequantize_map(ev["map_b64"], ev["scale"], n, mask=mask)
        np.testing.assert_allclose(back, item["map"], atol=ev["scale"] / 255)
    bad = dict(ev, kind="n_by_n")
    with pytest.raises(jsonschema.ValidationError):
        validate_event(bad)


def test_public_api_custom_mask_kind():
    """A researcher's module sends a (T, B, h, L) mask with a mask kind; a map-shaped tensor under a mask kind and a
    mask-shaped tensor under a map kind are ignored (the recorder never mislabels)."""
    class Masker(torch.nn.Module):
        mask_kind = "column_mask"

        def forward(self, x):
            probe.attention(self, (x > 0).float().reshape(1, x.shape[0], 2, 3), kind="column_mask")
            probe.attention(self, torch.ones(1, x.shape[0], 2, 3, 3), kind="column_mask")  # wrong shape
            return x

    m = Masker()
    rec = AttentionRecorder(m, samples=[0])
    with rec.recording():
        m(torch.tensor([[1.0, -1, 1, 1, -1, 1]]))
    maps = rec.maps()
    assert [(i["head"], i["kind"], i["grid"]) for i in maps] == [(0, "column_mask", [1, 3]), (1, "column_mask", [1, 3])]
    np.testing.assert_array_equal(maps[0]["map"], [1, 0, 1])
    assert probe.event_kind("qk") == "map" and probe.event_kind("token_mask") == "token_mask"
