"""The runtime reads its config defaults and allowed values from the schema it ships with
(spikestudio/schemas/spike-config.schema.json, generated from src/core/config/definition.ts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikestudio import config_schema
from spikestudio.models.config import MODEL_DEFAULTS, NEURON_DEFAULTS, VARIANTS
from spikestudio.train.config import AMP, DEFAULTS, OPTIMIZERS, check_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_copy_equals_the_editors_schema():
    editor = ROOT / "schemas" / "spike-config.schema.json"
    if not editor.exists():
        pytest.skip("schemas/ is not next to the runtime (installed package)")
    assert config_schema.SCHEMA_PATH.read_text(encoding="utf-8") == editor.read_text(encoding="utf-8"), \
        "stale: run node scripts/gen-config-schema.mjs"


def test_defaults_and_enums_are_the_schemas():
    train = config_schema.field("train")["properties"]
    assert DEFAULTS["train"] == {k: v["default"] for k, v in train.items()}
    assert OPTIMIZERS == tuple(train["optimizer"]["enum"]) and AMP == (False, "bf16", "fp16")
    model = config_schema.field("model")["properties"]
    assert all(MODEL_DEFAULTS[k] == model[k]["default"] for k in MODEL_DEFAULTS)
    assert VARIANTS == tuple(model["variant"]["enum"])
    assert NEURON_DEFAULTS == {k: v["default"] for k, v in model["neuron"]["properties"].items()}


def test_filled_defaults_keep_their_python_types():
    cfg = check_config({"model": {"arch": "spikformer", "time_steps": 1, "num_classes": 10, "in_channels": 1,
                                  "img_size": 28}})
    t = cfg["train"]
    assert isinstance(t["label_smoothing"], float) and isinstance(t["mixup_prob"], float) and t["mixup_prob"] == 1.0
    assert isinstance(t["epochs"], int) and t["amp"] is False and t["compile"] == "off"
    assert config_schema.default("train.random_resized_crop") is None
    # a fresh copy each time: a caller may change what it gets
    config_schema.defaults("train")["epochs"] = 99
    assert config_schema.defaults("train")["epochs"] == 3
