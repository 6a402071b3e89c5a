"""`imagenet` (and any ImageNet-style tree): class folders of images.

data.root: a folder with `train/` and `val/` (or `test/`), each holding one folder per class (classes = sorted
folder names of train/, label = index; the eval split must use the same names). Decoding: `.npy` (uint8 HxWx3,
3xHxW or HxW), binary Netpbm `.ppm` (P6) / `.pgm` (P5) natively; other formats (JPEG, PNG, ...) through Pillow when
it is installed, else a DataError saying `pip install pillow`. Every image is resized (bilinear, antialiased) to
data.image_size x data.image_size (default 224), grey images are repeated to 3 channels, and the whole set is
normalised with the ImageNet mean/std. data.eval_crop_pct (e.g. 0.875): evaluation images are resized instead
(bicubic, shorter side to image_size / crop_pct) and center-cropped to image_size, as timm's eval transform. Everything is held in memory: meant for small subsets, not full ImageNet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikestudio import config_schema
from spikestudio.data import download
from spikestudio.data.facts import dataset_facts
from spikestudio.data.registry import Dataset, register
from spikestudio.errors import ConfigError, DataError

MEAN = tuple(dataset_facts("imagenet")["mean"])
STD = tuple(dataset_facts("imagenet")["std"])
NATIVE = (".npy", ".ppm", ".pgm")
PILLOW = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jpe")
EXTENSIONS = NATIVE + PILLOW


def _netpbm(raw: bytes, path: Path) -> np.ndarray:
    """Binary P6 (RGB) / P5 (grey), maxval < 256 or 16-bit big-endian; comments allowed in the header."""
    magic = raw[:2]
    if magic not in (b"P6", b"P5"):
        raise DataError(f"{path}: not a binary Netpbm file (magic {magic!r}, expected b'P6' or b'P5')")
    fields, pos = [], 2
    while len(fields) < 3:
        while pos < len(raw) and raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            nl = raw.find(b"\n", pos)
            pos = len(raw) if nl < 0 else nl + 1
            continue
        start = pos
        while pos < len(raw) and raw[pos:pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise DataError(f"{path}: truncated or malformed Netpbm header (expected width, height, maxval)")
        fields.append(int(raw[start:pos]))
    pos += 1  # the single whitespace byte after maxval
    w, h, maxval = fields
    ch = 3 if magic == b"P6" else 1
    bpp = 1 if maxval < 256 else 2
    need = w * h * ch * bpp
    if len(raw) - pos < need:
        raise DataError(f"{path}: truncated Netpbm data: {len(raw) - pos} bytes, expected {need} for {w}x{h}x{ch}")
    a = np.frombuffer(raw, dtype=np.uint8 if bpp == 1 else ">u2", count=w * h * ch, offset=pos)
    a = a.reshape(h, w, ch).astype(np.float32) * (255.0 / maxval)
    return a


def decode(path: Path) -> np.ndarray:
    """An image file -> float32 (H, W, C) in 0..255."""
    suf = path.suffix.lower()
    if suf == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc})") from None
        if a.ndim == 2:
            a = a[:, :, None]
        elif a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
            a = a.transpose(1, 2, 0)
        if a.ndim != 3 or a.shape[2] not in (1, 3):
            raise DataError(f"{path}: array of shape {a.shape}, expected HxW, HxWx3 or 3xHxW")
        return a.astype(np.float32)
    if suf in (".ppm", ".pgm"):
        return _netpbm(path.read_bytes(), path)
    try:
        from PIL import Image  # type: ignore
    except ImportError:
        raise DataError(f"{path}: decoding {suf} images needs Pillow, which is not installed",
                        "pip install pillow (or convert the images to .npy / .ppm)") from None
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float32)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: cannot decode image ({exc})") from None


def list_folder(split_dir: Path, classes: list[str] | None = None) -> tuple[list[str], list[tuple[Path, int]]]:
    if classes is None:
        classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
        if not classes:
            raise DataError(f"{split_dir}: no class folders (expected {split_dir}/<class>/<image>)")
    index = {c: i for i, c in enumerate(classes)}
    samples = []
    for d in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if d.name not in index:
            raise DataError(f"{d}: class folder not present in the training split")
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in EXTENSIONS:
                samples.append((f, index[d.name]))
    return classes, samples


def resize_center_crop(a, size: int, crop_pct: float):
    """timm's eval transform: the shorter side resized (bicubic) to floor(size / crop_pct), then a size x size
    center crop. `a`: (1, C, H, W) uint8 or float; returns float (1, C, size, size) in the input's value range."""
    import math

    import torch.nn.functional as F

    h, w = a.shape[2:]
    short = math.floor(size / crop_pct)
    nh, nw = (short, max(size, round(w * short / h))) if h <= w else (max(size, round(h * short / w)), short)
    a = F.interpolate(a.float(), size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    return a[:, :, top:top + size, left:left + size].clamp(0, 255)


def load_images(samples, size: int, crop_pct: float | None = None):
    import torch
    import torch.nn.functional as F

    xs = []
    for f, _ in samples:
        a = torch.from_numpy(np.ascontiguousarray(decode(f))).permute(2, 0, 1)[None]
        if a.shape[1] == 1:
            a = a.expand(1, 3, *a.shape[2:])
        if crop_pct is not None:
            a = resize_center_crop(a, size, crop_pct)
        elif tuple(a.shape[2:]) != (size, size):
            a = F.interpolate(a, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        xs.append(a[0].float())
    x = torch.stack(xs) if xs else torch.zeros(0, 3, size, size)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    y = torch.tensor([c for _, c in samples], dtype=torch.int64)
    return ((x / 255.0 - mean) / std).contiguous(), y


@register("imagenet")
def read(data_cfg: dict) -> Dataset:
    r = download.ensure("imagenet", data_cfg, lambda p: (p / "train").is_dir())
    size = data_cfg.get("image_size") or config_schema.default("data.image_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError("data.image_size", f"must be an integer >= 1, got {size!r}")
    if not (r / "train").is_dir():
        raise DataError(f"{r}: no train/ folder (expected {r}/train/<class>/<image> and {r}/val/<class>/<image>)")
    eval_dir = next((r / n for n in ("val", "test") if (r / n).is_dir()), None)
    if eval_dir is None:
        raise DataError(f"{r}: no val/ (or test/) folder (expected {r}/val/<class>/<image>)")
    classes, train = list_folder(r / "train")
    _, evals = list_folder(eval_dir, classes)
    trx, try_ = load_images(train, size)
    evx, evy = load_images(evals, size, data_cfg.get("eval_crop_pct"))
    return Dataset(name="imagenet", train_x=trx, train_y=try_, eval_x=evx, eval_y=evy, num_classes=len(classes),
                   in_channels=3, img_size=size, source=str(r))
