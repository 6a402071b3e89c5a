"""`train.temporal_grad: sltt` -- Spatial Learning Through Time (Meng et al., ICCV 2023), online form.

BPTT keeps every time step's activations until the backward; SLTT drops the gradient paths through the membrane's
temporal dependency (V[t-1] -> H[t]) and keeps only the spatial ones (through the layers, per time step). Then the
loss of one time step can be backpropagated as soon as that step's forward is done, and only one step's
activations are alive at a time: memory does not grow with T (the reference code's online training does the same:
one forward per step with the neuron state carried over detached, ``loss_t / T`` backpropagated per step, the
gradients accumulated, one optimiser step at the end).

Here: :func:`stepwise` makes every LIF of the model carry its membrane between calls (detached, so its temporal
gradient is cut) and sets ``model.time_steps = 1``; :func:`train_step` runs the T per-step forward + backward
passes. The forward values are those of the full-sequence forward (same equations, same state), except that
BatchNorm normalises each step's batch on its own (statistics over B instead of T x B) and updates its running
statistics once per step, as in the reference online code. The loss is the mean of the per-step losses (CE of each
step's logits, or TET's per-step terms); accuracy uses the mean of the per-step logits, as BPTT does.
Supported neurons: LIF (Spikformer, Spikingformer); PLIF/LIAF (Spikeformer) and STSA's neuron are rejected with a
config error. The neuron backend triton runs the torch path under SLTT (one step per call).
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

from spikestudio import config_schema
from spikestudio.errors import ConfigError
from spikestudio.neurons import LIF

__all__ = ["TEMPORAL_GRADS", "check_model", "stepwise", "step_inputs", "train_step"]

TEMPORAL_GRADS = config_schema.choices("train.temporal_grad")


def check_model(model: nn.Module) -> None:
    """ConfigError unless every neuron of the model is a plain LIF (what SLTT's carried state supports)."""
    bad = sorted({type(m).__name__ for m in model.modules() if isinstance(m, LIF) and (type(m) is not LIF or m.impl == "reference")})
    if bad:
        raise ConfigError("train.temporal_grad", f"sltt supports the LIF neuron only; this model uses {', '.join(bad)}",
                          "Set train.temporal_grad: bptt for this architecture (spikeformer / stsa).")
    if not hasattr(model, "time_steps"):
        raise ConfigError("train.temporal_grad", "sltt needs a model with a time_steps attribute",
                          "Set train.temporal_grad: bptt.")


@contextlib.contextmanager
def stepwise(model: nn.Module):
    """Inside: each call of `model` is one time step (time_steps = 1) and LIF membranes carry over between calls,
    detached. A fresh sequence starts at entry."""
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    old_t = model.time_steps
    for m in lifs:
        m._carry_v = None
    model.time_steps = 1
    try:
        yield
    finally:
        model.time_steps = old_t
        for m in lifs:
            m.__dict__.pop("_carry_v", None)


def step_inputs(x: torch.Tensor, time_steps: int):
    """(T, [input of one step]): a static image (B, C, H, W) is the input of every step; frames (B, T, C, H, W)
    give (B, 1, C, H, W) per step."""
    if x.dim() == 5:
        return x.shape[1], [x[:, t:t + 1] for t in range(x.shape[1])]
    return time_steps, [x] * time_steps


def train_step(model: nn.Module, forward: Callable, x: torch.Tensor, step_loss: Callable, backward: Callable,
               step_context: Callable = contextlib.nullcontext, no_sync: Callable | None = None):
    """One SLTT training step (no optimiser step): for each time step t, ``logits_t = forward(x_t)`` inside
    ``step_context()``, ``backward(step_loss(logits_t) / T)``. Returns (mean of the per-step logits, detached;
    the total loss as a float). `no_sync` (DDP) wraps every backward but the last."""
    T, inputs = step_inputs(x, int(model.time_steps))
    total = 0.0
    logits_sum = None
    with stepwise(model):
        for t, xt in enumerate(inputs):
            with step_context():
                logits = forward(xt)
            loss = step_loss(logits) / T
            total += float(loss.detach())
            with (no_sync() if no_sync is not None and t < T - 1 else contextlib.nullcontext()):
                backward(loss)
            lg = logits.detach().float()
            logits_sum = lg if logits_sum is None else logits_sum + lg
            del logits, loss
    return logits_sum / T, total
