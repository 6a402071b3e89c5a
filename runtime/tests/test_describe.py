"""describe_model output: shapes, params, flops, schema (schemas/describe.schema.json) and the `model` event."""

import json
import os

import jsonschema
import pytest

from event_schema import validate_event

from spikestudio.describe import describe_model

HERE = os.path.dirname(__file__)
SCHEMAS = os.path.join(HERE, "..", "spikestudio", "schemas")
PRESETS = json.load(open(os.path.join(HERE, "..", "spikestudio", "presets", "presets.json")))


def schema(name):
    return json.load(open(os.path.join(SCHEMAS, name)))


@pytest.fixture(scope="module")
def mnist():
    return describe_model(PRESETS["spikformer-tiny/mnist"]["model"])


def test_validates_against_describe_schema(mnist):
    s = schema("describe.schema.json")
    jsonschema.Draft7Validator.check_schema(s)
    jsonschema.validate(mnist, s)
    json.dumps(mnist)  # plain JSON


def test_is_a_valid_model_event(mnist):
    event = dict(mnist, v=1, type="model", t=0.0, seq=1)
    jsonschema.validate(event, schema("events.schema.json"))
    validate_event(event)


def test_mnist_shapes_params_flops(mnist):
    layers = {l["name"]: l for l in mnist["layers"]}
    assert mnist["arch"] == "spikformer" and mnist["time_steps"] == 4 and mnist["num_classes"] == 10
    assert mnist["token_grid"] == [7, 7]
    assert sum(l["params"] for l in mnist["layers"]) == mnist["params"]
    assert layers["tokenizer.stages.0.conv"]["shape_in"] == [1, 28, 28]
    assert layers["tokenizer.stages.2.pool"]["shape_out"] == [32, 14, 14]
    assert layers["tokenizer.rpe.conv"]["shape_out"] == [64, 7, 7]
    assert layers["blocks.0.attn"]["shape_in"] == [49, 64]
    assert layers["blocks.0.mlp.fc1"]["shape_out"] == [49, 256]
    assert layers["head"]["shape_in"] == [64] and layers["head"]["shape_out"] == [10]
    assert layers["tokenizer.stages.0.conv"]["flops"] == 9 * 1 * 8 * 28 * 28
    assert layers["blocks.0.mlp.fc1"]["flops"] == 49 * (64 * 256 + 256)
    assert layers["blocks.0.attn"]["flops"] == 4 * 2 * 49 * 16 * 16  # K^T V first (N > d)
    kinds = {l["kind"] for l in mnist["layers"]}
    assert {"conv", "bn", "lif", "ssa", "linear", "pool", "add", "mlp", "block"} <= kinds
    # spiking inputs (spec §6 strict): the image and the integer residual stream are not spikes
    assert not layers["tokenizer.stages.0.conv"]["spiking"]
    assert layers["tokenizer.stages.1.conv"]["spiking"]
    assert not layers["blocks.0.attn.q_proj"]["spiking"]
    assert layers["blocks.0.attn.proj"]["spiking"] and layers["blocks.0.mlp.fc2"]["spiking"]
    assert not layers["head"]["spiking"]
    names = [l["name"] for l in mnist["layers"]]
    assert names.index("blocks.0") < names.index("blocks.0.attn") < names.index("blocks.0.attn.q_proj")


def test_spikingformer_dvs_with_dead_modules():
    cfg = dict(PRESETS["spikingformer-2-256-t10/cifar10-dvs"]["model"], embed_dim=32, num_heads=4, img_size=64,
               time_steps=2, reference_compat=True)
    d = describe_model(cfg)
    jsonschema.validate(d, schema("describe.schema.json"))
    layers = {l["name"]: l for l in d["layers"]}
    assert d["token_grid"] == [4, 4]
    assert layers["tokenizer.stem.conv"]["shape_in"] == [2, 64, 64]
    assert "shape_in" not in layers["blocks.0.norm1"] and layers["blocks.0.norm1"]["params"] == 64
    assert layers["blocks.0.attn.q_proj"]["spiking"] and not layers["tokenizer.stem.conv"]["spiking"]
    assert sum(l["params"] for l in d["layers"]) == d["params"]


def test_spikformer_dvs_pos_embed_listed():
    cfg = dict(PRESETS["spikformer-2-256-t16/cifar10-dvs"]["model"], embed_dim=16, num_heads=2, img_size=32,
               time_steps=2, depth=1, reference_compat=True)
    d = describe_model(cfg)
    layers = {l["name"]: l for l in d["layers"]}
    assert layers["pos_embed"]["params"] == 4 * 16
    assert sum(l["params"] for l in d["layers"]) == d["params"]
