"""Building blocks shared by the spiking transformers.

Layouts used inside the models (B = batch, T = time steps):

* conv layout   (T*B, C, H, W)  -- Conv2d / BatchNorm2d / MaxPool2d
* token layout  (T*B, N, D)     -- Linear (= 1x1 conv / k=1 Conv1d of the references) and :class:`TokenBN`
* time layout   (T, B, ...)     -- :class:`~spikestudio.neurons.LIF`, residual streams, blocks

`describe_kind` on a module class tells ``spikestudio.describe`` what to call it.
"""

from __future__ import annotations

import torch
from torch import nn

from spikestudio import probe as _probe_api
from spikestudio.neurons import LIF
from spikestudio.train import memory


def make_lif(neuron: dict, **overrides) -> LIF:
    """A LIF from the resolved `model.neuron` dict, with per-layer overrides (e.g. v_threshold=0.5)."""
    kw = dict(
        tau=neuron["tau"],
        v_threshold=neuron["v_threshold"],
        v_reset=neuron["v_reset"],
        detach_reset=neuron["detach_reset"],
        surrogate=neuron["surrogate"],
        alpha=neuron["alpha"],
        decay_input=neuron.get("decay_input", True),
        backend=neuron.get("backend", "torch"),
    )
    kw.update(overrides)
    return LIF(**kw)


class TokenBN(nn.BatchNorm1d):
    """BatchNorm over the last (channel) dimension of a (..., D) tensor: statistics per channel over every other
    position -- the same numbers as the references' BatchNorm1d on (T*B, D, N) and BatchNorm2d on (T*B, D, H, W).
    Parameter and buffer names are BatchNorm1d's, so reference state_dicts load unchanged."""

    describe_kind = "bn"

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        shape = x.shape
        return super().forward(x.reshape(-1, shape[-1])).reshape(shape)


class SpikeAdd(nn.Module):
    """Residual addition (a module only so that describe/probes can see it)."""

    describe_kind = "add"

    def __init__(self, time_layout: bool = True):
        super().__init__()
        self.time_layout = time_layout  # (T, B, ...) operands; False: (T*B, ...)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class TokenTimeMean(nn.Module):
    """Head pooling: (T, B, N, D) -> mean over tokens -> (T, B, D); -> mean over T -> (B, D) unless per_step."""

    describe_kind = "pool"

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        x = x.mean(2)
        return x if per_step else x.mean(0)


class _MaxPoolRecompute(torch.autograd.Function):
    """max_pool2d that saves only its input; backward recomputes the argmax indices (the same kernel on the same
    input: the same indices) instead of keeping them (int64, 8 bytes per output element)."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.args = (kernel_size, stride, padding, dilation, ceil_mode)
        return torch.nn.functional.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        k, s, p, d = (list(a) if isinstance(a, (tuple, list)) else [a, a] for a in ctx.args[:4])
        c = ctx.args[4]
        with torch.no_grad():
            _, idx = torch.ops.aten.max_pool2d_with_indices(x, k, s, p, d, c)
            gx = torch.ops.aten.max_pool2d_with_indices_backward(grad.contiguous(), x, k, s, p, d, c, idx)
        return gx, None, None, None, None, None


class SpikeMaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d; with ``recompute_indices`` (train.recompute_membranes) a training forward keeps only the input
    for backward (bits under train.pack_spikes when it is a spike tensor) and backward recomputes the indices."""

    recompute_indices = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.recompute_indices and not self.return_indices and torch.is_grad_enabled() and x.requires_grad:
            return _MaxPoolRecompute.apply(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        return super().forward(x)


def maxpool() -> nn.MaxPool2d:
    return SpikeMaxPool2d(kernel_size=3, stride=2, padding=1)


def pooled(n: int) -> int:
    """Output side of MaxPool2d(3, 2, 1)."""
    return (n - 1) // 2 + 1


def trunc_normal_init(module: nn.Module, std: float = 0.02) -> None:
    """timm's init for Linear: trunc-normal(std) weight (cut at +-2 absolute), zero bias."""
    nn.init.trunc_normal_(module.weight, std=std, a=-2.0, b=2.0)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def default_linear_init(module: nn.Linear) -> None:
    """PyTorch's default Linear init (identical in distribution to a k=1 Conv1d's / 1x1 Conv2d's)."""
    module.reset_parameters()


def to_time(x: torch.Tensor, T: int) -> torch.Tensor:
    """(T*B, ...) -> (T, B, ...)"""
    return x.reshape(T, x.shape[0] // T, *x.shape[1:])


def from_time(x: torch.Tensor) -> torch.Tensor:
    """(T, B, ...) -> (T*B, ...)"""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def prepare_input(x: torch.Tensor, time_steps: int):
    """Returns (x, static): static images (B, C, H, W) are returned as they are (the first conv runs once and is
    repeated over T, which gives exactly the reference's repeated-input result); frames (B, T, C, H, W) become
    (T, B, C, H, W)."""
    if x.dim() == 4:
        return x, True
    if x.dim() == 5:
        return x.transpose(0, 1), False
    raise ValueError(f"expected input (B, C, H, W) or (B, T, C, H, W), got shape {tuple(x.shape)}")


def attention_product(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Y = Q K^T V * s for binary Q, K, V of shape (..., N, d). The cheaper association is used (Q (K^T V) when
    N > d); with binary inputs the sums are integers, so both orders give identical results in float32."""
    n, d = q.shape[-2], q.shape[-1]
    kt = k.transpose(-2, -1)
    lead = q.shape[:-2]
    packing = q.dim() > 3 and memory.tracking()
    if packing:
        # train.pack_spikes: the (batch, n, d) reshape that matmul makes inside, done here so that its copies of the
        # binary Q/K/V are registered as spikes and saved as bits; same bmm calls on the same layouts, same numbers
        q, kt, v = (memory.reshape_binary(t, (-1, *t.shape[-2:])) for t in (q, kt, v))
    y = q @ (kt @ v) if n > d else (q @ kt) @ v
    if packing:
        y = y.reshape(*lead, n, d)
    return y * scale


def _qk_probe(module, q: torch.Tensor, k: torch.Tensor) -> None:
    """Q K^T of binary (T, B, h, N, d) Q and K -> spikestudio.probe.attention (computed only when recorded)."""
    _probe_api.attention(module, lambda: q.detach() @ k.detach().transpose(-2, -1), kind="qk")


class AttentionProbeMixin:
    """SSA modules report their map with ``self.probe_attention(q, k)`` -- or the older spelling
    ``if self._attn_probe is not None: self._attn_probe(self, q, k)`` --, a thin layer over the public
    ``spikestudio.probe.attention``: Q K^T (before the scale) of binary (T, B, h, N, d) Q and K, computed only while
    a recorder listens (`_attn_probe` is None otherwise)."""

    describe_kind = "ssa"
    time_layout = True

    @property
    def _attn_probe(self):
        return _qk_probe if _probe_api.active() else None

    def probe_attention(self, q: torch.Tensor, k: torch.Tensor) -> None:
        if _probe_api.active():
            _qk_probe(self, q, k)


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """The modules that report attention, in model order (their block numbers): the built-in SSA
    (AttentionProbeMixin) and the attention modules whose `mask_kind` says they compute masks, not maps."""
    return [m for m in model.modules() if isinstance(m, AttentionProbeMixin) or getattr(m, "mask_kind", None)]


def token_grid_after(img_size, pools) -> tuple[int, int]:
    h, w = img_size
    for p in pools:
        if p:
            h, w = pooled(h), pooled(w)
    return h, w


def as_hw(img_size) -> tuple[int, int]:
    if isinstance(img_size, (list, tuple)):
        return int(img_size[0]), int(img_size[1])
    return int(img_size), int(img_size)

