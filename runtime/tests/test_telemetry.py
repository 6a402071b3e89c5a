"""Live telemetry from a real tiny run: energy and attention events at each evaluation (schema-valid), the
energy's convention string, and the step/eval fields."""

from __future__ import annotations

import base64

import numpy as np

from test_train_run import run, tiny_config


def test_energy_and_attention_events_at_each_eval(tmp_path):
    cfg = tiny_config(data={"limit_train": 320, "limit_eval": 100, "batch_size": 32},
                      train={"max_steps_per_epoch": 5},
                      telemetry={"step_every": 5, "firing_every": 5, "energy_convention": "integer-as-spikes"})
    p, events = run(tmp_path, cfg)  # validates every event against the schema
    assert p.returncode == 0, p.stderr
    evals = [e for e in events if e["type"] == "eval"]
    energy = [e for e in events if e["type"] == "energy"]
    assert len(energy) == len(evals) == 2
    for en, ev in zip(energy, evals):
        assert en["step"] == ev["step"] and en["seq"] > ev["seq"]
        assert en["total_mj"] > 0 and en["convention"].startswith("integer-as-spikes")
        assert abs(sum(l["mj"] for l in en["layers"]) - en["total_mj"]) < 1e-12
        assert en["samples"] == 100
        modes = {l["mode"] for l in en["layers"]}
        assert {"mac-first", "ac", "ssa"} <= modes  # (the head is "mac", or "ac-integer" while its input is all 0)
    att = [e for e in events if e["type"] == "attention"]
    # 2 probe samples x 1 block x 2 heads x T=2, at each of the 2 evaluations
    assert len(att) == 2 * 8
    a = att[0]
    n = a["grid"][0] * a["grid"][1]
    q = np.frombuffer(base64.b64decode(a["map_b64"]), dtype=np.uint8)
    assert q.size == n * n and {x["sample"] for x in att} == {0, 1}
    steps = [e for e in events if e["type"] == "step"]
    assert all("peak_mem_mb" not in s for s in steps)  # CPU: no peak memory field


def test_telemetry_off_switches(tmp_path):
    cfg = tiny_config(data={"limit_train": 128, "limit_eval": 50, "batch_size": 32},
                      train={"max_steps_per_epoch": 2, "epochs": 1},
                      telemetry={"energy": False, "attention_every_eval": False})
    p, events = run(tmp_path, cfg)
    assert p.returncode == 0, p.stderr
    types = {e["type"] for e in events}
    assert "energy" not in types and "attention" not in types and "eval" in types
