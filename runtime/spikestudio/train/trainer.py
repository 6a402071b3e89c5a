"""`python -m spikestudio train --config RESOLVED.json --run-dir DIR`.

Events (docs/contracts.md §1) go to the real stdout and to DIR/events.jsonl; human-readable logs go to stderr.
Exit codes: 0 completed or stopped, 1 failed, 2 config error, 130 interrupted twice.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from spikestudio import __version__
from spikestudio.errors import (
    ConfigError,
    EnvironmentProblem,
    NonFiniteLoss,
    OutOfMemory,
    SpikeStudioError,
)
from spikestudio.protocol import ControlReader, Emitter, claim_stdout

TORCH_HINT = (
    "Install PyTorch into this interpreter: `python -m pip install torch` "
    "(for an NVIDIA GPU pick the CUDA wheel index from https://pytorch.org/get-started/locally/, "
    "e.g. `--index-url https://download.pytorch.org/whl/cu126`)."
)


def log(msg: str) -> None:
    print(f"[spikestudio {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class _Interrupted(Exception):
    pass


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())) or isinstance(
        exc, getattr(torch.cuda, "OutOfMemoryError", ())
    ):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError)
    )


def resolve_device(spec: str):
    import torch

    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise EnvironmentProblem("train.device is mps but MPS is not available", "Set train.device: auto or cpu.")
        return torch.device("mps")
    # cuda / cuda:N
    if not torch.cuda.is_available():
        raise EnvironmentProblem(
            f"train.device is {spec} but this PyTorch ({torch.__version__}) sees no CUDA GPU",
            "Set train.device: auto (or cpu), or install a CUDA build of torch: " + TORCH_HINT,
        )
    index = int(spec.split(":", 1)[1]) if ":" in spec else 0
    if index >= torch.cuda.device_count():
        raise EnvironmentProblem(
            f"train.device is {spec} but only {torch.cuda.device_count()} CUDA device(s) are visible",
            "Pick an index below the device count, or set train.device: auto.",
        )
    return torch.device(f"cuda:{index}")


def fallback_describe(model: Any, model_cfg: dict) -> dict:
    """A minimal `model` event from named_modules when spikestudio.describe is unavailable."""
    layers = []
    for name, mod in model.named_modules():
        if not name or any(True for _ in mod.children()):
            continue
        cls = type(mod).__name__
        low = cls.lower()
        if "conv" in low:
            kind = "conv"
        elif "batchnorm" in low or low.startswith("bn"):
            kind = "bn"
        elif "lif" in low or "neuron" in low or "spike" in low:
            kind = "lif"
        elif "linear" in low:
            kind = "linear"
        elif "pool" in low:
            kind = "pool"
        else:
            kind = "other"
        item = {"name": name, "kind": kind, "params": sum(p.numel() for p in mod.parameters(recurse=False))}
        if kind == "lif":
            item["spiking"] = True
        layers.append(item)
    return {
        "arch": str(model_cfg.get("arch", type(model).__name__)),
        "params": sum(p.numel() for p in model.parameters()),
        "time_steps": int(getattr(model, "time_steps", model_cfg.get("time_steps", 1))),
        "num_classes": int(model_cfg.get("num_classes", 0)),
        "layers": layers,
    }


class Trainer:
    def __init__(self, config_path: str, run_dir: str, emitter: Emitter):
        self.config_path = Path(config_path)
        self.run_dir = Path(run_dir)
        self.em = emitter
        self.stop_event = threading.Event()
        self.started = time.time()
        self.epochs_completed = 0
        self.step = 0
        self.best_top1: float | None = None
        self.last_checkpoint: str | None = None
        self._signals = 0

    # ---------------------------------------------------------------- control
    def request_stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            log(f"stop requested ({reason}); finishing the current step")
        self.stop_event.set()

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        if self._signals == 1:
            self.request_stop(signal.Signals(signum).name)
        else:
            raise _Interrupted()

    def _on_control(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "probe":
            log("control: probe requests are not supported by this runtime yet; ignored")
        else:
            log(f"control: ignored unknown message {message!r}")

    def install_control(self) -> None:
        ControlReader(lambda: self.request_stop("stdin"), self._on_control).start()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(ValueError, OSError):
                    signal.signal(sig, self._on_signal)

    # ---------------------------------------------------------------- events
    def done(self, status: str) -> None:
        self.em.emit(
            "done",
            status=status,
            epochs_completed=self.epochs_completed,
            steps=self.step,
            best_top1=self.best_top1,
            duration_s=round(time.time() - self.started, 3),
            last_checkpoint=self.last_checkpoint,
        )

    def fail(self, err: SpikeStudioError) -> int:
        fields = {"kind": err.kind, "message": err.message}
        if err.hint:
            fields["hint"] = err.hint
        self.em.emit("error", **fields)
        log(f"error ({err.kind}): {err.message}" + (f"\n  hint: {err.hint}" if err.hint else ""))
        self.done("failed")
        return err.exit_code

    # ---------------------------------------------------------------- main
    def run(self) -> int:
        try:
            return self._run()
        except SpikeStudioError as err:
            return self.fail(err)
        except (_Interrupted, KeyboardInterrupt):
            self.em.emit("warning", message="interrupted: stopped without writing a checkpoint")
            self.done("stopped")
            return 130
        except BaseException as exc:  # noqa: BLE001 - the protocol must always end with done
            if isinstance(exc, SystemExit):
                raise
            try:
                if _is_oom(exc):
                    return self.fail(OutOfMemory(
                        f"out of memory at step {self.step + 1}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                        "Lower data.batch_size (or data.eval_batch_size), model.time_steps or model size, "
                        "or use train.amp: bf16.",
                    ))
            except ImportError:
                pass
            traceback.print_exc(file=sys.stderr)
            msg = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return self.fail(SpikeStudioError(msg, "This is a bug in Spike Studio or the model code; stderr has the traceback."))

    def _run(self) -> int:
        try:
            import torch
        except Exception as exc:  # ImportError, or a broken install raising OSError
            raise EnvironmentProblem(f"PyTorch cannot be imported: {exc}", TORCH_HINT) from None

        from spikestudio.train.config import check_config, load_config_file

        config_error: ConfigError | None = None
        cfg: dict | None = None
        try:
            cfg = check_config(load_config_file(self.config_path))
        except ConfigError as err:
            config_error = err
        device_error: SpikeStudioError | None = None
        try:
            device = resolve_device(cfg["train"]["device"] if cfg else "auto")
        except SpikeStudioError as err:
            device_error, device = err, torch.device("cpu")
        gpu = None
        if device.type == "cuda":
            props = torch.cuda.get_device_properties(device)
            gpu = {"name": props.name, "memory_mb": int(props.total_memory // (1024 * 1024)),
                   "capability": f"{props.major}.{props.minor}"}
        self.em.emit(
            "hello",
            runtime_version=__version__,
            python=platform.python_version(),
            torch=torch.__version__,
            device=str(device),
            gpu=gpu,
            pid=os.getpid(),
            run_dir=str(self.run_dir.resolve()),
        )
        log(f"spikestudio {__version__}, python {platform.python_version()}, torch {torch.__version__}, "
            f"device {device}{' (' + gpu['name'] + ')' if gpu else ''}, {torch.get_num_threads()} CPU threads")
        if config_error:
            raise config_error
        if device_error:
            raise device_error
        assert cfg is not None
        self.install_control()
        return self._train(torch, cfg, device)

    def _train(self, torch, cfg: dict, device) -> int:
        import random

        import numpy as np
        import torch.nn.functional as F

        from spikestudio.data import load_dataset
        from spikestudio.telemetry import clean_rates, make_firing_recorder
        from spikestudio.train.checkpoint import FORMAT, FORMAT_VERSION, atomic_save, rng_state
        from spikestudio.train.schedule import LRSchedule, apply_lr

        mcfg, dcfg, tcfg, tel = cfg["model"], cfg["data"], cfg["train"], cfg["telemetry"]
        seed = tcfg["seed"]
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
        sampler = torch.Generator().manual_seed(seed)

        # ---------------- data
        t0 = time.time()
        if dcfg["root"] and not Path(dcfg["root"]).is_absolute():  # resolved configs hold absolute paths; be lenient
            base = Path(cfg["source"]).parent if isinstance(cfg.get("source"), str) else self.config_path.parent
            dcfg["root"] = str((base / dcfg["root"]).resolve())
        ds = load_dataset(dcfg)
        log(f"data {ds.name}: {ds.train_size} train / {ds.eval_size} eval samples from {ds.source} ({time.time() - t0:.1f}s)")
        if mcfg["in_channels"] != ds.in_channels:
            raise ConfigError("model.in_channels", f"is {mcfg['in_channels']} but {ds.name} images have {ds.in_channels} channel(s)")
        if mcfg["img_size"] != ds.img_size:
            raise ConfigError("model.img_size", f"is {mcfg['img_size']} but {ds.name} images are {ds.img_size}×{ds.img_size}")
        if mcfg["num_classes"] < ds.num_classes:
            raise ConfigError("model.num_classes", f"is {mcfg['num_classes']} but {ds.name} has {ds.num_classes} classes")
        if mcfg["num_classes"] > ds.num_classes:
            self.em.emit("warning", message=f"model.num_classes is {mcfg['num_classes']} but {ds.name} has only {ds.num_classes} classes")
        small = (ds.train_x.element_size() * ds.train_x.nelement() + ds.eval_x.element_size() * ds.eval_x.nelement()) < (1 << 30)
        if small:
            ds.train_x, ds.train_y = ds.train_x.to(device), ds.train_y.to(device)
            ds.eval_x, ds.eval_y = ds.eval_x.to(device), ds.eval_y.to(device)

        # ---------------- model
        try:
            from spikestudio.models import build_model
        except ImportError as exc:
            raise EnvironmentProblem(f"the model code (spikestudio.models) cannot be imported: {exc}") from None
        model = build_model(mcfg)  # also loads model.init_from (spikestudio.models.load_init_checkpoint)
        desc = None
        try:
            from spikestudio.describe import describe_model

            desc = dict(describe_model(mcfg, model))  # traces one CPU forward in eval mode
        except ImportError as exc:
            log(f"spikestudio.describe unavailable ({exc}); describing the model from named_modules")
        except SpikeStudioError:
            raise
        except Exception as exc:  # describing must not stop training
            log(f"describe_model failed ({type(exc).__name__}: {exc}); describing the model from named_modules")
        fallback = fallback_describe(model, mcfg)
        model = model.to(device)
        if desc is None:
            desc = fallback
        for key in ("arch", "params", "time_steps", "num_classes", "layers"):
            desc.setdefault(key, fallback[key])
        n_params = fallback["params"]
        self.em.emit("model", **desc)
        if int(desc["params"]) != n_params:
            self.em.emit("warning", message=f"describe_model reports {desc['params']} parameters but the built model has {n_params}")
        log(f"model {desc['arch']}: {n_params:,} parameters, T={desc['time_steps']}")

        recorder, why = make_firing_recorder(model)
        if recorder is None:
            self.em.emit("warning", message=f"no firing-rate telemetry: {why}")

        # ---------------- optimisation
        params = [p for p in model.parameters() if p.requires_grad]
        name = tcfg["optimizer"]
        if name == "adamw":
            opt = torch.optim.AdamW(params, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
        elif name == "adam":
            opt = torch.optim.Adam(params, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
        else:
            opt = torch.optim.SGD(params, lr=tcfg["lr"], momentum=tcfg["momentum"], weight_decay=tcfg["weight_decay"])

        amp = tcfg["amp"]
        if amp == "fp16" and device.type != "cuda":
            self.em.emit("warning", message="train.amp fp16 needs a CUDA device; using bf16 autocast on this device instead")
            amp = "bf16"
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp) if amp else None
        scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None

        def autocast():
            if amp_dtype is None:
                return contextlib.nullcontext()
            return torch.autocast(device_type=device.type, dtype=amp_dtype)

        n_train = ds.train_size
        bs = min(dcfg["batch_size"], n_train)
        steps_per_epoch = max(1, n_train // bs)  # drop the last partial batch (BatchNorm needs > 1 sample)
        if tcfg["max_steps_per_epoch"]:
            steps_per_epoch = min(steps_per_epoch, tcfg["max_steps_per_epoch"])
        epochs = tcfg["epochs"]
        sched = LRSchedule(tcfg, steps_per_epoch, epochs)
        total_steps = steps_per_epoch * epochs
        step_every, firing_every = tel["step_every"], tel["firing_every"]
        smoothing = tcfg["label_smoothing"]
        grad_clip = tcfg["grad_clip"]

        def checkpoint(kind: str, epoch: int, epoch_complete: bool) -> str:
            payload = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "runtime_version": __version__,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "epoch": epoch,
                "epoch_complete": epoch_complete,
                "step": self.step,
                "best_top1": self.best_top1,
                "config": cfg,
                "rng": rng_state(sampler),
            }
            path = atomic_save(payload, self.run_dir / "checkpoints" / f"{kind}.pt")
            self.em.emit("checkpoint", epoch=epoch, step=self.step, path=str(path.resolve()), kind=kind)
            if kind == "last":
                self.last_checkpoint = str(path.resolve())
            return str(path)

        def stopped(epoch: int, epoch_complete: bool) -> int:
            checkpoint("last", epoch, epoch_complete)
            log(f"stopped at step {self.step} (epoch {epoch}); last checkpoint {self.last_checkpoint}")
            self.done("stopped")
            return 0

        log(f"training: {epochs} epoch(s) × {steps_per_epoch} steps, batch {bs}, {name} lr {tcfg['lr']:g} "
            f"({tcfg['schedule']}), amp {amp or 'off'}")
        train_time = 0.0
        steps_this_run = 0
        for epoch in range(1, epochs + 1):
            apply_lr(opt, sched.lr_at(self.step))
            self.em.emit("epoch", epoch=epoch, epochs=epochs, steps_per_epoch=steps_per_epoch, lr=opt.param_groups[0]["lr"])
            model.train()
            perm = torch.randperm(n_train, generator=sampler).to(ds.train_x.device)
            acc_loss, acc_correct, acc_seen, acc_steps = 0.0, 0, 0, 0
            window_start = time.time()
            for i in range(steps_per_epoch):
                step_start = time.time()
                idx = perm[i * bs:(i + 1) * bs]
                x = ds.train_x[idx].to(device, non_blocking=True)
                y = ds.train_y[idx].to(device, non_blocking=True)
                lr = sched.lr_at(self.step)
                apply_lr(opt, lr)
                record = recorder is not None and (self.step + 1) % firing_every == 0
                if record:
                    recorder.reset()
                with (recorder.recording() if record else contextlib.nullcontext()):
                    with autocast():
                        logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise NonFiniteLoss(
                        f"the training loss is {loss_value} at step {self.step + 1} (epoch {epoch})",
                        "Lower train.lr (e.g. by 10×), set train.grad_clip (e.g. 1.0), or disable AMP (train.amp: false).",
                    )
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    if grad_clip:
                        scaler.unscale_(opt)
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    if grad_clip:
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    opt.step()
                self.step += 1
                steps_this_run += 1
                acc_loss += loss_value
                acc_correct += int((logits.detach().argmax(1) == y).sum())
                acc_seen += int(y.shape[0])
                acc_steps += 1
                train_time += time.time() - step_start
                last_of_epoch = i == steps_per_epoch - 1
                if self.step % step_every == 0 or last_of_epoch:
                    now = time.time()
                    elapsed = max(now - window_start, 1e-9)
                    remaining = total_steps - self.step
                    eta = remaining * (train_time / steps_this_run)
                    self.em.emit(
                        "step",
                        epoch=epoch,
                        step=self.step,
                        epoch_step=i + 1,
                        steps_per_epoch=steps_per_epoch,
                        loss=acc_loss / acc_steps,
                        acc=acc_correct / acc_seen,
                        lr=lr,
                        img_per_s=round(acc_seen / elapsed, 2),
                        eta_s=round(eta, 1),
                    )
                    log(f"epoch {epoch}/{epochs} step {i + 1}/{steps_per_epoch} loss {acc_loss / acc_steps:.4f} "
                        f"acc {acc_correct / acc_seen:.3f} lr {lr:.3g} {acc_seen / elapsed:.0f} img/s eta {eta:.0f}s")
                    acc_loss, acc_correct, acc_seen, acc_steps = 0.0, 0, 0, 0
                    window_start = time.time()
                if record:
                    self.em.emit("firing", epoch=epoch, step=self.step, split="train", layers=clean_rates(recorder.rates()))
                    recorder.reset()
                if self.stop_event.is_set():
                    return stopped(epoch, last_of_epoch)
            self.epochs_completed = epoch

            if epoch % tcfg["eval_every"] == 0 or epoch == epochs:
                result = self._evaluate(torch, F, model, ds, dcfg["eval_batch_size"], device, autocast, recorder)
                if result is None:  # stopped during evaluation
                    return stopped(epoch, True)
                improved = self.best_top1 is None or result["top1"] > self.best_top1
                if improved:
                    self.best_top1 = result["top1"]
                self.em.emit("eval", epoch=epoch, step=self.step, best_top1=self.best_top1, **result)
                log(f"eval epoch {epoch}: loss {result['loss']:.4f} top1 {result['top1']:.4f} top5 {result['top5']:.4f} "
                    f"({result['samples']} samples, {result['seconds']:.1f}s), best {self.best_top1:.4f}")
                if recorder is not None:
                    self.em.emit("firing", epoch=epoch, step=self.step, split="eval", layers=clean_rates(recorder.rates()))
                    recorder.reset()
                checkpoint("last", epoch, True)
                if improved:
                    checkpoint("best", epoch, True)
            else:
                checkpoint("last", epoch, True)
            if self.stop_event.is_set():
                log(f"stopped after epoch {epoch}")
                self.done("stopped")
                return 0

        log(f"done: {self.epochs_completed} epoch(s), {self.step} steps, best top1 "
            f"{self.best_top1 if self.best_top1 is not None else 'n/a'}, {time.time() - self.started:.1f}s")
        self.done("completed")
        return 0

    def _evaluate(self, torch, F, model, ds, batch_size: int, device, autocast, recorder) -> dict | None:
        t0 = time.time()
        model.eval()
        n = ds.eval_size
        loss_sum, top1, top5 = 0.0, 0, 0
        if recorder is not None:
            recorder.reset()
        with torch.no_grad(), (recorder.recording() if recorder is not None else contextlib.nullcontext()):
            for start in range(0, n, batch_size):
                if self.stop_event.is_set():
                    model.train()
                    return None
                x = ds.eval_x[start:start + batch_size].to(device, non_blocking=True)
                y = ds.eval_y[start:start + batch_size].to(device, non_blocking=True)
                with autocast():
                    logits = model(x)
                logits = logits.float()
                loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                pred = logits.topk(min(5, logits.shape[1]), dim=1).indices
                top1 += int((pred[:, 0] == y).sum())
                top5 += int((pred == y[:, None]).any(dim=1).sum())
        model.train()
        return {
            "loss": loss_sum / max(1, n),
            "top1": top1 / max(1, n),
            "top5": top5 / max(1, n),
            "samples": n,
            "seconds": round(time.time() - t0, 3),
        }


def main(config: str, run_dir: str) -> int:
    out = claim_stdout()
    run_path = Path(run_dir)
    try:
        run_path.mkdir(parents=True, exist_ok=True)
        emitter = Emitter(out, run_path)
    except OSError as exc:
        emitter = Emitter(out, None)
        emitter.emit("error", kind="environment", message=f"cannot write the run directory {run_path}: {exc.strerror or exc}")
        emitter.emit("done", status="failed", epochs_completed=0, steps=0, best_top1=None, duration_s=0.0, last_checkpoint=None)
        return 1
    trainer = Trainer(config, str(run_path), emitter)
    try:
        return trainer.run()
    finally:
        emitter.close()
