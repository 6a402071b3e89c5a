"""`python -m spikestudio eval --checkpoint FILE [--config resolved.json] [--split test|train] [--out summary.json]`.

Events on stdout (no run directory): hello, model, eval, firing (split "eval"), energy, done. The summary JSON
(--out, written atomically) holds checkpoint, epoch, step, split, top1, top5, loss, samples, firing (per-layer
rates) and energy (total_mj, convention, macs, acs, layers). Exit codes: 0 ok, 1 failure, 2 config error.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

from spikestudio import __version__
from spikestudio.errors import ConfigError, EnvironmentProblem, SpikeStudioError
from spikestudio.protocol import Emitter, claim_stdout


def main(args) -> int:
    out = claim_stdout()
    em = Emitter(out, None)
    started = time.time()
    state = {"epoch": 0, "step": 0}

    def done(status: str, top1=None) -> None:
        em.emit("done", status=status, epochs_completed=int(state["epoch"]), steps=int(state["step"]), best_top1=top1,
                duration_s=round(time.time() - started, 3), last_checkpoint=str(Path(args.checkpoint).resolve()))

    hello_sent = False
    try:
        try:
            import torch
        except Exception as exc:  # noqa: BLE001
            raise EnvironmentProblem(f"PyTorch cannot be imported: {exc}", "python -m pip install torch") from None
        from spikestudio.train.config import check_config, load_config_file
        from spikestudio.train.trainer import fallback_describe, resolve_device

        ck_path = Path(args.checkpoint)
        config_error = None
        ck = None
        cfg = None
        try:
            from spikestudio.train.checkpoint import read_checkpoint

            ck = read_checkpoint(ck_path, lambda message, hint: ConfigError("--checkpoint", message, hint),
                                 missing=f"file not found: {ck_path}",
                                 not_training=f"{ck_path} is not a Spike Studio checkpoint (no `model` entry)")
            raw = load_config_file(args.config) if args.config else ck.get("config")
            if not isinstance(raw, dict):
                raise ConfigError("--config", "the checkpoint holds no config; pass --config RESOLVED.json")
            cfg = check_config(raw)
            if args.device:
                cfg["train"]["device"] = args.device
            if args.batch_size:
                cfg["data"]["eval_batch_size"] = int(args.batch_size)
            state["epoch"], state["step"] = int(ck.get("epoch", 0) or 0), int(ck.get("step", 0) or 0)
        except ConfigError as err:
            config_error = err
        device = resolve_device(cfg["train"]["device"] if cfg else "cpu")
        em.emit("hello", runtime_version=__version__, python=platform.python_version(), torch=torch.__version__,
                device=str(device), gpu=None, pid=os.getpid(), run_dir="", mode="eval")
        hello_sent = True
        if config_error:
            raise config_error
        assert cfg is not None and ck is not None
        from spikestudio.data import load_dataset
        from spikestudio.models import build_model
        from spikestudio.telemetry import clean_rates, make_firing_recorder
        from spikestudio.train.evaluation import energy_fields, evaluate, make_energy_recorder

        mcfg = dict(cfg["model"], init_from=None)
        model = build_model(mcfg)
        model.load_state_dict(ck["model"])
        try:
            from spikestudio.describe import describe_model

            desc = dict(describe_model(mcfg, model))
        except Exception:  # noqa: BLE001
            desc = fallback_describe(model, mcfg)
        model = model.to(device)
        em.emit("model", **desc)
        ds = load_dataset(cfg["data"], time_steps=cfg["model"]["time_steps"])
        x, y = (ds.eval_x, ds.eval_y) if args.split == "test" else (ds.train_x, ds.train_y)
        recorder, _ = make_firing_recorder(model)
        energy = make_energy_recorder(model, cfg["telemetry"])
        amp = cfg["train"]["amp"]
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp) if amp else None
        if amp_dtype is torch.float16 and device.type != "cuda":
            amp_dtype = torch.bfloat16

        def autocast():
            return torch.autocast(device_type=device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()

        res = evaluate(torch, model, x, y, cfg["data"]["eval_batch_size"], device, autocast, recorder, energy)
        assert res is not None
        em.emit("eval", epoch=state["epoch"], step=state["step"], best_top1=res["top1"], split=args.split, **res)
        firing = clean_rates(recorder.rates()) if recorder is not None else []
        if recorder is not None:
            em.emit("firing", epoch=state["epoch"], step=state["step"], split="eval", layers=firing)
        rep = energy_fields(energy, cfg["telemetry"])
        if rep is not None:
            em.emit("energy", epoch=state["epoch"], step=state["step"], **rep)
        if args.out:
            summary = {"checkpoint": str(ck_path.resolve()), "epoch": state["epoch"], "step": state["step"],
                       "split": args.split, **res, "firing": firing, "energy": rep}
            _write_json(Path(args.out), summary)
        done("completed", res["top1"])
        return 0
    except SpikeStudioError as err:
        if not hello_sent:
            em.emit("hello", runtime_version=__version__, python=platform.python_version(), torch="", device="cpu",
                    gpu=None, pid=os.getpid(), run_dir="", mode="eval")
        fields = {"kind": err.kind, "message": err.message}
        if err.hint:
            fields["hint"] = err.hint
        em.emit("error", **fields)
        print(f"spikestudio eval: {err.kind}: {err.message}", file=sys.stderr)
        done("failed")
        return err.exit_code
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        if not hello_sent:
            em.emit("hello", runtime_version=__version__, python=platform.python_version(), torch="", device="cpu",
                    gpu=None, pid=os.getpid(), run_dir="", mode="eval")
        em.emit("error", kind="internal", message=f"{type(exc).__name__}: {exc}")
        done("failed")
        return 1


def _write_json(path: Path, obj) -> None:
    from spikestudio.protocol import _clean

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(_clean(obj), fh, indent=2)
    os.replace(tmp, path)
