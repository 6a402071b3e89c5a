"""The training-memory estimate (spikestudio.telemetry.memory): equal to the TypeScript one (src/core/arch
estimateTrainingMemory / largestBatchThatFits) on presets, largest_batch_that_fits consistent with the estimate,
and the trainer's OOM error naming the largest batch that fits on a (faked) GPU."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from spikestudio.describe import describe_model
from spikestudio.presets import get_preset
from spikestudio.telemetry.memory import (
    MEMORY_OVERHEAD_MB,
    estimate_training_memory_mb,
    largest_batch_that_fits,
)

from test_train_run import _assert_failed, run, tiny_config

REPO = Path(__file__).resolve().parents[2]
PRESETS = ["spikformer-tiny/mnist", "spikformer-4-256/cifar10", "spikingformer-2-256-t10/cifar10-dvs"]
CASES = [(64, False, 8192.0), (16, "bf16", 24576.0), (3, "fp16", 4000.0)]
OPTIONS = [None, {"recompute_membranes": True}, {"pack_spikes": True, "recompute_membranes": True, "checkpoint_blocks": True},
           {"temporal_grad": "sltt", "checkpoint_blocks": True}]


def _ts_numbers(models: list[dict]) -> list[list[dict]]:
    """[[{total_mb, fits}, ...per CASE], ...per model] from the TypeScript side via `npx tsx -e`."""
    script = (
        "import { predictModel, estimateTrainingMemory, largestBatchThatFits } from './src/core/arch';\n"
        f"const models = {json.dumps(models)};\n"
        f"const cases = {json.dumps([[b, a, m, o or {}] for o in OPTIONS for b, a, m in CASES])};\n"
        "console.log(JSON.stringify(models.map((mc) => { const p = predictModel(mc);\n"
        "  return cases.map(([b, amp, mem, o]) => ({ total_mb: estimateTrainingMemory(p, b, { amp, ...o }).total_mb,\n"
        "    fits: largestBatchThatFits(p, mem, { amp, ...o }) })); })));\n"
    )
    p = subprocess.run(["npx", "--no-install", "tsx", "-e", script], cwd=REPO, capture_output=True, text=True,
                       timeout=60, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def described() -> dict[str, dict]:
    return {name: describe_model(get_preset(name)["model"]) for name in PRESETS}


def test_python_estimate_equals_typescript(described):
    if shutil.which("node") is None or shutil.which("npx") is None:
        pytest.skip("node/npx not on PATH: cannot run the TypeScript estimate (src/core/arch) to compare with")
    if not (REPO / "node_modules" / ".bin" / "tsx").exists():
        pytest.skip("tsx is not installed in node_modules (run npm install at the repository root)")
    ts = _ts_numbers([get_preset(name)["model"] for name in PRESETS])
    for name, ts_cases in zip(PRESETS, ts):
        desc = described[name]
        for (batch, amp, mem, o), t in zip([(b, a, m, o) for o in OPTIONS for b, a, m in CASES], ts_cases):
            assert estimate_training_memory_mb(desc, batch, amp, o) == pytest.approx(t["total_mb"], rel=1e-12), (name, batch, amp, o)
            assert largest_batch_that_fits(desc, mem, amp, o) == t["fits"], (name, mem, amp, o)


@pytest.mark.parametrize("amp", [False, "bf16"])
def test_largest_batch_is_monotone_and_consistent(described, amp):
    for name, desc in described.items():
        assert estimate_training_memory_mb(desc, 2, amp) > estimate_training_memory_mb(desc, 1, amp) > MEMORY_OVERHEAD_MB
        prev = 0
        for mem in [0.0, 100.0, 500.0, 600.0, 1000.0, 4096.0, 8192.0, 24576.0, 81920.0]:
            n = largest_batch_that_fits(desc, mem, amp)
            assert n >= prev, (name, mem)
            prev = n
            if n == 0:
                assert estimate_training_memory_mb(desc, 1, amp) > mem
            else:
                assert estimate_training_memory_mb(desc, n, amp) <= mem + 1e-9
                assert estimate_training_memory_mb(desc, n + 1, amp) > mem
    # AMP halves the activation bytes, so at least as many samples fit
    desc = described[PRESETS[1]]
    assert largest_batch_that_fits(desc, 8192.0, "bf16") >= largest_batch_that_fits(desc, 8192.0, False)


FAKE_GPU = r"""
import torch
import spikestudio.models as M
import spikestudio.telemetry.memory as memory

FAKE_MB = 2048.0
memory.gpu_total_memory = lambda device: ("Fake GPU 2G", FAKE_MB)  # a GPU's total memory, faked on CPU
_build = M.build_model

def build_model(cfg):
    model = _build(cfg)
    forward = model.forward
    def oom_when_training(*args, **kwargs):
        if model.training:  # describe_model's trace runs in eval mode; the first training step runs out of memory
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(*args, **kwargs)
    model.forward = oom_when_training
    return model

M.build_model = build_model
"""


def test_oom_error_names_the_largest_batch_that_fits(tmp_path):
    cfg = tiny_config(train={"epochs": 1, "max_steps_per_epoch": 2, "recompute_membranes": True})
    p, events = run(tmp_path, cfg, prelude=FAKE_GPU)
    err = _assert_failed(p, events, "oom", 1)
    desc = next(e for e in events if e["type"] == "model")
    from spikestudio.train.config import check_config

    opts = check_config(cfg)["train"]  # the run's options (recompute_membranes on, as set above)
    n = largest_batch_that_fits(desc, 2048.0, False, opts)
    est = estimate_training_memory_mb(desc, 64, False, opts)
    assert est < estimate_training_memory_mb(desc, 64, False)
    assert n > 0
    assert f"the largest batch that fits by the estimate is {n} " in err["message"]
    assert f"estimated {est:,.0f} MB at batch 64 vs 2,048 MB on Fake GPU 2G" in err["message"]
    assert "out of memory at step 1" in err["message"] and "data.batch_size" in err["hint"]
    assert "Traceback" not in p.stderr


def test_a_failing_estimate_never_masks_the_oom(tmp_path):
    prelude = FAKE_GPU.replace('memory.gpu_total_memory = lambda device: ("Fake GPU 2G", FAKE_MB)',
                               "memory.gpu_total_memory = lambda device: 1 / 0  # a broken estimate")
    p, events = run(tmp_path, tiny_config(train={"epochs": 1, "max_steps_per_epoch": 2}), prelude=prelude)
    err = _assert_failed(p, events, "oom", 1)
    assert err["message"].startswith("out of memory at step 1: CUDA out of memory")
    assert "largest batch" not in err["message"] and "largest batch" not in err["hint"]
    assert "memory estimate unavailable (ZeroDivisionError" in p.stderr
