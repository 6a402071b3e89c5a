"""Model registry and `build_model(model_cfg)` (docs/contracts.md §2).

    from spikestudio.models import build_model
    model = build_model(resolved_config["model"])   # nn.Module
    logits = model(images)                           # (B, C, H, W) -> (B, classes), averaged over T
    per_t = model(images, per_step=True)             # (T, B, classes)

Every forward starts with fresh neuron state. `model.time_steps`, `model.token_grid` (rows, cols) and
`model.cfg` (the normalised model section) are available on every model.
"""

from __future__ import annotations

import fnmatch
import os

from spikestudio.errors import ConfigError
from spikestudio.models.config import normalize_model_cfg, normalize_neuron
from spikestudio.models.registry import get_model_builder, list_models, register_model

# importing the architecture modules registers them
from spikestudio.models import spikformer as _spikformer  # noqa: F401,E402
from spikestudio.models import spikingformer as _spikingformer  # noqa: F401,E402
from spikestudio.models import spikeformer as _spikeformer  # noqa: F401,E402
from spikestudio.models import stsa as _stsa  # noqa: F401,E402

BUILTIN_ARCHS = frozenset(list_models())

__all__ = ["build_model", "is_custom", "register_model", "list_models", "normalize_model_cfg", "load_init_checkpoint"]


def is_custom(model_cfg: dict) -> bool:
    """A model section naming the researcher's code: arch custom, or an arch registered by a model.plugins file."""
    return isinstance(model_cfg, dict) and (model_cfg.get("arch") == "custom"
                                            or (bool(model_cfg.get("plugins")) and model_cfg.get("arch") not in BUILTIN_ARCHS))


def build_model(model_cfg: dict):
    """Build the model described by a resolved `model` section. Bad values raise ConfigError naming the key."""
    if is_custom(model_cfg):
        from spikestudio.models.config import normalize_custom_cfg
        from spikestudio.models.custom import build_custom

        cfg = normalize_custom_cfg(model_cfg)
        model = build_custom(cfg)
        if cfg.get("init_from"):
            load_init_checkpoint(model, cfg["init_from"])
        return model
    cfg = normalize_model_cfg(model_cfg, known_archs=list_models())
    model = get_model_builder(cfg["arch"])(cfg)
    if cfg.get("neuron_overrides"):
        _apply_neuron_overrides(model, cfg)
    if cfg.get("init_from"):
        load_init_checkpoint(model, cfg["init_from"])
    return model


def _apply_neuron_overrides(model, cfg: dict) -> None:
    from spikestudio.neurons import LIF, _check_backend

    lifs = [(n, m) for n, m in model.named_modules() if isinstance(m, LIF)]
    for pattern, sub in cfg["neuron_overrides"].items():
        hits = [(n, m) for n, m in lifs if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ConfigError(f"model.neuron_overrides.{pattern}", "matches no LIF layer",
                              f"LIF names look like: {', '.join(n for n, _ in lifs[:4])}, ...")
        for _, m in hits:
            merged = {"tau": m.tau, "v_threshold": m.v_threshold, "v_reset": m.v_reset,
                      "detach_reset": m.detach_reset, "surrogate": m.surrogate, "alpha": m.alpha,
                      "decay_input": m.decay_input, "backend": m.backend}
            merged.update(sub)
            if "surrogate" in sub and "alpha" not in sub:
                merged["alpha"] = None
            n = normalize_neuron(merged, f"model.neuron_overrides.{pattern}")
            m.tau, m.v_threshold, m.v_reset = n["tau"], n["v_threshold"], n["v_reset"]
            m.detach_reset, m.surrogate, m.alpha, m.decay_input = (
                n["detach_reset"], n["surrogate"], n["alpha"], n["decay_input"])
            m.backend = _check_backend(n["backend"])


def load_init_checkpoint(model, path: str) -> dict:
    """Load `path` (our checkpoint, a bare state_dict, or a reference-repo state_dict, converted on the fly) into
    `model`. Keys of the reference's dead modules are tolerated either way; anything else missing or unexpected is
    a ConfigError on model.init_from that lists the names. Returns {"converted": bool, "ignored": [...]}."""
    import torch

    from spikestudio import checkpoint_import as ci

    if not os.path.isfile(path):
        raise ConfigError("model.init_from", f"checkpoint not found: {path}",
                          "paths in the config are relative to the config file's folder")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unreadable/unsafe file: report, never a traceback
        raise ConfigError("model.init_from", f"cannot read checkpoint {path}: {exc}".splitlines()[0],
                          "expected a file written by torch.save containing a state_dict") from None
    sd = ci.extract_state_dict(obj)
    if sd is None:
        raise ConfigError("model.init_from", f"{path} holds no state_dict (looked for keys model/state_dict)")
    converted = False
    if ci.looks_like_reference(sd):
        sd, unknown = ci.convert_state_dict(sd, model.arch)
        converted = True
        if unknown:
            raise ConfigError("model.init_from", f"unknown reference keys: {', '.join(unknown[:20])}"
                              + (" ..." if len(unknown) > 20 else ""))
    report = ci.load_into(model, sd)
    if report["missing"] or report["unexpected"] or report["shape"]:
        parts = []
        if report["missing"]:
            parts.append("missing: " + ", ".join(report["missing"][:20]))
        if report["unexpected"]:
            parts.append("unexpected: " + ", ".join(report["unexpected"][:20]))
        if report["shape"]:
            parts.append("shape mismatch: " + ", ".join(report["shape"][:20]))
        raise ConfigError("model.init_from", f"checkpoint does not fit the model ({'; '.join(parts)})",
                          "check arch, variant, embed_dim, depth, mlp_ratio, in_channels and num_classes")
    return {"converted": converted, "ignored": report["ignored"]}
