"""The training's set-up parts: the optimiser, mixed precision (AMP) and the augmentation of training batches."""

from __future__ import annotations

import contextlib
from typing import Any, Callable

Warn = Callable[..., None]  # emits a `warning` event: warn(message=..., hint=...)


def build_optimizer(params: list, tcfg: dict):
    """train.optimizer → a torch optimiser over params (adamw | adam | lamb | sgd: one branch per choice)."""
    import torch

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


def setup_amp(torch, tcfg: dict, device, warn: Warn):
    """train.amp → (amp, scaler, autocast): the mode in use (False, "bf16", "fp16"; fp16 needs CUDA, else bf16),
    the fp16 GradScaler (else None) and a function returning the forward's autocast context."""
    amp = tcfg["amp"]
    if amp == "fp16" and device.type != "cuda":
        warn(message="train.amp fp16 needs a CUDA device; using bf16 autocast on this device instead")
        amp = "bf16"
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp) if amp else None
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=amp_dtype)

    return amp, scaler, autocast


def build_augmenter(tcfg: dict, ds: Any, aug_rng, smoothing: float, num_classes: int, warn: Warn):
    """augment(x, y, epoch) → (x, soft targets or None) for training batches, from the train.* augmentation keys.
    Warns about keys that do not apply to this dataset's samples."""
    from spikestudio.train.augment import (AutoAugment, Mixup, RandAugment, channel_range, dvs_augment, dvs_cutout, hflip,
                                           random_erasing, random_resized_crop, snn_augment_wide)

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
    _warn_inapplicable(tcfg, ds, static, warn)
    dvs_flip, dvs_roll = tcfg["dvs_flip"], tcfg["dvs_roll"]
    wide, cutout = tcfg["snn_augment_wide"], tcfg["dvs_cutout"]

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

    return augment


def _warn_inapplicable(tcfg: dict, ds: Any, static: bool, warn: Warn) -> None:
    for key in ("randaugment", "auto_augment", "random_resized_crop"):
        if tcfg[key] and not static:
            warn(message=f"train.{key} applies to static images only; ignored for event frames")
    if (tcfg["dvs_flip"] > 0 or tcfg["dvs_roll"] > 0 or tcfg["snn_augment_wide"] or tcfg["dvs_cutout"] > 0) and ds.train_x.dim() != 5:
        warn(message="train.dvs_flip / dvs_roll / snn_augment_wide / dvs_cutout apply to event frames "
                     "(N, T, C, H, W) only; ignored")
    if tcfg["dvs_flip"] > 0 and ds.name == "dvs128-gesture":
        warn(message="train.dvs_flip on dvs128-gesture: horizontal flips turn left-hand gestures into "
                     "right-hand ones (classes such as 'right hand wave' vs 'left hand wave'), so "
                     "flipped samples carry wrong labels",
             hint="Set train.dvs_flip: 0 for DVS128 Gesture (the STSA recipe uses only random rolls).")
