"""Exact training-memory options: what autograd keeps for backward is cut by recomputing it in backward.

* ``train.recompute_membranes`` (:func:`install_recompute`): a LIF fed by a BatchNorm (the model's
  ``bn_lif_pairs()``) keeps neither its membrane sequence H nor the BN output. The BN runs without a graph, and the
  LIF becomes one autograd node (:class:`BNLIFRecompute`) that saves only the BN's input (which the BN saves anyway
  in the plain path) and its parameters; backward recomputes the BN output with the same kernel
  (``aten._batch_norm_impl_index``, batch statistics, temporary running-stat buffers so nothing is updated twice),
  then H with the LIF's forward (torch loop or the fused Triton kernel), then runs the LIF's and the BN's own
  backward. Max-pools (:class:`spikestudio.models.layers.SpikeMaxPool2d`) keep their input only and recompute the
  argmax indices (int64, 8 bytes per output element) in backward. Same kernels on the same numbers: gradients equal
  the plain path's (tests/test_memory_options.py). Cost: one BN pass and one LIF forward per pair, one max-pool
  forward per pool, in backward (elementwise work; a few % of a step).
* ``train.checkpoint_blocks`` (:func:`install_checkpoint_blocks`): every transformer block runs under
  ``torch.utils.checkpoint`` (``use_reentrant=False``): only the block's input is kept, the block is recomputed in
  backward. RNG states are restored for the recomputation (dropout / drop-path draw the same masks), BatchNorm
  running statistics are restored after it (not updated twice) and the LIF state carried by
  ``train.temporal_grad: sltt`` is set back to the value the original forward started from. Cost: one more forward
  of every block per step (about +30 % step time).

:func:`observe_kept` lets a measurement (bench/memory.py) see the tensors a checkpoint keeps outside autograd's
saved-tensor hooks.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Callable, Optional

import torch
from torch import nn

from spikestudio import neurons

__all__ = ["BNLIFRecompute", "install_recompute", "install_checkpoint_blocks", "observe_kept", "remove"]

_KEPT_OBSERVER: Optional[Callable[[torch.Tensor], None]] = None


@contextlib.contextmanager
def observe_kept(fn: Callable[[torch.Tensor], None]):
    """Call ``fn(t)`` for every tensor a checkpointed block keeps for its recomputation (inside the block)."""
    global _KEPT_OBSERVER
    prev, _KEPT_OBSERVER = _KEPT_OBSERVER, fn
    try:
        yield
    finally:
        _KEPT_OBSERVER = prev


# ----------------------------------------------------------------------------------------------------------------
# BatchNorm -> LIF
# ----------------------------------------------------------------------------------------------------------------


def _core_forward(backend: str, x_seq, cfg, keep: bool, v0=None):
    """(spikes, state for _core_backward or None, last V or None)."""
    if backend == "triton":
        from spikestudio.kernels.lif_triton import triton_forward

        s, z = triton_forward(x_seq, *cfg, store_z=keep)
        return s, z, None
    return neurons.lif_forward(x_seq, *cfg, keep_h=keep, v0=v0)


def _core_backward(backend: str, grad_s, state, cfg):
    if backend == "triton":
        from spikestudio.kernels.lif_triton import triton_backward

        return triton_backward(grad_s, state, *cfg)
    return neurons.lif_backward(grad_s, state, *cfg)


def _bn_input(bn: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """The tensor the BN module hands to batch_norm (TokenBN flattens to (-1, D))."""
    from spikestudio.models.layers import TokenBN

    return y.reshape(-1, y.shape[-1]) if isinstance(bn, TokenBN) else y


class BNLIFRecompute(torch.autograd.Function):
    """LIF(BN(y)) as one node that saves y, the BN's weight and bias (and nothing of size T x neurons else).

    ``x_seq`` is the BN output already computed without a graph (the LIF's input, shape (T, ...)); ``bn`` the module
    (eps, whether it tracks running statistics); ``lif`` the LIF module (its equations; its ``_carry_v`` is set when
    it carries state between calls, train.temporal_grad sltt); ``v0`` that carried state or None."""

    @staticmethod
    def forward(ctx, y, weight, bias, x_seq, bn, lif, backend, v0):  # type: ignore[override]
        cfg = neurons.lif_cfg(lif)
        s, _, v = _core_forward(backend, x_seq, cfg, keep=False, v0=v0)
        if "_carry_v" in lif.__dict__:
            lif._carry_v = v.detach()
        ctx.save_for_backward(y, weight, bias)
        ctx.meta = (bn, cfg, backend, tuple(x_seq.shape), v0)
        return s

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        y, weight, bias = ctx.saved_tensors
        bn, cfg, backend, xshape, v0 = ctx.meta
        bn_in = _bn_input(bn, y)
        rm = rv = None
        if bn.running_mean is not None:  # the same kernel choice as the forward, without touching its buffers
            rm, rv = bn.running_mean.detach().clone(), bn.running_var.detach().clone()
        with torch.no_grad():
            x, save_mean, save_invstd, reserve, impl = torch.ops.aten._batch_norm_impl_index(
                bn_in, weight, bias, rm, rv, True, 0.0, bn.eps, torch.backends.cudnn.enabled)
            _, state, _ = _core_forward(backend, x.reshape(xshape), cfg, keep=True, v0=v0)
            gx = _core_backward(backend, grad_s, state, cfg)
            del state
            mask = [ctx.needs_input_grad[0], weight is not None and ctx.needs_input_grad[1],
                    bias is not None and ctx.needs_input_grad[2]]
            gy, gw, gb = torch.ops.aten._batch_norm_impl_index_backward(
                impl, bn_in, gx.reshape(bn_in.shape).contiguous(), weight, rm, rv, save_mean, save_invstd, True, bn.eps,
                mask, reserve)
        return (gy.reshape(y.shape) if mask[0] else None, gw if mask[1] else None, gb if mask[2] else None,
                None, None, None, None, None)


class _Deferred:
    __slots__ = ("ref", "y", "bn", "lif")

    def __init__(self, root, y, bn, lif):
        self.ref, self.y, self.bn, self.lif = weakref.ref(root), y, bn, lif

    def __call__(self, x_seq: torch.Tensor, lif, backend: str, v0) -> torch.Tensor:
        return BNLIFRecompute.apply(self.y, self.bn.weight, self.bn.bias, x_seq.detach(), self.bn, lif, backend, v0)


def _root(t: torch.Tensor) -> torch.Tensor:
    return t._base if t._base is not None else t


def _take(x_seq: torch.Tensor, lif) -> Optional[_Deferred]:
    root = _root(x_seq)
    d = neurons._DEFERRED.get(id(root))
    if d is None or d.ref() is not root or d.lif is not lif:
        return None
    del neurons._DEFERRED[id(root)]
    return d


def _deferred_forward(bn: nn.Module, lif, original):
    def forward(x: torch.Tensor) -> torch.Tensor:
        if not (bn.training and torch.is_grad_enabled() and x.requires_grad):
            return original(x)
        with torch.no_grad():
            out = original(x)  # the plain kernel and the plain running-statistics update
        root = _root(out)
        neurons._DEFERRED[id(root)] = _Deferred(root, x, bn, lif)
        return out

    return forward


def _patch(module: nn.Module, attr: str, value) -> None:
    module.__dict__.setdefault("_memory_patched", {})[attr] = module.__dict__.get(attr)
    setattr(module, attr, value)


def remove(model: nn.Module) -> None:
    """Undo :func:`install_recompute` / :func:`install_checkpoint_blocks` on `model`."""
    for m in model.modules():
        saved = m.__dict__.pop("_memory_patched", None)
        if not saved:
            continue
        for attr, prev in saved.items():
            if prev is None:
                m.__dict__.pop(attr, None)
            else:
                setattr(m, attr, prev)


def install_recompute(model: nn.Module) -> int:
    """train.recompute_membranes on `model`: its BN -> LIF pairs and max-pools. Returns how many pairs/pools were
    set up (0: the model offers no ``bn_lif_pairs()`` and has no spike max-pools)."""
    from spikestudio.models.layers import SpikeMaxPool2d

    n = 0
    pairs = model.bn_lif_pairs() if hasattr(model, "bn_lif_pairs") else []
    mods = dict(model.named_modules())
    for bn_name, lif_name in pairs:
        bn, lif = mods.get(bn_name), mods.get(lif_name)
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or type(lif) is not neurons.LIF or lif.impl == "reference":
            continue
        _patch(bn, "forward", _deferred_forward(bn, lif, bn.forward))
        n += 1
    for m in model.modules():
        if isinstance(m, SpikeMaxPool2d):
            _patch(m, "recompute_indices", True)
            n += 1
    return n


# ----------------------------------------------------------------------------------------------------------------
# train.checkpoint_blocks
# ----------------------------------------------------------------------------------------------------------------


def _carrying_lifs(block: nn.Module) -> list:
    return [m for m in block.modules() if isinstance(m, neurons.LIF) and "_carry_v" in m.__dict__]


class _ForwardCtx:
    def __init__(self, block, state):
        self.block, self.state = block, state

    def __enter__(self):
        self.state["carry_in"] = [(m, m._carry_v) for m in _carrying_lifs(self.block)]

    def __exit__(self, *exc):
        self.state["carry_out"] = [(m, m._carry_v) for m in _carrying_lifs(self.block)]
        return False


class _RecomputeCtx:
    def __init__(self, block, state):
        self.block, self.state = block, state

    def __enter__(self):
        self.buffers = [(b, b.detach().clone()) for m in self.block.modules()
                        if isinstance(m, nn.modules.batchnorm._BatchNorm) for b in m.buffers()]
        for m, v in self.state.get("carry_in", []):
            m._carry_v = v

    def __exit__(self, *exc):
        with torch.no_grad():
            for b, saved in self.buffers:
                b.copy_(saved)
        for m, v in self.state.get("carry_out", []):
            m._carry_v = v
        return False


def _checkpointed_forward(block: nn.Module, original):
    from torch.utils.checkpoint import checkpoint

    def forward(*args, **kwargs):
        if not (block.training and torch.is_grad_enabled()):
            return original(*args, **kwargs)
        if _KEPT_OBSERVER is not None:
            for a in list(args) + list(kwargs.values()):
                if isinstance(a, torch.Tensor):
                    _KEPT_OBSERVER(a)
        state: dict = {}
        return checkpoint(original, *args, use_reentrant=False, preserve_rng_state=True,
                          context_fn=lambda: (_ForwardCtx(block, state), _RecomputeCtx(block, state)), **kwargs)

    return forward


def checkpoint_targets(model: nn.Module) -> list:
    """The modules train.checkpoint_blocks wraps: ``model.blocks`` when the model has it, else every module whose
    class says ``describe_kind = "block"``."""
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, (nn.ModuleList, nn.Sequential)) and len(blocks):
        return list(blocks)
    return [m for m in model.modules() if getattr(type(m), "describe_kind", None) == "block"]


def install_checkpoint_blocks(model: nn.Module) -> int:
    """Wrap every block of `model` in activation checkpointing; returns how many."""
    targets = checkpoint_targets(model)
    for blk in targets:
        _patch(blk, "forward", _checkpointed_forward(blk, blk.forward))
    return len(targets)
