"""What Spike Studio knows about each dataset: datasets.json beside this file, the one table the TypeScript side
(src/core/config/datasets.ts), the readers and the ONNX metadata all read (channels, classes, image size, mean/std,
class names, Speech Commands' vocabulary)."""

from __future__ import annotations

import json
from pathlib import Path

DATASETS_PATH = Path(__file__).resolve().parent / "datasets.json"
DATASETS: dict[str, dict] = json.loads(DATASETS_PATH.read_text(encoding="utf-8"))["datasets"]


def dataset_facts(name: str) -> dict:
    """The entry of a known dataset, or {} for a name datasets.json does not list (a plugin's reader)."""
    return DATASETS.get(name, {})
