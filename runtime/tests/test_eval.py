"""`python -m spikestudio eval --checkpoint FILE`: events on stdout and a JSON summary."""

from __future__ import annotations

import json
import subprocess
import sys

from test_train_run import VALIDATOR, env, run, tiny_config


def test_eval_command_on_a_checkpoint(tmp_path):
    cfg = tiny_config(data={"limit_train": 128, "limit_eval": 80, "batch_size": 32},
                      train={"max_steps_per_epoch": 3, "epochs": 1})
    p, events = run(tmp_path, cfg)
    assert p.returncode == 0, p.stderr
    train_eval = [e for e in events if e["type"] == "eval"][-1]
    ck = tmp_path / "run" / "checkpoints" / "last.pt"
    out = tmp_path / "summary.json"
    q = subprocess.run([sys.executable, "-m", "spikestudio", "eval", "--checkpoint", str(ck), "--out", str(out)],
                       env=env(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert q.returncode == 0, q.stderr
    evs = [json.loads(line) for line in q.stdout.splitlines()]
    for e in evs:
        errors = sorted(VALIDATOR.iter_errors(e), key=str)
        assert not errors, f"{e['type']}: {errors[0].message}"
    assert [e["type"] for e in evs] == ["hello", "model", "eval", "firing", "energy", "done"]
    ev = evs[2]
    assert ev["top1"] == train_eval["top1"] and abs(ev["loss"] - train_eval["loss"]) < 1e-6 and ev["samples"] == 80
    s = json.loads(out.read_text())
    assert s["top1"] == ev["top1"] and s["top5"] == ev["top5"] and s["energy"]["total_mj"] > 0 and s["firing"]
    assert s["epoch"] == 1 and s["step"] == 3 and s["split"] == "test"


def test_eval_missing_checkpoint_is_a_config_error(tmp_path):
    q = subprocess.run([sys.executable, "-m", "spikestudio", "eval", "--checkpoint", str(tmp_path / "nope.pt")],
                       env=env(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert q.returncode == 2
    evs = [json.loads(line) for line in q.stdout.splitlines()]
    assert [e["type"] for e in evs] == ["hello", "error", "done"] and evs[1]["kind"] == "config"
