"""AEDAT 3.1 / 2.0 decoding, DVS128 Gesture and CIFAR10-DVS readers on small files written in the real formats."""

import json
import os
import struct

import numpy as np
import pytest
import torch

from spikestudio.data import load_dataset
from spikestudio.data.aedat import (PACKET_HEADER, cifar10dvs_address, decode_aedat2, encode_aedat2,
                                    encode_aedat3_polarity, read_aedat3, read_cifar10dvs_aedat)
from spikestudio.data.frames import integrate
from spikestudio.errors import DataError

torch.set_num_threads(1)
PRESETS = json.load(open(os.path.join(os.path.dirname(__file__), "..", "spikestudio", "presets", "presets.json")))
HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def rand_events(n, seed, size=32, t0=0, t1=100000):
    r = np.random.default_rng(seed)
    t = np.sort(r.integers(t0, t1, n))
    return t, r.integers(0, size, n), r.integers(0, size, n), r.integers(0, 2, n)


def test_aedat3_bit_layout_overflow_and_skipped_packets(tmp_path):
    t = np.array([5, 10, 20])
    body = encode_aedat3_polarity(t, [0, 127, 3], [1, 2, 127], [1, 0, 1], header=HEADER)
    other = PACKET_HEADER.pack(2, 1, 12, 0, 0, 2, 2, 2) + bytes(24)  # a non-polarity packet: skipped
    second = encode_aedat3_polarity([7], [9], [8], [0], overflow=1, header=b"")
    f = tmp_path / "a.aedat"
    f.write_bytes(body + other + second)
    ev = read_aedat3(f)
    assert ev["t"].tolist() == [5, 10, 20, 7 | (1 << 31)]
    assert ev["x"].tolist() == [0, 127, 3, 9] and ev["y"].tolist() == [1, 2, 127, 8] and ev["p"].tolist() == [1, 0, 1, 0]
    # hand-built data word: x=5 (bits 17..), y=6 (bits 2..), p=1 (bit 1), valid (bit 0)
    word = (5 << 17) | (6 << 2) | (1 << 1) | 1
    raw = HEADER + PACKET_HEADER.pack(1, 0, 8, 4, 0, 1, 1, 1) + struct.pack("<II", word, 42)
    f.write_bytes(raw)
    ev = read_aedat3(f)
    assert (ev["x"][0], ev["y"][0], ev["p"][0], ev["t"][0]) == (5, 6, 1, 42)


@pytest.mark.parametrize("raw,expect", [
    (HEADER + PACKET_HEADER.pack(1, 0, 8, 4, 0, 2, 2, 2) + bytes(8), "truncated AEDAT 3.1 packet"),
    (HEADER + bytes(10), "truncated AEDAT 3.1 packet header"),
    (b"#!AER-DAT3.1\r\n", "no #!END-HEADER"),
    (b"garbage\n", "not an AEDAT 3.1 file"),
])
def test_aedat3_errors_name_the_file(tmp_path, raw, expect):
    f = tmp_path / "bad.aedat"
    f.write_bytes(raw)
    with pytest.raises(DataError) as e:
        read_aedat3(f)
    assert str(f) in e.value.message and expect in e.value.message
    with pytest.raises(DataError, match="file not found"):
        read_aedat3(tmp_path / "missing.aedat")


def test_aedat2_big_endian_and_cifar10dvs_remap(tmp_path):
    addr = cifar10dvs_address([1, 127], [100, 3], [0, 1])
    raw = encode_aedat2(addr, [11, 12])
    assert raw.endswith(struct.pack(">IIII", int(addr[0]), 11, int(addr[1]), 12))
    f = tmp_path / "c.aedat"
    f.write_bytes(raw)
    ev = decode_aedat2(raw)
    assert ev["x"].tolist() == [1, 127] and ev["y"].tolist() == [100, 3] and ev["p"].tolist() == [0, 1]
    rm = read_cifar10dvs_aedat(f)
    assert rm["x"].tolist() == [27, 124] and rm["y"].tolist() == [126, 0] and rm["p"].tolist() == [1, 0]
    f.write_bytes(raw[:-3])
    with pytest.raises(DataError) as e:
        read_cifar10dvs_aedat(f)
    assert str(f) in e.value.message and "truncated" in e.value.message


def make_gesture(root, size=32):
    """users 01, 02 train, 03 test; one recording each with 2-3 labelled windows (overlapping, out of order)."""
    rows = {"user01_fluorescent": [(1, 0, 40000), (3, 30000, 90000)], "user02_led": [(11, 50000, 100000), (2, 0, 50000)],
            "user03_natural": [(5, 10000, 60000), (7, 60000, 100000), (4, 0, 100000)]}
    truth = []
    for i, (stem, rs) in enumerate(rows.items()):
        t, x, y, p = rand_events(600 + 50 * i, i, size)
        (root / f"{stem}.aedat").write_bytes(encode_aedat3_polarity(t, x, y, p, header=HEADER))
        (root / f"{stem}_labels.csv").write_text("class,startTime_usec,endTime_usec\n"
                                                 + "".join(f"{c},{a},{b}\n" for c, a, b in rs))
        for c, a, b in rs:
            m = (t >= a) & (t < b)
            truth.append(("test" if stem.startswith("user03") else "train", c - 1,
                          {"t": t[m], "x": x[m], "y": y[m], "p": p[m]}))
    (root / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser02_led.aedat\n")
    (root / "trials_to_test.txt").write_text("user03_natural.aedat\n")
    return truth


def test_dvs128_gesture_samples_split_frames_and_cache(tmp_path):
    root = tmp_path / "DvsGesture"
    root.mkdir()
    truth = make_gesture(root)
    cfg = {"dataset": "dvs128-gesture", "root": str(tmp_path), "frames_number": 4, "split_by": "number", "sensor_size": 32}
    ds = load_dataset(cfg)
    assert (ds.train_size, ds.eval_size, ds.num_classes, ds.in_channels, ds.img_size) == (4, 3, 11, 2, 32)
    assert ds.train_y.tolist() == [0, 2, 10, 1] and ds.eval_y.tolist() == [4, 6, 3]
    tr = [integrate(ev, 4, 32, 32) for s, _, ev in truth if s == "train"]
    assert torch.equal(ds.train_x, torch.from_numpy(np.stack(tr)))
    assert ds.train_x.shape == (4, 4, 2, 32, 32)
    cache = root / "frames_number_4_split_by_number_32x32"
    assert (cache / ".complete").is_file()
    # an interrupted build (no marker) is rebuilt, not read
    (cache / ".complete").unlink()
    (cache / "train_000000.npz").write_bytes(b"half")
    ds2 = load_dataset(cfg)
    assert torch.equal(ds2.train_x, ds.train_x) and (cache / ".complete").is_file()
    # missing recording listed in a trial file
    (root / "user03_natural.aedat").unlink()
    with pytest.raises(DataError) as e:
        load_dataset(dict(cfg, frames_number=2))
    assert "user03_natural.aedat" in e.value.message and "trials_to_test" in e.value.message


def test_cifar10dvs_lexicographic_order_split_and_one_training_step(tmp_path):
    from spikestudio.models import build_model

    n = 12  # per class: ceil(0.9 * 12) = 11 train, 1 test
    for ci, cls in enumerate(["airplane", "automobile"]):
        (tmp_path / cls).mkdir()
        for i in range(n):
            r = np.random.default_rng(100 * ci + i)
            k = 40 + i
            addr = cifar10dvs_address(r.integers(96, 128, k), r.integers(96, 128, k), r.integers(0, 2, k))
            (tmp_path / cls / f"cifar10_{cls}_{i}.aedat").write_bytes(encode_aedat2(addr, np.arange(k) * 10))
    ds = load_dataset({"dataset": "cifar10-dvs", "root": str(tmp_path), "frames_number": 2, "sensor_size": 32})
    assert (ds.train_size, ds.eval_size, ds.num_classes) == (22, 2, 2)
    assert ds.train_y.tolist() == [0] * 11 + [1] * 11
    # sorted names: _0, _1, _10, _11, _2, ... -> the test sample of each class is _9 (the last in that order)
    last = read_cifar10dvs_aedat(tmp_path / "airplane" / "cifar10_airplane_9.aedat")
    assert torch.equal(ds.eval_x[0], torch.from_numpy(integrate(last, 2, 32, 32)))
    second = read_cifar10dvs_aedat(tmp_path / "airplane" / "cifar10_airplane_10.aedat")
    assert torch.equal(ds.train_x[2], torch.from_numpy(integrate(second, 2, 32, 32)))
    assert ds.train_x.sum(dim=(1, 2, 3, 4)).tolist()[:3] == [40.0, 41.0, 50.0]
    # the preset, shrunk, trains one step on these frames
    for name in ("spikeformer-7-256/cifar10-dvs", "stsa-2-256-t10/dvs128-gesture"):
        m = dict(PRESETS[name]["model"], img_size=32, time_steps=2, num_classes=2, depth=1)
        if m["arch"] == "spikeformer":
            m.update(embed_dim=32, num_heads=2, tokenizer_channels=[8, 8, 16, 16, 32, 32])
        else:
            m.update(embed_dim=32)
        model = build_model(m)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss = torch.nn.functional.cross_entropy(model(ds.train_x[:2]), ds.train_y[:2])
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
