"""Parameter counts of every preset against the closed form of spec §2.3 / §3.6 and the spec's exact tables."""

import functools
import json
import os

import pytest
import torch

from spikestudio.models import build_model

PRESETS = json.load(open(os.path.join(os.path.dirname(__file__), "..", "spikestudio", "presets", "presets.json")))

# spec §2.3 / §3.6: (with the reference's unused modules, without them)
SPEC_EXACT = {
    "spikformer-4-384/cifar10": (9_330_874, 9_324_730),
    "spikformer-4-256/cifar10": (4_159_274, 4_155_178),
    "spikformer-2-384/cifar10": (5_768_122, 5_765_050),
    "spikformer-8-384/imagenet": (16_828_312, 16_816_024),
    "spikformer-6-512/imagenet": (23_385_640, 23_373_352),
    "spikformer-8-512/imagenet": (29_705_768, 29_689_384),
    "spikformer-10-512/imagenet": (36_025_896, 36_005_416),
    "spikformer-8-768/imagenet": (66_363_208, 66_338_632),
    "spikformer-2-256-t10/cifar10-dvs": (2_585_610, 2_566_666),
    "spikformer-2-256-t16/cifar10-dvs": (2_585_610, 2_566_666),
    "spikingformer-4-384/cifar10": (9_326_266, 9_320_122),
    "spikingformer-4-256/cifar10": (4_156_202, 4_152_106),
    "spikingformer-2-384/cifar10": (5_765_818, 5_762_746),
    "spikingformer-4-384/cifar100": (9_360_916, None),
    "spikingformer-2-256-t10/cifar10-dvs": (2_568_714, 2_566_666),
    "spikingformer-2-256-t16/cifar10-dvs": (2_568_714, 2_566_666),
    "spikingformer-2-256-t16/dvs128-gesture": (2_568_971, None),
    "spikingformer-8-512/imagenet": (29_705_768, 29_689_384),
    "spikingformer-8-768/imagenet": (66_363_208, 66_338_632),
    "spikingformer-8-384/imagenet": (16_828_312, 16_816_024),
}


def closed_form(m: dict, compat: bool) -> int:
    D, C, K, L = m["embed_dim"], m["in_channels"], m["num_classes"], m["depth"]
    chain = [C, D // 8, D // 4, D // 2, D, D]
    n = sum(9 * chain[i] * chain[i + 1] + 2 * chain[i + 1] for i in range(5))
    bias = m["arch"] == "spikformer" and m["variant"] == "cifar"
    hidden = int(D * m["mlp_ratio"])
    block = 3 * (D * D + (D if bias else 0)) + 3 * 2 * D
    block += D * D + D + 2 * D
    block += D * hidden + hidden + 2 * hidden
    block += hidden * D + D + 2 * D
    if compat:
        block += 4 * D
    n += L * block + D * K + K
    if compat and m["arch"] == "spikformer" and m["variant"] == "dvs":
        side = (m["img_size"] + 15) // 16
        n += side * side * D + 2 * D
    return n


def count(model_cfg: dict, compat: bool) -> int:
    """Build on the meta device: no memory, no init cost, same parameter shapes."""
    return _count(json.dumps(model_cfg, sort_keys=True), compat)


@functools.lru_cache(maxsize=None)
def _count(cfg_json: str, compat: bool) -> int:
    with torch.device("meta"):
        model = build_model(dict(json.loads(cfg_json), reference_compat=compat))
    return sum(p.numel() for p in model.parameters())


def test_meta_count_equals_real_count():
    m = PRESETS["spikingformer-2-256-t16/cifar10-dvs"]["model"]
    for compat in (True, False):
        real = sum(p.numel() for p in build_model(dict(m, reference_compat=compat)).parameters())
        assert real == count(m, compat)


PAPER_NAMES = [n for n in PRESETS if n != "spikformer-tiny/mnist"
               and PRESETS[n]["model"]["arch"] in ("spikformer", "spikingformer")]  # others: their own test files


@pytest.mark.parametrize("name", PAPER_NAMES)
@pytest.mark.parametrize("compat", [True, False], ids=["with-unused", "without-unused"])
def test_preset_parameter_count(name, compat):
    m = PRESETS[name]["model"]
    n = count(m, compat)
    assert n == closed_form(m, compat)
    exact = SPEC_EXACT.get(name)
    if exact is not None and exact[0 if compat else 1] is not None:
        assert n == exact[0 if compat else 1]


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_paper_column_within_0_01M(name):
    """The paper's M values: the count without dead modules, except Spikformer DVS's 2.59M (includes pos_embed)."""
    preset = PRESETS[name]
    paper = preset["paper"]["params"]
    m = preset["model"]
    compat = m["arch"] == "spikformer" and m["variant"] == "dvs"
    if m["num_classes"] == 100:
        pytest.skip("the paper's CIFAR parameter counts are for the 10-class models")
    n = count(m, compat)
    assert abs(n - paper) <= 10_000, (n, paper)


def test_spec_table_is_covered():
    assert set(SPEC_EXACT) <= set(PRESETS)


def test_embedded_default_is_small():
    m = PRESETS["spikformer-tiny/mnist"]["model"]
    assert count(m, False) == closed_form(m, False) < 200_000
