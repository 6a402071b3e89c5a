"""`python -m spikestudio train --config RESOLVED.json --run-dir DIR` (and `--resume DIR`).

Events (docs/contracts.md §1) go to the real stdout and to DIR/events.jsonl; human-readable logs go to stderr.
Exit codes: 0 completed or stopped, 1 failed, 2 config error, 130 interrupted twice.

Resume (`--resume DIR`): the config is the checkpoint's (else DIR/config.resolved.json); training continues from
DIR/checkpoints/last.pt — model, optimiser, schedule position, grad scaler, every RNG state (python, numpy, torch,
CUDA, the data-order generator and the augmentation generators), epoch and step within the epoch (checkpoints
are also written mid-epoch every `train.checkpoint_every_steps` steps). Events are appended to DIR/events.jsonl
with `seq` continuing; `hello` carries `resume` and a `warning` says where the run resumed. With deterministic
settings (CPU, one thread) the resumed run's per-step losses equal an uninterrupted run's bitwise.

Under torchrun (WORLD_SIZE > 1) see train/distributed.py: rank 0 alone emits events and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from spikestudio import __version__
from spikestudio.errors import (
    ConfigError,
    EnvironmentProblem,
    NonFiniteLoss,
    OutOfMemory,
    SpikeStudioError,
)
from spikestudio.data.download import DownloadCancelled
from spikestudio.protocol import ControlReader, Emitter, claim_stdout
from spikestudio.train.compiled import CompiledTraining, skip_reason  # (no torch import) before torch._dynamo's

TORCH_HINT = (
    "Install PyTorch into this interpreter: `python -m pip install torch` "
    "(for an NVIDIA GPU pick the CUDA wheel index from https://pytorch.org/get-started/locally/, "
    "e.g. `--index-url https://download.pytorch.org/whl/cu126`)."
)


def log(msg: str) -> None:
    print(f"[spikestudio {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def weight_decay_param_groups(model, weight_decay: float, exempt: str = "none") -> list[dict]:
    """The trainable parameters as optimiser param groups. exempt "bias_and_norm": timm's
    param_groups_weight_decay / MAE's add_weight_decay rule, i.e. tensors with ndim <= 1 (biases, norm weights),
    names ending in ".bias" and the model's `no_weight_decay()` names get weight_decay 0."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if exempt == "none" or weight_decay == 0:
        return [{"params": [p for _, p in named], "weight_decay": weight_decay}]
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    exempt_params = [p for n, p in named if p.ndim <= 1 or n.endswith(".bias") or n in skip]
    exempt_ids = {id(p) for p in exempt_params}
    decayed = [p for _, p in named if id(p) not in exempt_ids]
    return [{"params": exempt_params, "weight_decay": 0.0}, {"params": decayed, "weight_decay": weight_decay}]


def make_optimizer(model, tcfg: dict):
    """The `train.optimizer` over the model's trainable parameters (train/setup.py build_optimizer)."""
    from spikestudio.train.setup import build_optimizer

    return build_optimizer(weight_decay_param_groups(model, tcfg["weight_decay"], tcfg.get("weight_decay_exempt", "none")), tcfg)


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


def _seed_everything(torch, tcfg: dict) -> None:
    import random

    import numpy as np

    seed = tcfg["seed"]
    if tcfg["deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


class _Window:
    """The training steps since the last `step` event: summed loss, correct and seen samples, wall-clock start."""

    def __init__(self) -> None:
        self.reset()

    def add(self, loss: float, correct: int, seen: int) -> None:
        self.loss += loss
        self.correct += correct
        self.seen += seen
        self.steps += 1

    def reset(self) -> None:
        self.loss, self.correct, self.seen, self.steps = 0.0, 0, 0, 0
        self.start = time.time()


class Trainer:
    def __init__(self, config_path: str | None, run_dir: str, emitter: Emitter, resume: bool = False, dist=None):
        from spikestudio.train.distributed import DistContext

        self.resume = resume
        self.dist = dist or DistContext()
        self.resume_ckpt: dict | None = None
        self.config_path = Path(config_path) if config_path else Path(run_dir) / "config.resolved.json"
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
        if self.dist.is_main:  # one reader of the shared stdin; the stop flag is all-reduced every step
            ControlReader(lambda: self.request_stop("stdin"), self._on_control).start()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(ValueError, OSError):
                    signal.signal(sig, self._on_signal)
            # Slurm: `scancel --signal=USR1` (Stop) and `sbatch --signal=B:USR1@grace` (time limit, preemption) reach
            # the batch script, which forwards USR1 here: always a stop with a checkpoint, never a kill
            with contextlib.suppress(ValueError, OSError, AttributeError):
                signal.signal(signal.SIGUSR1, lambda signum, frame: self.request_stop("SIGUSR1"))
        stop_file = os.environ.get("SPIKE_STOP_FILE")
        if stop_file and self.dist.is_main:  # the batch script touches it on USR1 (reaches rank 0 under srun torchrun)
            threading.Thread(target=self._watch_stop_file, args=(Path(stop_file),), daemon=True).start()

    def _watch_stop_file(self, path: Path) -> None:
        while not self.stop_event.is_set():
            if path.exists():
                self.request_stop(f"stop file {path.name}")
                return
            time.sleep(0.5)

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
        for key in ("file", "line", "stage"):  # UserCodeError: where in the researcher's code
            if getattr(err, key, None) is not None:
                fields[key] = getattr(err, key)
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
        except DownloadCancelled:
            self.em.emit("warning", message="stopped while downloading the dataset; the next run resumes the download")
            self.done("stopped")
            return 0
        except BaseException as exc:  # noqa: BLE001 - the protocol must always end with done
            if isinstance(exc, SystemExit):
                raise
            try:
                if _is_oom(exc):
                    fits = None
                    try:  # the memory estimate must never mask the OOM itself
                        from spikestudio.telemetry import memory

                        fits = memory.oom_batch_hint(*getattr(self, "_oom_ctx", (None, None, None, None, None)))
                    except Exception as est_exc:  # noqa: BLE001
                        log(f"memory estimate unavailable ({type(est_exc).__name__}: {est_exc})")
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    return self.fail(OutOfMemory(
                        f"out of memory at step {self.step + 1}: {first}" + (f"; {fits}" if fits else ""),
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
            if self.resume:
                cfg = check_config(self._load_resume())
            else:
                cfg = check_config(load_config_file(self.config_path))
        except ConfigError as err:
            config_error = err
        device_error: SpikeStudioError | None = None
        try:
            device = resolve_device(cfg["train"]["device"] if cfg else "auto")
            if self.dist.enabled and device.type == "cuda":
                device = torch.device(f"cuda:{self.dist.local_rank}")
                torch.cuda.set_device(device)
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
            **self._hello_extras(),
        )
        log(f"spikestudio {__version__}, python {platform.python_version()}, torch {torch.__version__}, "
            f"device {device}{' (' + gpu['name'] + ')' if gpu else ''}, {torch.get_num_threads()} CPU threads")
        if config_error:
            raise config_error
        if device_error:
            raise device_error
        assert cfg is not None
        self.install_control()
        self.dist.init(device.type)
        return self._train(torch, cfg, device)

    def _hello_extras(self) -> dict:
        extras: dict = {}
        if self.resume_ckpt is not None:
            ck = self.resume_ckpt
            extras["resume"] = {"checkpoint": str((self.run_dir / "checkpoints" / "last.pt").resolve()),
                                "epoch": int(ck.get("epoch", 0)), "step": int(ck.get("step", 0)),
                                "after_seq": self.em.resumed_after_seq}
        if self.dist.enabled:
            extras["world_size"] = self.dist.world_size
        return extras

    def _load_resume(self) -> dict:
        """Read RUN_DIR/checkpoints/last.pt; return the config to resume with."""
        from spikestudio.train.checkpoint import read_checkpoint
        from spikestudio.train.config import load_config_file

        path = self.run_dir / "checkpoints" / "last.pt"
        ck = read_checkpoint(path, lambda message, hint: ConfigError("--resume", message, hint),
                             missing=f"nothing to resume: {path} not found",
                             missing_hint="A run writes checkpoints/last.pt after each epoch (and every train.checkpoint_every_steps).",
                             not_training=f"{path} is not a Spike Studio training checkpoint")
        self.resume_ckpt = ck
        cfg = ck.get("config")
        if isinstance(cfg, dict):
            return cfg
        return load_config_file(self.config_path)

    def _train(self, torch, cfg: dict, device) -> int:
        r = self._prepare(torch, cfg, device)
        if self.resume_ckpt is not None:
            self._restore(r, self.resume_ckpt)
        log(f"training: {r.total_epochs} epoch(s) × {r.steps_per_epoch} steps, batch {r.bs}"
            f"{f' × {r.world} processes' if r.world > 1 else ''}{f' × {r.accum} accumulated' if r.accum > 1 else ''}, {r.tcfg['optimizer']} lr {r.tcfg['lr']:g} "
            f"({r.tcfg['schedule']}), loss {r.tcfg['loss']}, amp {r.amp or 'off'}")
        for epoch in range(r.start_epoch, r.total_epochs + 1):
            exit_code = self._train_epoch(torch, r, epoch, r.start_i if epoch == r.start_epoch else 0)
            if exit_code is not None:
                return exit_code
            self.epochs_completed = epoch
            exit_code = self._end_epoch(torch, r, epoch)
            if exit_code is not None:
                return exit_code
        log(f"done: {self.epochs_completed} epoch(s), {self.step} steps, best top1 "
            f"{self.best_top1 if self.best_top1 is not None else 'n/a'}, {time.time() - self.started:.1f}s")
        self.done("completed")
        return 0

    def _prepare(self, torch, cfg: dict, device) -> SimpleNamespace:
        """Seeds, data, model, optimiser, AMP, memory options and augmentation: everything the epochs need."""
        from spikestudio.telemetry import make_firing_recorder
        from spikestudio.train.augment import AugRNG
        from spikestudio.train.evaluation import make_energy_recorder
        from spikestudio.train.schedule import LRSchedule
        from spikestudio.train.setup import build_augmenter, setup_amp

        mcfg, dcfg, tcfg, tel = cfg["model"], cfg["data"], cfg["train"], cfg["telemetry"]
        dist = self.dist
        r = SimpleNamespace(cfg=cfg, mcfg=mcfg, dcfg=dcfg, tcfg=tcfg, tel=tel, device=device, dist=dist,
                            world=dist.world_size, train_time=0.0, timed_steps=0)
        _seed_everything(torch, tcfg)
        r.sampler = torch.Generator().manual_seed(tcfg["seed"])  # the data order: identical on every rank
        r.aug_rng = AugRNG(tcfg["seed"] + 1000 * dist.rank)
        r.ds = self._load_data(cfg, device)
        r.model, desc = self._build_model(mcfg, device)
        r.recorder, why = make_firing_recorder(r.model) if dist.is_main else (None, None)
        if r.recorder is None and dist.is_main:
            self.em.emit("warning", message=f"no firing-rate telemetry: {why}")
        r.energy = make_energy_recorder(r.model, tel) if dist.is_main else None
        r.params = [p for p in r.model.parameters() if p.requires_grad]
        r.opt = make_optimizer(r.model, tcfg)
        r.amp, r.scaler, r.autocast = setup_amp(torch, tcfg, device, self._warn)
        r.packer = None  # train.pack_spikes: spikes saved for backward kept as bits (saved during the forward)
        if tcfg.get("pack_spikes"):
            from spikestudio.train.memory import SpikePacker

            r.packer = SpikePacker(r.model)
        r.sltt = tcfg["temporal_grad"] == "sltt"
        if r.sltt:
            from spikestudio.train import sltt as sltt_mod

            sltt_mod.check_model(r.model)
        self._memory_options(r.model, tcfg)
        r.train_model = r.model
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            r.train_model = DistributedDataParallel(r.model, device_ids=[device.index] if device.type == "cuda" else None)
        r.bs = min(dcfg["batch_size"], max(1, r.ds.train_size // r.world))  # per process
        self._oom_ctx = (desc, r.bs, r.amp, device, tcfg)  # for the OOM message's "largest batch that fits"
        r.gbs = r.bs * r.world  # the global batch
        r.accum = tcfg["accum_steps"]  # micro-batches per optimiser step; a "step" below is an optimiser step
        if r.ds.train_size < r.gbs * r.accum:
            raise ConfigError("train.accum_steps", f"{r.accum} micro-batches of {r.gbs} samples need {r.gbs * r.accum} "
                                                   f"training samples; the dataset has {r.ds.train_size}",
                              "Lower train.accum_steps or data.batch_size.")
        # drop the last partial batch (BatchNorm needs > 1 sample)
        r.steps_per_epoch = max(1, r.ds.train_size // (r.gbs * r.accum))
        if tcfg["max_steps_per_epoch"]:
            r.steps_per_epoch = min(r.steps_per_epoch, tcfg["max_steps_per_epoch"])
        r.total_epochs = tcfg["epochs"] + tcfg["cooldown_epochs"]
        r.sched = LRSchedule(tcfg, r.steps_per_epoch, tcfg["epochs"])
        r.total_steps = r.steps_per_epoch * r.total_epochs
        r.compiler = self._compiler(r.model, r.train_model, tcfg,
                                    records_every_step=r.recorder is not None and tel["firing_every"] == 1)
        r.augment = build_augmenter(tcfg, r.ds, r.aug_rng, tcfg["label_smoothing"], mcfg["num_classes"], self._warn)
        r.start_epoch, r.start_i = 1, 0
        r.epoch_sampler_state = r.sampler.get_state()
        return r

    def _warn(self, **fields) -> None:
        self.em.emit("warning", **fields)

    def _load_data(self, cfg: dict, device):
        """The dataset, checked against the model section; on the device when it is small (< 1 GiB)."""
        from spikestudio.data import download, load_dataset
        from spikestudio.train.config import img_hw

        mcfg, dcfg = cfg["model"], cfg["data"]
        t0 = time.time()
        if dcfg["root"] and not Path(dcfg["root"]).is_absolute():  # resolved configs hold absolute paths; be lenient
            base = Path(cfg["source"]).parent if isinstance(cfg.get("source"), str) else self.config_path.parent
            dcfg["root"] = str((base / dcfg["root"]).resolve())
        main_rank = self.dist.is_main
        with download.reporting(lambda **f: self.em.emit("download", **f) if main_rank else None, self.stop_event.is_set):
            ds = load_dataset(dcfg, time_steps=mcfg["time_steps"])
        log(f"data {ds.name}: {ds.train_size} train / {ds.eval_size} eval samples from {ds.source} ({time.time() - t0:.1f}s)")
        if mcfg["in_channels"] != ds.in_channels:
            raise ConfigError("model.in_channels", f"is {mcfg['in_channels']} but {ds.name} images have {ds.in_channels} channel(s)")
        if img_hw(mcfg["img_size"]) != img_hw(ds.img_size):
            mh, mw = img_hw(mcfg["img_size"])
            dh, dw = img_hw(ds.img_size)
            want = str(dh) if dh == dw else f"[{dh}, {dw}]"
            raise ConfigError("model.img_size", f"is {json.dumps(mcfg['img_size'])} ({mh}×{mw}) but {ds.name} samples are {dh}×{dw}",
                              f"set model.img_size: {want}")
        if mcfg["num_classes"] < ds.num_classes:
            raise ConfigError("model.num_classes", f"is {mcfg['num_classes']} but {ds.name} has {ds.num_classes} classes")
        if mcfg["num_classes"] > ds.num_classes:
            self.em.emit("warning", message=f"model.num_classes is {mcfg['num_classes']} but {ds.name} has only {ds.num_classes} classes")
        small = (ds.train_x.element_size() * ds.train_x.nelement() + ds.eval_x.element_size() * ds.eval_x.nelement()) < (1 << 30)
        if small:
            ds.train_x, ds.train_y = ds.train_x.to(device), ds.train_y.to(device)
            ds.eval_x, ds.eval_y = ds.eval_x.to(device), ds.eval_y.to(device)
        return ds

    def _build_model(self, mcfg: dict, device):
        """The model on the device and its description (emitted as the `model` event)."""
        try:
            from spikestudio.models import build_model
        except ImportError as exc:
            raise EnvironmentProblem(f"the model code (spikestudio.models) cannot be imported: {exc}") from None
        if self.resume_ckpt is not None:
            mcfg = dict(mcfg, init_from=None)  # the checkpoint's weights replace any init
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
        init_report = getattr(model, "init_report", None)
        if init_report:
            from spikestudio.protocol import init_from_field, init_from_summary

            desc["init_from"] = init_from_field(init_report)
            log(init_from_summary(desc["init_from"]))
        model_warnings = desc.pop("warnings", None) or []
        self.em.emit("model", **desc)
        for text in model_warnings if self.dist.is_main else []:  # custom models: no neuron recognised, state not reset, ...
            self.em.emit("warning", message=text)
        if int(desc["params"]) != n_params:
            self.em.emit("warning", message=f"describe_model reports {desc['params']} parameters but the built model has {n_params}")
        log(f"model {desc['arch']}: {n_params:,} parameters, T={desc['time_steps']}")
        return model, desc

    def _restore(self, r: SimpleNamespace, ck: dict) -> None:
        """Continues from a training checkpoint: weights, optimiser, scaler, position and every RNG state."""
        from spikestudio.train.checkpoint import set_rng_state

        r.model.load_state_dict(ck["model"])
        r.opt.load_state_dict(ck["optimizer"])
        if r.scaler is not None and ck.get("scaler"):
            r.scaler.load_state_dict(ck["scaler"])
        self.step = int(ck.get("step", 0))
        self.best_top1 = ck.get("best_top1")
        ck_epoch = int(ck.get("epoch", 0))
        if ck.get("epoch_complete", True):
            r.start_epoch, r.start_i = ck_epoch + 1, 0
            self.epochs_completed = ck_epoch
        else:
            r.start_epoch = ck_epoch
            r.start_i = int(ck.get("epoch_step", self.step - (ck_epoch - 1) * r.steps_per_epoch))
            self.epochs_completed = ck_epoch - 1
        if "rng" in ck:
            set_rng_state(ck["rng"], r.sampler)
        if ck.get("aug_rng") is not None and self.dist.is_main:
            r.aug_rng.load_state_dict(ck["aug_rng"])
        if ck.get("epoch_sampler_state") is not None:
            r.epoch_sampler_state = ck["epoch_sampler_state"]
        if ck.get("world_size", 1) != r.world:
            self.em.emit("warning", message=f"resuming a run trained with {ck.get('world_size', 1)} process(es) on {r.world}; "
                                            "the data order and batch split differ from the original run")
        self.em.emit("warning", message=f"resumed from checkpoints/last.pt at step {self.step} (epoch {r.start_epoch}, "
                                        f"step {r.start_i} of {r.steps_per_epoch} in the epoch); events after that step "
                                        f"earlier in events.jsonl (before seq {self.em.seq}) are superseded")
        log(f"resumed at step {self.step}: epoch {r.start_epoch}, epoch step {r.start_i}")
        restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0) if os.environ.get("SPIKE_SLURM") else 0
        if restarts > 0:  # a requeued Slurm job (time limit or preemption) continuing the same run
            self.em.emit("requeued", epoch=r.start_epoch, step=self.step, restarts=restarts,
                         job_id=os.environ.get("SLURM_JOB_ID", ""))

    def _checkpoint(self, r: SimpleNamespace, kind: str, epoch: int, epoch_step: int, epoch_complete: bool) -> str | None:
        from spikestudio.train.checkpoint import FORMAT, FORMAT_VERSION, atomic_save, rng_state

        if not self.dist.is_main:
            return None
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "runtime_version": __version__,
            "model": r.model.state_dict(),
            "optimizer": r.opt.state_dict(),
            "scheduler": r.sched.state_dict(),
            "scaler": r.scaler.state_dict() if r.scaler is not None else None,
            "epoch": epoch,
            "epoch_step": epoch_step,
            "epoch_complete": epoch_complete,
            "step": self.step,
            "best_top1": self.best_top1,
            "config": r.cfg,
            "rng": rng_state(r.sampler),
            "epoch_sampler_state": r.epoch_sampler_state,
            "aug_rng": r.aug_rng.state_dict(),
            "world_size": r.world,
        }
        path = atomic_save(payload, self.run_dir / "checkpoints" / f"{kind}.pt")
        self.em.emit("checkpoint", epoch=epoch, step=self.step, path=str(path.resolve()), kind=kind)
        if kind == "last":
            self.last_checkpoint = str(path.resolve())
        return str(path)

    def _stopped(self, r: SimpleNamespace, epoch: int, epoch_step: int, epoch_complete: bool) -> int:
        self._checkpoint(r, "last", epoch, epoch_step, epoch_complete)
        log(f"stopped at step {self.step} (epoch {epoch}); last checkpoint {self.last_checkpoint}")
        self.done("stopped")
        return 0

    def _epoch_order(self, torch, r: SimpleNamespace, first_i: int):
        """This epoch's sample order; resumed mid-epoch: the same permutation as the interrupted run."""
        if first_i > 0:
            current = r.sampler.get_state()
            r.sampler.set_state(r.epoch_sampler_state)
            perm = torch.randperm(r.ds.train_size, generator=r.sampler)
            r.sampler.set_state(current)
        else:
            r.epoch_sampler_state = r.sampler.get_state()
            perm = torch.randperm(r.ds.train_size, generator=r.sampler)
        return perm.to(r.ds.train_x.device)

    def _train_epoch(self, torch, r: SimpleNamespace, epoch: int, first_i: int) -> int | None:
        """One epoch's optimiser steps from epoch step first_i; an exit code when the run stopped, else None."""
        from spikestudio.telemetry import clean_rates
        from spikestudio.train.schedule import apply_lr

        perm = self._epoch_order(torch, r, first_i)
        apply_lr(r.opt, r.sched.lr_at(self.step))
        self.em.emit("epoch", epoch=epoch, epochs=r.total_epochs, steps_per_epoch=r.steps_per_epoch, lr=r.opt.param_groups[0]["lr"])
        r.train_model.train()
        window = _Window()
        firing_every, ckpt_every = r.tel["firing_every"], r.tcfg["checkpoint_every_steps"]
        for i in range(first_i, r.steps_per_epoch):
            step_start = time.time()
            lr = r.sched.lr_at(self.step)
            apply_lr(r.opt, lr)
            # sltt calls the model once per time step: the recorder's per-step rates would mix; eval records them
            record = r.recorder is not None and not r.sltt and (self.step + 1) % firing_every == 0
            if record:
                r.recorder.reset()
            r.opt.zero_grad(set_to_none=True)
            loss_value, correct, seen = 0.0, 0, 0
            for micro in range(r.accum):  # train.accum_steps micro-batches, gradients summed, one optimiser step
                base = (i * r.accum + micro) * r.gbs + r.dist.rank * r.bs
                idx = perm[base:base + r.bs]
                x = r.ds.train_x[idx].to(r.device, non_blocking=True)
                y = r.ds.train_y[idx].to(r.device, non_blocking=True)
                x, soft = r.augment(x, y, epoch)
                last_micro = micro == r.accum - 1
                # DDP: all-reduce the gradients once, at the last micro-batch
                with (contextlib.nullcontext() if last_micro or not r.dist.enabled else r.train_model.no_sync()):
                    logits, micro_loss = self._forward_backward(r, x, y, soft, record and last_micro, last_micro)
                loss_value += micro_loss
                correct += int((logits.detach().argmax(1) == y).sum())
                seen += int(y.shape[0]) * r.world
            stop_now = self.stop_event.is_set()
            if r.dist.enabled:  # one small all-reduce per step: the global loss and the stop flag
                tot = r.dist.all_reduce_sum([loss_value, 1.0 if stop_now else 0.0], r.device)
                loss_value, stop_now = tot[0] / r.world, tot[1] > 0
            if not math.isfinite(loss_value):
                raise NonFiniteLoss(
                    f"the training loss is {loss_value} at step {self.step + 1} (epoch {epoch})",
                    "Lower train.lr (e.g. by 10×), set train.grad_clip (e.g. 1.0), or disable AMP (train.amp: false).",
                )
            self._optimizer_step(torch, r)
            self.step += 1
            window.add(loss_value, correct, seen)
            step_s = time.time() - step_start
            self._time_step(r, step_s)
            if self.step % r.tel["step_every"] == 0 or i == r.steps_per_epoch - 1:
                self._emit_step(torch, r, window, epoch, i, lr, step_s)
            if record:
                self.em.emit("firing", epoch=epoch, step=self.step, split="train", layers=clean_rates(r.recorder.rates()))
                r.recorder.reset()
            if ckpt_every and self.step % ckpt_every == 0:
                self._checkpoint(r, "last", epoch, i + 1, False)
            if stop_now:
                return self._stopped(r, epoch, i + 1, False)
        return None

    def _forward_backward(self, r: SimpleNamespace, x, y, soft, record: bool, last_micro: bool = True):
        """Forward and backward of one micro-batch, the loss scaled by 1 / train.accum_steps → (logits, loss value)."""
        import torch.nn.functional as F

        from spikestudio.train.augment import soft_target_ce

        tcfg, loss_kind = r.tcfg, r.tcfg["loss"]
        smoothing = tcfg["label_smoothing"]

        def loss_of(out, per_step_out: bool):
            if loss_kind == "tet":
                from spikestudio.train.losses import tet_loss

                return tet_loss(out if per_step_out else out.unsqueeze(0), soft if soft is not None else y,
                                lam=tcfg["tet_lambda"], phi=tcfg["tet_phi"],
                                label_smoothing=smoothing if soft is None else 0.0)
            if soft is not None:
                return soft_target_ce(out, soft)
            return F.cross_entropy(out.float(), y, label_smoothing=smoothing)

        if r.sltt:  # train.temporal_grad sltt: T forward + backward passes of one time step each (train/sltt.py)
            from spikestudio.train import sltt as sltt_mod

            def step_forward(xt):
                with r.autocast():
                    return r.train_model(xt)

            logits, loss_value = sltt_mod.train_step(
                r.model, step_forward, x, lambda out: loss_of(out, False) / r.accum,
                (lambda l: r.scaler.scale(l).backward()) if r.scaler is not None else (lambda l: l.backward()),
                step_context=r.packer.step if r.packer is not None else contextlib.nullcontext,
                no_sync=r.train_model.no_sync if r.dist.enabled and last_micro else None)
            return logits, loss_value
        with (r.recorder.recording() if record else contextlib.nullcontext()):
            # train.compile: the compiled module (steps recording firing rates run it eagerly; compiled.py)
            forward = r.compiler if r.compiler is not None and not record else r.train_model
            with r.autocast(), (r.packer.step() if r.packer is not None else contextlib.nullcontext()):
                if loss_kind == "tet":
                    per_step = forward(x, per_step=True)
                    logits = per_step.float().mean(0)
                else:
                    logits = forward(x)
        loss = loss_of(per_step if loss_kind == "tet" else logits, True) / r.accum
        (r.scaler.scale(loss) if r.scaler is not None else loss).backward()
        return logits, float(loss.detach())

    def _optimizer_step(self, torch, r: SimpleNamespace) -> None:
        """Gradient clipping and the optimiser step, through the fp16 scaler if any."""
        grad_clip = r.tcfg["grad_clip"]
        if r.scaler is not None:
            if grad_clip:
                r.scaler.unscale_(r.opt)
                torch.nn.utils.clip_grad_norm_(r.params, grad_clip)
            r.scaler.step(r.opt)
            r.scaler.update()
        else:
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(r.params, grad_clip)
            r.opt.step()

    def _time_step(self, r: SimpleNamespace, step_s: float) -> None:
        if r.compiler is not None and r.compiler.pending:  # the first compiled step: its time is the compile's
            end = r.compiler.end_fields(step_s)
            self.em.emit("phase", **end)
            log(f"train.compile: first compiled step {step_s:.1f}s (cache {end['cache']}, {end['graphs']} "
                f"graph(s)){'' if end['ok'] else '; fell back to eager'}")
        else:
            r.train_time += step_s
            r.timed_steps += 1

    def _emit_step(self, torch, r: SimpleNamespace, window: "_Window", epoch: int, i: int, lr: float, step_s: float) -> None:
        """The `step` event over the steps since the last one (and its log line); starts a new window."""
        elapsed = max(time.time() - window.start, 1e-9)
        remaining = r.total_steps - self.step
        eta = remaining * (r.train_time / r.timed_steps if r.timed_steps else step_s)
        extra = {}
        if r.device.type == "cuda":
            extra["peak_mem_mb"] = round(torch.cuda.max_memory_allocated(r.device) / 2 ** 20, 1)
        loss, acc = window.loss / window.steps, min(1.0, window.correct * r.world / window.seen)
        self.em.emit("step", epoch=epoch, step=self.step, epoch_step=i + 1, steps_per_epoch=r.steps_per_epoch,
                     loss=loss, acc=acc, lr=lr, img_per_s=round(window.seen / elapsed, 2), eta_s=round(eta, 1), **extra)
        log(f"epoch {epoch}/{r.total_epochs} step {i + 1}/{r.steps_per_epoch} loss {loss:.4f} "
            f"acc {window.correct * r.world / window.seen:.3f} lr {lr:.3g} {window.seen / elapsed:.0f} img/s eta {eta:.0f}s")
        window.reset()

    def _end_epoch(self, torch, r: SimpleNamespace, epoch: int) -> int | None:
        """Evaluation (every train.eval_every epochs and after the last), checkpoints, a requested stop."""
        if epoch % r.tcfg["eval_every"] == 0 or epoch == r.total_epochs:
            exit_code = self._evaluate(torch, r, epoch)
            if exit_code is not None:
                return exit_code
        else:
            self._checkpoint(r, "last", epoch, r.steps_per_epoch, True)
        stop_now = self.stop_event.is_set()
        if r.dist.enabled:
            stop_now = r.dist.all_reduce_sum([1.0 if stop_now else 0.0], r.device)[0] > 0
        if stop_now:
            log(f"stopped after epoch {epoch}")
            self.done("stopped")
            return 0
        return None

    def _evaluate(self, torch, r: SimpleNamespace, epoch: int) -> int | None:
        """Evaluates, emits `eval` (+ firing, energy, attention) and writes last.pt (and best.pt when it improved)."""
        from spikestudio.telemetry import clean_rates
        from spikestudio.train.evaluation import evaluate

        result = evaluate(torch, r.model, r.ds.eval_x, r.ds.eval_y, r.dcfg["eval_batch_size"], r.device, r.autocast,
                          r.recorder, r.energy, should_stop=self.stop_event.is_set, dist=r.dist)
        if result is None:  # stopped during evaluation (a resume repeats the evaluation)
            return self._stopped(r, epoch, r.steps_per_epoch, False)
        improved = self.best_top1 is None or result["top1"] > self.best_top1
        if improved:
            self.best_top1 = result["top1"]
        self.em.emit("eval", epoch=epoch, step=self.step, best_top1=self.best_top1, **result)
        log(f"eval epoch {epoch}: loss {result['loss']:.4f} top1 {result['top1']:.4f} top5 {result['top5']:.4f} "
            f"({result['samples']} samples, {result['seconds']:.1f}s), best {self.best_top1:.4f}")
        if r.recorder is not None:
            self.em.emit("firing", epoch=epoch, step=self.step, split="eval", layers=clean_rates(r.recorder.rates()))
            r.recorder.reset()
        if self.dist.is_main:
            self._emit_eval_telemetry(torch, r.model, r.ds, r.device, r.autocast, r.energy, r.tel, epoch)
        self._checkpoint(r, "last", epoch, r.steps_per_epoch, True)
        if improved:
            self._checkpoint(r, "best", epoch, r.steps_per_epoch, True)
        return None

    def _memory_options(self, model, tcfg: dict) -> None:
        """train.recompute_membranes / train.checkpoint_blocks on the model (train/recompute.py). Under train.compile
        the compiled graph decides what to keep, so neither is installed (a warning when checkpoint_blocks was set)."""
        from spikestudio.train import recompute

        if tcfg["compile"] != "off" and skip_reason(model, tcfg, False) is None:
            if tcfg["checkpoint_blocks"]:
                self.em.emit("warning", message="train.checkpoint_blocks is not applied under train.compile (the compiled "
                                                "graph decides what it keeps for backward)")
            return
        if tcfg["recompute_membranes"]:
            n = recompute.install_recompute(model)
            log(f"train.recompute_membranes: {n} BatchNorm->LIF pair(s) / max-pool(s) recompute in backward")
        if tcfg["checkpoint_blocks"]:
            n = recompute.install_checkpoint_blocks(model)
            if n == 0:
                self.em.emit("warning", message="train.checkpoint_blocks: this model has no blocks to checkpoint "
                                                "(no `blocks` list, no module with describe_kind 'block'); ignored")
            else:
                log(f"train.checkpoint_blocks: {n} block(s) recomputed in backward")

    def _compiler(self, model, train_model, tcfg: dict, records_every_step: bool):
        """train.compile: a CompiledTraining around the training module, or None (off, skipped or failed: a warning
        says why, the run trains eagerly). Emits `phase` compile start; the trainer emits its end after the first
        compiled step. Evaluation stays eager (train/compiled.py)."""
        mode = tcfg["compile"]
        if mode == "off":
            return None
        why = skip_reason(model, tcfg, records_every_step)
        if why:
            self.em.emit("warning", message=f"train.compile {mode} skipped: {why}; training eagerly")
            log(f"train.compile skipped: {why}")
            return None

        def failed(reason: str) -> None:
            self.em.emit("warning", message=f"train.compile {mode} failed, training eagerly instead: {reason}",
                         hint="Set train.compile: off to skip compiling; the run's stderr has the compiler's traceback.")
            log(f"train.compile failed ({reason}); continuing eagerly")

        compiler = CompiledTraining(train_model, mode, failed,
                                    passthrough=lambda e: _is_oom(e) or isinstance(e, (SpikeStudioError, _Interrupted)))
        try:
            compiler.build()
        except Exception as exc:  # noqa: BLE001 - a bad backend / mode / torch build: eager
            failed(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": "))
            return None
        self.em.emit("phase", name="compile", state="start", mode=mode, backend=compiler.backend, cache_dir=compiler.cache_dir)
        log(f"train.compile {mode} ({compiler.backend}): compiling the training step at the first step"
            + (f"; cache {compiler.cache_dir}" if compiler.cache_dir else ""))
        return compiler

    def _emit_eval_telemetry(self, torch, model, ds, device, autocast, energy, tel: dict, epoch: int) -> None:
        from spikestudio.train.evaluation import attention_events, energy_fields

        try:
            rep = energy_fields(energy, tel)
            if rep is not None:
                self.em.emit("energy", epoch=epoch, step=self.step, **rep)
        except Exception as exc:  # noqa: BLE001 - telemetry must not stop training
            log(f"energy estimate failed: {type(exc).__name__}: {exc}")
        if tel["attention_every_eval"] and tel["attention_samples"] > 0:
            try:
                items = attention_events(torch, model, ds.eval_x, tel["attention_samples"], device, autocast,
                                         tel["attention_max_maps"])
            except Exception as exc:  # noqa: BLE001
                log(f"attention maps failed: {type(exc).__name__}: {exc}")
                items = []
            if items and not getattr(self, "_probes_sent", False):
                # the probe samples' inputs, once (the samples are fixed): the panel draws them beside the maps
                self._probes_sent = True
                try:
                    from spikestudio.telemetry.probes import probe_payload

                    for s in sorted({int(it["sample"]) for it in items}):
                        pl = probe_payload(ds.eval_x[s], s, int(ds.eval_y[s]), getattr(ds, "name", ""))
                        if pl is not None:
                            self.em.emit("probe", epoch=epoch, step=self.step, **pl)
                except Exception as exc:  # noqa: BLE001
                    log(f"probe inputs failed: {type(exc).__name__}: {exc}")
            for item in items:
                self.em.emit("attention", epoch=epoch, step=self.step, **item)


def main(config: str | None, run_dir: str | None, resume: str | None = None) -> int:
    from spikestudio.train.distributed import DistContext

    dist = DistContext.from_env()
    out = claim_stdout()
    if not dist.is_main:
        out = None  # only rank 0 speaks the protocol; other ranks log to stderr
    if resume:
        run_dir = resume
    run_path = Path(run_dir or ".")
    try:
        if dist.is_main:
            run_path.mkdir(parents=True, exist_ok=True)
            emitter = Emitter(out, run_path, resume=bool(resume))
        else:
            emitter = Emitter(None, None)
    except OSError as exc:
        emitter = Emitter(out, None)
        emitter.emit("error", kind="environment", message=f"cannot write the run directory {run_path}: {exc.strerror or exc}")
        emitter.emit("done", status="failed", epochs_completed=0, steps=0, best_top1=None, duration_s=0.0, last_checkpoint=None)
        return 1
    code = 1
    try:
        code = Trainer(config, str(run_path), emitter, resume=bool(resume), dist=dist).run()
    finally:
        emitter.close()
        dist.shutdown(all_finished=code == 0)
    if dist.enabled:
        dist.exit_now(code)
    return code
