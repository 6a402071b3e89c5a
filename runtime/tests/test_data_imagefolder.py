"""ImageNet-style class folders: .ppm / .pgm / .npy decoded natively (no Pillow needed)."""

import numpy as np
import pytest
import torch

from spikestudio.data import load_dataset
from spikestudio.data.imagefolder import MEAN, STD, decode
from spikestudio.errors import DataError


def ppm(path, a):
    h, w, _ = a.shape
    path.write_bytes(b"P6\n# hand-written\n%d %d\n255\n" % (w, h) + a.astype(np.uint8).tobytes())


def test_imagefolder_decode_resize_normalise(tmp_path):
    r = np.random.default_rng(0)
    imgs = {}
    for split, per in (("train", 2), ("val", 1)):
        for cls in ("n02", "n01"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for i in range(per):
                a = r.integers(0, 256, (8, 8, 3))
                imgs[(split, cls, i)] = a
                if i == 0:
                    ppm(d / f"img{i}.ppm", a)
                else:
                    np.save(d / f"img{i}.npy", a.astype(np.uint8).transpose(2, 0, 1))
    (tmp_path / "val" / "n01" / "g.pgm").write_bytes(b"P5 4 4 255 " + bytes(range(16)))
    ds = load_dataset({"dataset": "imagenet", "root": str(tmp_path), "image_size": 8})
    assert (ds.train_size, ds.eval_size, ds.num_classes, ds.img_size) == (4, 3, 2, 8)
    assert ds.train_y.tolist() == [0, 0, 1, 1]  # n01 first (sorted)
    a = imgs[("train", "n01", 1)]
    expect = (torch.from_numpy(a).permute(2, 0, 1).float() / 255 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    assert torch.allclose(ds.train_x[1], expect, atol=1e-5)
    g = decode(tmp_path / "val" / "n01" / "g.pgm")
    assert g.shape == (4, 4, 1) and g[1, 2, 0] == 6
    ds4 = load_dataset({"dataset": "imagenet", "root": str(tmp_path), "image_size": 4})
    assert ds4.eval_x.shape == (3, 3, 4, 4)


def test_errors(tmp_path):
    d = tmp_path / "train" / "a"
    d.mkdir(parents=True)
    (d / "x.ppm").write_bytes(b"P6 4 4 255 " + bytes(10))
    with pytest.raises(DataError, match=r"x\.ppm: truncated Netpbm data"):
        decode(d / "x.ppm")
    (d / "y.jpg").write_bytes(b"\xff\xd8junk")
    try:
        import PIL  # noqa: F401
        expect = "cannot decode"
    except ImportError:
        expect = "needs Pillow"
    with pytest.raises(DataError, match=expect) as e:
        decode(d / "y.jpg")
    assert "y.jpg" in e.value.message
    if expect == "needs Pillow":
        assert "pip install pillow" in e.value.hint
    with pytest.raises(DataError, match="no val/"):
        load_dataset({"dataset": "imagenet", "root": str(tmp_path)})
