"""ONNX export of QKFormer (per_sample SSA neuron), SDT v1 and Meta-SpikeFormer: ONNX Runtime gives PyTorch's logits
within float tolerance and exactly PyTorch's spike counts per neuron layer and binary attention masks (QKTA / QKCA /
SDSA, mask:<block>) (inputs drawn clear of every threshold, as in test_export_archs.py); QKFormer's batch-coupled `reference` neuron is refused with one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from spikestudio import neurons  # noqa: E402
from spikestudio.errors import SpikeStudioError  # noqa: E402
from spikestudio.export.onnx import ExportWrapper, export_mode, export_onnx, inputs_clear_of_threshold  # noqa: E402
from spikestudio.models import build_model  # noqa: E402

torch.set_num_threads(1)
_NEURON = {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True, "surrogate": "sigmoid", "alpha": 4.0}

# name: (model section, dataset, kind of each attention block in model order: "qk" = Q K^T map, else a mask kind)
CASES = {
    "qkformer-cifar": (dict(arch="qkformer", variant="cifar", embed_dim=32, num_heads=2, depth=3, img_size=8,
                            ssa_neuron="per_sample"), "cifar10", ["token_mask", "token_mask", "qk"]),
    "qkformer-dvs-qkca": (dict(arch="qkformer", variant="dvs", embed_dim=32, num_heads=2, depth=2, img_size=32,
                               mlp_ratio=1, in_channels=2, num_classes=11, early_attention="qkca",
                               ssa_neuron="per_sample"), "dvs128-gesture", ["channel_mask", "qk"]),
    "sdt-erode": (dict(arch="sdt", variant="dvs", embed_dim=16, num_heads=2, depth=1, img_size=16, in_channels=2,
                       num_classes=11, dvs_mode=True, reference_compat=True), "dvs128-gesture", ["column_mask"]),
    "sdt-cifar": (dict(arch="sdt", variant="cifar", embed_dim=16, num_heads=2, depth=2, img_size=8), "cifar10",
                  ["column_mask", "column_mask"]),
    "meta-kd": (dict(arch="meta-spikeformer", variant="imagenet", embed_dim=16, num_heads=2, depth=3, img_size=32,
                     distillation_head=True), "cifar10", ["qk", "qk", "qk"]),
}


def _cfg(mc):
    """attn_v_threshold 0.45: the attention neurons integrate integer (x 0.125) sums, whose membranes can sit exactly
    on 0.5 -- exact in both runtimes, but min_margin would then reject every input."""
    base = dict(in_channels=3, num_classes=10, time_steps=2, mlp_ratio=2, attn_v_threshold=0.45, neuron=dict(_NEURON))
    base.update(mc)
    return base


def _active(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_var.copy_(torch.rand(n, generator=g) * 0.02 + 0.01)
                m.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
                m.weight.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) + 0.2)
    return model.eval()


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnxruntime_matches_pytorch(tmp_path, case):
    mc, dataset, kinds = CASES[case]
    mc = _cfg(mc)
    torch.manual_seed(0)
    model = _active(build_model(mc))
    path = tmp_path / "m.onnx"
    meta = export_onnx(model, {"model": mc, "data": {"dataset": dataset}}, path, probes=True)
    probes = json.loads(meta["spikestudio.probes"])
    lifs = [n for n, m in model.named_modules() if isinstance(m, neurons.LIF)]
    assert [f["name"] for f in probes["firing"]] == lifs
    assert sorted((a["block"], a["kind"]) for a in probes["attention"]) == list(enumerate(kinds))
    for a in probes["attention"]:
        assert a["output"] == ("attn:" if a["kind"] == "qk" else "mask:") + str(a["block"])
    assert not any("instead of N x N maps" in n for n in probes.get("notes", []))  # masks are exported now
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frames = dataset == "dvs128-gesture"
    side = mc["img_size"]
    shape = (mc["time_steps"], mc["in_channels"], side, side) if frames else (mc["in_channels"], side, side)
    wrapper = ExportWrapper(model, True).eval()
    nf = len(lifs)
    fired, mask_ones = set(), 0
    for x in inputs_clear_of_threshold(model, (2, *shape), count=2, tries=300):
        with torch.no_grad(), export_mode(model):
            ref = wrapper(x)
        with torch.no_grad():
            assert torch.equal(model(x), ref[0])
        got = sess.run(None, {"input": x.numpy()})
        np.testing.assert_allclose(got[0], ref[0].numpy(), atol=1e-4, rtol=0)
        for name, g_, r_ in zip(lifs, got[1:1 + nf], ref[1:1 + nf], strict=True):
            np.testing.assert_array_equal(g_, r_.numpy(), err_msg=name)  # equal spike counts
            if g_.sum() > 0:
                fired.add(name)
        for g_, r_ in zip(got[1 + nf:], ref[1 + nf:], strict=True):
            np.testing.assert_array_equal(g_, r_.numpy())  # Q K^T of spikes: integers; masks: 0 / 1
        outputs = dict(zip([o.name for o in sess.get_outputs()], got))
        masks = _pytorch_masks(model, x)
        assert sorted(masks) == [i for i, k in enumerate(kinds) if k != "qk"]
        for block, want in masks.items():  # exactly the masks of the model's own forward
            a = next(a for a in probes["attention"] if a["block"] == block)
            assert a["kind"] == kinds[block] and a["heads"] == want.shape[2]
            assert a["grid"][0] * a["grid"][1] == want.shape[3]
            np.testing.assert_array_equal(outputs[a["output"]], want, err_msg=a["output"])
            assert set(np.unique(want)) <= {0.0, 1.0}
            mask_ones += int(want.sum())
    assert mask_ones > 0 or kinds.count("qk") == len(kinds), "every mask is all zeros"
    assert len(fired) >= nf // 2, f"only {sorted(fired)} of {nf} layers fire"


def _pytorch_masks(model, x) -> dict:
    """block -> (T, B, h, L) masks reported through spikestudio.probe.attention by the model's plain forward (not in
    export mode), blocks numbered by layers.attention_modules as the recorder does."""
    from spikestudio import probe
    from spikestudio.models.layers import attention_modules

    block = {id(m): i for i, m in enumerate(attention_modules(model))}
    seen = {}

    def sink(module, maps, tokens, kind):
        if kind in probe.MASK_KINDS:
            seen[block[id(module)]] = maps.numpy().copy()

    with torch.no_grad(), probe.recording_attention(sink):
        model(x)
    return seen


def test_qkformer_reference_neuron_is_refused_in_one_line(tmp_path):
    mc = _cfg(dict(CASES["qkformer-cifar"][0], ssa_neuron="reference"))
    with pytest.raises(SpikeStudioError) as err:
        export_onnx(build_model(mc).eval(), {"model": mc, "data": {"dataset": "cifar10"}}, tmp_path / "m.onnx")
    msg = str(err.value)
    assert "\n" not in msg and "stage3.0.ssa.proj_lif" in msg and "per_sample" in msg
