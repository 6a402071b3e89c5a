"""The papers' recipe augmentations (train/augment.py): SNNAugmentWide and the Spikeformer cutout on event frames,
RandomResizedCrop and AutoAugment (ImageNet policy) on images; their config keys, presets, determinism under
AugRNG, and that the trainer applies them to training batches only."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from spikestudio.errors import ConfigError
from spikestudio.train.augment import (AA_OPS, AUTOAUGMENT_IMAGENET, SNN_WIDE_OPS, AugRNG, AutoAugment, aa_magnitude,
                                       dvs_cutout, dvs_cutout_box, parse_randaugment, random_resized_crop, rrc_params,
                                       snn_augment_wide, snn_wide_params)
from spikestudio.train.config import DEFAULTS, check_config

from test_train_run import run, tiny_config

ROOT = Path(__file__).resolve().parents[2]
PRESETS = json.loads((ROOT / "runtime" / "spikestudio" / "presets" / "presets.json").read_text())


def _frames(b=6, t=4, c=2, h=32, w=32, seed=0):
    """Event frames whose T frames are identical per sample (so 'the same transform for all frames' is checkable)."""
    g = torch.Generator().manual_seed(seed)
    one = (torch.rand(b, 1, c, h, w, generator=g) < 0.3).float() * torch.randint(1, 4, (b, 1, c, h, w), generator=g)
    return one.expand(b, t, c, h, w).contiguous()


def _images(b=6, c=3, h=24, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    mean = torch.tensor([0.485, 0.456, 0.406])[:c].view(1, -1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225])[:c].view(1, -1, 1, 1)
    x = (torch.rand(b, c, h, w, generator=g) * 255).round() / 255  # 8-bit pixels, normalised like the readers
    lo, hi = ((0 - mean) / std).view(-1), ((1 - mean) / std).view(-1)
    return (x - mean) / std, lo, hi


# ------------------------------------------------------------------------------------------------ SNNAugmentWide


def test_snn_augment_wide_shape_dtype_same_transform_for_all_frames():
    x = _frames(b=24)
    out = snn_augment_wide(x, AugRNG(1))
    assert out.shape == x.shape and out.dtype == x.dtype and out is not x
    assert torch.equal(x, _frames(b=24))  # the input is untouched
    assert torch.equal(out, out[:, :1].expand_as(out))  # every frame of a sample got the same transform
    changed = [(out[b] != x[b]).any().item() for b in range(24)]
    assert any(changed) and not all(changed)  # Identity (1/6) leaves samples as they are; other ops change them
    assert set(out.unique().tolist()) <= set(x.unique().tolist())  # nearest interpolation + zero fill: no new values
    static = torch.randn(2, 1, 8, 8)
    assert snn_augment_wide(static, AugRNG(0)) is static


def test_snn_augment_wide_op_distribution_and_magnitudes():
    r = np.random.RandomState(0)
    n = 6000
    ops, mags = Counter(), {op: set() for op in SNN_WIDE_OPS}
    boxes = []
    for _ in range(n):
        name, mag, box = snn_wide_params(r, 128, 128)
        ops[name] += 1
        mags[name].add(round(mag, 5))
        if box is not None:
            boxes.append(box)
    assert set(ops) == set(SNN_WIDE_OPS)  # all 6 ops occur, uniformly
    for op in SNN_WIDE_OPS:
        assert abs(ops[op] / n - 1 / 6) < 0.03, (op, ops[op])
    assert mags["Identity"] == {0.0}
    for op, top in (("ShearX", 0.3), ("TranslateX", 5.0), ("TranslateY", 5.0), ("Rotate", 30.0)):
        allowed = {round(v, 5) for v in torch.linspace(-top, top, 31).tolist()}
        assert mags[op] <= allowed and len(mags[op]) == 31, op  # 31 bins, both signs
        assert max(mags[op]) == pytest.approx(top) and min(mags[op]) == pytest.approx(-top)
    # Cutout: one square of 0.1 %–11 % of the area (side = round(sqrt(area))), inside the frame
    assert len(boxes) == ops["Cutout"]
    lo_side, hi_side = round(math.sqrt(0.001 * 128 * 128)), round(math.sqrt(0.11 * 128 * 128))
    for top, left, bh, bw in boxes:
        assert bh == bw and lo_side <= bh <= hi_side
        assert 0 <= top <= 128 - bh and 0 <= left <= 128 - bw
    sides = [b[2] for b in boxes]
    assert min(sides) <= lo_side + 2 and max(sides) >= hi_side - 2


def test_snn_augment_wide_geometry_follows_torchvision():
    """Translate moves the content by int(magnitude) px; ShearX keeps the centre row; Cutout zeroes a square."""
    from spikestudio.train import augment as A

    x = torch.zeros(1, 2, 2, 13, 13)
    x[0, :, 0, 6, 6] = 1
    seen = set()
    for seed in range(200):
        r = AugRNG(seed)
        st = r.state_dict()
        name, mag, box = snn_wide_params(r.np, 13, 13)  # the draw snn_augment_wide will make
        r.load_state_dict(st)
        out = A.snn_augment_wide(x, r)[0, 0, 0]
        seen.add(name)
        if name == "TranslateX":  # F.affine(translate=[int(m), 0]): content moves right by int(m)
            assert out[6, 6 + int(mag)] == 1 and out.sum() == 1, mag
        elif name == "TranslateY":
            assert out[6 + int(mag), 6] == 1 and out.sum() == 1, mag
        elif name == "ShearX":
            assert out[6, 6] == 1 and out.sum() == 1  # x_in = x + tan(m)·y: the centre row does not move
        elif name == "Identity":
            assert torch.equal(out, x[0, 0, 0])
        elif name == "Cutout":
            assert box is not None
            t, l, bh, bw = box
            assert (out == 0).all() if (t <= 6 < t + bh and l <= 6 < l + bw) else out[6, 6] == 1
    assert seen == set(SNN_WIDE_OPS)
    # Rotate: torchvision's F.rotate(+90) is counter-clockwise on screen: a pixel right of the centre goes up
    a = torch.zeros(1, 1, 5, 5)
    a[0, 0, 2, 4] = 1
    up = A._warp(a, A._rotate(90.0), "nearest")[0, 0]
    assert up[0, 2] == 1 and up.sum() == 1


# ------------------------------------------------------------------------------------------------ DVS cutout


def test_dvs_cutout_one_rectangle_within_bounds_same_for_all_frames():
    x = torch.ones(64, 3, 2, 32, 32)
    out = dvs_cutout(x, 16, AugRNG(2))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, out[:, :1].expand_as(out))  # same cutout for every frame (and both polarities)
    areas = []
    for b in range(64):
        z = out[b, 0, 0] == 0
        areas.append(int(z.sum()))
        if not z.any():
            continue
        rows, cols = z.any(1).nonzero(), z.any(0).nonzero()
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert int(z.sum()) == h * w  # one rectangle
        assert 1 <= h <= 16 and 1 <= w <= 16
    assert sum(a > 0 for a in areas) >= 60 and max(areas) > 100  # almost always a box, some large ones
    assert dvs_cutout(x, 0, AugRNG(2)) is x
    static = torch.ones(2, 1, 8, 8)
    assert dvs_cutout(static, 16, AugRNG(0)) is static


def test_dvs_cutout_box_sides_follow_the_reference():
    r = np.random.RandomState(0)
    hs, ws = [], []
    for _ in range(5000):
        y0, y1, x0, x1 = dvs_cutout_box(r, 128, 128, 16)
        assert 0 <= y0 <= y1 <= 128 and 0 <= x0 <= x1 <= 128
        assert y1 - y0 <= 16 and x1 - x0 <= 16
        hs.append(y1 - y0)
        ws.append(x1 - x0)
    assert max(hs) == 16 and max(ws) == 16 and min(hs) <= 1 and min(ws) <= 1
    assert 7 < float(np.mean(hs)) < 9.5  # sides ~ U(1, 16)


# ------------------------------------------------------------------------------------------------ RandomResizedCrop


def test_random_resized_crop_identity_cases_return_the_input_exactly():
    x, lo, hi = _images()
    assert torch.equal(random_resized_crop(x, (1.0, 1.0), (1.0, 1.0), AugRNG(0), "bicubic", lo, hi), x)
    # Spikformer ImageNet: scale (1, 1), ratio (3/4, 4/3) is the identity on square images (fallback: whole image)
    assert torch.equal(random_resized_crop(x, (1.0, 1.0), (3 / 4, 4 / 3), AugRNG(0), "bicubic", lo, hi), x)
    static5 = torch.randn(2, 2, 2, 8, 8)
    assert random_resized_crop(static5, (0.08, 1), (0.75, 1.33), AugRNG(0)) is static5


@pytest.mark.parametrize("interp", ["bilinear", "bicubic"])
def test_random_resized_crop_changes_samples_keeps_shape_dtype_and_range(interp):
    x, lo, hi = _images(b=8)
    out = random_resized_crop(x, (0.08, 1.0), (3 / 4, 4 / 3), AugRNG(3), interp, lo, hi)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    assert all(not torch.equal(out[b], x[b]) for b in range(8))
    assert (out >= lo.view(1, -1, 1, 1) - 1e-5).all() and (out <= hi.view(1, -1, 1, 1) + 1e-5).all()
    x64 = x.double()
    assert random_resized_crop(x64, (0.08, 1.0), (3 / 4, 4 / 3), AugRNG(3), interp).dtype == torch.float64


def test_rrc_params_torchvision_semantics():
    r = np.random.RandomState(0)
    for _ in range(2000):
        top, left, ch, cw = rrc_params(r, 40, 60, (0.08, 1.0), (3 / 4, 4 / 3))
        assert 0 < ch <= 40 and 0 < cw <= 60 and 0 <= top <= 40 - ch and 0 <= left <= 60 - cw
    # no attempt can succeed: central crop clamped to the ratio range
    assert rrc_params(r, 32, 32, (1.0, 1.0), (2.0, 3.0)) == (8, 0, 16, 32)  # in_ratio 1 < 2: w = W, h = W / 2
    assert rrc_params(r, 32, 32, (1.0, 1.0), (0.25, 0.5)) == (0, 8, 32, 16)  # in_ratio 1 > 0.5: h = H, w = H / 2
    # the sampled areas cover the scale range
    areas = [np.prod(rrc_params(r, 100, 100, (0.25, 0.5), (1.0, 1.0))[2:]) / 1e4 for _ in range(500)]
    assert 0.24 <= min(areas) < 0.27 and 0.48 < max(areas) <= 0.51


# ------------------------------------------------------------------------------------------------ AutoAugment


def test_autoaugment_imagenet_policy_table():
    assert len(AUTOAUGMENT_IMAGENET) == 25
    for sub in AUTOAUGMENT_IMAGENET:
        assert len(sub) == 2
        for name, p, bin_ in sub:
            assert name in AA_OPS and 0.0 <= p <= 1.0 and (bin_ is None or 0 <= bin_ < 10)
    assert AUTOAUGMENT_IMAGENET[0] == (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))
    assert AUTOAUGMENT_IMAGENET[18] == (("ShearX", 0.6, 5), ("Equalize", 1.0, None))
    # torchvision's _augmentation_space, 10 bins
    assert [aa_magnitude("Posterize", b, 8, 8)[0] for b in range(10)] == [8, 8, 7, 7, 6, 6, 5, 5, 4, 4]
    assert aa_magnitude("Rotate", 9, 8, 8) == (pytest.approx(30.0), True)
    assert aa_magnitude("ShearX", 5, 8, 8) == (pytest.approx(0.3 * 5 / 9), True)
    assert aa_magnitude("Color", 0, 8, 8) == (0.0, True)
    assert aa_magnitude("Solarize", 0, 8, 8) == (256.0, False) and aa_magnitude("Solarize", 9, 8, 8)[0] == 0.0
    assert aa_magnitude("TranslateX", 9, 10, 331) == (pytest.approx(150.0), True)
    assert aa_magnitude("Equalize", None, 8, 8) == (0.0, False)


@pytest.mark.parametrize("op", AA_OPS)
def test_autoaugment_every_op_runs_on_a_batch(op):
    x, lo, hi = _images(b=4)
    policy = [((op, 1.0, 7), (op, 1.0, 3))]
    out = AutoAugment("imagenet", lo, hi, AugRNG(0), policies=policy)(x)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    assert (out >= lo.view(1, -1, 1, 1) - 1e-4).all() and (out <= hi.view(1, -1, 1, 1) + 1e-4).all()


def test_autoaugment_ops_act_in_pixel_space():
    x, lo, hi = _images(b=3)
    span, low = (hi - lo).view(1, -1, 1, 1), lo.view(1, -1, 1, 1)
    inv = AutoAugment("imagenet", lo, hi, AugRNG(0), policies=[(("Invert", 1.0, None), ("Invert", 0.0, None))])(x)
    assert torch.allclose((inv - low) / span, 1 - (x - low) / span, atol=1e-5)  # 255 - v, in the normalised space
    never = AutoAugment("imagenet", lo, hi, AugRNG(0), policies=[(("Invert", 0.0, None), ("Rotate", 0.0, 9))])(x)
    assert torch.allclose(never, x, atol=1e-5)  # p 0: not applied
    sol = AutoAugment("imagenet", lo, hi, AugRNG(0), policies=[(("Solarize", 1.0, 5), ("Solarize", 0.0, 0))])(x)
    px, spx = ((x - low) / span * 255).round(), ((sol - low) / span * 255).round()
    thresh = 256.0 * (1 - 5 / 9)
    assert torch.equal(spx, torch.where(px >= thresh, 255 - px, px))
    post = AutoAugment("imagenet", lo, hi, AugRNG(0), policies=[(("Posterize", 1.0, 8), ("Posterize", 0.0, 8))])(x)
    ppx = ((post - low) / span * 255).round()
    assert torch.equal(ppx, torch.div(px, 16, rounding_mode="floor") * 16)  # 4 bits


def test_autoaugment_applies_the_25_subpolicies_per_image():
    x, lo, hi = _images(b=64, h=16, w=16)
    aa = AutoAugment("imagenet", lo, hi, AugRNG(5))
    out = aa(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    changed = sum(not torch.allclose(out[b], x[b], atol=1e-5) for b in range(64))
    assert 20 < changed < 64  # most images change; some draw ops that are skipped (prob) or no-ops
    with pytest.raises(ValueError):
        AutoAugment("cifar10", lo, hi, AugRNG(0))
    assert aa(torch.randn(2, 2, 2, 8, 8)).dim() == 5  # event frames untouched


# ------------------------------------------------------------------------------------------------ determinism


def _all_augs(rng: AugRNG):
    frames = _frames(b=8)
    imgs, lo, hi = _images(b=8)
    return [snn_augment_wide(frames, rng), dvs_cutout(frames, 16, rng),
            random_resized_crop(imgs, (0.08, 1.0), (0.75, 4 / 3), rng, "bicubic", lo, hi),
            AutoAugment("imagenet", lo, hi, rng)(imgs)]


def test_same_seed_same_output_and_augrng_state_round_trips(tmp_path):
    a, b, c = _all_augs(AugRNG(11)), _all_augs(AugRNG(11)), _all_augs(AugRNG(12))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert all(not torch.equal(u, v) for u, v in zip(a, c))
    rng = AugRNG(7)
    _all_augs(rng)  # advance
    torch.save({"aug_rng": rng.state_dict()}, tmp_path / "ck.pt")  # as checkpoints store it
    expected = _all_augs(rng)
    resumed = AugRNG(999)
    resumed.load_state_dict(torch.load(tmp_path / "ck.pt", weights_only=False)["aug_rng"])
    assert all(torch.equal(u, v) for u, v in zip(expected, _all_augs(resumed)))


def test_augmentations_leave_the_global_generators_alone():
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    _all_augs(AugRNG(1))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v for u, v in zip(np.random.get_state(), np_state))


# ------------------------------------------------------------------------------------------------ config


def test_config_defaults_and_normalisation():
    cfg = check_config(tiny_config())
    t = cfg["train"]
    assert (t["auto_augment"], t["random_resized_crop"], t["snn_augment_wide"], t["dvs_cutout"]) == (None, None, False, 0)
    for k in ("auto_augment", "random_resized_crop", "snn_augment_wide", "dvs_cutout"):
        assert t[k] == DEFAULTS["train"][k]
    rrc = check_config(tiny_config(train={"random_resized_crop": {}}))["train"]["random_resized_crop"]
    assert rrc == {"scale": [0.08, 1.0], "ratio": [0.75, 4 / 3], "interpolation": "bicubic"}
    rrc = check_config(tiny_config(train={"random_resized_crop": {"scale": [1, 1], "interpolation": "Bilinear"}}))
    assert rrc["train"]["random_resized_crop"] == {"scale": [1.0, 1.0], "ratio": [0.75, 4 / 3], "interpolation": "bilinear"}
    assert check_config(tiny_config(train={"auto_augment": "ImageNet"}))["train"]["auto_augment"] == "imagenet"


@pytest.mark.parametrize("key, value, named", [
    ("auto_augment", "cifar10", "train.auto_augment"),
    ("auto_augment", 3, "train.auto_augment"),
    ("snn_augment_wide", "yes", "train.snn_augment_wide"),
    ("dvs_cutout", -1, "train.dvs_cutout"),
    ("dvs_cutout", 2.5, "train.dvs_cutout"),
    ("random_resized_crop", [0.08, 1.0], "train.random_resized_crop"),
    ("random_resized_crop", {"scale": [1.0, 0.5]}, "train.random_resized_crop.scale"),
    ("random_resized_crop", {"scale": [0.0, 1.0]}, "train.random_resized_crop.scale"),
    ("random_resized_crop", {"scale": [0.5, 1.5]}, "train.random_resized_crop.scale"),
    ("random_resized_crop", {"ratio": [0.75]}, "train.random_resized_crop.ratio"),
    ("random_resized_crop", {"ratio": [-1, 1]}, "train.random_resized_crop.ratio"),
    ("random_resized_crop", {"interpolation": "nearest"}, "train.random_resized_crop.interpolation"),
    ("random_resized_crop", {"scael": [0.5, 1]}, "train.random_resized_crop.scael"),
])
def test_config_errors_name_the_key(key, value, named):
    with pytest.raises(ConfigError) as e:
        check_config(tiny_config(train={key: value}))
    assert e.value.key == named


def test_randaugment_and_autoaugment_together_is_an_error():
    with pytest.raises(ConfigError) as e:
        check_config(tiny_config(train={"auto_augment": "imagenet", "randaugment": "rand-m9-n1"}))
    assert e.value.key == "train.auto_augment" and "randaugment" in str(e.value)


def test_python_defaults_match_the_typescript_definition():
    """schemas/spike-config.schema.json is generated from src/core/config/definition.ts (a drift test keeps it
    current): every train/telemetry/data key the runtime defaults must have the same default there."""
    schema_file = ROOT / "schemas" / "spike-config.schema.json"
    if not schema_file.exists():
        pytest.skip("schemas/ is not next to the runtime (installed package)")
    props = json.loads(schema_file.read_text())["properties"]
    for section in ("train",):
        fields = props[section]["properties"]
        for key, value in DEFAULTS[section].items():
            assert key in fields, f"{section}.{key} is missing from definition.ts"
            assert fields[key].get("default") == value, f"{section}.{key}: TS {fields[key].get('default')!r} vs Python {value!r}"
    rrc = fields["random_resized_crop"]["properties"]
    from spikestudio.train.augment import RRC_DEFAULTS

    assert rrc["scale"]["default"] == list(RRC_DEFAULTS["scale"])
    assert rrc["ratio"]["default"] == pytest.approx(list(RRC_DEFAULTS["ratio"]))
    assert rrc["interpolation"]["default"] == RRC_DEFAULTS["interpolation"]
    assert rrc["interpolation"]["enum"] == ["bilinear", "bicubic"]
    assert fields["auto_augment"]["enum"] == ["imagenet", None]


# ------------------------------------------------------------------------------------------------ presets


def test_presets_set_the_recipe_augmentations():
    for arch in ("spikformer", "spikingformer"):
        for t in ("t10", "t16"):
            for ds in ("cifar10-dvs", "dvs128-gesture"):
                train = PRESETS[f"{arch}-2-256-{t}/{ds}"]["train"]
                assert train["snn_augment_wide"] is True and train["dvs_flip"] == 0.5, (arch, t, ds)
    sf_dvs = PRESETS["spikeformer-7-256/cifar10-dvs"]["train"]
    assert sf_dvs["dvs_cutout"] == 16 and sf_dvs["dvs_roll"] == 5 and not sf_dvs.get("snn_augment_wide")
    assert any("axis bug" in n for n in PRESETS["spikeformer-7-256/cifar10-dvs"]["notes"])
    sf_in = PRESETS["spikeformer-7-512/imagenet"]["train"]
    assert sf_in["auto_augment"] == "imagenet" and sf_in.get("randaugment") is None
    assert sf_in["random_resized_crop"] == {"scale": [0.08, 1.0], "ratio": [0.75, 4 / 3], "interpolation": "bilinear"}
    for name, p in PRESETS.items():
        if name.startswith("spikformer-") and name.endswith("/imagenet"):
            assert p["train"]["random_resized_crop"]["scale"] == [1.0, 1.0], name
            assert p["train"]["random_resized_crop"]["interpolation"] == "bicubic", name
        if name.startswith("spikingformer-") or "/cifar" in name and "dvs" not in name:
            assert p["train"].get("random_resized_crop") is None, name  # scale (1, 1) ratio (1, 1): the identity
        cfg = {"version": 1, "model": p["model"], "data": p.get("data", {}), "train": p["train"]}
        check_config(copy.deepcopy(cfg))


def test_spikformer_and_spikingformer_cifar_randaugment_op_sets_differ():
    """Spikformer's aa_snn 5-op subset (spec §2.4) vs Spikingformer's stock timm 15-op set (§3.4)."""
    for size in ("4-256", "2-384", "4-384", "4-384-400e"):
        for ds in ("cifar10", "cifar100"):
            a = parse_randaugment(PRESETS[f"spikformer-{size}/{ds}"]["train"]["randaugment"])
            b = parse_randaugment(PRESETS[f"spikingformer-{size}/{ds}"]["train"]["randaugment"])
            assert a["ops"] == ["Equalize", "Rotate", "ShearX", "TranslateXRel", "TranslateYRel"]
            assert len(b["ops"]) == 15 and (a["m"], a["n"], a["mstd"]) == (b["m"], b["n"], b["mstd"]) == (9.0, 1, 0.4)


# ------------------------------------------------------------------------------------------------ trainer

COUNTING_PRELUDE = """
import json, os
import spikestudio.train.augment as A
_log = os.environ.get("AUG_LOG") or {log!r}
def _count(name, n):
    with open(_log, "a") as f:
        f.write(json.dumps([name, n]) + "\\n")
def _wrap(name, fn):
    def inner(x, *a, **k):
        _count(name, int(x.shape[0]))
        return fn(x, *a, **k)
    return inner
for _n in ("random_resized_crop", "snn_augment_wide", "dvs_cutout"):
    setattr(A, _n, _wrap(_n, getattr(A, _n)))
_aa_call = A.AutoAugment.__call__
def _aa(self, x):
    _count("AutoAugment", int(x.shape[0]))
    return _aa_call(self, x)
A.AutoAugment.__call__ = _aa
"""


def _counts(log: Path) -> Counter:
    c = Counter()
    for line in log.read_text().splitlines():
        name, n = json.loads(line)
        c[name] += n
    return c


def test_trainer_applies_image_augmentations_to_training_batches_only(tmp_path):
    log = tmp_path / "aug.log"
    cfg = tiny_config(data={"limit_train": 64, "limit_eval": 48, "batch_size": 16, "eval_batch_size": 16},
                      train={"epochs": 2, "max_steps_per_epoch": 2, "auto_augment": "imagenet", "hflip": 0.5,
                             "random_resized_crop": {"scale": [0.5, 1.0], "ratio": [0.75, 1.3333]}, "reprob": 0.25},
                      telemetry={"attention_samples": 0, "energy": False})
    p, events = run(tmp_path, cfg, prelude=COUNTING_PRELUDE.format(log=str(log)))
    assert p.returncode == 0, p.stderr
    assert [e["type"] for e in events].count("eval") == 2
    c = _counts(log)
    assert c == Counter({"AutoAugment": 2 * 2 * 16, "random_resized_crop": 2 * 2 * 16}), c  # 2 epochs x 2 steps x 16


def test_trainer_applies_event_augmentations_to_training_batches_only(tmp_path):
    from test_config_fixes import _cifar10dvs_root, resolved

    root = _cifar10dvs_root(tmp_path)
    log = tmp_path / "aug.log"
    model = {"variant": "dvs", "in_channels": 2, "time_steps": 2, "num_classes": 10, "img_size": 32}
    data = {"dataset": "cifar10-dvs", "root": str(root), "sensor_size": 32, "cache_dir": str(tmp_path / "cache"),
            "frames_number": None, "limit_train": None, "limit_eval": None, "batch_size": 2, "eval_batch_size": 2}
    cfg = resolved(model, data, {"epochs": 1, "max_steps_per_epoch": 2, "snn_augment_wide": True, "dvs_cutout": 8,
                                 "dvs_flip": 0.5})
    p, events = run(tmp_path, cfg, prelude=COUNTING_PRELUDE.format(log=str(log)))
    assert p.returncode == 0, p.stderr
    assert any(e["type"] == "eval" for e in events)
    assert _counts(log) == Counter({"snn_augment_wide": 2 * 2, "dvs_cutout": 2 * 2})
