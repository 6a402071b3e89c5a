"""Frame integration of event streams and the on-disk frame cache (reference spec §1.4).

* `integrate(events, T, H, W, split_by)` -> float32 [T, 2, H, W] per-pixel event counts (channel 0: p = 0,
  channel 1: p = 1). Counts are integers, exact in float32 (SpikingJelly stores float64).
  split_by "number": di = floor(N / T); frame j covers event indices [j*di, (j+1)*di), the last frame extends to N.
  split_by "time": dt = floor((t_last - t_first) / T); frame j covers t in [t_first + j*dt, t_first + (j+1)*dt),
  the last frame extends to the final event; an empty window raises DataError naming the sample.
* `FrameCache`: one folder per integration setting, `<root>/frames_number_<T>_split_by_<split>[_<HxW>]`, one
  `.npz` per sample (keys "frames", "label") written as temp file + os.replace, and a `.complete` marker written
  last. A folder without the marker is an interrupted build: it is deleted and rebuilt, never read.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from spikestudio import config_schema
from spikestudio.errors import DataError

SPLIT_BY = config_schema.choices("data.split_by")
MARKER = ".complete"


def _accumulate(frame: np.ndarray, x, y, p, H: int, W: int) -> None:
    idx = (p * H + y) * W + x
    frame += np.bincount(idx, minlength=2 * H * W).reshape(2, H, W).astype(np.float32)


def integrate(events: dict, T: int, H: int, W: int, split_by: str = "number", name: str = "sample") -> np.ndarray:
    t, x, y, p = (np.asarray(events[k], dtype=np.int64) for k in ("t", "x", "y", "p"))
    N = len(t)
    if N and (x.min() < 0 or y.min() < 0 or x.max() >= W or y.max() >= H or p.min() < 0 or p.max() > 1):
        raise DataError(f"{name}: event outside the {H}x{W} sensor (x in [{x.min()}, {x.max()}], "
                        f"y in [{y.min()}, {y.max()}], p in [{p.min()}, {p.max()}]); check data.sensor_size")
    frames = np.zeros((T, 2, H, W), dtype=np.float32)
    if split_by == "number":
        di = N // T
        for j in range(T):
            a, b = j * di, (N if j == T - 1 else (j + 1) * di)
            _accumulate(frames[j], x[a:b], y[a:b], p[a:b], H, W)
    elif split_by == "time":
        if N == 0:
            raise DataError(f"{name}: no events, cannot integrate by time")
        t0 = int(t[0])
        dt = (int(t[-1]) - t0) // T
        for j in range(T):
            lo = t0 + j * dt
            m = (t >= lo) if j == T - 1 else ((t >= lo) & (t < lo + dt))
            if not m.any():
                raise DataError(f"{name}: empty time window {j} of {T} ([{lo}, {lo + dt}) us) when integrating by "
                                "time", "use data.split_by: number, or fewer frames")
            _accumulate(frames[j], x[m], y[m], p[m], H, W)
    else:
        raise DataError(f"{name}: split_by must be one of {', '.join(SPLIT_BY)}, got {split_by!r}")
    return frames


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class FrameCache:
    """Frames of every sample of a dataset, per split, for one integration setting."""

    def __init__(self, root, T: int, split_by: str, H: int, W: int):
        name = f"frames_number_{T}_split_by_{split_by}"
        if (H, W) != (128, 128):
            name += f"_{H}x{W}"
        self.dir = Path(root) / name
        self.settings = {"frames_number": T, "split_by": split_by, "height": H, "width": W}

    @property
    def complete(self) -> bool:
        return (self.dir / MARKER).is_file()

    def build(self, samples: Iterable[tuple[str, int, np.ndarray]], total: int | None = None,
              dataset: str = "") -> None:
        """Write (split, label, frames) samples, then the marker. Any half-written folder is removed first.
        Progress (`download` events, stage frames, with ETA) goes to spikestudio.data.download's reporter."""
        from spikestudio.data.download import DownloadCancelled, cancelled, frame_progress

        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        counts: dict[str, int] = {}
        prog = frame_progress(dataset, self.dir.name, total)
        for n, (split, label, frames) in enumerate(samples, 1):
            if cancelled():  # the run was stopped: the folder has no marker and is rebuilt next time
                raise DownloadCancelled()
            prog.update(n)
            i = counts.get(split, 0)
            counts[split] = i + 1
            buf = io.BytesIO()
            np.savez(buf, frames=frames.astype(np.float32), label=np.int64(label))
            _atomic_write_bytes(self.dir / f"{split}_{i:06d}.npz", buf.getvalue())
        _atomic_write_bytes(self.dir / MARKER, json.dumps({**self.settings, "counts": counts}).encode())
        prog.update(sum(counts.values()), force=True)

    def read(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        meta = json.loads((self.dir / MARKER).read_text())
        out = {}
        for split, n in meta["counts"].items():
            xs, ys = [], []
            for i in range(n):
                f = self.dir / f"{split}_{i:06d}.npz"
                try:
                    with np.load(f) as z:
                        xs.append(z["frames"])
                        ys.append(int(z["label"]))
                except (OSError, ValueError, KeyError) as exc:
                    raise DataError(f"{f}: unreadable frame-cache file ({exc})",
                                    f"delete {self.dir} to rebuild the cache") from None
            out[split] = (np.stack(xs) if xs else np.zeros((0, self.settings["frames_number"], 2,
                                                            self.settings["height"], self.settings["width"]),
                                                           np.float32), np.asarray(ys, dtype=np.int64))
        return out

    def load_or_build(self, make: Callable[[], Iterable[tuple[str, int, np.ndarray]]], total: int | None = None,
                      dataset: str = ""):
        if not self.complete:
            self.build(make(), total, dataset)
        return self.read()


def frames_settings(data_cfg: dict, default_T: int = 16) -> tuple[int, str, int, int]:
    """(frames_number, split_by, H, W) from data.frames_number / data.split_by / data.sensor_size."""
    from spikestudio.errors import ConfigError

    T = data_cfg.get("frames_number") or default_T
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ConfigError("data.frames_number", f"must be an integer >= 1, got {T!r}")
    split_by = data_cfg.get("split_by") or config_schema.default("data.split_by")
    if split_by not in SPLIT_BY:
        raise ConfigError("data.split_by", f"must be one of {', '.join(SPLIT_BY)}, got {split_by!r}")
    size = data_cfg.get("sensor_size") or config_schema.default("data.sensor_size")
    if isinstance(size, (list, tuple)) and len(size) == 2:
        H, W = int(size[0]), int(size[1])
    elif isinstance(size, int) and not isinstance(size, bool):
        H = W = size
    else:
        raise ConfigError("data.sensor_size", f"must be an integer or [height, width], got {size!r}")
    if H < 1 or W < 1:
        raise ConfigError("data.sensor_size", f"must be >= 1, got {size!r}")
    return T, split_by, H, W
