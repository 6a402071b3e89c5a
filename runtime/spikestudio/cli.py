"""`python -m spikestudio doctor|describe|train|eval|export|import-checkpoint` (and `--version`).

Argument errors print a usage message to stderr and exit 2. Commands that print JSON claim stdout first (see
`protocol.claim_stdout`), so nothing else can reach it. This module does not import torch at import time.
"""

from __future__ import annotations

import argparse
import json
import os
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
    t.add_argument("--config", help="the resolved config (config.resolved.json)")
    t.add_argument("--run-dir", help="the run directory (events.jsonl, checkpoints/)")
    t.add_argument("--resume", metavar="RUN_DIR",
                   help="continue RUN_DIR from checkpoints/last.pt (config from the checkpoint or RUN_DIR/config.resolved.json)")
    t.add_argument("--nproc", type=int, default=None, help="processes per node: re-run under torchrun (torch.distributed.run)")
    t.add_argument("--nnodes", type=int, default=None, help="nodes (with --nproc; multi-node needs --rdzv-endpoint)")
    t.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT", help="rendezvous endpoint for multi-node torchrun")
    t.add_argument("--node-rank", type=int, default=None, help=argparse.SUPPRESS)

    e = sub.add_parser("eval", help="evaluate a checkpoint: events on stdout, a JSON summary with --out")
    e.add_argument("--checkpoint", required=True, help="a Spike Studio checkpoint (last.pt / best.pt)")
    e.add_argument("--config", default=None, help="a resolved config (default: the checkpoint's)")
    e.add_argument("--split", default="test", choices=("test", "train"), help="which split to evaluate (default test)")
    e.add_argument("--out", default=None, help="write a JSON summary (top-1, top-5, firing rates, energy) here")
    e.add_argument("--device", default=None, help="override train.device (auto | cpu | cuda | cuda:N)")
    e.add_argument("--batch-size", type=int, default=None, help="override data.eval_batch_size")

    x = sub.add_parser("export", help="export a checkpoint as an ONNX model (time steps unrolled)")
    x.add_argument("--checkpoint", required=True, help="a Spike Studio checkpoint (last.pt / best.pt)")
    x.add_argument("--out", required=True, help="the .onnx file to write")
    x.add_argument("--probes", action="store_true", help="also output per-layer spike counts and SSA attention maps")
    x.add_argument("--config", default=None, help="a resolved config (default: the checkpoint's)")
    x.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")

    sub.add_parser("doctor", help="print one JSON object describing this Python environment")

    d = sub.add_parser("describe", help="print the model description (layers, shapes, params) as JSON")
    d.add_argument("config", metavar="CONFIG", help="a resolved config JSON, a model-section JSON, or a preset name")
    d.add_argument("--json-errors", action="store_true",
                   help="one JSON line on stdout in every case: the description (custom models: with the entry's "
                        "signature), or {\"error\": {kind, message, hint, key, file, line, stage}} (the editor's mode)")

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
    if (model.get("arch") == "custom" or model.get("plugins")) and not model.get("base_dir"):  # model.source / model.plugins are relative to the config's folder
        src = data.get("source") if isinstance(data.get("source"), str) else None
        model = dict(model, base_dir=str(Path(src).parent if src else path.resolve().parent))
    return model


def _plugin_presets(arg: str) -> dict:
    """{"presets": {...}} registered by the model section's plugin files ({} when none or they do not import)."""
    try:
        from spikestudio.models.custom import load_plugins
        from spikestudio.models.registry import plugin_presets

        model_cfg = _load_describe_input(arg)
        if not model_cfg.get("plugins"):
            return {}
        load_plugins(model_cfg, model_cfg.get("base_dir"))
        found = plugin_presets()
        return {"presets": found} if found else {}
    except Exception:  # noqa: BLE001 - the error being reported is the describe's own
        return {}


def _describe(arg: str, json_errors: bool = False) -> int:
    from spikestudio.protocol import claim_stdout

    out = claim_stdout()
    try:
        model_cfg = _load_describe_input(arg)
        try:
            from spikestudio.describe import describe_model
        except ImportError as exc:
            raise SpikeStudioError(f"describe is not available in this runtime ({exc})") from None
        result = describe_model(model_cfg)
        from spikestudio.models import is_custom

        if is_custom(model_cfg):
            from spikestudio.models.config import normalize_custom_cfg
            from spikestudio.models.custom import describe_entry

            result["entry"] = describe_entry(normalize_custom_cfg(model_cfg))
            result.update(_plugin_presets(arg))
    except SpikeStudioError as err:
        if not json_errors:
            raise
        fields = {"kind": err.kind, "message": err.message}
        for key in ("hint", "key", "file", "line", "stage"):
            if getattr(err, key, None) is not None:
                fields[key] = getattr(err, key)
        out.write(json.dumps({"error": fields, **_plugin_presets(arg)}) + "\n")
        out.flush()
        return err.exit_code
    except Exception as exc:  # noqa: BLE001 - describe runs the researcher's forward: one line, never a traceback
        if not json_errors:
            raise
        out.write(json.dumps({"error": {"kind": "internal", "message": f"{type(exc).__name__}: {exc}".splitlines()[0]}}) + "\n")
        out.flush()
        return 1
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


def _import_checkpoint(args: list[str]) -> int:
    try:
        from spikestudio.checkpoint_import import main as import_main
    except ImportError as exc:
        raise SpikeStudioError(f"import-checkpoint is not available in this runtime ({exc})") from None
    rc = import_main(args)
    return int(rc or 0)


def _strip_launch_args(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in ("--nproc", "--nnodes", "--rdzv-endpoint", "--node-rank"):
            skip = "=" not in a
            continue
        out.append(a)
    return out


def _torchrun(args, argv: list[str]) -> int:
    """Re-execute `python -m spikestudio train ...` under `python -m torch.distributed.run` (torchrun)."""
    nproc = args.nproc or 1
    nnodes = args.nnodes or 1
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    if nnodes > 1 or args.rdzv_endpoint:
        if not args.rdzv_endpoint:
            _err("--nnodes > 1 needs --rdzv-endpoint HOST:PORT")
            return 2
        cmd += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={args.rdzv_endpoint}"]
        if args.node_rank is not None:
            cmd.append(f"--node-rank={args.node_rank}")
    else:
        cmd.append("--standalone")
    cmd += ["-m", "spikestudio", *_strip_launch_args(argv)]
    print("spikestudio: launching " + " ".join(cmd), file=sys.stderr, flush=True)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, cmd, env)  # same pid, same stdin/stdout: torchrun's rank 0 speaks the protocol
    import subprocess

    return subprocess.call(cmd, env=env)


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
        if not args.resume and (not args.config or not args.run_dir):
            _err("train needs --config and --run-dir (or --resume RUN_DIR)")
            return 2
        if args.nproc is not None and args.nproc < 1:
            _err("--nproc must be >= 1")
            return 2
        if (args.nproc or args.nnodes) and "WORLD_SIZE" not in os.environ:
            return _torchrun(args, argv)
        from spikestudio.train.trainer import main as train_main

        return train_main(args.config, args.run_dir, args.resume)
    if args.command == "eval":
        from spikestudio.train.eval_cli import main as eval_main

        return eval_main(args)
    if args.command == "doctor":
        from spikestudio.doctor import main as doctor_main

        return doctor_main()
    try:
        if args.command == "describe":
            return _describe(args.config, bool(getattr(args, "json_errors", False)))
        if args.command == "export":
            from spikestudio.export.onnx import main as export_main

            return export_main(args)
    except SpikeStudioError as err:
        _err(err.message, err.hint)
        return err.exit_code
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        _err(f"{type(exc).__name__}: {exc}")
        return 1
    _parser().error(f"unknown command {args.command!r}")
    return 2
