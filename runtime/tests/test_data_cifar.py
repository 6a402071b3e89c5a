"""CIFAR-10/100 python pickle batches, written by hand in the real format."""

import pickle

import numpy as np
import pytest
import torch

from spikestudio.data import load_dataset
from spikestudio.data.cifar import MEAN, STD, read_cifar
from spikestudio.errors import DataError


def write(path, d):
    path.write_bytes(pickle.dumps(d, protocol=2))


def make10(root, n=4):
    r = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = r.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = list(r.integers(0, 10, n))
        write(root / name, {b"batch_label": name.encode(), b"labels": [int(v) for v in labels], b"data": data,
                            b"filenames": [b"x.png"] * n})
        batches[name] = (data, labels)
    write(root / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072})
    return batches


def test_cifar10_decoding_and_normalisation(tmp_path):
    b = make10(tmp_path)
    d = read_cifar(tmp_path, 10)
    assert d["names"][3] == "c3"
    x, y = d["train"]
    assert x.dtype == torch.uint8 and x.shape == (20, 3, 32, 32) and y.shape == (20,)
    d1 = b["data_batch_2"][0][1]
    assert torch.equal(x[5, 1], torch.from_numpy(d1[1024:2048].reshape(32, 32)))  # G plane, row-major
    assert y[5].item() == b["data_batch_2"][1][1]
    ds = load_dataset({"dataset": "cifar10", "root": str(tmp_path)})
    assert (ds.train_size, ds.eval_size, ds.num_classes, ds.img_size) == (20, 4, 10, 32)
    px = float(b["test_batch"][0][0][2048]) / 255.0
    assert ds.eval_x[0, 2, 0, 0].item() == pytest.approx((px - MEAN[2]) / STD[2], abs=1e-5)


def test_cifar100_fine_labels(tmp_path):
    sub = tmp_path / "cifar-100-python"
    sub.mkdir()
    r = np.random.default_rng(1)
    for name, n in (("train", 6), ("test", 2)):
        write(sub / name, {b"data": r.integers(0, 256, (n, 3072), dtype=np.uint8), b"fine_labels": [99] * n,
                           b"coarse_labels": [1] * n})
    write(sub / "meta", {b"fine_label_names": [b"a"] * 100, b"coarse_label_names": [b"b"] * 20})
    ds = load_dataset({"dataset": "cifar100", "root": str(tmp_path)})
    assert (ds.train_size, ds.eval_size, ds.num_classes) == (6, 2, 100) and ds.train_y.tolist() == [99] * 6


def test_errors_name_the_file(tmp_path):
    make10(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError) as e:
        read_cifar(tmp_path, 10)
    assert "data_batch_3" in e.value.message and "not found" in e.value.message
    raw = (tmp_path / "data_batch_1").read_bytes()
    (tmp_path / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="data_batch_3.*not a CIFAR python pickle"):
        read_cifar(tmp_path, 10)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match=r"data_batch_3.*expected uint8 \(n, 3072\)"):
        read_cifar(tmp_path, 10)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": __import__("os").getcwd}))  # a forbidden global
    with pytest.raises(DataError, match="forbidden global"):
        read_cifar(tmp_path, 10)
