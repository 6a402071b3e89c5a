"""`cifar10-dvs`: CIFAR10-DVS (reference spec §1.4), 10 classes x 1000 AEDAT 2.0 recordings, 128x128.

data.root: a folder of class folders (airplane/, automobile/, ...) holding `.aedat` files (or the same below
`extract/`). Order = torchvision DatasetFolder: sorted class folders, lexicographically sorted file names
(..._0, ..._1, ..._10, ..._100). Split (what all four repos do, via SpikingJelly `split_to_train_test_set(0.9)`):
per class the first ceil(0.9 n) samples train, the rest test (9000 / 1000). Events are remapped x' = 127 - y,
y' = 127 - x, p' = 1 - p. Frames and cache as dvs128-gesture (data.frames_number, split_by, sensor_size, cache_dir).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from spikestudio.data.aedat import read_cifar10dvs_aedat
from spikestudio.data.frames import FrameCache, frames_settings, integrate
from spikestudio.data import download
from spikestudio.data.registry import Dataset, register
from spikestudio.errors import ConfigError, DataError

TRAIN_RATIO = 0.9
HINT = "With data.download: true (the default) they are downloaded into data.root; or download the ten class zips of CIFAR10-DVS (figshare) and extract each into its class folder under data.root."


def _present(r: Path) -> bool:
    """Class folders of .aedat files at r or r/extract (or the extract folder a download renames into place)."""
    return (r / "extract").exists() or (r.is_dir() and any(d.is_dir() and any(d.glob("*.aedat")) for d in r.iterdir()))


def locate(root) -> Path:
    if not root:
        raise ConfigError("data.root", "cifar10-dvs needs data.root (a folder of class folders of .aedat files)", HINT)
    r = Path(root)
    for cand in (r, r / "extract"):
        if cand.is_dir() and any(d.is_dir() and any(d.glob("*.aedat")) for d in cand.iterdir()):
            return cand
    raise DataError(f"{r}: no class folders with .aedat files found (expected <root>/<class>/*.aedat)", HINT)


def list_samples(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and any(d.glob("*.aedat")))
    samples = []
    for ci, c in enumerate(classes):
        for name in sorted(f.name for f in (folder / c).iterdir() if f.name.endswith(".aedat")):
            samples.append((folder / c / name, ci))
    return classes, samples


def split_indices(labels: list[int], num_classes: int, ratio: float = TRAIN_RATIO) -> tuple[list[int], list[int]]:
    train, test = [], []
    for c in range(num_classes):
        idx = [i for i, y in enumerate(labels) if y == c]
        k = math.ceil(len(idx) * ratio)
        train += idx[:k]
        test += idx[k:]
    return train, test


@register("cifar10-dvs", event=True)
def read(data_cfg: dict) -> Dataset:
    import torch

    folder = locate(str(download.ensure("cifar10-dvs", data_cfg, _present)))
    T, split_by, H, W = frames_settings(data_cfg, default_T=16)
    classes, samples = list_samples(folder)
    train, test = split_indices([y for _, y in samples], len(classes))
    cache = FrameCache(data_cfg.get("cache_dir") or folder, T, split_by, H, W)

    def make():
        for split, idx in (("train", train), ("test", test)):
            for i in idx:
                f, label = samples[i]
                yield split, label, integrate(read_cifar10dvs_aedat(f), T, H, W, split_by, str(f))

    got = cache.load_or_build(make, len(train) + len(test), "cifar10-dvs")
    empty = (np.zeros((0, T, 2, H, W), np.float32), np.zeros(0, np.int64))
    (trx, try_), (tex, tey) = got.get("train", empty), got.get("test", empty)
    return Dataset(name="cifar10-dvs", train_x=torch.from_numpy(trx), train_y=torch.from_numpy(try_),
                   eval_x=torch.from_numpy(tex), eval_y=torch.from_numpy(tey), num_classes=len(classes),
                   in_channels=2, img_size=H if H == W else [H, W], source=str(folder))
