"""STSA / STS-Transformer (Wang et al., IJCAI 2023) as coded in ppppps/STSA_4_Asyn_SNN -- reference spec §5.1.

* Neuron: STSA's own (:class:`~spikestudio.neurons.STSANeuron`: decay 0.5, strict >, triangle surrogate gamma 1,
  no detach), everywhere. `model.neuron.v_threshold` sets the threshold (1.0); `model.neuron_decay`,
  `model.surrogate_gamma` the rest.
* Stem: four Conv3x3 (no bias) -> BN2d -> neuron -> MaxPool(3, 2, 1) stages with D/16, D/8, D/4, D channels
  (2 -> 16 -> 32 -> 64 -> 256 for D = 256), then a fifth Conv3x3 D -> D -> BN -> neuron whose output is added to
  the fourth stage's (the residual "position" branch; values in {0, 1, 2}).
* Blocks (x depth): X' = X + STSA(X); X_out = X' + MLP(X'), MLP = two [Conv3d 1x1x1 (bias) -> Dropout(mlp_dropout)
  -> BN3d -> neuron] on (B, D, T, H, W).
* STSA layer: QKV = neuron(BN1d(Conv1d_k1(X, D -> 3D, no bias))) over all T*N spatio-temporal tokens;
  A = Q K^T + B_rel (learnable table of (2T-1)(2H-1)(2W-1) x heads, trunc-normal 0.02); A <- A * M with the
  multiplicative block-causal mask M[i, j] = 0 when time(j) > time(i); Y = (A V) * attn_scale (0.125; no softmax)
  -> neuron -> Conv1d(D -> D, bias) -> BN1d -> neuron.
* Head: mean over the N tokens -> Linear(D -> classes) per time step; `model(x, per_step=True)` -> (T, B, K), the
  default forward averages the per-step logits over T (the reference's prediction).

`model.qkv_layout`: `paper` (default) permutes the (T, B, D, N) stream to (B, D, T, N) before Q/K/V, so samples stay
independent and, in eval mode, per-step logits at time t depend only on frames <= t. `reference` reproduces the
public code's reshape of the contiguous (T, B, D, N) tensor to (B, D, T*N) WITHOUT the permute (spec §5.1 [BUG]):
the tensor fed to Q/K/V mixes samples, time steps and channels; everything after the Q/K/V projection is the same
code in both layouts (tokens are read back time-major).
`model.reference_compat: true` also builds the reference's unused `to_qkv_proj` (Linear D -> 3D, no bias) and
`to_qkv_bn` (BN1d 3D) -- they count in the parameter total (spec §5.1: 1,963,633 vs 1,567,345 at T = 10).
The bias table and mask are sized for `model.time_steps`; inputs must have exactly that many frames.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from spikestudio import probe as _probe_api
from spikestudio import config_schema
from spikestudio.errors import ConfigError
from spikestudio.models.config import ARCH_DEFAULTS
from spikestudio.models.layers import (SpikeAdd, as_hw, from_time, maxpool, pooled, prepare_input, to_time,
                                      trunc_normal_init)
from spikestudio.models.registry import register_model
from spikestudio.neurons import STSANeuron

DEFAULTS = ARCH_DEFAULTS["stsa"]
LAYOUTS = config_schema.choices("model.qkv_layout")


def normalize(cfg: dict) -> dict:
    cfg = dict(cfg)
    for k, v in DEFAULTS.items():
        if cfg.get(k) is None:
            cfg[k] = v
    if cfg["qkv_layout"] not in LAYOUTS:
        raise ConfigError("model.qkv_layout", f"must be one of {', '.join(LAYOUTS)}, got {cfg['qkv_layout']!r}")
    for key, lo, hi in (("mlp_dropout", 0.0, 1.0), ("neuron_decay", 0.0, 1.0)):
        v = cfg[key]
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not lo <= v < hi:
            raise ConfigError(f"model.{key}", f"must be a number in [{lo}, {hi}), got {v!r}")
    g = cfg["surrogate_gamma"]
    if not isinstance(g, numbers.Real) or isinstance(g, bool) or not g > 0:
        raise ConfigError("model.surrogate_gamma", f"must be a number > 0, got {g!r}")
    if cfg["embed_dim"] % 16:
        raise ConfigError("model.embed_dim", f"must be a multiple of 16 for STSA (stem channels D/16, D/8, D/4), "
                                             f"got {cfg['embed_dim']}")
    return cfg


def make_neuron(cfg: dict) -> STSANeuron:
    return STSANeuron(decay=cfg["neuron_decay"], v_threshold=cfg["neuron"]["v_threshold"],
                      gamma=cfg["surrogate_gamma"])


def relative_position_index(T: int, H: int, W: int) -> torch.Tensor:
    """(T*H*W, T*H*W) indices into the bias table; tokens are time-major: i = t*H*W + y*W + x."""
    t, y, x = torch.meshgrid(torch.arange(T), torch.arange(H), torch.arange(W), indexing="ij")
    coords = torch.stack([t.flatten(), y.flatten(), x.flatten()])  # (3, M)
    d = coords[:, :, None] - coords[:, None, :]  # (3, M, M): coord_i - coord_j
    return (d[0] + T - 1) * (2 * H - 1) * (2 * W - 1) + (d[1] + H - 1) * (2 * W - 1) + (d[2] + W - 1)


def block_causal_mask(T: int, N: int) -> torch.Tensor:
    """M[i, j] = 1 if time(j) <= time(i) else 0, for time-major tokens."""
    tt = torch.arange(T).repeat_interleave(N)
    return (tt[None, :] <= tt[:, None]).float()


class StemStage(nn.Module):
    def __init__(self, cin: int, cout: int, cfg: dict, pool: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.lif = make_neuron(cfg)
        self.pool = maxpool() if pool else None

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        y = from_time(self.lif(to_time(self.bn(self.conv(x)), T)))
        return self.pool(y) if self.pool is not None else y


class Stem(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        D = cfg["embed_dim"]
        chans = [cfg["in_channels"], D // 16, D // 8, D // 4, D]
        self.stages = nn.ModuleList(StemStage(chans[i], chans[i + 1], cfg, True) for i in range(4))
        self.rpe = StemStage(D, D, cfg, False)
        self.add = SpikeAdd(time_layout=False)
        h, w = as_hw(cfg["img_size"])
        for _ in range(4):
            h, w = pooled(h), pooled(w)
        self.grid = (h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        y = from_time(x)
        for st in self.stages:
            y = st(y, T)
        y = self.add(y, self.rpe(y, T))
        return to_time(y, T)  # (T, B, D, H, W)


class STSAttention(nn.Module):
    describe_kind = "ssa"
    time_layout = True

    def __init__(self, cfg: dict, grid: tuple[int, int]):
        super().__init__()
        D, h, T = cfg["embed_dim"], cfg["num_heads"], cfg["time_steps"]
        H, W = grid
        self.num_heads, self.T, self.N = h, T, H * W
        self.layout = cfg["qkv_layout"]
        self.scale = cfg["attn_scale"] if cfg["attn_scale"] is not None else 0.125
        self.qkv_conv = nn.Conv1d(D, 3 * D, 1, bias=False)
        self.qkv_bn = nn.BatchNorm1d(3 * D)
        self.qkv_lif = make_neuron(cfg)
        if cfg["reference_compat"]:  # created but never used by the reference code
            self.to_qkv_proj = nn.Linear(D, 3 * D, bias=False)
            self.to_qkv_bn = nn.BatchNorm1d(3 * D)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * T - 1) * (2 * H - 1) * (2 * W - 1), h))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02, a=-2.0, b=2.0)
        self.register_buffer("relative_position_index", relative_position_index(T, H, W), persistent=False)
        self.register_buffer("mask", block_causal_mask(T, H * W), persistent=False)
        self.attn_lif = make_neuron(cfg)
        self.proj_conv = nn.Conv1d(D, D, 1)
        self.proj_bn = nn.BatchNorm1d(D)
        self.proj_lif = make_neuron(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, D, N = x.shape
        h = self.num_heads
        d = D // h
        if T != self.T or N != self.N:
            raise ValueError(f"STSA is built for T={self.T}, N={self.N} tokens; got T={T}, N={N}")
        if self.layout == "paper":
            xi = x.permute(1, 2, 0, 3).reshape(B, D, T * N)
        else:  # the reference: reinterpret the contiguous (T, B, D, N) memory as (B, D, T*N)
            xi = x.contiguous().reshape(B, D, T * N)
        y = self.qkv_bn(self.qkv_conv(xi))  # (B, 3D, T*N), tokens time-major
        y = self.qkv_lif(y.reshape(B, 3 * D, T, N).permute(2, 0, 1, 3))  # (T, B, 3D, N)
        q, k, v = (z.reshape(T, B, h, d, N).permute(1, 2, 0, 4, 3).reshape(B, h, T * N, d) for z in y.chunk(3, dim=2))
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        bias = bias.reshape(T * N, T * N, h).permute(2, 0, 1)
        qkb = q @ k.transpose(-2, -1) + bias
        self.report_map(qkb, T, N)
        a = qkb * self.mask
        out = (a @ v) * self.scale  # (B, h, T*N, d)
        out = out.reshape(B, h, T, N, d).permute(2, 0, 1, 4, 3).reshape(T, B, D, N)
        out = self.attn_lif(out)
        out = self.proj_bn(self.proj_conv(out.permute(1, 2, 0, 3).reshape(B, D, T * N)))
        return self.proj_lif(out.reshape(B, D, T, N).permute(2, 0, 1, 3))


    def report_map(self, qkb: torch.Tensor, T: int, N: int) -> None:
        """spikestudio.probe.attention, (T, B, h, N, N): per time step t the t-to-t block of Q K^T + B_rel (before
        attn_scale; the block-causal mask is 1 there)."""
        if _probe_api.active():
            _probe_api.attention(self, lambda: torch.stack([qkb[:, :, t * N:(t + 1) * N, t * N:(t + 1) * N].detach()
                                                            for t in range(T)]), kind="qk+bias")


class MLP(nn.Module):
    describe_kind = "mlp"
    time_layout = True

    def __init__(self, cfg: dict):
        super().__init__()
        D = cfg["embed_dim"]
        hidden = int(D * cfg["mlp_ratio"])
        self.fc1 = nn.Conv3d(D, hidden, 1)
        self.drop1 = nn.Dropout(cfg["mlp_dropout"])
        self.bn1 = nn.BatchNorm3d(hidden)
        self.lif1 = make_neuron(cfg)
        self.fc2 = nn.Conv3d(hidden, D, 1)
        self.drop2 = nn.Dropout(cfg["mlp_dropout"])
        self.bn2 = nn.BatchNorm3d(D)
        self.lif2 = make_neuron(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, D, H, W)
        y = self.bn1(self.drop1(self.fc1(x.permute(1, 2, 0, 3, 4))))
        y = self.lif1(y.permute(2, 0, 1, 3, 4))
        y = self.bn2(self.drop2(self.fc2(y.permute(1, 2, 0, 3, 4))))
        return self.lif2(y.permute(2, 0, 1, 3, 4))


class Block(nn.Module):
    describe_kind = "block"
    time_layout = True

    def __init__(self, cfg: dict, grid):
        super().__init__()
        self.attn = STSAttention(cfg, grid)
        self.mlp = MLP(cfg)
        self.add1 = SpikeAdd()
        self.add2 = SpikeAdd()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, D, H, W)
        T, B, D, H, W = x.shape
        x = self.add1(x, self.attn(x.reshape(T, B, D, H * W)).reshape(T, B, D, H, W))
        return self.add2(x, self.mlp(x))


@register_model("stsa")
class STSA(nn.Module):
    arch = "stsa"

    def __init__(self, cfg: dict):
        super().__init__()
        cfg = normalize(cfg)
        self.cfg = cfg
        self.variant = cfg["variant"]
        self.time_steps = cfg["time_steps"]
        self.num_classes = cfg["num_classes"]
        self.stem = Stem(cfg)
        self.token_grid = self.stem.grid
        self.blocks = nn.ModuleList(Block(cfg, self.token_grid) for _ in range(cfg["depth"]))
        self.head = nn.Linear(cfg["embed_dim"], cfg["num_classes"])
        # the reference's init applies to every Linear: the classifier (and the unused to_qkv_proj)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m)

    def spiking_inputs(self) -> set:
        """Names of the weight/pool layers whose input is binary spikes (structural, spec §6): every stem pool (a
        neuron's output), the stem convs after the first and the rpe conv (a max-pool of spikes), the rpe add (its
        first input is that pooled stage), and in each block the attention's proj_conv (after attn_lif) and the
        MLP's fc2 (after lif1). The blocks' residual stream (values 0, 1, 2, ...) and the head's mean are not."""
        names = {"stem.rpe.conv", "stem.add"}
        for i, st in enumerate(self.stem.stages):
            if i > 0:
                names.add(f"stem.stages.{i}.conv")
            if st.pool is not None:
                names.add(f"stem.stages.{i}.pool")
        for j in range(len(self.blocks)):
            names |= {f"blocks.{j}.attn.proj_conv", f"blocks.{j}.mlp.fc2"}
        return names

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        x, static = prepare_input(x, self.time_steps)
        if static:
            x = x.unsqueeze(0).expand(self.time_steps, *x.shape)
        if x.shape[0] != self.time_steps:
            raise ValueError(f"STSA is built for {self.time_steps} frames, got {x.shape[0]}")
        x = self.stem(x)
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(x.flatten(3).mean(3))  # (T, B, K)
        return logits if per_step else logits.mean(0)


def closed_form_params(cfg: dict) -> int:
    cfg = normalize(cfg)
    D, C, K, L, T, h = (cfg[k] for k in ("embed_dim", "in_channels", "num_classes", "depth", "time_steps", "num_heads"))
    chans = [C, D // 16, D // 8, D // 4, D, D]
    n = sum(9 * chans[i] * chans[i + 1] + 2 * chans[i + 1] for i in range(5))
    H, W = as_hw(cfg["img_size"])
    for _ in range(4):
        H, W = pooled(H), pooled(W)
    hid = int(D * cfg["mlp_ratio"])
    attn = 3 * D * D + 6 * D + D * D + D + 2 * D + (2 * T - 1) * (2 * H - 1) * (2 * W - 1) * h
    if cfg["reference_compat"]:
        attn += 3 * D * D + 6 * D
    mlp = D * hid + hid + 2 * hid + hid * D + D + 2 * D
    return n + L * (attn + mlp) + D * K + K


__all__ = ["STSA", "closed_form_params", "relative_position_index", "block_causal_mask"]
