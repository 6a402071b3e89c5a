"""Training-memory options (train/recompute.py, train/sltt.py, bench/memory.py): the exact options give the plain
path's gradients (Spikformer and Spikingformer, alone and combined, torch and Triton-interpreter LIF), save less,
and SLTT's saved bytes do not grow with T."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from spikestudio.models import build_model
from spikestudio.presets import get_preset
from spikestudio.train import recompute
from spikestudio.train.config import DEFAULTS, check_config
from spikestudio.train.memory import SpikePacker

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "runtime" / "bench" / "memory.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_memory", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _model(arch: str, backend: str = "torch"):
    cfg = copy.deepcopy(get_preset("spikformer-tiny/mnist")["model"])
    cfg["arch"] = arch
    cfg["embed_dim"], cfg["num_heads"] = 32, 2
    cfg["neuron"]["backend"] = backend
    torch.manual_seed(0)
    return build_model(cfg).train()


def _step(model, x, y, pack=False, amp=False):
    model.zero_grad(set_to_none=True)
    p = SpikePacker(model) if pack else None
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp), (p.step() if p else torch.enable_grad()):
            out = model(x)
        F.cross_entropy(out.float(), y).backward()
    finally:
        if p:
            p.remove()
    grads = {n: q.grad.detach().clone() for n, q in model.named_parameters() if q.grad is not None}
    bufs = {n: b.detach().clone() for n, b in model.named_buffers()}
    return out.detach(), grads, bufs


def _assert_close(ref, got, amp=False):
    assert torch.equal(ref[0], got[0])
    assert ref[1].keys() == got[1].keys()
    for k in ref[1]:
        scale = ref[1][k].abs().max().item() + 1e-12
        tol = 1e-2 if amp else 1e-5  # relative to the gradient's magnitude (backward sums may reorder)
        assert (ref[1][k] - got[1][k]).abs().max().item() <= tol * scale, k
    for k in ref[2]:
        assert torch.equal(ref[2][k], got[2][k]), k  # running statistics updated once, as in the plain path


OPTION_SETS = [("recompute",), ("checkpoint",), ("recompute", "checkpoint"), ("recompute", "checkpoint", "pack")]


@pytest.mark.parametrize("arch", ["spikformer", "spikingformer"])
@pytest.mark.parametrize("opts", OPTION_SETS, ids=["+".join(o) for o in OPTION_SETS])
@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "bf16"])
def test_exact_options_give_the_plain_gradients(arch, opts, amp):
    base = _model(arch)
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(4, 1, 28, 28, generator=g) * 2, torch.randint(0, 10, (4,), generator=g)
    ref = _step(copy.deepcopy(base), x, y, amp=amp)
    m = copy.deepcopy(base)
    if "recompute" in opts:
        assert recompute.install_recompute(m) > 0
    if "checkpoint" in opts:
        assert recompute.install_checkpoint_blocks(m) == 1
    got = _step(m, x, y, pack="pack" in opts, amp=amp)
    _assert_close(ref, got, amp)
    # a second step on the same model: nothing left behind by the first
    _assert_close(_step(copy.deepcopy(base), x, y, amp=amp)[:2] + (got[2],), _step(m, x, y, pack="pack" in opts, amp=amp)[:2] + (got[2],), amp)
    recompute.remove(m)
    assert not any("_memory_patched" in mod.__dict__ for mod in m.modules())


def test_recompute_with_the_triton_kernel_in_the_interpreter():
    pytest.importorskip("triton")
    code = r"""
import copy, torch, torch.nn.functional as F, sys
sys.path.insert(0, 'tests')
from test_memory_options import _model, _step, _assert_close
from spikestudio.train import recompute
for arch in ('spikformer', 'spikingformer'):
    base = _model(arch, backend='triton')
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(2, 1, 28, 28, generator=g) * 2, torch.randint(0, 10, (2,), generator=g)
    ref = _step(copy.deepcopy(base), x, y)
    m = copy.deepcopy(base)
    assert recompute.install_recompute(m) > 0
    _assert_close(ref, _step(m, x, y))
print('ok')
"""
    env = dict(os.environ, SPIKESTUDIO_TRITON_INTERPRET="1", TRITON_INTERPRET="1")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "runtime", env=env, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr[-3000:]


def test_lif_core_forward_without_h_equals_with_h():
    from spikestudio.neurons import lif_backward, lif_forward

    x = torch.randn(5, 3, 7) * 2
    cfg = (2.0, 1.0, 0.0, True, "sigmoid", 4.0, True)
    s1, h, v1 = lif_forward(x, *cfg, keep_h=True)
    s2, none, v2 = lif_forward(x, *cfg, keep_h=False)
    assert none is None and torch.equal(s1, s2) and torch.equal(v1, v2)
    # carried state: two halves equal the whole
    sa, _, va = lif_forward(x[:2], *cfg)
    sb, _, _ = lif_forward(x[2:], *cfg, v0=va)
    assert torch.equal(torch.cat([sa, sb]), s1)
    assert lif_backward(torch.ones_like(x), h, *cfg).shape == x.shape


def test_saved_bytes_drop_and_sltt_is_flat_in_t():
    bench = _load_bench()
    m = {o: bench.measure("spikformer-tiny/mnist", 4, "fp32", bench.parse_options(o), time_it=False)["saved_mib_per_image"]
         for o in ("plain", "pack", "recompute", "checkpoint", "exact", "sltt")}
    assert m["exact"] < min(m["pack"], m["recompute"], m["checkpoint"]) < m["plain"]
    assert m["exact"] < m["plain"] / 3, m
    t8 = bench.measure("spikformer-tiny/mnist", 8, "fp32", bench.parse_options("sltt"), time_it=False)
    assert t8["saved_mib_per_image"] <= 1.1 * m["sltt"]
    p8 = bench.measure("spikformer-tiny/mnist", 8, "fp32", bench.parse_options("plain"), time_it=False)
    assert p8["saved_mib_per_image"] > 1.5 * m["plain"]


def test_bench_json_cli():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "runtime"))
    p = subprocess.run([sys.executable, str(BENCH), "--preset", "spikformer-tiny/mnist", "--time-steps", "4", "--dtype",
                        "bf16", "--options", "exact", "--json", "--steps", "1"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["saved_mib_per_image"] > 0 and r["options"] == "checkpoint+pack+recompute" and r["step_s"] > 0


def test_sltt_gradient_is_the_spatial_part_and_matches_bptt_at_t1():
    """At T = 1 there is no temporal path: SLTT's gradient equals BPTT's. At T > 1 the per-step forward equals the
    full forward's spikes at the first step."""
    from spikestudio.train import sltt

    base = _model("spikformer")
    base.time_steps = 1
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(4, 1, 28, 28, generator=g), torch.randint(0, 10, (4,), generator=g)
    ref = _step(copy.deepcopy(base), x, y)
    m = copy.deepcopy(base)
    m.zero_grad()
    logits, loss = sltt.train_step(m, m, x, lambda o: F.cross_entropy(o, y), lambda l: l.backward())
    assert torch.allclose(logits, ref[0])
    for k, v in ref[1].items():
        assert torch.allclose(dict(m.named_parameters())[k].grad, v, rtol=1e-5, atol=1e-7), k


def test_config_keys_and_errors():
    from test_train_run import tiny_config

    assert DEFAULTS["train"]["recompute_membranes"] is False  # off by default: it costs step time on CPU (bench/memory.py)
    assert DEFAULTS["train"]["checkpoint_blocks"] is False and DEFAULTS["train"]["temporal_grad"] == "bptt"
    for key, bad in (("recompute_membranes", "yes"), ("checkpoint_blocks", 1), ("temporal_grad", "tbptt")):
        with pytest.raises(Exception) as ei:
            check_config(tiny_config(train={key: bad}))
        assert getattr(ei.value, "key", "") == f"train.{key}"


def test_trainer_runs_with_every_option(tmp_path):
    from test_train_run import run, tiny_config

    losses = {}
    for name, extra in (("plain", {"recompute_membranes": False}), ("exact", {"recompute_membranes": True,
                        "checkpoint_blocks": True, "pack_spikes": True}), ("sltt", {"temporal_grad": "sltt"})):
        cfg = tiny_config(train={"epochs": 1, "max_steps_per_epoch": 3, **extra}, telemetry={"step_every": 1})
        (tmp_path / name).mkdir()
        p, events = run(tmp_path / name, cfg)
        assert p.returncode == 0, p.stderr[-2000:]
        losses[name] = [e["loss"] for e in events if e["type"] == "step"]
        assert events[-1]["type"] == "done" and events[-1]["status"] == "completed"
    assert losses["plain"] == pytest.approx(losses["exact"], rel=1e-5)
    assert len(losses["sltt"]) == 3
