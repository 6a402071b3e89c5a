"""Losses over per-time-step logits (reference spec §5.2).

TET (temporal efficient training), as STSA trains:

    L = (1 - lam) * (1/T) * sum_t CE(o_t, y) + lam * MSE(o, phi)

with o the per-step logits (T, B, K), phi = 1.0 (every logit pushed toward phi) and lam = 1e-3. The MSE term is
the mean over all T*B*K entries. Targets: class indices (B,) or soft targets (B, K) (rows of probabilities, e.g.
after mixup / label smoothing). Prediction stays argmax of the mean of the per-step logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["tet_loss"]


def tet_loss(per_step_logits: torch.Tensor, targets: torch.Tensor, lam: float = 1e-3, phi: float = 1.0,
             label_smoothing: float = 0.0) -> torch.Tensor:
    if per_step_logits.dim() != 3:
        raise ValueError(f"tet_loss expects per-step logits (T, B, K), got shape {tuple(per_step_logits.shape)}")
    T, B, K = per_step_logits.shape
    o = per_step_logits.float()
    flat = o.reshape(T * B, K)
    if targets.dim() == 1:
        y = targets.repeat(T)
    elif targets.dim() == 2 and targets.shape == (B, K):
        y = targets.float().repeat(T, 1)
    else:
        raise ValueError(f"targets must be (B,) class indices or (B, K) soft targets, got {tuple(targets.shape)}")
    ce = F.cross_entropy(flat, y, label_smoothing=label_smoothing)  # mean over T*B = (1/T) sum_t mean_b
    mse = F.mse_loss(o, torch.full_like(o, float(phi)))
    return (1.0 - lam) * ce + lam * mse
