"""`train.pack_spikes`: the spike tensors autograd keeps for backward are stored as bits (1 bit per element).

Layers that consume spikes (Linear, convolutions, the Q K^T / .V matmuls of spiking self-attention, max-pools) save
their binary input for the weight gradient in the activation dtype: 4 bytes (fp32) or 2 (bf16/fp16) per element.
With :class:`SpikePacker` active (``torch.autograd.graph.saved_tensors_hooks``), every saved tensor that is a spike
tensor, or a view of one, is packed into uint8 bits (8 per byte, plain torch bit ops: CPU and CUDA) and restored in
backward to the same values, shape, strides and storage offset; the dense spike tensor can then be freed as soon as
the forward no longer needs it.

Which tensors are spikes is known without looking at their values (no ``.item()`` / ``bool(tensor)``, so no device
sync): forward hooks register the output of every binary neuron of the model (:class:`~spikestudio.neurons.LIF` and
its subclasses except the analog LIAF) and the output of a max-pool whose input is registered; a copy that a reshape
makes of a registered tensor can be registered with :func:`reshape_binary` (``attention_product`` does, for the copies
the matmul would make of Q/K/V). The registry holds weak references keyed by the tensor object (a view is matched
through its ``_base``) plus the version counter at registration, so a freed spike whose memory is reused, or a spike
modified in place afterwards, is never mistaken for one; it is cleared at the end of every step. Anything else is
saved untouched.

Exactness: packing is lossless for {0, 1} tensors and the restored tensor has the saved tensor's strides, so the
backward runs the same kernels on the same numbers: gradients are bit-identical to an unpacked step.
Not packed (yet): max-pool indices (int64), the LIF's own saved membrane, integer-valued (non-binary) tensors such
as Spikformer's residual stream or K^T V.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

__all__ = ["SpikePacker", "pack_spikes", "reshape_binary", "tracking", "pack_bits", "unpack_bits", "PackStats"]

_ACTIVE: Optional["SpikePacker"] = None  # the packer inside its step(), for reshape_binary / the hooks
_FLOAT = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
_SHIFTS: dict = {}


def _shifts(device) -> torch.Tensor:
    s = _SHIFTS.get(device)
    if s is None:
        s = _SHIFTS[device] = torch.arange(8, dtype=torch.uint8, device=device)
    return s


def pack_bits(x: torch.Tensor) -> torch.Tensor:
    """uint8 (ceil(n/8),) holding (x != 0) of the n elements of x in memory order (contiguous x), bit i of byte j
    = element 8j + i."""
    flat = x.reshape(-1)
    n = flat.numel()
    nb = (n + 7) // 8
    b = torch.zeros(nb * 8, dtype=torch.uint8, device=x.device)
    b[:n] = flat != 0
    return (b.view(nb, 8) << _shifts(x.device)).sum(1, dtype=torch.uint8)


def unpack_bits(bits: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """The n {0, 1} values packed by :func:`pack_bits`, as a contiguous 1-D tensor of `dtype`."""
    return ((bits.unsqueeze(1) >> _shifts(bits.device)) & 1).view(-1)[:n].to(dtype)


def tracking() -> bool:
    """True inside an active :meth:`SpikePacker.step` (models may then register derived binary tensors)."""
    return _ACTIVE is not None


def reshape_binary(t: torch.Tensor, shape) -> torch.Tensor:
    """``t.reshape(shape)``; when a packer is active, t is a registered spike tensor and the reshape had to copy,
    the copy is registered too (so that what a matmul saves of it is packed)."""
    r = t.reshape(shape)
    p = _ACTIVE
    if p is not None and r._base is None and r is not t and p.is_binary(t):
        p.register(r)
    return r


@dataclass
class _Entry:
    ref: weakref.ref
    version: int
    packed: Optional["_Bits"] = None


@dataclass
class _Bits:
    bits: torch.Tensor
    numel: int
    dtype: torch.dtype


@dataclass
class _Saved:
    """What autograd holds for a packed saved tensor: the bits of its base spike tensor and its view geometry."""

    base: _Bits
    size: tuple
    stride: tuple
    offset: int


@dataclass
class PackStats:
    """Counts of the current (or last) step: saved tensors packed / left alone, dense and packed bytes of the spike
    tensors packed (each base counted once however many views of it are saved)."""

    packed_saves: int = 0
    other_saves: int = 0
    packed_bases: int = 0
    dense_bytes: int = 0
    packed_bytes: int = 0
    registered: int = 0
    extra: dict = field(default_factory=dict)


class SpikePacker:
    """Packs saved spike tensors to bits during :meth:`step` (see the module docstring).

    ``packer = SpikePacker(model)`` installs forward hooks on the model's binary neurons and max-pools once (they do
    nothing outside a step); ``with packer.step(): out = model(x)`` runs one forward with packing; the backward
    (outside the block) unpacks. :meth:`remove` uninstalls the hooks."""

    def __init__(self, model: Optional[nn.Module] = None):
        self._reg: dict[int, _Entry] = {}
        self._handles: list = []
        self.stats = PackStats()
        if model is not None:
            self.install(model)

    # ------------------------------------------------------------------ registry
    def register(self, t) -> None:
        """Declare `t` binary ({0, 1} values) for the current step. Views, non-contiguous and non-float tensors are
        ignored (a view's base is what gets registered)."""
        if (not isinstance(t, torch.Tensor) or t._base is not None or t.dtype not in _FLOAT or not t.is_contiguous()
                or t.is_sparse or t.numel() == 0):
            return
        self._reg[id(t)] = _Entry(weakref.ref(t), t._version)
        self.stats.registered += 1

    def _entry(self, t: torch.Tensor) -> Optional[_Entry]:
        root = t._base if t._base is not None else t
        e = self._reg.get(id(root))
        if e is None or e.ref() is not root or root._version != e.version or root.dtype != t.dtype:
            return None
        return e

    def is_binary(self, t) -> bool:
        return isinstance(t, torch.Tensor) and self._entry(t) is not None

    def registry_size(self) -> int:
        """Spike tensors registered in the current step (0 outside a step: the registry is cleared on exit)."""
        return len(self._reg)

    def clear(self) -> None:
        self._reg.clear()

    # ------------------------------------------------------------------ hooks
    def install(self, model: nn.Module) -> None:
        from spikestudio.neurons import LIF

        for m in model.modules():
            if isinstance(m, LIF) and not getattr(m, "analog_output", False):
                self._handles.append(m.register_forward_hook(self._neuron_hook))
            elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
                self._handles.append(m.register_forward_hook(self._pool_hook))

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _neuron_hook(self, module, inputs, output) -> None:
        if _ACTIVE is self:
            self.register(output)

    def _pool_hook(self, module, inputs, output) -> None:
        if _ACTIVE is self and isinstance(output, torch.Tensor) and inputs and self.is_binary(inputs[0]):
            self.register(output)

    # ------------------------------------------------------------------ saved tensors
    def pack(self, t: torch.Tensor):
        e = self._entry(t) if t.dtype in _FLOAT and t.layout == torch.strided else None
        if e is None or t.numel() == 0:
            self.stats.other_saves += 1
            return t
        root = e.ref()
        offset = t.storage_offset() - root.storage_offset()
        last = offset + sum((s - 1) * st for s, st in zip(t.shape, t.stride()))
        if offset < 0 or last >= root.numel():  # not inside the base's elements (cannot happen for a plain view)
            self.stats.other_saves += 1
            return t
        if e.packed is None:
            e.packed = _Bits(pack_bits(root), root.numel(), root.dtype)
            self.stats.packed_bases += 1
            self.stats.dense_bytes += root.numel() * root.element_size()
            self.stats.packed_bytes += e.packed.bits.numel()
        self.stats.packed_saves += 1
        return _Saved(e.packed, tuple(t.shape), tuple(t.stride()), offset)

    @staticmethod
    def unpack(obj):
        if not isinstance(obj, _Saved):
            return obj
        b = obj.base
        buf = unpack_bits(b.bits, b.numel, b.dtype)
        return buf.as_strided(obj.size, obj.stride, obj.offset)

    # ------------------------------------------------------------------ one step
    @contextlib.contextmanager
    def step(self):
        """Packing for the forward run inside the block (the backward may run after it: unpacking needs no context).
        The registry is emptied on entry and on exit."""
        global _ACTIVE
        if _ACTIVE is not None:
            raise RuntimeError("SpikePacker.step: another packer is already active")
        self.clear()
        self.stats = PackStats()
        _ACTIVE = self
        try:
            with torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack):
                yield self
        finally:
            _ACTIVE = None
            self.clear()


@contextlib.contextmanager
def pack_spikes(model: nn.Module, enabled: bool = True):
    """One-shot form: hooks installed on `model`, one packed forward inside the block, hooks removed on exit. Yields
    the packer (its ``stats``), or None when not enabled."""
    if not enabled:
        yield None
        return
    p = SpikePacker(model)
    try:
        with p.step():
            yield p
    finally:
        p.remove()
