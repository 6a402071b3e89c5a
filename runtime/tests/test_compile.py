"""`train.compile` (train/compiled.py): the compiled training step trains exactly like the eager one, compiles once
(no recompile per step, none for the eager firing-telemetry steps, the epoch's eval/train switch or the second
epoch), says so with `phase` events valid against events.schema.json, and never ends a run: a bad backend, a
compile error at the first step, or a combination it cannot compile (train.pack_spikes) trains eagerly with a
`warning` naming train.compile.

The equality and recompile checks use SPIKESTUDIO_COMPILE_BACKEND=aot_eager (dynamo + AOT autograd, no inductor
codegen: seconds). One test compiles with inductor for real, cold cache then warm in a fresh process: ~55 s on 2 CPU
cores (SPIKESTUDIO_TEST_INDUCTOR=0 skips it; it needs a C++ compiler). runtime/bench/compile_cache.py measures
spikformer-tiny/mnist.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from spikestudio.errors import ConfigError
from spikestudio.train.config import check_config
from test_train_run import command, env, parse_and_validate, tiny_config, write_config

# an atexit hook in the training process: dynamo's counters on stderr, to count compiles over the whole run
COUNTERS_PRELUDE = """
import atexit, json, sys
def _dump():
    from torch._dynamo.utils import counters
    sys.stderr.write("DYNAMO_COUNTERS " + json.dumps({k: dict(v) for k, v in counters.items()}) + "\\n")
atexit.register(_dump)
"""

# a backend that fails when dynamo hands it the graph: the compile error surfaces in the first forward
FAILING_BACKEND_PRELUDE = COUNTERS_PRELUDE + """
import torch._dynamo
@torch._dynamo.register_backend
def spikestudio_test_failing(gm, example_inputs):
    raise RuntimeError("no C++ compiler here (simulated)")
"""


def cfg(compile_mode: str = "off", **train):
    return tiny_config(
        model={"embed_dim": 16, "num_heads": 2, "time_steps": 2},
        data={"batch_size": 16, "limit_train": 128, "limit_eval": 32, "eval_batch_size": 32},
        train={"epochs": 2, "max_steps_per_epoch": 4, "lr": 0.003, "compile": compile_mode, **train},
        # firing every 3 steps: steps 3 and 6 run eagerly (the recorder's probes) between compiled ones
        telemetry={"step_every": 1, "firing_every": 3, "attention_samples": 1},
    )


def train(tmp_path, config: dict, name: str, backend: str | None = None, prelude: str | None = COUNTERS_PRELUDE,
          cache_home=None):
    """A training subprocess; returns (returncode, stderr, events, dynamo counters or None)."""
    d = tmp_path / name
    d.mkdir()
    e = env()
    for key in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "SPIKESTUDIO_COMPILE_BACKEND"):
        e.pop(key, None)
    e["XDG_CACHE_HOME"] = str(cache_home or (tmp_path / "xdg-cache"))  # never the user's ~/.cache
    if backend:
        e["SPIKESTUDIO_COMPILE_BACKEND"] = backend
    run_dir = d / "run"
    p = subprocess.run(command(write_config(d, config), run_dir, prelude), capture_output=True, text=True, env=e,
                       stdin=subprocess.DEVNULL, timeout=600)
    events = parse_and_validate(p.stdout, run_dir)
    counters = None
    for line in p.stderr.splitlines():
        if line.startswith("DYNAMO_COUNTERS "):
            counters = json.loads(line[len("DYNAMO_COUNTERS "):])
    return p.returncode, p.stderr, events, counters


def losses(events):
    return [e["loss"] for e in events if e["type"] == "step"]


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


@pytest.fixture(scope="module")
def eager_losses(tmp_path_factory):
    rc, err, events, _ = train(tmp_path_factory.mktemp("eager"), cfg("off"), "eager")
    assert rc == 0, err
    assert not of_type(events, "phase")
    out = losses(events)
    assert len(out) == 8
    return out


# ------------------------------------------------------------------------------------------------ config


def test_config_default_and_validation():
    assert check_config(tiny_config())["train"]["compile"] == "off"
    for mode in ("off", "default", "reduce-overhead", "max-autotune-no-cudagraphs"):
        assert check_config(tiny_config(train={"compile": mode}))["train"]["compile"] == mode
    assert check_config(tiny_config(train={"compile": "Default "}))["train"]["compile"] == "default"
    assert check_config(tiny_config(train={"compile": False}))["train"]["compile"] == "off"
    for bad in ("max-autotune", "inductor", True, 1):
        with pytest.raises(ConfigError) as e:
            check_config(tiny_config(train={"compile": bad}))
        assert e.value.key == "train.compile" and "reduce-overhead" in str(e.value)


def test_skip_reasons():
    from spikestudio.models import build_model
    from spikestudio.neurons import LIF
    from spikestudio.train.compiled import skip_reason

    model = build_model(cfg()["model"])
    t = check_config(cfg("default"))["train"]
    assert skip_reason(model, t, records_every_step=False) is None
    assert "train.pack_spikes" in skip_reason(model, dict(t, pack_spikes=True), records_every_step=False)
    assert "telemetry.firing_every" in skip_reason(model, t, records_every_step=True)
    next(m for m in model.modules() if isinstance(m, LIF)).backend = "triton"  # as model.neuron.backend: triton
    assert "model.neuron.backend" in skip_reason(model, t, records_every_step=False)


def test_cache_folder_follows_xdg_and_respects_the_users_choice(monkeypatch, tmp_path):
    from spikestudio.train import compiled

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    monkeypatch.setattr(compiled, "_ENV_AT_START", {})
    import torch._functorch.config as fc
    import torch._inductor.config as ic

    monkeypatch.setattr(ic, "fx_graph_cache", False)
    monkeypatch.setattr(fc, "enable_autograd_cache", False)
    monkeypatch.setattr(fc, "force_non_lazy_backward_lowering", False)
    want = tmp_path / "xdg" / "spike-studio" / "torch-compile"
    assert compiled.setup_cache() == str(want)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(want) and os.environ["TRITON_CACHE_DIR"] == str(want / "triton")
    assert ic.fx_graph_cache and fc.enable_autograd_cache and fc.force_non_lazy_backward_lowering
    # torch._dynamo's import writes inductor's default folder into the environment: not the user's choice
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    monkeypatch.delenv("TRITON_CACHE_DIR")
    assert compiled.setup_cache() == str(want)
    # a folder the user set is kept
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton-mine"))
    assert compiled.setup_cache() == str(tmp_path / "mine")
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "triton-mine")


# ------------------------------------------------------------------------------------------------ training


def test_compiled_run_matches_eager_and_compiles_once(tmp_path, eager_losses):
    rc, err, events, counters = train(tmp_path, cfg("default"), "compiled", backend="aot_eager")
    assert rc == 0, err
    assert "Traceback" not in err
    assert losses(events) == pytest.approx(eager_losses, abs=1e-5)
    assert not of_type(events, "warning"), of_type(events, "warning")
    phases = of_type(events, "phase")
    assert [(p["name"], p["state"]) for p in phases] == [("compile", "start"), ("compile", "end")]
    start, end = phases
    types = [e["type"] for e in events]
    # start before the first step, end right after the first (compiled) step
    assert types.index("phase") < types.index("step")
    assert events[events.index(end) + 1]["type"] == "step" and events[events.index(end) + 1]["step"] == 1
    assert start["mode"] == "default" and start["backend"] == "aot_eager" and start["cache_dir"] is None
    assert end["ok"] is True and end["seconds"] > 0 and end["cache"] == "none" and end["graphs"] == 1
    # one graph for 8 steps over 2 epochs (eager firing steps 3 and 6, eval in between): no recompiles
    assert counters is not None, err[-2000:]
    assert counters["stats"]["unique_graphs"] == 1, counters
    assert counters["frames"]["total"] == 1, counters
    assert not counters.get("recompiles"), counters
    assert len(of_type(events, "firing")) == 4  # 2 train (eager steps) + 2 eval: telemetry unchanged
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed"


def test_invalid_backend_trains_eagerly_with_a_warning(tmp_path, eager_losses):
    rc, err, events, _ = train(tmp_path, cfg("default"), "badbackend", backend="no_such_backend")
    assert rc == 0, err
    warnings = of_type(events, "warning")
    assert len(warnings) == 1 and "train.compile" in warnings[0]["message"]
    assert "no_such_backend" in warnings[0]["message"] and "eager" in warnings[0]["message"]
    assert not of_type(events, "phase")
    assert losses(events) == pytest.approx(eager_losses, abs=1e-5)
    assert events[-1]["status"] == "completed"


def test_compile_error_at_the_first_step_falls_back_to_eager(tmp_path, eager_losses):
    rc, err, events, _ = train(tmp_path, cfg("default"), "failing", backend="spikestudio_test_failing",
                               prelude=FAILING_BACKEND_PRELUDE)
    assert rc == 0, err
    warnings = of_type(events, "warning")
    assert len(warnings) == 1, warnings
    assert "train.compile" in warnings[0]["message"] and "no C++ compiler here (simulated)" in warnings[0]["message"]
    start, end = of_type(events, "phase")
    assert start["state"] == "start" and end["state"] == "end" and end["ok"] is False
    assert events.index(start) < events.index(warnings[0]) < events.index(end)
    assert losses(events) == pytest.approx(eager_losses, abs=1e-5)  # the failed step re-ran eagerly, exactly
    assert events[-1]["status"] == "completed"


def test_pack_spikes_skips_compile_with_a_warning(tmp_path):
    rc, err, events, _ = train(tmp_path, cfg("default", pack_spikes=True), "packed", backend="aot_eager")
    assert rc == 0, err
    warnings = of_type(events, "warning")
    assert len(warnings) == 1 and "train.compile" in warnings[0]["message"]
    assert "train.pack_spikes" in warnings[0]["message"]
    assert not of_type(events, "phase")
    assert events[-1]["status"] == "completed"


def _cxx() -> bool:
    return any(shutil.which(c) for c in filter(None, (os.environ.get("CXX"), "g++", "c++", "clang++")))


@pytest.mark.skipif(os.environ.get("SPIKESTUDIO_TEST_INDUCTOR") == "0" or not _cxx(),
                    reason="SPIKESTUDIO_TEST_INDUCTOR=0, or no C++ compiler for inductor's CPU code")
def test_inductor_cold_then_warm_cache(tmp_path, eager_losses):
    cache_home = tmp_path / "cache-home"
    runs = []
    for name in ("cold", "warm"):
        rc, err, events, counters = train(tmp_path, cfg("default"), name, cache_home=cache_home)
        assert rc == 0, err
        assert not of_type(events, "warning"), of_type(events, "warning")
        assert counters["stats"]["unique_graphs"] == 1, counters
        runs.append((events, of_type(events, "phase")[-1]))
    (cold, cold_end), (warm, warm_end) = runs
    assert cold_end["cache_dir"] == str(cache_home / "spike-studio" / "torch-compile")
    assert cold_end["cache"] == "cold" and warm_end["cache"] == "warm"
    # how much faster warm is, is measured by runtime/bench/compile_cache.py (no timing asserts in tests)
    assert losses(cold) == pytest.approx(eager_losses, abs=1e-4)  # inductor fuses: rounding differs slightly
    assert losses(warm) == losses(cold)
