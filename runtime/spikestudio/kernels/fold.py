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

`fuse_bn_lif(model)` is the alternative that keeps the BatchNorm arithmetic: it returns a deep copy in which every
BatchNorm whose output goes straight (through reshapes only) into a plain LIF -- the pairs a model declares with
``bn_lif_pairs()`` -- is replaced by nn.Identity and the LIF by :class:`BNLIF`, which applies the BN's eval affine
and the LIF in one Triton pass (``kernels.bn_lif_triton``) when its backend is ``triton`` and no gradient is needed,
and otherwise runs the very BN module and LIF it replaced. Folding changes the conv/linear weights, so spikes may
flip where a membrane is within rounding of the threshold; the fused BN+LIF gives the plain path's spikes (bit for
bit on CPU, see kernels/bn_lif_triton.py for CUDA).
"""

from __future__ import annotations

import copy
import re

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from spikestudio.models.layers import TokenBN, from_time, to_time
from spikestudio.neurons import LIF

__all__ = ["fold_batchnorm", "foldable_pairs", "FoldError", "BNLIF", "bn_lif_pairs", "fuse_bn_lif"]

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
    _require_eval(model, "fold_batchnorm")
    folded = copy.deepcopy(model)
    for layer_name, bn_name in foldable_pairs(folded):
        _fold_pair(folded.get_submodule(layer_name), folded.get_submodule(bn_name))
        _replace(folded, bn_name, nn.Identity())
    return folded.eval()


def _require_eval(model: nn.Module, what: str) -> None:
    """Folding and fusing use the running BatchNorm statistics: refuse a model with a module in training mode."""
    training = [n or "<root>" for n, m in model.named_modules() if m.training]
    if training:
        raise FoldError(
            f"{what} needs running BatchNorm statistics: call model.eval() first "
            f"({len(training)} module(s) in training mode, e.g. {training[0]!r})"
        )


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    """Puts `new` in place of the submodule called `name` (dotted path)."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


# --------------------------------------------------------------------------------------------------------------
# BN + LIF fused for inference
# --------------------------------------------------------------------------------------------------------------


class BNLIF(LIF):
    """A BatchNorm (eval, running statistics) followed by a plain :class:`LIF`, for inference.

    Input: the BN's input in the LIF's time layout, (T, B, C, ...) for BatchNorm1d/2d/3d (channel dim 2) or
    token-major (T, B, N, D) for :class:`TokenBN` (channel dim -1). With ``backend == "triton"``, the BN in eval mode,
    a tensor the kernel supports and no gradient possible, both run in one Triton pass
    (:func:`spikestudio.kernels.bn_lif_triton.bn_lif_triton`); otherwise the wrapped BN module runs, then the LIF
    (exactly the plain path). The affine (scale, shift) is computed once on the host and recomputed only when the BN's
    parameters or buffers change (their version counters: no device sync on the hot path)."""

    def __init__(self, lif: LIF, bn: _BatchNorm):
        super().__init__(lif.tau, lif.v_threshold, lif.v_reset, lif.detach_reset, lif.surrogate, lif.alpha,
                         lif.decay_input, lif.impl, lif.backend)
        self.bn = bn
        self.channel_dim = -1 if isinstance(bn, TokenBN) else 2
        self._affine = None
        self._affine_key = None

    def extra_repr(self) -> str:
        return super().extra_repr() + f", fused_bn(channel_dim={self.channel_dim})"

    def _bn(self, x_seq: torch.Tensor) -> torch.Tensor:
        if self.channel_dim == -1:
            return self.bn(x_seq)
        return to_time(self.bn(from_time(x_seq)), x_seq.shape[0])

    def _scale_shift(self):
        bn = self.bn
        tensors = [t for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias) if t is not None]
        key = (tuple((id(t), t._version) for t in tensors), bn.eps, bn.running_var.device)
        if self._affine is None or key != self._affine_key:
            from spikestudio.kernels.bn_lif_triton import bn_affine

            self._affine = bn_affine(bn)
            self._affine_key = key
        return self._affine

    def _use_kernel(self, x_seq: torch.Tensor) -> bool:
        if self.backend != "triton" or self.impl == "reference" or self.bn.training:
            return False
        if self.bn.running_mean is None or self.bn.running_var is None:
            return False
        if torch.is_grad_enabled() and (x_seq.requires_grad or any(p.requires_grad for p in self.bn.parameters())):
            return False
        from spikestudio.neurons import _triton_supports

        return x_seq.dim() >= 3 and _triton_supports(x_seq)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not self._use_kernel(x_seq):
            return LIF.forward(self, self._bn(x_seq))  # the plain path (calls the probe)
        from spikestudio.kernels.bn_lif_triton import bn_lif_triton

        scale, shift = self._scale_shift()
        out = bn_lif_triton(x_seq, scale, shift, self.channel_dim, self.tau, self.v_threshold, self.v_reset,
                            self.decay_input)
        if self._probe is not None:
            self._probe(self, out)
        return out


def _fusable_bn(bn: nn.Module) -> bool:
    return (isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and bn.track_running_stats
            and bn.running_mean is not None and bn.running_var is not None)


def bn_lif_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(bn name, lif name) of every pair fuse_bn_lif would fuse: the model's declared ``bn_lif_pairs()`` (a BN whose
    output only feeds that LIF, through reshapes) whose BN has running statistics and whose LIF is a plain LIF
    (PLIF / LIAF / STSA neurons have their own forward). Models without the method have none."""
    declared = model.bn_lif_pairs() if hasattr(model, "bn_lif_pairs") else []
    out = []
    for bn_name, lif_name in declared:
        bn = model.get_submodule(bn_name)
        lif = model.get_submodule(lif_name)
        if _fusable_bn(bn) and isinstance(lif, LIF) and type(lif).forward is LIF.forward:
            out.append((bn_name, lif_name))
    return out


def fuse_bn_lif(model: nn.Module) -> nn.Module:
    """A deep-copied eval-mode model in which every pair of :func:`bn_lif_pairs` is fused: the BN becomes nn.Identity
    and the LIF a :class:`BNLIF` holding that BN. The argument is not modified. Raises FoldError if any module of
    `model` is in training mode. The fused kernel runs where a LIF's backend is ``triton`` (switchable afterwards,
    like LIF.backend)."""
    _require_eval(model, "fuse_bn_lif")
    fused = copy.deepcopy(model)
    for bn_name, lif_name in bn_lif_pairs(fused):
        bn = fused.get_submodule(bn_name)
        _replace(fused, lif_name, BNLIF(fused.get_submodule(lif_name), bn).eval())
        _replace(fused, bn_name, nn.Identity())
    return fused.eval()
