"""train.pack_spikes (spikestudio.train.memory): spike tensors saved for backward are kept as bits.

One training step with packing on and off from the same seed must give bit-identical losses and gradients; the bytes
held by saved tensors (distinct storages autograd keeps at the end of the forward, parameters excluded) must drop;
non-spike saved tensors must be passed through untouched; the registry must not grow across steps."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikestudio.errors import ConfigError
from spikestudio.models import build_model
from spikestudio.neurons import LIAF, LIF
from spikestudio.presets import get_preset
from spikestudio.train import memory
from spikestudio.train.config import DEFAULTS, check_config
from spikestudio.train.memory import SpikePacker, _Saved, pack_bits, pack_spikes, unpack_bits


def tiny_spikformer() -> dict:
    return dict(get_preset("spikformer-tiny/mnist")["model"])  # D=64, 4 heads, depth 1, T=4, 28x28


def shrunk_spikingformer() -> dict:
    cfg = dict(get_preset("spikingformer-4-384/cifar10")["model"])
    cfg.update(embed_dim=32, num_heads=2, depth=1, time_steps=2, img_size=16)
    return cfg


CASES = {"spikformer-tiny": (tiny_spikformer, 4), "spikingformer-shrunk": (shrunk_spikingformer, 4)}


class SavedMeter:
    """saved_tensors_hooks wrapper: the packer's pack/unpack (or none) plus the bytes autograd holds, counted once per
    distinct storage (a packed base once per bit buffer); parameters are not counted (they are held anyway)."""

    def __init__(self, model: nn.Module, packer: SpikePacker | None):
        self.packer = packer
        self.params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.held: dict = {}
        self.saves = []  # (original tensor, what was stored)

    def pack(self, t):
        obj = self.packer.pack(t) if self.packer is not None else t
        self.saves.append((t, obj))
        if isinstance(obj, _Saved):
            self.held[("bits", id(obj.base))] = obj.base.bits.untyped_storage().nbytes()
        else:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in self.params:
                self.held[("dense", ptr)] = t.untyped_storage().nbytes()
        return obj

    def unpack(self, obj):
        return self.packer.unpack(obj) if self.packer is not None else obj

    @property
    def bytes(self) -> int:
        return sum(self.held.values())


def one_step(cfg: dict, batch: int, pack: bool, meter: bool = True):
    torch.manual_seed(0)
    model = build_model(cfg).train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, cfg["in_channels"], cfg["img_size"], cfg["img_size"], generator=g)
    y = torch.randint(0, cfg["num_classes"], (batch,), generator=g)
    packer = SpikePacker(model) if pack else None
    m = SavedMeter(model, packer)
    with (packer.step() if packer is not None else contextlib.nullcontext()):
        with (torch.autograd.graph.saved_tensors_hooks(m.pack, m.unpack) if meter else contextlib.nullcontext()):
            logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads, m, packer


# ------------------------------------------------------------------------------------------------------ bits


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 17, 64, 1000])
def test_pack_bits_roundtrip(dtype, n):
    x = (torch.rand(n, generator=torch.Generator().manual_seed(n)) < 0.3).to(dtype)
    bits = pack_bits(x)
    assert bits.dtype == torch.uint8 and bits.numel() == (n + 7) // 8
    out = unpack_bits(bits, n, dtype)
    assert out.dtype == dtype and out.is_contiguous() and torch.equal(out, x)


def test_pack_bits_layout():
    x = torch.tensor([1.0, 0, 0, 1, 0, 0, 0, 1, 1])
    assert pack_bits(x).tolist() == [0b10001001, 1]


# ------------------------------------------------------------------------------------------------------ a training step


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_step_identical_and_fewer_saved_bytes(case):
    make, batch = CASES[case]
    cfg = make()
    l0, g0, m0, _ = one_step(cfg, batch, pack=False)
    l1, g1, m1, packer = one_step(cfg, batch, pack=True)
    assert torch.equal(l0, l1)
    assert g0.keys() == g1.keys() and len(g0) > 10
    for k in g0:
        assert torch.equal(g0[k], g1[k]), k
    st = packer.stats
    assert st.packed_saves > 0 and st.packed_bases > 0 and st.packed_bytes * 8 >= st.dense_bytes // 4
    ratio = m0.bytes / m1.bytes
    print(f"\n{case}: saved-tensor bytes per image {m0.bytes / batch / 1024:.1f} KiB -> {m1.bytes / batch / 1024:.1f} KiB "
          f"({ratio:.2f}x); {st.packed_saves} saves of {st.packed_bases} spike tensors packed, "
          f"{st.dense_bytes / batch / 1024:.1f} KiB -> {st.packed_bytes / batch / 1024:.1f} KiB per image")
    assert ratio > 1.0
    # what the meter saw as dense minus what it saw as bits is exactly the packer's saving
    assert m0.bytes - m1.bytes == st.dense_bytes - st.packed_bytes


def test_one_step_identical_under_bf16_autocast():
    """With bf16 autocast the spikes are bf16 (2 bytes): still packed, still the same loss and gradients."""
    cfg = shrunk_spikingformer()
    out = {}
    for pack in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out[pack] = one_step(cfg, 2, pack=pack, meter=False)
    (l0, g0, _, _), (l1, g1, _, packer) = out[False], out[True]
    assert torch.equal(l0, l1) and all(torch.equal(g0[k], g1[k]) for k in g0)
    assert packer.stats.packed_saves > 0
    assert packer.stats.dense_bytes == 16 * packer.stats.packed_bytes  # 2-byte spikes -> 1 bit (n % 8 == 0 here)


@pytest.mark.parametrize("case", sorted(CASES))
def test_non_spike_saves_untouched_and_spikes_restored_exactly(case):
    make, batch = CASES[case]
    _, _, m, packer = one_step(make(), batch, pack=True)
    n_packed = 0
    for t, obj in m.saves:
        if isinstance(obj, _Saved):
            n_packed += 1
            r = packer.unpack(obj)
            assert r.shape == t.shape and r.stride() == t.stride() and r.dtype == t.dtype
            assert torch.equal(r, t)
            assert ((t == 0) | (t == 1)).all()
        else:
            assert obj is t  # not packed: the very tensor
    assert n_packed == packer.stats.packed_saves > 0
    assert packer.stats.other_saves == len(m.saves) - n_packed > 0
    # views of the spike tensors are among them (e.g. the (T*B, N, D) input of a Linear, a view of (T, B, N, D))
    assert any(t._base is not None for t, o in m.saves if isinstance(o, _Saved))


def test_registry_cleared_between_steps():
    cfg = tiny_spikformer()
    torch.manual_seed(0)
    model = build_model(cfg).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    packer = SpikePacker(model)
    x = torch.randn(2, 1, 28, 28)
    sizes, registered = [], []
    for _ in range(3):
        with packer.step():
            out = model(x)
            sizes.append(packer.registry_size())
            assert memory.tracking()
        assert packer.registry_size() == 0 and not memory.tracking()
        registered.append(packer.stats.registered)
        opt.zero_grad()
        out.sum().backward()
        opt.step()
    # the same registrations every step; the registry holds at most those (an entry whose tensor died may be
    # replaced by a new tensor that got the same id) and is empty after each step
    assert registered[0] > 0 and len(set(registered)) == 1
    assert all(0 < n <= registered[0] for n in sizes)
    n_hooks = len(packer._handles)
    packer.remove()
    assert n_hooks > 0 and packer._handles == []
    with pack_spikes(model) as p:  # the one-shot form removes its hooks too
        model(x).sum().backward()
    assert p.stats.packed_saves > 0 and p._handles == []


# ------------------------------------------------------------------------------------------------------ edge cases


class Toy(nn.Module):
    def __init__(self, neuron=None):
        super().__init__()
        self.lif = neuron or LIF()
        self.fc = nn.Linear(6, 5)

    def forward(self, x, modify=None, view=None):
        s = self.lif(x)  # (T, B, 6) spikes
        if modify is not None:
            modify(s)
        if view == "transpose":  # a non-contiguous view of the spikes (T, 6, B) is saved by bmm as it is
            w = self.fc.weight[:, :4].t().unsqueeze(0).expand(s.shape[0], 4, 5)
            return torch.bmm(s.transpose(1, 2), w).sum(), s
        return self.fc(s).sum(), s


def _toy_grads(pack: bool, **kw):
    torch.manual_seed(0)
    m = Toy(kw.pop("neuron", None))
    x = (torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(2)) * 2 + 0.5).requires_grad_()
    p = SpikePacker(m) if pack else None
    with (p.step() if p is not None else contextlib.nullcontext()):
        loss, s = m(x, **kw)
    loss.backward()
    return m.fc.weight.grad.clone(), x.grad.clone(), p


@pytest.mark.parametrize("view", [None, "transpose"])
def test_contiguous_and_strided_views_are_restored(view):
    gw0, gx0, _ = _toy_grads(False, view=view)
    gw1, gx1, p = _toy_grads(True, view=view)
    assert p.stats.packed_saves == 1
    assert torch.equal(gw0, gw1) and torch.equal(gx0, gx1)


def test_in_place_modified_spikes_are_not_packed():
    """A spike tensor changed in place after its neuron registered it is no longer known binary: saved as is."""
    gw0, _, _ = _toy_grads(False, modify=lambda s: s.mul_(0.5))
    gw1, _, p = _toy_grads(True, modify=lambda s: s.mul_(0.5))
    assert p.stats.packed_saves == 0
    assert torch.equal(gw0, gw1)


def test_analog_neurons_are_not_registered():
    gw0, _, _ = _toy_grads(False, neuron=LIAF())
    gw1, _, p = _toy_grads(True, neuron=LIAF())
    assert p.stats.registered == 0 and p.stats.packed_saves == 0
    assert torch.equal(gw0, gw1)


def test_only_one_packer_at_a_time():
    a, b = SpikePacker(), SpikePacker()
    with a.step():
        with pytest.raises(RuntimeError, match="already active"):
            with b.step():
                pass
    with b.step():
        pass


# ------------------------------------------------------------------------------------------------------ config / trainer


def test_config_key():
    from test_train_run import tiny_config

    assert DEFAULTS["train"]["pack_spikes"] is False
    assert check_config(tiny_config())["train"]["pack_spikes"] is False
    assert check_config(tiny_config(train={"pack_spikes": True}))["train"]["pack_spikes"] is True
    with pytest.raises(ConfigError) as ei:
        check_config(tiny_config(train={"pack_spikes": "yes"}))
    assert ei.value.key == "train.pack_spikes"


def test_trainer_step_losses_identical_with_packing(tmp_path):
    """The real trainer, a few steps with train.pack_spikes on and off: the same per-step losses, bit for bit."""
    from test_train_run import run, tiny_config

    losses = {}
    for pack in (False, True):
        cfg = tiny_config(train={"epochs": 1, "max_steps_per_epoch": 4, "pack_spikes": pack},
                          telemetry={"step_every": 1, "firing_every": 2})
        d = tmp_path / str(pack)
        d.mkdir()
        p, events = run(d, cfg)
        assert p.returncode == 0, p.stderr
        losses[pack] = [e["loss"] for e in events if e["type"] == "step"]
    assert len(losses[True]) == 4 and json.dumps(losses[True]) == json.dumps(losses[False])
