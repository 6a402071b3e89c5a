"""`python -m spikestudio doctor|describe|train|import-checkpoint` (and `--version`).

Argument errors print a usage message to stderr and exit 2. Commands that print JSON claim stdout first (see
`protocol.claim_stdout`), so nothing else can reach it. This module does not import torch at import time.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from spikestudio import __version__
from spikestudio.errors import ConfigError, SpikeStudioError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m spikestudio", description="Spike Studio runtime")
    p.add_argument("--version", action="version", version=f"spikestudio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train from a resolved config, streaming JSON-lines events on stdout")
    t.add_argument("--config", required=True, help="the resolved config (config.resolved.json)")
    t.add_argument("--run-dir", required=True, help="the run directory (events.jsonl, checkpoints/)")

    sub.add_parser("doctor", help="print one JSON object describing this Python environment")

    d = sub.add_parser("describe", help="print the model description (layers, shapes, params) as JSON")
    d.add_argument("config", metavar="CONFIG", help="a resolved config JSON, a model-section JSON, or a preset name")

    i = sub.add_parser("import-checkpoint", help="convert a reference-code checkpoint", add_help=False)
    i.add_argument("args", nargs=argparse.REMAINDER)
    return p


def _err(msg: str, hint: str | None = None) -> None:
    print(f"spikestudio: error: {msg}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)


def _load_describe_input(arg: str) -> dict:
    path = Path(arg)
    if not path.exists():
        presets = Path(__file__).resolve().parent / "presets" / "presets.json"
        if presets.is_file():
            table = json.loads(presets.read_text(encoding="utf-8"))
            if arg in table:
                return dict(table[arg].get("model", {}))
        raise ConfigError("CONFIG", f"{arg}: no such file (nor a preset name)")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # optional
        except ImportError:
            raise ConfigError("CONFIG", f"{path} is YAML; pass the resolved JSON instead",
                              "Resolve it first with `spike-studio describe` or use RUN_DIR/config.resolved.json.") from None
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("CONFIG", f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError("CONFIG", f"{path} must hold a JSON object")
    model = data.get("model", data)
    if not isinstance(model, dict):
        raise ConfigError("model", "must be an object")
    return model


def _describe(arg: str) -> int:
    from spikestudio.protocol import claim_stdout

    out = claim_stdout()
    model_cfg = _load_describe_input(arg)
    try:
        from spikestudio.describe import describe_model
    except ImportError as exc:
        raise SpikeStudioError(f"describe is not available in this runtime ({exc})") from None
    out.write(json.dumps(describe_model(model_cfg)) + "\n")
    out.flush()
    return 0


def _import_checkpoint(args: list[str]) -> int:
    try:
        from spikestudio.checkpoint_import import main as import_main
    except ImportError as exc:
        raise SpikeStudioError(f"import-checkpoint is not available in this runtime ({exc})") from None
    rc = import_main(args)
    return int(rc or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "import-checkpoint":  # its own parser handles every argument, --help included
        try:
            return _import_checkpoint(argv[1:])
        except SpikeStudioError as err:
            _err(err.message, err.hint)
            return err.exit_code
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help(sys.stderr)
        return 2
    if args.command == "train":
        from spikestudio.train.trainer import main as train_main

        return train_main(args.config, args.run_dir)
    if args.command == "doctor":
        from spikestudio.doctor import main as doctor_main

        return doctor_main()
    try:
        if args.command == "describe":
            return _describe(args.config)
    except SpikeStudioError as err:
        _err(err.message, err.hint)
        return err.exit_code
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        _err(f"{type(exc).__name__}: {exc}")
        return 1
    _parser().error(f"unknown command {args.command!r}")
    return 2
