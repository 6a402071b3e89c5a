"""`dvs128-gesture`: IBM DVS128 Gesture (reference spec §1.4), 11 classes, 128x128 sensor.

data.root: the folder holding `trials_to_train.txt`, `trials_to_test.txt`, the `user##_<lighting>.aedat` recordings
(AEDAT 3.1) and their `user##_<lighting>_labels.csv` (class 1..11, startTime_usec, endTime_usec), or a folder
with it as `DvsGesture/` or `extract/DvsGesture/` (SpikingJelly's layout). Each csv row is one sample: the events
with start <= t < end (time mask), label = class - 1. Split: the official trial lists (1176 / 288 with the real
data). Frames: data.frames_number (null: model.time_steps, filled in by load_dataset(..., time_steps);
16 when a reader is called alone), data.split_by (number), data.sensor_size (128), cached under
data.cache_dir (default: data.root) in `frames_number_<T>_split_by_<split>/`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikestudio.data.aedat import read_aedat3
from spikestudio.data.frames import FrameCache, frames_settings, integrate
from spikestudio.data import download
from spikestudio.data.facts import dataset_facts
from spikestudio.data.registry import Dataset, register
from spikestudio.errors import ConfigError, DataError

NUM_CLASSES = dataset_facts("dvs128-gesture")["num_classes"]
HINT = "DvsGesture.tar.gz must be downloaded by hand from IBM (https://research.ibm.com/interactive/dvsgesture/) " \
       "and extracted; set data.root to the extracted DvsGesture folder."


def _present(r: Path) -> bool:
    return any((c / "trials_to_train.txt").is_file() for c in (r, r / "DvsGesture", r / "extract" / "DvsGesture"))


def locate(root) -> Path:
    if not root:
        raise ConfigError("data.root", "dvs128-gesture needs data.root (the extracted DvsGesture folder)", HINT)
    r = Path(root)
    for cand in (r, r / "DvsGesture", r / "extract" / "DvsGesture"):
        if (cand / "trials_to_train.txt").is_file():
            return cand
    raise DataError(f"{r}: trials_to_train.txt not found there (nor in DvsGesture/ or extract/DvsGesture/); "
                    "expected the extracted DVS128 Gesture dataset", HINT)


def read_trials(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected the official trial list of .aedat file names)", HINT) from None
    names = [ln.strip() for ln in lines if ln.strip()]
    for n in names:
        if not n.endswith(".aedat"):
            raise DataError(f"{path}: line {n!r} is not an .aedat file name (expected one trial file per line)")
    return names


def read_labels(path: Path) -> list[tuple[int, int, int]]:
    """csv rows (class 1..11, start_us, end_us); a header line is skipped."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected the labels csv: class,startTime_usec,endTime_usec)",
                        HINT) from None
    rows = []
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        parts = [s.strip() for s in ln.split(",")]
        try:
            c, a, b = (int(v) for v in parts[:3])
        except ValueError:
            if i == 0:
                continue  # header
            raise DataError(f"{path}: line {i + 1} {ln!r} is not 'class,startTime_usec,endTime_usec'") from None
        if not 1 <= c <= NUM_CLASSES:
            raise DataError(f"{path}: line {i + 1}: class {c} out of range, expected 1..{NUM_CLASSES}")
        rows.append((c, a, b))
    return rows


def cut_samples(events: dict, rows) -> list[tuple[int, dict]]:
    """One (label, events) per csv row: events with start <= t < end, label = class - 1."""
    out = []
    t = events["t"]
    for c, a, b in rows:
        m = (t >= a) & (t < b)
        out.append((c - 1, {k: v[m] for k, v in events.items()}))
    return out


def iter_samples(folder: Path, split: str):
    """(split, label, events, name) for every sample of a split, in trial-list then csv order."""
    for fname in read_trials(folder / f"trials_to_{split}.txt"):
        f = folder / fname
        if not f.is_file():
            raise DataError(f"{f}: file not found (listed in trials_to_{split}.txt)", HINT)
        rows = read_labels(folder / (fname[: -len(".aedat")] + "_labels.csv"))
        for j, (label, ev) in enumerate(cut_samples(read_aedat3(f), rows)):
            yield split, label, ev, f"{f} sample {j} (class {label + 1})"


@register("dvs128-gesture", event=True)
def read(data_cfg: dict) -> Dataset:
    import torch

    folder = locate(str(download.ensure("dvs128-gesture", data_cfg, _present)))
    T, split_by, H, W = frames_settings(data_cfg)
    cache = FrameCache(data_cfg.get("cache_dir") or folder, T, split_by, H, W)

    def make():
        for split in ("train", "test"):
            for s, label, ev, name in iter_samples(folder, split):
                yield s, label, integrate(ev, T, H, W, split_by, name)

    got = cache.load_or_build(make, dataset="dvs128-gesture")
    empty = (np.zeros((0, T, 2, H, W), np.float32), np.zeros(0, np.int64))
    (trx, try_), (tex, tey) = got.get("train", empty), got.get("test", empty)
    return Dataset(name="dvs128-gesture", train_x=torch.from_numpy(trx), train_y=torch.from_numpy(try_),
                   eval_x=torch.from_numpy(tex), eval_y=torch.from_numpy(tey), num_classes=NUM_CLASSES,
                   in_channels=2, img_size=H if H == W else [H, W], source=str(folder))
