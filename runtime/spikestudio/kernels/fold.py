"""Inference-time BatchNorm folding: BN(W x + b) == W' x + b' with running statistics.

`fold_batchnorm(model)` returns a deep copy in which every BatchNorm that directly follows a Conv1d/2d/3d or Linear
has its affine map folded into that layer (a bias is created where there was none) and is replaced by nn.Identity.

Pairs are found by the naming used by the models (both modules are children of the same parent):

* ``bn``          after ``conv``                        (ConvBNLIF, ConvBN, LIFConvBN, ConvUnit)
* ``<p>_bn``      after ``<p>``, ``<p>_proj``, ``<p>_conv``  (q_proj/q_bn, proj/proj_bn, fc1/fc1_bn, qkv_conv/qkv_bn)
* ``bn<i>``       after ``fc<i>`` / ``conv<i>``          (STSA MLP; Dropout in between is the identity in eval)

Channel axes: a conv's output channel is dim 1 and a BatchNorm{1,2,3}d normalises dim 1, so the per-channel scale
goes on the conv's out_channels. A Linear's output channel is the last dim; it is folded with :class:`TokenBN`
(BatchNorm1d over the last dim of a token-major (..., D) tensor) and with a plain BatchNorm1d (2-D (B, D) input,
where dim 1 is the last dim). A pair whose channel counts disagree is left alone.

Only valid with running statistics, so the model must already be in eval mode (no module training): the function
refuses otherwise rather than silently switching the copy to eval.
"""

from __future__ import annotations

import copy
import re

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from spikestudio.models.layers import TokenBN

__all__ = ["fold_batchnorm", "foldable_pairs", "FoldError"]

_WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


class FoldError(RuntimeError):
    """fold_batchnorm called on a model that is (partly) in training mode."""


def _candidates(bn_name: str) -> list[str]:
    if bn_name == "bn":
        return ["conv"]
    m = re.fullmatch(r"(.+)_bn", bn_name)
    if m:
        p = m.group(1)
        return [p, f"{p}_proj", f"{p}_conv"]
    m = re.fullmatch(r"bn(\d+)", bn_name)
    if m:
        i = m.group(1)
        return [f"fc{i}", f"conv{i}"]
    return []


def _compatible(layer: nn.Module, bn: _BatchNorm) -> bool:
    if not bn.track_running_stats or bn.running_mean is None or bn.running_var is None:
        return False
    n = bn.num_features
    if isinstance(layer, nn.Linear):
        if layer.out_features != n:
            return False
        return isinstance(bn, TokenBN) or type(bn) is nn.BatchNorm1d
    if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        if layer.out_channels != n or isinstance(bn, TokenBN):
            return False
        want = {nn.Conv1d: nn.BatchNorm1d, nn.Conv2d: nn.BatchNorm2d, nn.Conv3d: nn.BatchNorm3d}[type(layer)]
        return isinstance(bn, want)
    return False


def foldable_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(layer name, bn name) of every pair fold_batchnorm would fold, by qualified name."""
    out = []
    for pname, parent in model.named_modules():
        children = dict(parent.named_children())
        for cname, bn in children.items():
            if not isinstance(bn, _BatchNorm):
                continue
            for cand in _candidates(cname):
                layer = children.get(cand)
                if isinstance(layer, _WEIGHT_LAYERS) and _compatible(layer, bn):
                    pre = f"{pname}." if pname else ""
                    out.append((pre + cand, pre + cname))
                    break
    return out


@torch.no_grad()
def _fold_pair(layer: nn.Module, bn: _BatchNorm) -> None:
    w = layer.weight
    dtype = torch.float64
    var = bn.running_var.to(dtype)
    mean = bn.running_mean.to(dtype)
    gamma = bn.weight.to(dtype) if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.to(dtype) if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    b = layer.bias.to(dtype) if layer.bias is not None else torch.zeros_like(var)
    new_w = w.to(dtype) * scale.reshape(-1, *([1] * (w.dim() - 1)))
    new_b = (b - mean) * scale + beta
    layer.weight.copy_(new_w.to(w.dtype))
    if layer.bias is None:
        layer.bias = nn.Parameter(new_b.to(device=w.device, dtype=w.dtype), requires_grad=w.requires_grad)
    else:
        layer.bias.copy_(new_b.to(layer.bias.dtype))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A deep-copied eval-mode model with every foldable BatchNorm folded into its preceding Conv/Linear and replaced
    by nn.Identity. The argument is not modified. Raises FoldError if any module of `model` is in training mode."""
    training = [n or "<root>" for n, m in model.named_modules() if m.training]
    if training:
        raise FoldError(
            "fold_batchnorm needs running BatchNorm statistics: call model.eval() first "
            f"({len(training)} module(s) in training mode, e.g. {training[0]!r})"
        )
    folded = copy.deepcopy(model)
    for layer_name, bn_name in foldable_pairs(folded):
        layer = folded.get_submodule(layer_name)
        bn = folded.get_submodule(bn_name)
        _fold_pair(layer, bn)
        parent_name, _, child = bn_name.rpartition(".")
        parent = folded.get_submodule(parent_name) if parent_name else folded
        setattr(parent, child, nn.Identity())
    return folded.eval()
