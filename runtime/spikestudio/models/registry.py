"""timm-style model registry: ``@register_model("name")`` on a class or factory.

The public decorator (``spikestudio.register_model``) is this one. Built-in builders take the resolved model dict
(a single parameter named ``cfg``); a plugin's entry takes ``model.args`` as keyword arguments (see
``spikestudio.models.custom``). ``presets`` maps preset names to ``model.args`` defaults that a config selects
with ``model.preset``.
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional

_REGISTRY: dict[str, Callable] = {}
_PRESETS: dict[str, dict[str, dict]] = {}
_ORIGIN: dict[str, Optional[str]] = {}  # arch -> the file that registered presets for it


def register_model(name: str, presets: Optional[dict] = None):
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_model needs a non-empty name, got {name!r}")

    def deco(fn):
        prev = _REGISTRY.get(name)
        if prev is not None and prev is not fn and (getattr(prev, "__module__", None), getattr(prev, "__qualname__", None)) \
                != (getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)):
            raise ValueError(f"model {name!r} is already registered (by {prev.__module__}.{prev.__qualname__})")
        _REGISTRY[name] = fn  # the same class from a re-imported plugin file replaces the old one
        if presets:
            _PRESETS[name] = {str(k): dict(v) for k, v in presets.items()}
            try:
                _ORIGIN[name] = inspect.getsourcefile(fn)
            except TypeError:
                _ORIGIN[name] = None
        return fn

    return deco


def get_model_builder(name: str) -> Callable:
    return _REGISTRY[name]


def get_presets(name: str) -> dict[str, dict]:
    return dict(_PRESETS.get(name, {}))


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def plugin_presets() -> dict[str, dict]:
    """Every preset registered with ``register_model(..., presets=...)``: name -> {arch, args, file} (the editor
    offers them to ``extends:`` once a config's plugins were described)."""
    return {preset: {"arch": arch, "args": args, "file": _ORIGIN.get(arch)}
            for arch, table in sorted(_PRESETS.items()) for preset, args in table.items()}
