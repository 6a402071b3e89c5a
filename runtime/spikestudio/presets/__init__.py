"""The preset table (presets.json), shared with the TypeScript side (docs/contracts.md §2)."""

from __future__ import annotations

import json
import os

PRESETS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets.json")
DEFAULT_PRESET = "spikformer-tiny/mnist"


def load_presets() -> dict:
    with open(PRESETS_PATH, encoding="utf-8") as f:
        return json.load(f)


def get_preset(name: str) -> dict:
    table = load_presets()
    if name not in table:
        raise KeyError(f"unknown preset {name!r}")
    return table[name]
