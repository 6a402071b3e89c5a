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
from spikestudio.models import qkformer as _qkformer  # noqa: F401,E402
from spikestudio.models import sdt as _sdt  # noqa: F401,E402
from spikestudio.models import meta_spikeformer as _meta_spikeformer  # noqa: F401,E402

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
    """Load `path` into `model`: our training checkpoint, a file written by `import-checkpoint`, a bare state_dict,
    or a reference-repository state_dict (recognised by its key names and converted on the fly; one of another
    architecture is rejected with the command that converts it). Only the modules dead in this architecture may be
    missing or extra; anything else is a ConfigError on model.init_from that names every key. STSA weights carry
    the qkv_layout they were trained with; loading them into the other layout is a ConfigError.

    Returns (and sets as `model.init_report`) where the weights came from: {"path", "kind" (checkpoint | imported |
    reference | state_dict), "converted_from", "source", "ignored", "rebuilt", "qkv_layout"}."""
    from spikestudio import checkpoint_import as ci
    from spikestudio.train.checkpoint import FORMAT, read_checkpoint

    key = "model.init_from"
    obj = read_checkpoint(path, lambda message, hint: ConfigError(key, message, hint), missing=f"checkpoint not found: {path}",
                          missing_hint="paths in the config are relative to the config file's folder")
    sd = ci.extract_state_dict(obj)
    if sd is None:
        raise ConfigError(key, f"{path} holds no state_dict: it is {ci.describe_contents(obj)}",
                          "expected the weights under model / state_dict / state_dict_ema, or a bare state_dict")
    arch = getattr(model, "arch", None)
    meta = obj if isinstance(obj, dict) else {}
    report = {"path": os.path.abspath(path), "kind": "state_dict", "converted_from": None, "source": None,
              "ignored": [], "rebuilt": [], "qkv_layout": None}
    rebuilt: dict = {}
    if meta.get("format") == "spikestudio.import":
        report.update(kind="imported", converted_from=meta.get("converted_from"), source=meta.get("source"),
                      qkv_layout=meta.get("qkv_layout"), rebuilt=list(meta.get("rebuilt") or []))
        if meta.get("arch") and arch and meta["arch"] != arch:
            raise ConfigError(key, f"{path} holds {meta['arch']} weights but model.arch is {arch}",
                              f"set model.arch: {meta['arch']} (the file's inferred_model lists what it determines)")
    elif meta.get("format") == FORMAT:
        report["kind"] = "checkpoint"
        mc = (meta.get("config") or {}).get("model") if isinstance(meta.get("config"), dict) else None
        if isinstance(mc, dict) and mc.get("arch") == "stsa":
            report["qkv_layout"] = mc.get("qkv_layout") or "paper"
    elif ci.looks_like_reference(sd):
        found = ci.detect_arch(sd)
        if found and arch not in found:
            raise ConfigError(key, f"{path} is a {found[0]} checkpoint in the layout of {ci.ARCHS[found[0]].repo}, "
                                   f"but model.arch is {arch}",
                              f"set model.arch: {found[0]}, or convert it: python -m spikestudio import-checkpoint "
                              f"--arch {found[0]} {path} OUT.pth")
        if arch not in ci.ARCHS:
            raise ConfigError(key, f"{path} has a reference-repository layout, which {arch} has no conversion for",
                              f"convert it: python -m spikestudio import-checkpoint --arch {'|'.join(ci.ARCHS)} {path} OUT.pth")
        conv = ci.convert(sd, arch)
        if conv.unknown:
            raise ConfigError(key, f"{path}: {len(conv.unknown)} reference key(s) without a rule: {', '.join(conv.unknown)}",
                              f"python -m spikestudio import-checkpoint --arch {arch} --allow-unknown {path} OUT.pth "
                              "drops them (and says which)")
        sd, rebuilt = conv.state_dict, conv.rebuilt
        report.update(kind="reference", converted_from=f"{arch} reference layout ({ci.ARCHS[arch].repo})",
                      rebuilt=sorted(rebuilt), qkv_layout="reference" if arch == "stsa" else None)
    layout = getattr(model, "cfg", {}).get("qkv_layout") if arch == "stsa" else None
    if layout and report["qkv_layout"] and report["qkv_layout"] != layout:
        raise ConfigError(key, f"{path} holds STSA weights trained with qkv_layout: {report['qkv_layout']}, but "
                               f"model.qkv_layout is {layout}: the same tensors compute a different function",
                          f"set model.qkv_layout: {report['qkv_layout']} (what reproduces the weights' predictions), "
                          f"or re-convert with import-checkpoint --qkv-layout {layout} to fine-tune them under {layout}")
    rep = ci.load_into(model, sd)
    rep["shape"] += ci.check_rebuilt(model, rebuilt)
    if rep["missing"] or rep["unexpected"] or rep["shape"]:
        parts = []
        if rep["missing"]:
            parts.append(f"missing ({len(rep['missing'])}): " + ", ".join(rep["missing"]))
        if rep["unexpected"]:
            parts.append(f"unexpected ({len(rep['unexpected'])}): " + ", ".join(rep["unexpected"]))
        if rep["shape"]:
            parts.append("shape mismatch: " + ", ".join(rep["shape"]))
        raise ConfigError(key, f"{path} does not fit the model ({'; '.join(parts)})",
                          "check arch, variant, embed_dim, depth, mlp_ratio, in_channels, num_classes, img_size and "
                          "time_steps; only modules the reference never uses may be absent")
    report["ignored"] = rep["ignored"]
    report["converted"] = report["kind"] == "reference"
    model.init_report = report
    return report
