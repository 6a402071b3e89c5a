"""`python -m spikestudio doctor` (docs/contracts.md §4): one JSON object on stdout, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1]
KEYS = {"ok", "python", "torch", "numpy", "cuda", "device", "gpus", "problems"}


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(RUNTIME) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def doctor(prelude: str = "") -> tuple[subprocess.CompletedProcess, dict]:
    script = prelude + "\nimport sys\nfrom spikestudio.cli import main\nsys.exit(main(['doctor']))\n"
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env(), timeout=120)
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    return p, json.loads(lines[0])


def check_shape(report: dict) -> None:
    assert KEYS <= set(report)
    assert isinstance(report["ok"], bool) and isinstance(report["cuda"], bool)
    assert isinstance(report["python"], str) and isinstance(report["device"], str)
    assert isinstance(report["gpus"], list) and isinstance(report["problems"], list)
    for gpu in report["gpus"]:
        assert {"name", "memory_mb", "capability"} <= set(gpu)
    for problem in report["problems"]:
        assert {"kind", "message", "hint"} <= set(problem)
    assert report["ok"] == (not report["problems"])


def test_doctor_module_entry_point():
    p = subprocess.run([sys.executable, "-m", "spikestudio", "doctor"], capture_output=True, text=True, env=env(),
                       timeout=120)
    assert p.returncode == 0 and "Traceback" not in p.stderr
    report = json.loads(p.stdout)
    check_shape(report)
    import torch

    assert report["torch"] == torch.__version__ and report["numpy"]
    assert report["cuda"] == torch.cuda.is_available()
    assert report["device"] == ("cuda:0" if report["cuda"] else report["device"])
    assert report["ok"], report["problems"]


def test_doctor_without_torch():
    p, report = doctor("import sys; sys.modules['torch'] = None  # hide torch: `import torch` raises ImportError")
    assert p.returncode == 0 and "Traceback" not in p.stderr
    check_shape(report)
    assert report["torch"] is None and report["ok"] is False and report["cuda"] is False
    (problem,) = [pr for pr in report["problems"] if "PyTorch" in pr["message"]]
    assert problem["kind"] == "environment"
    assert problem["hint"].startswith("python -m pip install torch")
    assert "download.pytorch.org/whl/cu" in problem["hint"]  # the CUDA wheel index for GPUs


def test_doctor_without_numpy_and_with_broken_torch():
    prelude = (
        "import sys, types\n"
        "sys.modules['numpy'] = None\n"
        "class Broken(types.ModuleType):\n"
        "    def __getattr__(self, name): raise OSError('libtorch_cpu.so: cannot open shared object file')\n"
        "sys.modules['torch'] = Broken('torch')\n"
    )
    p, report = doctor(prelude)
    assert p.returncode == 0
    check_shape(report)
    kinds = [pr["message"] for pr in report["problems"]]
    assert any("numpy" in m for m in kinds) and any("PyTorch" in m for m in kinds)


def test_collect_in_process():
    from spikestudio.doctor import collect

    report = collect()
    check_shape(report)
    json.dumps(report)


def test_doctor_with_too_old_torch():
    prelude = (
        "import sys, types\n"
        "old = types.ModuleType('torch'); old.__version__ = '1.13.1+cu117'\n"
        "old.version = types.SimpleNamespace(cuda='11.7')\n"
        "old.cuda = types.SimpleNamespace(is_available=lambda: False)\n"
        "old.backends = types.SimpleNamespace()\n"
        "sys.modules['torch'] = old\n"
    )
    p, report = doctor(prelude)
    assert p.returncode == 0 and "Traceback" not in p.stderr
    check_shape(report)
    assert report["torch"] == "1.13.1+cu117" and report["ok"] is False
    (problem,) = [pr for pr in report["problems"] if "too old" in pr["message"]]
    assert "torch 1.13.1+cu117" in problem["message"] and "2.1" in problem["message"]
    assert problem["hint"] == "python -m pip install --upgrade torch"
