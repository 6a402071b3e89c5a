"""Checkpoints: atomic writes (temp file in the same folder + os.replace) and RNG state capture.

Everything stored loads with `torch.load(path, weights_only=True)`: tensors, dicts, lists, numbers, strings.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any, Callable, NoReturn

import numpy as np
import torch

FORMAT = "spikestudio.checkpoint"
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save to `path` atomically: readers see the old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def rng_state(generator: torch.Generator | None = None) -> dict:
    np_state = np.random.get_state()
    state = {
        "python": _to_lists(random.getstate()),
        "numpy": {
            "kind": np_state[0],
            "keys": np_state[1].tolist(),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["sampler"] = generator.get_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "sampler" in state:
        generator.set_state(state["sampler"])


def _to_lists(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_to_lists(x) for x in v]
    return v


# ------------------------------------------------------------------ reading checkpoints written elsewhere

_ANSI = __import__("re").compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _numpy_scalar_globals() -> list:
    """The globals a pickled numpy scalar (e.g. a metric saved as np.float64) needs: reconstructing one runs no code."""
    out = []
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    out += [scalar, np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType")
                if hasattr(dtypes, n)]
    return out


def safe_globals() -> list:
    """Exactly what the reference training scripts put beside the weights that is not a tensor, number, string or
    container: their argparse.Namespace (`args`, in timm's and torchvision's checkpoint dicts) and numpy scalars."""
    import argparse

    return [argparse.Namespace, *_numpy_scalar_globals()]


def _global_name(obj) -> str:
    """The name torch's unpickler reports for a global (module.qualname, numpy's private module spelled as pickled)."""
    mod = getattr(obj, "__module__", None) or "builtins"
    return f"{mod}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}"


class UnreadableCheckpoint(Exception):
    """`message` says what the file is and why it was not read (one line, no terminal colour codes); `hint` how to
    proceed."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


def load_checkpoint_file(path: str | os.PathLike) -> Any:
    """torch.load(path) with weights_only=True, also allowing `safe_globals()`. Anything else raises
    UnreadableCheckpoint naming what the file holds (the globals its pickle would import) and how to proceed."""
    path = str(path)
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UnreadableCheckpoint(f"{path} not found", "check the path (relative paths start at the config file's folder)") from None
    except Exception as exc:  # noqa: BLE001
        detail = " ".join(_ANSI.sub("", str(exc)).split())
        if "WeightsUnpickler error:" in detail:  # torch's advice around it is about weights_only=False: keep the cause
            detail = detail.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation", 1)[0].strip()
    needs: list[str] = []
    try:
        allowed = {_global_name(c) for c in safe_globals()}
        needs = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path) if g not in allowed]
    except Exception:  # noqa: BLE001 - not a zip checkpoint (legacy format, or not torch.save at all)
        needs = []
    if needs:
        shown = ", ".join(needs[:8]) + (f" and {len(needs) - 8} more" if len(needs) > 8 else "")
        msg = (f"{path} is a pickled checkpoint that needs {shown} to load; a safe load (weights_only) allows tensors, "
               f"numbers, strings, containers, argparse.Namespace and numpy scalars only")
    elif "Unsupported global" in detail:
        msg = f"{path} holds objects a safe load (weights_only) does not allow"
    else:
        msg = f"{path} cannot be read by torch.load: {detail}"
        raise UnreadableCheckpoint(msg, "expected a file written by torch.save (a state_dict, or a dict holding one "
                                        "under model / state_dict / state_dict_ema)")
    raise UnreadableCheckpoint(msg, "if you trust the file, keep only its weights: python -c \"import torch; "
                                    "c = torch.load('{path}', weights_only=False); "
                                    "torch.save(c.get('state_dict') or c.get('model') or c, 'weights.pth')\" "
                                    "and use weights.pth".replace("{path}", path))


def read_checkpoint(path: str | os.PathLike, fail: Callable[[str, str | None], Exception] | None = None, *,
                    missing: str | None = None, missing_hint: str | None = None, not_training: str | None = None) -> Any:
    """The one way to read a checkpoint: load_checkpoint_file(path), with every problem raised as fail(message, hint)
    (default: UnreadableCheckpoint). `missing`: the message for a path that is not a file (else the load's own);
    `not_training`: when given, anything but a training checkpoint (a dict with `model`) is refused with it."""
    def refuse(message: str, hint: str | None) -> NoReturn:
        raise (fail(message, hint) if fail is not None else UnreadableCheckpoint(message, hint or "")) from None

    if missing is not None and not os.path.isfile(path):
        refuse(missing, missing_hint)
    try:
        obj = load_checkpoint_file(path)
    except UnreadableCheckpoint as exc:
        refuse(exc.message, exc.hint)
    if not_training is not None and (not isinstance(obj, dict) or "model" not in obj):
        refuse(not_training, None)
    return obj
