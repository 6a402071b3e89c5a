"""`python -m spikestudio` argument handling, --version, describe and import-checkpoint delegation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import spikestudio

RUNTIME = Path(__file__).resolve().parents[1]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(RUNTIME) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("OMP_NUM_THREADS", "1")
    return e


def cli(*args: str, prelude: str | None = None) -> subprocess.CompletedProcess:
    if prelude is None:
        cmd = [sys.executable, "-m", "spikestudio", *args]
    else:
        cmd = [sys.executable, "-c", prelude + "\nimport sys\nfrom spikestudio.cli import main\nsys.exit(main(sys.argv[1:]))",
               *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=120, stdin=subprocess.DEVNULL)


def test_version():
    p = cli("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"spikestudio {spikestudio.__version__}"


def test_argument_errors_exit_2_without_traceback():
    for args, needle in [((), "COMMAND"), (("bogus",), "invalid choice"), (("train",), "--config"),
                         (("train", "--config", "x.json"), "--run-dir"), (("describe",), "CONFIG")]:
        p = cli(*args)
        assert p.returncode == 2, args
        assert needle in p.stderr and "Traceback" not in p.stderr and p.stdout == ""


def test_describe_resolved_config_and_preset(tmp_path):
    cfg = {"version": 1, "model": {"arch": "spikformer", "variant": "cifar", "embed_dim": 16, "num_heads": 2,
                                   "depth": 1, "mlp_ratio": 2, "time_steps": 2, "in_channels": 1, "num_classes": 10,
                                   "img_size": 28}}
    f = tmp_path / "config.resolved.json"
    f.write_text(json.dumps(cfg))
    p = cli("describe", str(f))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["arch"] == "spikformer" and out["time_steps"] == 2 and out["params"] > 0 and out["layers"]
    p = cli("describe", "spikformer-tiny/mnist")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["num_classes"] == 10


def test_describe_errors(tmp_path):
    p = cli("describe", str(tmp_path / "missing.json"))
    assert p.returncode == 2 and "no such file" in p.stderr and "Traceback" not in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"arch": "spikformer", "embed_dim": 30, "num_heads": 4}}))
    p = cli("describe", str(bad))
    assert p.returncode == 2 and "model." in p.stderr and "Traceback" not in p.stderr and p.stdout == ""


def test_import_checkpoint_delegates_and_reports_absence():
    p = cli("import-checkpoint", "--help")
    assert p.returncode == 0 and "usage" in (p.stdout + p.stderr).lower()
    p = cli("import-checkpoint", "a.pth", prelude="import sys; sys.modules['spikestudio.checkpoint_import'] = None")
    assert p.returncode == 1 and "not available" in p.stderr and "Traceback" not in p.stderr
