"""Validation and defaults of the resolved `model` section (docs/contracts.md §2).

Defaults and allowed values come from the config schema the runtime ships with (spikestudio/config_schema.py).
`normalize_model_cfg` never trusts the caller: every value it relies on is checked and a bad one raises
:class:`~spikestudio.errors.ConfigError` naming the dotted key.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any

from spikestudio import config_schema
from spikestudio.errors import ConfigError
from spikestudio.neurons import DEFAULT_ALPHA

VARIANTS = config_schema.choices("model.variant")
SURROGATES = config_schema.choices("model.neuron.surrogate")
BACKENDS = config_schema.choices("model.neuron.backend")

# alpha None -> the surrogate's default (DEFAULT_ALPHA); backend triton: fused kernel on CUDA tensors (needs triton)
NEURON_DEFAULTS: dict[str, Any] = config_schema.defaults("model.neuron")

# The model keys a built-in architecture's section gets when missing (attn_scale None -> the variant's default);
# the architecture-specific keys (tokenizer, attention, ...) stay absent and each model defaults them.
# Defaults of the architecture-specific keys (null in the config), shared with src/core/arch/index.ts.
ARCH_DEFAULTS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent / "arch_defaults.json").read_text(encoding="utf-8"))

MODEL_DEFAULTS: dict[str, Any] = config_schema.defaults("model", (
    "arch", "variant", "embed_dim", "num_heads", "depth", "mlp_ratio", "time_steps", "in_channels", "num_classes",
    "img_size", "attn_scale", "attn_v_threshold", "reference_compat", "init_from", "neuron_overrides"))


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int(cfg: dict, key: str, minimum: int = 1) -> int:
    v = cfg[key]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not _is_int(v) or v < minimum:
        raise ConfigError(f"model.{key}", f"must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _pos(cfg: dict, key: str, prefix: str = "model") -> float:
    v = cfg[key]
    if not _is_num(v) or not v > 0:
        raise ConfigError(f"{prefix}.{key}", f"must be a number > 0, got {v!r}")
    return float(v)


def _img_size(cfg: dict):
    img = cfg["img_size"]
    if isinstance(img, (list, tuple)):
        if len(img) != 2 or not all(_is_int(v) and v >= 1 for v in img):
            raise ConfigError("model.img_size", f"must be an integer or [height, width], got {img!r}")
        return [int(img[0]), int(img[1])]
    return _int(cfg, "img_size")


def normalize_neuron(neuron: Any, key: str = "model.neuron") -> dict:
    if neuron is None:
        neuron = {}
    if not isinstance(neuron, dict):
        raise ConfigError(key, f"must be a mapping, got {type(neuron).__name__}")
    n = dict(NEURON_DEFAULTS)
    n.update({k: v for k, v in neuron.items()})
    if not _is_num(n["tau"]) or not n["tau"] > 1:
        raise ConfigError(f"{key}.tau", f"must be a number > 1 (SpikingJelly asserts it), got {n['tau']!r}",
                          "LIF decay uses 1/tau; tau = 2.0 is the papers' value (1.5 in Spikingformer's DVS scripts).")
    if not _is_num(n["v_threshold"]) or not n["v_threshold"] > 0:
        raise ConfigError(f"{key}.v_threshold", f"must be a number > 0, got {n['v_threshold']!r}")
    if n["v_reset"] is not None and not _is_num(n["v_reset"]):
        raise ConfigError(f"{key}.v_reset", f"must be a number or null (soft reset), got {n['v_reset']!r}")
    if n["v_reset"] is not None and n["v_reset"] >= n["v_threshold"]:
        raise ConfigError(f"{key}.v_reset", f"must be below v_threshold ({n['v_threshold']}), got {n['v_reset']!r}")
    for b in ("detach_reset", "decay_input"):
        if not isinstance(n[b], bool):
            raise ConfigError(f"{key}.{b}", f"must be true or false, got {n[b]!r}")
    if n["surrogate"] not in SURROGATES:
        raise ConfigError(f"{key}.surrogate", f"must be one of {', '.join(SURROGATES)}, got {n['surrogate']!r}")
    if n["backend"] not in BACKENDS:
        raise ConfigError(f"{key}.backend", f"must be one of {', '.join(BACKENDS)}, got {n['backend']!r}")
    if n["alpha"] is None:
        n["alpha"] = DEFAULT_ALPHA[n["surrogate"]]
    if not _is_num(n["alpha"]) or not n["alpha"] > 0:
        raise ConfigError(f"{key}.alpha", f"must be a number > 0, got {n['alpha']!r}")
    unknown = sorted(set(n) - set(NEURON_DEFAULTS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", f"unknown neuron setting (known: {', '.join(NEURON_DEFAULTS)})")
    n["tau"] = float(n["tau"])
    n["v_threshold"] = float(n["v_threshold"])
    n["v_reset"] = None if n["v_reset"] is None else float(n["v_reset"])
    n["alpha"] = float(n["alpha"])
    return n


def normalize_model_cfg(model_cfg: Any, known_archs=None) -> dict:
    """Fill defaults and validate. Returns a new dict (neuron included)."""
    if not isinstance(model_cfg, dict):
        raise ConfigError("model", f"must be a mapping, got {type(model_cfg).__name__}")
    cfg = dict(MODEL_DEFAULTS)
    cfg.update(model_cfg)
    arch = cfg["arch"]
    if known_archs is not None and arch not in known_archs:
        raise ConfigError("model.arch", f"unknown architecture {arch!r}", f"known: {', '.join(sorted(known_archs))}")
    if cfg["variant"] not in VARIANTS:
        raise ConfigError("model.variant", f"must be one of {', '.join(VARIANTS)}, got {cfg['variant']!r}")
    for key in ("embed_dim", "num_heads", "depth", "time_steps", "in_channels"):
        cfg[key] = _int(cfg, key)
    cfg["num_classes"] = _int(cfg, "num_classes", 2)
    D, h = cfg["embed_dim"], cfg["num_heads"]
    if D % 8 != 0:
        raise ConfigError("model.embed_dim", f"must be a multiple of 8 (the tokenizer uses D/8, D/4, D/2 channels), got {D}",
                          f"try {max(8, round(D / 8) * 8)}")
    if D % h != 0:
        divisors = [k for k in range(1, D + 1) if D % k == 0 and k <= 64]
        raise ConfigError("model.num_heads", f"must divide embed_dim ({D}), got {h}",
                          f"divisors of {D}: {', '.join(map(str, divisors[-8:]))}")
    cfg["mlp_ratio"] = _pos(cfg, "mlp_ratio")
    if int(D * cfg["mlp_ratio"]) < 1:
        raise ConfigError("model.mlp_ratio", "gives an empty MLP hidden layer")
    cfg["img_size"] = _img_size(cfg)
    if cfg["attn_scale"] is not None:
        cfg["attn_scale"] = _pos(cfg, "attn_scale")
    cfg["attn_v_threshold"] = _pos(cfg, "attn_v_threshold")
    if not isinstance(cfg["reference_compat"], bool):
        raise ConfigError("model.reference_compat", f"must be true or false, got {cfg['reference_compat']!r}")
    if cfg["init_from"] is not None and not isinstance(cfg["init_from"], str):
        raise ConfigError("model.init_from", f"must be a path or null, got {cfg['init_from']!r}")
    cfg["neuron"] = normalize_neuron(model_cfg.get("neuron"))
    ov = cfg["neuron_overrides"]
    if ov is not None:
        if not isinstance(ov, dict):
            raise ConfigError("model.neuron_overrides", "must be a mapping of module-name patterns to neuron settings")
        out = {}
        for pat, sub in ov.items():
            if not isinstance(sub, dict):
                raise ConfigError(f"model.neuron_overrides.{pat}", "must be a mapping of neuron settings")
            bad = sorted(set(sub) - set(NEURON_DEFAULTS))
            if bad:
                raise ConfigError(f"model.neuron_overrides.{pat}.{bad[0]}", "unknown neuron setting")
            merged = dict(cfg["neuron"])
            merged.update(sub)
            if "surrogate" in sub and "alpha" not in sub:
                merged["alpha"] = None
            normalize_neuron(merged, f"model.neuron_overrides.{pat}")  # validates
            out[str(pat)] = dict(sub)
        cfg["neuron_overrides"] = out
    return cfg


CUSTOM_KEYS = ("arch", "source", "entry", "args", "plugins", "base_dir", "preset", "time_steps", "num_classes",
               "in_channels", "img_size", "variant", "init_from")


def normalize_custom_cfg(model_cfg: Any) -> dict:
    """The model section of a custom / plugin model: the shared keys checked, `args` / `source` / `entry` /
    `plugins` kept for `spikestudio.models.custom` (which checks them against the code)."""
    if not isinstance(model_cfg, dict):
        raise ConfigError("model", f"must be a mapping, got {type(model_cfg).__name__}")
    cfg = {k: MODEL_DEFAULTS[k] for k in ("variant", "time_steps", "in_channels", "num_classes", "img_size", "init_from")}
    cfg.update(model_cfg)
    for key in ("time_steps", "in_channels"):
        cfg[key] = _int(cfg, key)
    cfg["num_classes"] = _int(cfg, "num_classes", 2)
    cfg["img_size"] = _img_size(cfg)
    if cfg["variant"] not in VARIANTS:
        raise ConfigError("model.variant", f"must be one of {', '.join(VARIANTS)}, got {cfg['variant']!r}")
    args = cfg.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ConfigError("model.args", f"must be a mapping of keyword arguments, got {type(args).__name__}")
    preset = cfg.get("preset")
    if preset is not None:
        from spikestudio.models.custom import load_plugins
        from spikestudio.models.registry import get_presets

        load_plugins(cfg, cfg.get("base_dir"))
        table = get_presets(str(cfg["arch"]))
        if preset not in table:
            raise ConfigError("model.preset", f"{cfg['arch']} has no preset {preset!r}",
                              f"its presets: {', '.join(sorted(table)) or '(none)'}")
        args = {**table[preset], **args}
    cfg["args"] = dict(args)
    return cfg
