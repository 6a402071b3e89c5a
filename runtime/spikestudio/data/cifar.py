"""`cifar10` / `cifar100`: the CIFAR "python version" pickle batches (Krizhevsky 2009).

data.root: the extracted `cifar-10-batches-py/` (data_batch_1..5, test_batch, batches.meta) or
`cifar-100-python/` (train, test, meta) folder, or a folder holding it. Each batch is a pickled dict with b"data"
(n, 3072) uint8 rows (1024 R, 1024 G, 1024 B; row-major 32x32) and b"labels" (CIFAR-10) or b"fine_labels"
(CIFAR-100). The pickles are read with a restricted unpickler (numpy arrays and builtins only).

`read_cifar(folder, 10|100)` -> uint8 tensors (N, 3, 32, 32) and int64 labels per split; the registered readers
normalise with the spec §2.4 constants (mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616); the spec gives
these for CIFAR-10 and calls CIFAR-100 "analogous", so both use them).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from spikestudio.data import download
from spikestudio.data.facts import dataset_facts
from spikestudio.data.registry import Dataset, register
from spikestudio.errors import ConfigError, DataError

MEAN = tuple(dataset_facts("cifar10")["mean"])  # cifar100 uses the same (datasets.json)
STD = tuple(dataset_facts("cifar10")["std"])
LAYOUT = {
    10: {"dir": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
         "meta": "batches.meta", "labels": b"labels", "names": b"label_names"},
    100: {"dir": "cifar-100-python", "train": ["train"], "test": ["test"], "meta": "meta",
          "labels": b"fine_labels", "names": b"fine_label_names"},
}
HINT = {10: "With data.download: true (the default) it is downloaded into data.root; or download "
            "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and extract it; "
            "set data.root to the cifar-10-batches-py folder.",
        100: "With data.download: true (the default) it is downloaded into data.root; or download "
             "cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and extract it; "
             "set data.root to the cifar-100-python folder."}


class _Unpickler(pickle.Unpickler):
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"), ("builtins", "bytes")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden global {module}.{name}")


def _load(path: Path, what: str, classes: int) -> dict:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected {what})", HINT[classes]) from None
    try:
        obj = _Unpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a format problem
        raise DataError(f"{path}: not a CIFAR python pickle ({type(exc).__name__}: {exc}); expected {what}",
                        HINT[classes]) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict ({what}), got {type(obj).__name__}", HINT[classes])
    return obj


def _present(r: Path, classes: int) -> bool:
    """Something of the dataset is there (then it is read, never downloaded over)."""
    lay = LAYOUT[classes]
    return any((cand / lay["test"][0]).is_file() for cand in (r, r / lay["dir"])) or (r / lay["dir"]).exists()


def locate(root, classes: int) -> Path:
    if not root:
        raise ConfigError("data.root", f"cifar{classes} needs data.root (the extracted {LAYOUT[classes]['dir']} folder)",
                          HINT[classes])
    r = Path(root)
    lay = LAYOUT[classes]
    for cand in (r, r / lay["dir"]):
        if (cand / lay["test"][0]).is_file():
            return cand
    raise DataError(f"{r}: {lay['test'][0]} not found there or in {lay['dir']}/ (expected the CIFAR-{classes} "
                    "python batches)", HINT[classes])


def read_batch(path: Path, classes: int) -> tuple[np.ndarray, np.ndarray]:
    lay = LAYOUT[classes]
    d = _load(path, f"a CIFAR-{classes} batch with b'data' and {lay['labels']!r}", classes)
    if b"data" not in d or lay["labels"] not in d:
        raise DataError(f"{path}: missing key b'data' or {lay['labels']!r} (keys: {sorted(d)[:6]})", HINT[classes])
    data = np.asarray(d[b"data"])
    labels = np.asarray(d[lay["labels"]], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: b'data' is {data.dtype} {data.shape}, expected uint8 (n, 3072)", HINT[classes])
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: {labels.shape[0]} labels for {data.shape[0]} images (truncated batch?)", HINT[classes])
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(f"{path}: label {int(labels.max())} out of range, expected 0..{classes - 1}", HINT[classes])
    return data.reshape(-1, 3, 32, 32), labels


def read_label_names(folder: Path, classes: int) -> list[str] | None:
    lay = LAYOUT[classes]
    f = folder / lay["meta"]
    if not f.is_file():
        return None
    d = _load(f, f"the CIFAR-{classes} meta dict with {lay['names']!r}", classes)
    names = d.get(lay["names"])
    if not isinstance(names, list) or len(names) != classes:
        raise DataError(f"{f}: expected {classes} names under {lay['names']!r}", HINT[classes])
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_cifar(folder, classes: int):
    """{"train": (uint8 (N,3,32,32) tensor, int64 labels), "test": (...), "names": [...] | None}."""
    import torch

    folder = Path(folder)
    out = {"names": read_label_names(folder, classes)}
    for split in ("train", "test"):
        parts = [read_batch(folder / n, classes) for n in LAYOUT[classes][split]]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        out[split] = (torch.from_numpy(x), torch.from_numpy(y))
    return out


def normalise(x_uint8):
    import torch

    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return ((x_uint8.float() / 255.0 - mean) / std).contiguous()


def _reader(classes: int):
    def read(data_cfg: dict) -> Dataset:
        root = download.ensure(f"cifar{classes}", data_cfg, lambda r: _present(r, classes))
        folder = locate(str(root), classes)
        d = read_cifar(folder, classes)
        return Dataset(name=f"cifar{classes}", train_x=normalise(d["train"][0]), train_y=d["train"][1],
                       eval_x=normalise(d["test"][0]), eval_y=d["test"][1], num_classes=classes, in_channels=3,
                       img_size=32, source=str(folder))

    return read


register("cifar10")(_reader(10))
register("cifar100")(_reader(100))
