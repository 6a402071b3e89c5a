"""Lamb (You et al., "Large Batch Optimization for Deep Learning", 2019) as timm's `Lamb` computes it -- the optimiser
of the Spike-driven Transformer's DVS128 / ImageNet recipes and Meta-SpikeFormer's (reference spec 2 §3.4, §4.3).

One step, for every parameter p with gradient g (all in place, no closure):

    G    = sqrt(sum over all parameters of ||g||^2);  g <- g / max(1, G / max_grad_norm)   (global clip, timm's 1.0)
    m    <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
    u    = (m / (1 - b1^k)) / (sqrt(v) / sqrt(1 - b2^k) + eps)  +  wd * p
    r    = ||p|| / ||u||   when wd != 0 (1 when either norm is 0; min(r, 1) with trust_clip); r = 1 when wd == 0
    p    <- p - lr * r * u

`trust_clip` is `train.lamb_trust_clip` (Meta-SpikeFormer: true; timm's default and SDT's: false). A parameter group
with weight_decay 0 (timm's exemption of biases / 1-D tensors) gets no trust ratio, as in timm (always_adapt off)."""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


class Lamb(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.01, max_grad_norm: float = 1.0, trust_clip: bool = False):
        if lr <= 0 or eps <= 0 or weight_decay < 0 or max_grad_norm <= 0:
            raise ValueError(f"Lamb: lr, eps and max_grad_norm must be > 0 and weight_decay >= 0 (got lr={lr}, "
                             f"eps={eps}, weight_decay={weight_decay}, max_grad_norm={max_grad_norm})")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      max_grad_norm=max_grad_norm, trust_clip=trust_clip))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return loss
        norm = torch.sqrt(sum(gr.float().pow(2).sum() for gr in grads))
        clip = torch.clamp(norm / self.defaults["max_grad_norm"], min=1.0)
        for group in self.param_groups:
            b1, b2 = group["betas"]
            group["step"] = group.get("step", 0) + 1
            bc1, bc2 = 1 - b1 ** group["step"], 1 - b2 ** group["step"]
            wd = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad / clip
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                update = (m / bc1) / (v.sqrt() / math.sqrt(bc2) + group["eps"])
                if wd != 0:
                    update.add_(p, alpha=wd)
                    w_norm, u_norm = p.norm(2), update.norm(2)
                    one = torch.ones_like(w_norm)
                    ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, one)
                    if group["trust_clip"]:
                        ratio = torch.minimum(ratio, one)
                    update.mul_(ratio)
                p.add_(update, alpha=-group["lr"])
        return loss
