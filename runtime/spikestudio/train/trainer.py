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
    """The `train.optimizer` over the model's trainable parameters (adamw | adam | sgd | lamb)."""
    import torch

    params = weight_decay_param_groups(model, tcfg["weight_decay"], tcfg.get("weight_decay_exempt", "none"))
    name = tcfg["optimizer"]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
    if name == "adam":
        return torch.optim.Adam(params, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
    if name == "lamb":
        from spikestudio.train.lamb import Lamb

        return Lamb(params, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"],
                    trust_clip=bool(tcfg.get("lamb_trust_clip", False)))
    return torch.optim.SGD(params, lr=tcfg["lr"], momentum=tcfg["momentum"], weight_decay=tcfg["weight_decay"],
                           nesterov=bool(tcfg["nesterov"]) and tcfg["momentum"] > 0)

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
        import torch

        from spikestudio.train.config import load_config_file

        path = self.run_dir / "checkpoints" / "last.pt"
        if not path.is_file():
            raise ConfigError("--resume", f"nothing to resume: {path} not found",
                              "A run writes checkpoints/last.pt after each epoch (and every train.checkpoint_every_steps).")
        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError("--resume", f"{path} cannot be read as a checkpoint: {exc}") from None
        if not isinstance(ck, dict) or "model" not in ck:
            raise ConfigError("--resume", f"{path} is not a Spike Studio training checkpoint")
        self.resume_ckpt = ck
        cfg = ck.get("config")
        if isinstance(cfg, dict):
            return cfg
        return load_config_file(self.config_path)

    def _train(self, torch, cfg: dict, device) -> int:
        import random

        import numpy as np
        import torch.nn.functional as F

        from spikestudio.data import download, load_dataset
        from spikestudio.telemetry import clean_rates, make_firing_recorder
        from spikestudio.train.augment import (AugRNG, AutoAugment, Mixup, RandAugment, channel_range, dvs_augment, dvs_cutout,
                                               hflip, random_erasing, random_resized_crop, snn_augment_wide, soft_target_ce)
        from spikestudio.train.checkpoint import FORMAT, FORMAT_VERSION, atomic_save, rng_state, set_rng_state
        from spikestudio.train.config import img_hw
        from spikestudio.train.evaluation import attention_events, energy_fields, evaluate, make_energy_recorder
        from spikestudio.train.schedule import LRSchedule, apply_lr

        mcfg, dcfg, tcfg, tel = cfg["model"], cfg["data"], cfg["train"], cfg["telemetry"]
        dist = self.dist
        main_rank = dist.is_main
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
        sampler = torch.Generator().manual_seed(seed)  # the data order: identical on every rank
        aug_rng = AugRNG(seed + 1000 * dist.rank)

        # ---------------- data
        t0 = time.time()
        if dcfg["root"] and not Path(dcfg["root"]).is_absolute():  # resolved configs hold absolute paths; be lenient
            base = Path(cfg["source"]).parent if isinstance(cfg.get("source"), str) else self.config_path.parent
            dcfg["root"] = str((base / dcfg["root"]).resolve())
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

        # ---------------- model
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
        for text in model_warnings if main_rank else []:  # custom models: no neuron recognised, state not reset, ...
            self.em.emit("warning", message=text)
        if int(desc["params"]) != n_params:
            self.em.emit("warning", message=f"describe_model reports {desc['params']} parameters but the built model has {n_params}")
        log(f"model {desc['arch']}: {n_params:,} parameters, T={desc['time_steps']}")

        recorder, why = make_firing_recorder(model) if main_rank else (None, None)
        if recorder is None and main_rank:
            self.em.emit("warning", message=f"no firing-rate telemetry: {why}")
        energy = make_energy_recorder(model, tel) if main_rank else None

        # ---------------- optimisation
        name = tcfg["optimizer"]
        opt = make_optimizer(model, tcfg)

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

        packer = None  # train.pack_spikes: spikes saved for backward kept as bits (saved during the forward)
        if tcfg.get("pack_spikes"):
            from spikestudio.train.memory import SpikePacker

            packer = SpikePacker(model)

        sltt = tcfg["temporal_grad"] == "sltt"
        if sltt:
            from spikestudio.train import sltt as sltt_mod

            sltt_mod.check_model(model)
        self._memory_options(model, tcfg)

        train_model = model
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

        n_train = ds.train_size
        world = dist.world_size
        bs = min(dcfg["batch_size"], max(1, n_train // world))  # per process
        self._oom_ctx = (desc, bs, amp, device, tcfg)  # for the OOM message's "largest batch that fits"
        gbs = bs * world  # the global batch
        accum = tcfg.get("accum_steps", 1)  # micro-batches per optimiser step; a "step" below is an optimiser step
        if n_train < gbs * accum:
            raise ConfigError("train.accum_steps", f"{accum} micro-batches of {gbs} samples need {gbs * accum} training "
                                                   f"samples; the dataset has {n_train}",
                              "Lower train.accum_steps or data.batch_size.")
        steps_per_epoch = max(1, n_train // (gbs * accum))  # drop the last partial batch (BatchNorm needs > 1 sample)
        if tcfg["max_steps_per_epoch"]:
            steps_per_epoch = min(steps_per_epoch, tcfg["max_steps_per_epoch"])
        epochs = tcfg["epochs"]
        total_epochs = epochs + tcfg["cooldown_epochs"]
        sched = LRSchedule(tcfg, steps_per_epoch, epochs)
        total_steps = steps_per_epoch * total_epochs
        step_every, firing_every = tel["step_every"], tel["firing_every"]
        smoothing = tcfg["label_smoothing"]
        grad_clip = tcfg["grad_clip"]
        ckpt_every = tcfg["checkpoint_every_steps"]
        loss_kind = tcfg["loss"]
        num_classes = mcfg["num_classes"]
        compiler = self._compiler(model, train_model, tcfg, records_every_step=recorder is not None and firing_every == 1)

        # ---------------- augmentation (training batches only)
        mixup = Mixup(tcfg["mixup_alpha"], tcfg["cutmix_alpha"], tcfg["mixup_prob"], tcfg["mixup_switch_prob"],
                      smoothing, num_classes, aug_rng)
        static = ds.train_x.dim() == 4
        lo = hi = None
        if static and (tcfg["randaugment"] or tcfg["auto_augment"] or tcfg["random_resized_crop"]):
            lo, hi = channel_range(ds.train_x)
        randaug = autoaug = None
        rrc = tcfg["random_resized_crop"] if static else None
        if tcfg["randaugment"] and static:
            randaug = RandAugment(tcfg["randaugment"], lo, hi, aug_rng)
        if tcfg["auto_augment"] and static:
            autoaug = AutoAugment(tcfg["auto_augment"], lo, hi, aug_rng)
        for key in ("randaugment", "auto_augment", "random_resized_crop"):
            if tcfg[key] and not static:
                self.em.emit("warning", message=f"train.{key} applies to static images only; ignored for event frames")
        dvs_flip, dvs_roll = tcfg["dvs_flip"], tcfg["dvs_roll"]
        wide, cutout = tcfg["snn_augment_wide"], tcfg["dvs_cutout"]
        if (dvs_flip > 0 or dvs_roll > 0 or wide or cutout > 0) and ds.train_x.dim() != 5:
            self.em.emit("warning", message="train.dvs_flip / dvs_roll / snn_augment_wide / dvs_cutout apply to event frames "
                                            "(N, T, C, H, W) only; ignored")
        if dvs_flip > 0 and ds.name == "dvs128-gesture":
            self.em.emit("warning", message="train.dvs_flip on dvs128-gesture: horizontal flips turn left-hand gestures into "
                                            "right-hand ones (classes such as 'right hand wave' vs 'left hand wave'), so "
                                            "flipped samples carry wrong labels",
                         hint="Set train.dvs_flip: 0 for DVS128 Gesture (the STSA recipe uses only random rolls).")

        def augment(x, y, epoch: int):
            """Training batches only (evaluation never calls this); every draw comes from aug_rng (checkpointed)."""
            if rrc is not None and x.dim() == 4:
                x = random_resized_crop(x, rrc["scale"], rrc["ratio"], aug_rng, rrc["interpolation"], lo, hi)
            if tcfg["hflip"] > 0 and x.dim() == 4:
                x = hflip(x, tcfg["hflip"], aug_rng)
            if randaug is not None:
                x = randaug(x)
            if autoaug is not None:
                x = autoaug(x)
            if tcfg["reprob"] > 0:
                x = random_erasing(x, tcfg["reprob"], aug_rng)
            if x.dim() == 5:
                x = dvs_augment(x, dvs_flip, dvs_roll, aug_rng)
                if wide:
                    x = snn_augment_wide(x, aug_rng)
                if cutout > 0:
                    x = dvs_cutout(x, cutout, aug_rng)
            off = tcfg["mixup_off_epoch"]
            mixup.enabled = not (off is not None and epoch - 1 >= off)
            if mixup.active and mixup.enabled:
                return mixup(x, y)
            return x, None

        # ---------------- resume
        start_epoch, start_i = 1, 0
        epoch_sampler_state = sampler.get_state()
        if self.resume_ckpt is not None:
            ck = self.resume_ckpt
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            if scaler is not None and ck.get("scaler"):
                scaler.load_state_dict(ck["scaler"])
            self.step = int(ck.get("step", 0))
            self.best_top1 = ck.get("best_top1")
            ck_epoch = int(ck.get("epoch", 0))
            if ck.get("epoch_complete", True):
                start_epoch, start_i = ck_epoch + 1, 0
                self.epochs_completed = ck_epoch
            else:
                start_epoch = ck_epoch
                start_i = int(ck.get("epoch_step", self.step - (ck_epoch - 1) * steps_per_epoch))
                self.epochs_completed = ck_epoch - 1
            if "rng" in ck:
                set_rng_state(ck["rng"], sampler)
            if ck.get("aug_rng") is not None and main_rank:
                aug_rng.load_state_dict(ck["aug_rng"])
            if ck.get("epoch_sampler_state") is not None:
                epoch_sampler_state = ck["epoch_sampler_state"]
            if ck.get("world_size", 1) != world:
                self.em.emit("warning", message=f"resuming a run trained with {ck.get('world_size', 1)} process(es) on {world}; "
                                                "the data order and batch split differ from the original run")
            self.em.emit("warning", message=f"resumed from checkpoints/last.pt at step {self.step} (epoch {start_epoch}, "
                                            f"step {start_i} of {steps_per_epoch} in the epoch); events after that step "
                                            f"earlier in events.jsonl (before seq {self.em.seq}) are superseded")
            log(f"resumed at step {self.step}: epoch {start_epoch}, epoch step {start_i}")
            restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0) if os.environ.get("SPIKE_SLURM") else 0
            if restarts > 0:  # a requeued Slurm job (time limit or preemption) continuing the same run
                self.em.emit("requeued", epoch=start_epoch, step=self.step, restarts=restarts,
                             job_id=os.environ.get("SLURM_JOB_ID", ""))

        def checkpoint(kind: str, epoch: int, epoch_step: int, epoch_complete: bool) -> str | None:
            if not main_rank:
                return None
            payload = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "runtime_version": __version__,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "epoch": epoch,
                "epoch_step": epoch_step,
                "epoch_complete": epoch_complete,
                "step": self.step,
                "best_top1": self.best_top1,
                "config": cfg,
                "rng": rng_state(sampler),
                "epoch_sampler_state": epoch_sampler_state,
                "aug_rng": aug_rng.state_dict(),
                "world_size": world,
            }
            path = atomic_save(payload, self.run_dir / "checkpoints" / f"{kind}.pt")
            self.em.emit("checkpoint", epoch=epoch, step=self.step, path=str(path.resolve()), kind=kind)
            if kind == "last":
                self.last_checkpoint = str(path.resolve())
            return str(path)

        def stopped(epoch: int, epoch_step: int, epoch_complete: bool) -> int:
            checkpoint("last", epoch, epoch_step, epoch_complete)
            log(f"stopped at step {self.step} (epoch {epoch}); last checkpoint {self.last_checkpoint}")
            self.done("stopped")
            return 0

        cuda = device.type == "cuda"
        log(f"training: {total_epochs} epoch(s) × {steps_per_epoch} steps, batch {bs}"
            f"{f' × {world} processes' if world > 1 else ''}{f' × {accum} accumulated' if accum > 1 else ''}, {name} lr {tcfg['lr']:g} ({tcfg['schedule']}), "
            f"loss {loss_kind}, amp {amp or 'off'}")
        train_time = 0.0
        timed_steps = 0  # steps in train_time (not the one that compiled)
        for epoch in range(start_epoch, total_epochs + 1):
            first_i = start_i if epoch == start_epoch else 0
            if first_i > 0:  # resumed mid-epoch: the same permutation as the interrupted run
                current = sampler.get_state()
                sampler.set_state(epoch_sampler_state)
                perm = torch.randperm(n_train, generator=sampler)
                sampler.set_state(current)
            else:
                epoch_sampler_state = sampler.get_state()
                perm = torch.randperm(n_train, generator=sampler)
            perm = perm.to(ds.train_x.device)
            apply_lr(opt, sched.lr_at(self.step))
            self.em.emit("epoch", epoch=epoch, epochs=total_epochs, steps_per_epoch=steps_per_epoch, lr=opt.param_groups[0]["lr"])
            train_model.train()
            acc_loss, acc_correct, acc_seen, acc_steps = 0.0, 0, 0, 0
            window_start = time.time()
            for i in range(first_i, steps_per_epoch):
                step_start = time.time()
                lr = sched.lr_at(self.step)
                apply_lr(opt, lr)
                # sltt calls the model once per time step: the recorder's per-step rates would mix; eval records them
                record = recorder is not None and not sltt and (self.step + 1) % firing_every == 0
                if record:
                    recorder.reset()
                def loss_of(out, per_step_out: bool):
                    if loss_kind == "tet":
                        from spikestudio.train.losses import tet_loss

                        return tet_loss(out if per_step_out else out.unsqueeze(0), soft if soft is not None else y,
                                        lam=tcfg["tet_lambda"], phi=tcfg["tet_phi"],
                                        label_smoothing=smoothing if soft is None else 0.0)
                    if soft is not None:
                        return soft_target_ce(out, soft)
                    return F.cross_entropy(out.float(), y, label_smoothing=smoothing)

                opt.zero_grad(set_to_none=True)
                loss_value = 0.0
                for micro in range(accum):  # train.accum_steps micro-batches, gradients summed, one optimiser step
                    base = (i * accum + micro) * gbs + dist.rank * bs
                    idx = perm[base:base + bs]
                    x = ds.train_x[idx].to(device, non_blocking=True)
                    y = ds.train_y[idx].to(device, non_blocking=True)
                    x, soft = augment(x, y, epoch)
                    last_micro = micro == accum - 1
                    # DDP: all-reduce the gradients once, at the last micro-batch
                    sync = contextlib.nullcontext() if last_micro or not dist.enabled else train_model.no_sync()
                    with sync:
                        if sltt:  # train.temporal_grad sltt: T forward + backward passes of one time step each (train/sltt.py)
                            def step_forward(xt):
                                with autocast():
                                    return train_model(xt)

                            logits, micro_loss = sltt_mod.train_step(
                                model, step_forward, x, lambda out: loss_of(out, False) / accum,
                                (lambda l: scaler.scale(l).backward()) if scaler is not None else (lambda l: l.backward()),
                                step_context=packer.step if packer is not None else contextlib.nullcontext,
                                no_sync=train_model.no_sync if dist.enabled and last_micro else None)
                            loss_value += micro_loss
                        else:
                            with (recorder.recording() if record and last_micro else contextlib.nullcontext()):
                                # train.compile: the compiled module (steps recording firing rates run it eagerly)
                                forward = compiler if compiler is not None and not record else train_model
                                with autocast(), (packer.step() if packer is not None else contextlib.nullcontext()):
                                    if loss_kind == "tet":
                                        per_step = forward(x, per_step=True)
                                        logits = per_step.float().mean(0)
                                    else:
                                        logits = forward(x)
                            loss = loss_of(per_step if loss_kind == "tet" else logits, True) / accum
                            loss_value += float(loss.detach())
                            (scaler.scale(loss) if scaler is not None else loss).backward()
                    acc_correct += int((logits.detach().argmax(1) == y).sum())
                    acc_seen += int(y.shape[0]) * world
                stop_now = self.stop_event.is_set()
                if dist.enabled:  # one small all-reduce per step: the global loss and the stop flag
                    tot = dist.all_reduce_sum([loss_value, 1.0 if stop_now else 0.0], device)
                    loss_value, stop_now = tot[0] / world, tot[1] > 0
                if not math.isfinite(loss_value):
                    raise NonFiniteLoss(
                        f"the training loss is {loss_value} at step {self.step + 1} (epoch {epoch})",
                        "Lower train.lr (e.g. by 10×), set train.grad_clip (e.g. 1.0), or disable AMP (train.amp: false).",
                    )
                if scaler is not None:
                    if grad_clip:
                        scaler.unscale_(opt)
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    scaler.step(opt)
                    scaler.update()
                else:
                    if grad_clip:
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    opt.step()
                self.step += 1
                acc_loss += loss_value
                acc_steps += 1
                step_s = time.time() - step_start
                if compiler is not None and compiler.pending:  # the first compiled step: its time is the compile's
                    end = compiler.end_fields(step_s)
                    self.em.emit("phase", **end)
                    log(f"train.compile: first compiled step {step_s:.1f}s (cache {end['cache']}, {end['graphs']} "
                        f"graph(s)){'' if end['ok'] else '; fell back to eager'}")
                else:
                    train_time += step_s
                    timed_steps += 1
                last_of_epoch = i == steps_per_epoch - 1
                if self.step % step_every == 0 or last_of_epoch:
                    now = time.time()
                    elapsed = max(now - window_start, 1e-9)
                    remaining = total_steps - self.step
                    eta = remaining * (train_time / timed_steps if timed_steps else step_s)
                    extra = {}
                    if cuda:
                        extra["peak_mem_mb"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
                    self.em.emit(
                        "step",
                        epoch=epoch,
                        step=self.step,
                        epoch_step=i + 1,
                        steps_per_epoch=steps_per_epoch,
                        loss=acc_loss / acc_steps,
                        acc=min(1.0, acc_correct * world / acc_seen),
                        lr=lr,
                        img_per_s=round(acc_seen / elapsed, 2),
                        eta_s=round(eta, 1),
                        **extra,
                    )
                    log(f"epoch {epoch}/{total_epochs} step {i + 1}/{steps_per_epoch} loss {acc_loss / acc_steps:.4f} "
                        f"acc {acc_correct * world / acc_seen:.3f} lr {lr:.3g} {acc_seen / elapsed:.0f} img/s eta {eta:.0f}s")
                    acc_loss, acc_correct, acc_seen, acc_steps = 0.0, 0, 0, 0
                    window_start = time.time()
                if record:
                    self.em.emit("firing", epoch=epoch, step=self.step, split="train", layers=clean_rates(recorder.rates()))
                    recorder.reset()
                if ckpt_every and self.step % ckpt_every == 0:
                    checkpoint("last", epoch, i + 1, False)
                if stop_now:
                    return stopped(epoch, i + 1, False)
            self.epochs_completed = epoch

            if epoch % tcfg["eval_every"] == 0 or epoch == total_epochs:
                result = evaluate(torch, model, ds.eval_x, ds.eval_y, dcfg["eval_batch_size"], device, autocast,
                                  recorder, energy, should_stop=self.stop_event.is_set, dist=dist)
                if result is None:  # stopped during evaluation (a resume repeats the evaluation)
                    return stopped(epoch, steps_per_epoch, False)
                improved = self.best_top1 is None or result["top1"] > self.best_top1
                if improved:
                    self.best_top1 = result["top1"]
                self.em.emit("eval", epoch=epoch, step=self.step, best_top1=self.best_top1, **result)
                log(f"eval epoch {epoch}: loss {result['loss']:.4f} top1 {result['top1']:.4f} top5 {result['top5']:.4f} "
                    f"({result['samples']} samples, {result['seconds']:.1f}s), best {self.best_top1:.4f}")
                if recorder is not None:
                    self.em.emit("firing", epoch=epoch, step=self.step, split="eval", layers=clean_rates(recorder.rates()))
                    recorder.reset()
                if main_rank:
                    self._emit_eval_telemetry(torch, model, ds, device, autocast, energy, tel, epoch)
                checkpoint("last", epoch, steps_per_epoch, True)
                if improved:
                    checkpoint("best", epoch, steps_per_epoch, True)
            else:
                checkpoint("last", epoch, steps_per_epoch, True)
            stop_now = self.stop_event.is_set()
            if dist.enabled:
                stop_now = dist.all_reduce_sum([1.0 if stop_now else 0.0], device)[0] > 0
            if stop_now:
                log(f"stopped after epoch {epoch}")
                self.done("stopped")
                return 0

        log(f"done: {self.epochs_completed} epoch(s), {self.step} steps, best top1 "
            f"{self.best_top1 if self.best_top1 is not None else 'n/a'}, {time.time() - self.started:.1f}s")
        self.done("completed")
        return 0

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
    trainer = Trainer(config, str(run_path), emitter, resume=bool(resume), dist=dist)
    try:
        return trainer.run()
    finally:
        emitter.close()
        dist.shutdown()
