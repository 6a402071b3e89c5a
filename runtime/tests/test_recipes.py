"""Recipe settings: timm schedule semantics (epoch unit, warmup, cooldown), config defaults of the new keys, the
paper presets' train sections, and a short run with mixup + random erasing + RandAugment + TET."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from spikestudio.errors import ConfigError
from spikestudio.train.config import DEFAULTS, check_config
from spikestudio.train.schedule import LRSchedule

from test_train_run import run, tiny_config


def timm_cosine(e, lr, warmup_lr, warmup, epochs, min_lr):
    """timm 0.6 CosineLRScheduler._get_lr(e) (t_in_epochs, warmup_prefix=False, cycle_limit=1)."""
    if e < warmup:
        return warmup_lr + e * (lr - warmup_lr) / warmup
    if e >= epochs:
        return min_lr
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * e / epochs))


def test_epoch_unit_matches_timm_cosine_with_warmup_and_cooldown():
    t = {"schedule": "cosine", "schedule_unit": "epoch", "lr": 5e-4, "min_lr": 1e-5, "warmup_lr": 1e-5,
         "warmup_epochs": 20, "cooldown_epochs": 10}
    s = LRSchedule(t, steps_per_epoch=7, epochs=300)
    for e in (0, 1, 10, 19, 20, 21, 150, 299, 300, 305, 309):
        want = timm_cosine(e, 5e-4, 1e-5, 20, 300, 1e-5)
        assert s.lr_at(e * 7) == pytest.approx(want) and s.lr_at(e * 7 + 6) == pytest.approx(want), e
    assert s.lr_at(20 * 7) == pytest.approx(1e-5 + 0.5 * (5e-4 - 1e-5) * (1 + math.cos(math.pi * 20 / 300)))
    assert s.lr_at(300 * 7) == 1e-5  # cooldown at min_lr


def test_step_unit_cooldown_sits_at_min_lr():
    t = {"schedule": "cosine", "lr": 1e-3, "min_lr": 1e-5, "warmup_lr": 1e-6, "warmup_epochs": 0, "cooldown_epochs": 2}
    s = LRSchedule(t, steps_per_epoch=10, epochs=3)
    assert s.lr_at(29) == pytest.approx(1e-5) and s.lr_at(30) == 1e-5 and s.lr_at(49) == 1e-5


def test_epoch_unit_step_schedule():
    t = {"schedule": "step", "schedule_unit": "epoch", "lr": 1e-3, "min_lr": 0, "warmup_lr": 0.0,
         "warmup_epochs": 25, "decay_epochs": 192, "decay_rate": 0.1}
    s = LRSchedule(t, steps_per_epoch=2, epochs=600)
    assert s.lr_at(0) == 0.0 and s.lr_at(2 * 10) == pytest.approx(1e-3 * 10 / 25)
    assert s.lr_at(2 * 100) == pytest.approx(1e-3) and s.lr_at(2 * 200) == pytest.approx(1e-4)


def test_new_keys_default_and_validate():
    base = tiny_config()
    cfg = check_config(base)
    for k in ("loss", "mixup_alpha", "checkpoint_every_steps", "randaugment", "cooldown_epochs", "schedule_unit"):
        assert cfg["train"][k] == DEFAULTS["train"][k]
    assert cfg["telemetry"]["energy_convention"] == "binary-only" and cfg["telemetry"]["attention_samples"] == 2
    for path, value in [("train.loss", "mse"), ("train.randaugment", "rand-x"), ("train.mixup_prob", 2),
                        ("telemetry.energy_convention", "both"), ("train.checkpoint_every_steps", 0),
                        ("train.schedule_unit", "batch"), ("train.nesterov", "yes")]:
        bad = json.loads(json.dumps(base))
        section, key = path.split(".")
        bad[section][key] = value
        with pytest.raises(ConfigError) as ei:
            check_config(bad)
        assert ei.value.key == path if hasattr(ei.value, "key") else path in str(ei.value)


def test_paper_presets_train_sections_are_valid():
    presets = json.loads((Path(__file__).resolve().parents[1] / "spikestudio" / "presets" / "presets.json").read_text())
    n = 0
    for name, p in presets.items():
        if "model" not in p or "train" not in p:
            continue
        cfg = {"version": 1, "model": p["model"], "data": p.get("data", {}), "train": p["train"],
               "telemetry": p.get("telemetry", {})}
        check_config(cfg)  # every preset's train section passes the runtime's checks
        n += 1
    assert n > 0


def test_short_run_with_mixup_erasing_randaugment_and_tet(tmp_path):
    cfg = tiny_config(data={"limit_train": 128, "limit_eval": 50, "batch_size": 32},
                      train={"epochs": 2, "max_steps_per_epoch": 2, "loss": "tet", "mixup_alpha": 0.8,
                             "cutmix_alpha": 1.0, "mixup_off_epoch": 1, "reprob": 0.25, "label_smoothing": 0.1,
                             "randaugment": "rand-m9-n1-mstd0.4-inc1", "schedule_unit": "epoch",
                             "cooldown_epochs": 1, "warmup_epochs": 1},
                      telemetry={"step_every": 1, "attention_samples": 0})
    p, events = run(tmp_path, cfg)
    assert p.returncode == 0, p.stderr
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == 6 and all(math.isfinite(s["loss"]) for s in steps)  # 2 + 1 cooldown epochs
    assert [e["epochs"] for e in events if e["type"] == "epoch"] == [3, 3, 3]
    assert steps[0]["lr"] == pytest.approx(1e-6) and steps[-1]["lr"] == pytest.approx(1e-5)
