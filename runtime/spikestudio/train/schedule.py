"""Learning-rate schedules: linear warmup from `warmup_lr` over `warmup_epochs`, then cosine (to `min_lr`),
step (×`decay_rate` every `decay_epochs`) or constant; then `cooldown_epochs` at `min_lr`.

Two units (`train.schedule_unit`):

* `"step"` (default, the original behaviour): the lr changes every optimiser step; cosine reaches `min_lr` at
  the last step of `epochs`.
* `"epoch"`: timm's `CosineLRScheduler` / `StepLRScheduler` semantics as the papers' timm scripts use them
  (`t_in_epochs=True`, stepped with `epoch + 1` at the end of each epoch, so the lr is constant within an epoch):
  epoch e (0-based) < warmup_t: `warmup_lr + e·(lr − warmup_lr)/warmup_t`; otherwise cosine
  `min_lr + ½(lr − min_lr)(1 + cos(π·e/epochs))` (timm's warmup_prefix=False: e is not shifted by the warmup);
  e ≥ epochs (the cooldown): `min_lr`. step: `lr·decay_rate^(e // decay_epochs)`.

The total number of epochs trained is `epochs + cooldown_epochs` (timm's num_epochs).
"""

from __future__ import annotations

import math


class LRSchedule:
    def __init__(self, train_cfg: dict, steps_per_epoch: int, epochs: int):
        self.kind = train_cfg["schedule"]
        self.unit = train_cfg.get("schedule_unit", "step") or "step"
        self.base = float(train_cfg["lr"])
        self.min_lr = float(train_cfg["min_lr"])
        self.warmup_lr = float(train_cfg["warmup_lr"])
        self.epochs = int(epochs)
        self.cooldown_epochs = int(train_cfg.get("cooldown_epochs", 0) or 0)
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.total = self.steps_per_epoch * int(epochs)
        self.warmup_epochs = float(train_cfg["warmup_epochs"])
        self.warmup_steps = min(self.total, int(round(self.warmup_epochs * self.steps_per_epoch)))
        self.decay_epochs = train_cfg.get("decay_epochs") or max(1, int(epochs) // 3)
        self.decay_rate = float(train_cfg.get("decay_rate", 0.1))

    def lr_at_epoch(self, e: int) -> float:
        """timm semantics: the lr of 0-based epoch `e`."""
        warm = int(self.warmup_epochs)
        if e < warm:
            return self.warmup_lr + e * (self.base - self.warmup_lr) / warm
        if self.kind == "constant":
            return self.base
        if self.kind == "step":
            return self.base * self.decay_rate ** (e // self.decay_epochs)
        if e >= self.epochs:
            return self.min_lr
        return self.min_lr + 0.5 * (self.base - self.min_lr) * (1.0 + math.cos(math.pi * e / self.epochs))

    def lr_at(self, step: int) -> float:
        """The lr for the optimiser step with 0-based index `step`."""
        if self.unit == "epoch":
            return self.lr_at_epoch(step // self.steps_per_epoch)
        if step < self.warmup_steps:
            return self.warmup_lr + (self.base - self.warmup_lr) * step / self.warmup_steps
        if self.kind == "constant":
            return self.base
        if self.kind == "step":
            return self.base * self.decay_rate ** ((step // self.steps_per_epoch) // self.decay_epochs)
        if step >= self.total:  # cooldown
            return self.min_lr
        # cosine, per step, reaching min_lr at the last step
        span = max(1, self.total - self.warmup_steps - 1)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr + 0.5 * (self.base - self.min_lr) * (1.0 + math.cos(math.pi * progress))

    def state_dict(self) -> dict:
        return {
            "kind": self.kind,
            "unit": self.unit,
            "base": self.base,
            "min_lr": self.min_lr,
            "warmup_lr": self.warmup_lr,
            "warmup_steps": self.warmup_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "total": self.total,
            "cooldown_epochs": self.cooldown_epochs,
            "decay_epochs": self.decay_epochs,
            "decay_rate": self.decay_rate,
        }


def apply_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
