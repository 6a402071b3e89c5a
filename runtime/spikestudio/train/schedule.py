"""Per-step learning-rate schedules: linear warmup from `warmup_lr` over `warmup_epochs`, then
cosine (to `min_lr`), step (×`decay_rate` every `decay_epochs`) or constant."""

from __future__ import annotations

import math


class LRSchedule:
    def __init__(self, train_cfg: dict, steps_per_epoch: int, epochs: int):
        self.kind = train_cfg["schedule"]
        self.base = float(train_cfg["lr"])
        self.min_lr = float(train_cfg["min_lr"])
        self.warmup_lr = float(train_cfg["warmup_lr"])
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.total = self.steps_per_epoch * int(epochs)
        self.warmup_steps = min(self.total, int(round(float(train_cfg["warmup_epochs"]) * self.steps_per_epoch)))
        self.decay_epochs = train_cfg.get("decay_epochs") or max(1, int(epochs) // 3)
        self.decay_rate = float(train_cfg.get("decay_rate", 0.1))

    def lr_at(self, step: int) -> float:
        """The lr for the optimiser step with 0-based index `step`."""
        if step < self.warmup_steps:
            return self.warmup_lr + (self.base - self.warmup_lr) * step / self.warmup_steps
        if self.kind == "constant":
            return self.base
        if self.kind == "step":
            return self.base * self.decay_rate ** ((step // self.steps_per_epoch) // self.decay_epochs)
        # cosine, per step, reaching min_lr at the last step
        span = max(1, self.total - self.warmup_steps - 1)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr + 0.5 * (self.base - self.min_lr) * (1.0 + math.cos(math.pi * progress))

    def state_dict(self) -> dict:
        return {
            "kind": self.kind,
            "base": self.base,
            "min_lr": self.min_lr,
            "warmup_lr": self.warmup_lr,
            "warmup_steps": self.warmup_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "total": self.total,
            "decay_epochs": self.decay_epochs,
            "decay_rate": self.decay_rate,
        }


def apply_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
