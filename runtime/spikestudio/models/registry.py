"""timm-style model registry: ``@register_model("name")`` on a class (or factory) taking the resolved model dict."""

from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, Callable] = {}


def register_model(name: str):
    def deco(fn):
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return deco


def get_model_builder(name: str) -> Callable:
    return _REGISTRY[name]


def list_models() -> list[str]:
    return sorted(_REGISTRY)
