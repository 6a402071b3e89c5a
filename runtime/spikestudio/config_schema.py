"""The config's defaults and allowed values, read from the generated schema the runtime ships with.

schemas/spike-config.schema.json is written by scripts/gen-config-schema.mjs from the config's single field table
(src/core/config/definition.ts); a drift test keeps it current. The runtime reads its defaults and enums here
instead of restating them, so the editor and the runtime cannot disagree on them.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "spike-config.schema.json"


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def field(dotted: str) -> dict:
    """The schema of one key, e.g. field("train.optimizer") or field("model.neuron.tau")."""
    node = _schema()
    for part in dotted.split("."):
        node = node["properties"][part]
    return node


def default(dotted: str) -> Any:
    """The key's default (a fresh copy: callers may change it)."""
    return copy.deepcopy(field(dotted)["default"])


def defaults(section: str, keys: Optional[Iterable[str]] = None) -> dict[str, Any]:
    """{key: default} of a section's keys (all of them, or `keys` in that order) that have a default."""
    props = field(section)["properties"]
    names = props if keys is None else keys
    return {k: copy.deepcopy(props[k]["default"]) for k in names if "default" in props[k]}


def choices(dotted: str) -> tuple:
    """The allowed values of an enum key, null left out (callers handle an optional key's null themselves)."""
    return tuple(v for v in field(dotted)["enum"] if v is not None)
