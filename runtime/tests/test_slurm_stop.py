"""Slurm support in the trainer: SIGUSR1 and the stop file (SPIKE_STOP_FILE, touched by the batch script) stop at a
step boundary with a checkpoint; a requeued job's resume (SPIKE_SLURM=1, SLURM_RESTART_COUNT>0) emits `requeued`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from test_train_run import VALIDATOR, env, tiny_config, write_config


def _events(run_dir):
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]


def _wait_for_step(run_dir, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "events.jsonl").exists() and any(e["type"] == "step" for e in _events(run_dir)):
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    raise AssertionError("no step event")


def _start(cfg_path, run_dir, extra_env=None, resume=False):
    e = env()
    e.update(extra_env or {})
    args = ["--resume", str(run_dir)] if resume else ["--config", str(cfg_path), "--run-dir", str(run_dir)]
    return subprocess.Popen([sys.executable, "-m", "spikestudio", "train", *args], env=e, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _cfg():
    return tiny_config(train={"epochs": 50, "max_steps_per_epoch": 8}, telemetry={"step_every": 1, "firing_every": 50})


def test_sigusr1_stops_with_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start(write_config(tmp_path, _cfg()), run_dir)
    _wait_for_step(run_dir, proc)
    proc.send_signal(signal.SIGUSR1)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    done = _events(run_dir)[-1]
    assert done["type"] == "done" and done["status"] == "stopped"
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_stop_file_then_requeued_resume_emits_requeued(tmp_path):
    run_dir = tmp_path / "run"
    stop = tmp_path / "stop-signal"
    proc = _start(write_config(tmp_path, _cfg()), run_dir, {"SPIKE_STOP_FILE": str(stop)})
    _wait_for_step(run_dir, proc)
    stop.touch()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    first = _events(run_dir)
    assert first[-1]["status"] == "stopped"
    stopped_at = first[-1]["steps"]
    # the requeued job (the stop file already there: it stops again after its first step, which keeps this short)
    proc = _start(None, run_dir, {"SPIKE_SLURM": "1", "SLURM_RESTART_COUNT": "1", "SLURM_JOB_ID": "42", "SPIKE_STOP_FILE": str(stop)},
                  resume=True)
    assert proc.wait(timeout=180) == 0, proc.stderr.read()
    events = _events(run_dir)
    requeued = [e for e in events if e["type"] == "requeued"]
    assert len(requeued) == 1, [e["type"] for e in events[len(first):]]
    assert requeued[0]["step"] == stopped_at and requeued[0]["restarts"] == 1 and requeued[0]["job_id"] == "42"
    for e in events:
        VALIDATOR.validate(e)
