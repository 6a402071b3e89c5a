"""Exact resume: a run killed with SIGKILL mid-epoch (after a mid-epoch checkpoint) and resumed with
`train --resume RUN_DIR` has bitwise the same per-step losses as an uninterrupted run (CPU, one thread)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from test_train_run import RUNTIME, VALIDATOR, env, tiny_config, write_config


def _cfg():
    return tiny_config(
        model={"embed_dim": 16, "num_heads": 2, "time_steps": 2},
        data={"batch_size": 16, "limit_train": 256, "limit_eval": 64, "eval_batch_size": 64},
        train={"epochs": 2, "max_steps_per_epoch": 8, "checkpoint_every_steps": 3, "lr": 0.003,
               "mixup_alpha": 0.5, "reprob": 0.25},  # augmentation draws must be resumed too
        telemetry={"step_every": 1, "firing_every": 5, "attention_samples": 1},
    )


def _cmd(*args):
    return [sys.executable, "-m", "spikestudio", "train", *args]


def _events(run_dir):
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _losses(events):
    """step -> loss, the last occurrence winning (a resumed run supersedes the steps after its checkpoint)."""
    d = {}
    for e in events:
        if e["type"] == "step":
            d[e["step"]] = e["loss"]
    return d


@pytest.mark.parametrize("accum", [1, 2])  # train.accum_steps 2: 8 optimiser steps of 2 micro-batches per epoch
def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path, accum):
    cfg = _cfg()
    cfg["train"]["accum_steps"] = accum
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    cfg_path = write_config(tmp_path, cfg)
    ref = subprocess.run(_cmd("--config", str(cfg_path), "--run-dir", str(ref_dir)), env=env(), capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert ref.returncode == 0, ref.stderr
    ref_losses = _losses(_events(ref_dir))
    assert sorted(ref_losses) == list(range(1, 17))

    # the interrupted run: SIGKILL once the step-12 checkpoint (epoch 2, step 4 of 8) is written
    proc = subprocess.Popen(_cmd("--config", str(cfg_path), "--run-dir", str(cut_dir)), env=env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    killed_at = None
    try:
        for line in proc.stdout:
            e = json.loads(line)
            if e["type"] == "checkpoint" and e["step"] == 12:
                proc.send_signal(signal.SIGKILL)
                killed_at = e["step"]
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert killed_at == 12
    before = _events(cut_dir)
    assert before[-1]["type"] != "done"

    res = subprocess.run(_cmd("--resume", str(cut_dir)), env=env(), capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    stdout_events = [json.loads(line) for line in res.stdout.splitlines()]
    for e in stdout_events:
        errors = sorted(VALIDATOR.iter_errors(e), key=str)
        assert not errors, f"{e['type']}: {errors[0].message}"
    hello = stdout_events[0]
    assert hello["type"] == "hello" and hello["resume"]["step"] == 12 and hello["resume"]["epoch"] == 2
    assert any(e["type"] == "warning" and "resumed" in e["message"] for e in stdout_events)
    # seq continues after the interrupted run's last event; the file is the two runs' events back to back
    assert stdout_events[0]["seq"] == before[-1]["seq"] + 1
    after = _events(cut_dir)
    assert [e["seq"] for e in after] == list(range(len(after)))
    first_step = next(e for e in stdout_events if e["type"] == "step")
    assert first_step["step"] == 13 and first_step["epoch_step"] == 5

    cut_losses = _losses(after)
    assert cut_losses == ref_losses  # bitwise: JSON floats round-trip exactly
    assert stdout_events[-1]["type"] == "done" and stdout_events[-1]["status"] == "completed"
    assert stdout_events[-1]["steps"] == 16
    ref_eval = [e for e in _events(ref_dir) if e["type"] == "eval"][-1]
    cut_eval = [e for e in after if e["type"] == "eval"][-1]
    assert (cut_eval["loss"], cut_eval["top1"]) == (ref_eval["loss"], ref_eval["top1"])


def test_resume_without_checkpoint_is_a_config_error(tmp_path):
    run_dir = tmp_path / "empty"
    run_dir.mkdir()
    p = subprocess.run(_cmd("--resume", str(run_dir)), env=env(), capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 2, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert [e["type"] for e in events] == ["hello", "error", "done"]
    assert events[1]["kind"] == "config" and "last.pt" in events[1]["message"]


def test_emitter_resume_cuts_torn_line_and_continues_seq(tmp_path):
    from spikestudio.protocol import Emitter

    (tmp_path / "events.jsonl").write_text('{"v":1,"type":"hello","t":1,"seq":0}\n{"v":1,"type":"step","t":1,"seq":1}\n{"v":1,"ty')
    em = Emitter(None, tmp_path, resume=True)
    em.emit("warning", message="x")
    em.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["seq"] == 2
