"""Re-check the resolved config (docs/contracts.md §2) for what the trainer relies on.

The extension/CLI has already validated and filled every default; this is the runtime's own guard so a bad
hand-written or stale config becomes `error{kind:"config"}` naming the dotted key, never a traceback. Missing
keys of `data`, `train` and `telemetry` fall back to the contract's defaults, read from the config schema the runtime
ships with (spikestudio/config_schema.py), as are the allowed values of every enum.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from spikestudio import config_schema
from spikestudio.errors import ConfigError

# The data keys the runtime fills when missing; the readers default their own options (frames, audio, image size).
_FILLED_DATA_KEYS = ("dataset", "root", "batch_size", "eval_batch_size", "num_workers", "limit_train", "limit_eval",
                     "eval_crop_pct", "download")
DEFAULTS: dict[str, dict[str, Any]] = {
    "data": config_schema.defaults("data", _FILLED_DATA_KEYS),
    "train": config_schema.defaults("train"),
    "telemetry": config_schema.defaults("telemetry"),
}

OPTIMIZERS = config_schema.choices("train.optimizer")
LOSSES = config_schema.choices("train.loss")
SCHEDULE_UNITS = config_schema.choices("train.schedule_unit")
ENERGY_CONVENTIONS = config_schema.choices("telemetry.energy_convention")
SCHEDULES = config_schema.choices("train.schedule")
AMP = config_schema.choices("train.amp")
AUTO_AUGMENT = config_schema.choices("train.auto_augment")
COMPILE_MODES = config_schema.choices("train.compile")
WEIGHT_DECAY_EXEMPT = config_schema.choices("train.weight_decay_exempt")
DEVICE_PATTERN = config_schema.field("train.device")["pattern"]


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
    if not isinstance(dev, str) or not re.fullmatch(DEVICE_PATTERN, dev):
        raise ConfigError("train.device", f"must be auto, cpu, cuda or cuda:N, got {json.dumps(dev)}")
    amp = t["amp"]
    if amp is None or (isinstance(amp, str) and amp.strip().lower() in ("false", "none", "off", "")):
        amp = False
    if isinstance(amp, str):
        amp = amp.strip().lower()
    if amp not in AMP:
        *rest, last = [json.dumps(a) for a in AMP]
        raise ConfigError("train.amp", f"must be {', '.join(rest)} or {last}, got {json.dumps(t['amp'])}")
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
    _choice(t, "train", "temporal_grad", config_schema.choices("train.temporal_grad"))

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
