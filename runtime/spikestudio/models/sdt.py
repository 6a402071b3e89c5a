"""Spike-driven Transformer v1 "SDT" (Yao et al., NeurIPS 2023) as coded in BICLab/Spike-Driven-Transformer --
reference spec 2 §3.

Membrane-shortcut (MS) residuals: the stream carries float BN outputs and every weight layer is fed by its own
LIF. Tokenizer MS_SPS: four bias-free 3x3 ConvBN stages (D/8, D/4, D/2, D), a LIF after the first three, max-pools
where `pooling_stat` (4 characters of 0/1) says -- after the LIF in stages 0-2, after the BN in stage 3 --, then
x_feat + RPE(LIF(x_feat)) (RPE = 3x3 ConvBN). SDSA: Q, K, V = LIF(BN(Conv1x1(LIF(X)))); A = LIF_0.5(column sum
over the tokens of K * V) -- one mask per channel --; Y = Q * A -> Conv1x1 (bias) -> BN. MLP: LIF -> Conv1x1 ->
BN -> LIF -> Conv1x1 -> BN. Head: mean over tokens -> head_lif -> Linear -> mean over T.

Module names are the reference's state_dict keys (`patch_embed.proj_conv`, `block.{i}.attn.q_conv`, ...).
`reference_compat: true` builds the unused `talking_heads` Conv1d (h x h per block; spec 2 §3.3 "total" column).
`dvs_mode: true` applies the reference's DVS "Erode" (MaxPool3d (1, 3, 3), stride 1, pad (0, 1, 1)) to K and V
(a 3x3 spatial max), to K*V and to Q*A (there it runs over adjacent flattened token indices and channels of a
head -- spec 2 §3.1, reproduced as coded). Default init: Conv2d trunc-normal(0.02) / zero bias; the Linear head,
BN and the dead Conv1d keep PyTorch defaults.
"""

from __future__ import annotations

import torch
from torch import nn

from spikestudio import probe
from spikestudio.errors import ConfigError
from spikestudio.models.layers import SpikeAdd, as_hw, from_time, make_lif, maxpool, pooled, prepare_input, to_time
from spikestudio.models.registry import register_model

POOLING = {"cifar": "0011", "imagenet": "1111", "dvs": "0111"}
DEFAULTS = {"dvs_mode": False}


def normalize(cfg: dict) -> dict:
    cfg = dict(cfg)
    ps = cfg.get("pooling_stat")
    if ps is None:
        ps = POOLING[cfg["variant"]]
    if not isinstance(ps, str) or len(ps) != 4 or set(ps) - {"0", "1"}:
        raise ConfigError("model.pooling_stat", f"must be 4 characters of 0/1 (max-pool after tokenizer stage i), "
                                                f"got {ps!r}", "e.g. \"0011\" (CIFAR), \"1111\" (ImageNet)")
    cfg["pooling_stat"] = ps
    dm = cfg.get("dvs_mode")
    cfg["dvs_mode"] = False if dm is None else dm
    if not isinstance(cfg["dvs_mode"], bool):
        raise ConfigError("model.dvs_mode", f"must be true or false, got {dm!r}")
    return cfg


def _erode() -> nn.MaxPool3d:
    return nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 1, 1), padding=(0, 1, 1))


class MS_SPS(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        D, n = cfg["embed_dim"], cfg["neuron"]
        chans = [cfg["in_channels"], D // 8, D // 4, D // 2, D]
        self.pools = [c == "1" for c in cfg["pooling_stat"]]
        sfx = ["", "1", "2", "3"]
        h, w = as_hw(cfg["img_size"])
        for i in range(4):
            setattr(self, f"proj_conv{sfx[i]}", nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1, bias=False))
            setattr(self, f"proj_bn{sfx[i]}", nn.BatchNorm2d(chans[i + 1]))
            if i < 3:
                setattr(self, f"proj_lif{sfx[i]}", make_lif(n))
            if self.pools[i]:
                setattr(self, f"maxpool{sfx[i]}", maxpool())
                h, w = pooled(h), pooled(w)
        self.rpe_lif = make_lif(n)
        self.rpe_conv = nn.Conv2d(D, D, 3, 1, 1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(D)
        self.rpe_add = SpikeAdd(time_layout=False)
        self.grid = (h, w)
        self._sfx = sfx

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:  # (T*B, C, H, W) -> (T*B, D, h, w) float
        for i, s in enumerate(self._sfx):
            x = getattr(self, f"proj_bn{s}")(getattr(self, f"proj_conv{s}")(x))
            if i < 3:
                x = from_time(getattr(self, f"proj_lif{s}")(to_time(x, T)))
            if self.pools[i]:
                x = getattr(self, f"maxpool{s}")(x)
        rpe = self.rpe_bn(self.rpe_conv(from_time(self.rpe_lif(to_time(x, T)))))
        return self.rpe_add(rpe, x)


class SDSA(nn.Module):
    """Spike-driven self-attention (version 1: mask and addition only). `mask_kind` = what talking_heads_lif emits:
    one binary mask per channel (column mask over the tokens), not an N x N map."""

    describe_kind = "ssa"  # the attention module (mask and sum only: no dense flops)
    time_layout = True
    mask_kind = "column_mask"

    def __init__(self, cfg: dict):
        super().__init__()
        D, n = cfg["embed_dim"], cfg["neuron"]
        self.num_heads, self.dim = cfg["num_heads"], D
        self.dvs = cfg["dvs_mode"]
        self.shortcut_lif = make_lif(n)
        for b in ("q", "k", "v"):
            setattr(self, f"{b}_conv", nn.Conv2d(D, D, 1, bias=False))
            setattr(self, f"{b}_bn", nn.BatchNorm2d(D))
            setattr(self, f"{b}_lif", make_lif(n))
        if cfg["reference_compat"]:  # built but never called by the reference
            self.talking_heads = nn.Conv1d(self.num_heads, self.num_heads, 1, bias=False)
        self.talking_heads_lif = make_lif(n, v_threshold=cfg["attn_v_threshold"])
        self.proj_conv = nn.Conv2d(D, D, 1)
        self.proj_bn = nn.BatchNorm2d(D)
        if self.dvs:
            self.pool = _erode()

    def _branch(self, b: str, s: torch.Tensor, T: int) -> torch.Tensor:
        return getattr(self, f"{b}_lif")(to_time(getattr(self, f"{b}_bn")(getattr(self, f"{b}_conv")(s)), T))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, D, H, W) float -> (T, B, D, H, W) float
        T, B, D, H, W = x.shape
        h, N = self.num_heads, H * W
        s = from_time(self.shortcut_lif(x))
        q = self._branch("q", s, T)
        k = self._branch("k", s, T)
        v = self._branch("v", s, T)
        if self.dvs:
            k, v = self.pool(k), self.pool(v)

        def heads(t):  # (T, B, D, H, W) -> (T, B, h, N, d)
            return t.reshape(T, B, h, D // h, N).transpose(3, 4)

        q, k, v = heads(q), heads(k), heads(v)
        kv = k * v
        if self.dvs:
            kv = self.pool(kv)
        a = self.talking_heads_lif(kv.sum(dim=-2, keepdim=True))  # (T, B, h, 1, d)
        if probe.active():  # one mask per head over its d channels
            probe.attention(self, a.detach().squeeze(3), tokens=(H, W), kind=self.mask_kind)
        y = q * a
        if self.dvs:
            y = self.pool(y)
        y = from_time(y.transpose(3, 4).reshape(T, B, D, H, W))
        return to_time(self.proj_bn(self.proj_conv(y)), T)


class MS_MLP(nn.Module):
    describe_kind = "mlp"
    time_layout = True

    def __init__(self, cfg: dict):
        super().__init__()
        D, n = cfg["embed_dim"], cfg["neuron"]
        hidden = int(D * cfg["mlp_ratio"])
        self.fc1_lif = make_lif(n)
        self.fc1_conv = nn.Conv2d(D, hidden, 1)
        self.fc1_bn = nn.BatchNorm2d(hidden)
        self.fc2_lif = make_lif(n)
        self.fc2_conv = nn.Conv2d(hidden, D, 1)
        self.fc2_bn = nn.BatchNorm2d(D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        y = self.fc1_bn(self.fc1_conv(from_time(self.fc1_lif(x))))
        y = self.fc2_bn(self.fc2_conv(from_time(self.fc2_lif(to_time(y, T)))))
        return to_time(y, T)


class MS_Block(nn.Module):
    describe_kind = "block"
    time_layout = True

    def __init__(self, cfg: dict):
        super().__init__()
        self.attn = SDSA(cfg)
        self.add1 = SpikeAdd()
        self.mlp = MS_MLP(cfg)
        self.add2 = SpikeAdd()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.add1(x, self.attn(x))
        return self.add2(x, self.mlp(x))


class TokenMean(nn.Module):
    """(T, B, D, H, W) -> (T, B, D): mean over the tokens (the head_lif then runs over T)."""

    describe_kind = "pool"
    time_layout = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(3).mean(3)


@register_model("sdt")
class SpikeDrivenTransformer(nn.Module):
    arch = "sdt"

    def __init__(self, cfg: dict):
        super().__init__()
        cfg = normalize(cfg)
        self.cfg = cfg
        self.variant = cfg["variant"]
        self.time_steps = cfg["time_steps"]
        self.num_classes = cfg["num_classes"]
        D = cfg["embed_dim"]
        self.patch_embed = MS_SPS(cfg)
        self.token_grid = self.patch_embed.grid
        self.block = nn.ModuleList(MS_Block(cfg) for _ in range(cfg["depth"]))
        self.pool = TokenMean()
        self.head_lif = make_lif(cfg["neuron"])
        self.head = nn.Linear(D, cfg["num_classes"])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def spiking_inputs(self) -> set:
        """Every conv after a LIF (tokenizer convs 1-3 -- fed by a LIF or a max-pool of spikes --, the RPE conv, Q/K/V,
        proj (Q * A: binary), both MLP convs), the pools after the first three LIFs, and the head (after head_lif).
        The first conv reads the image; the stage-3 pool and the residual adds see floats."""
        pe = self.patch_embed
        names = {"patch_embed.proj_conv1", "patch_embed.proj_conv2", "patch_embed.proj_conv3", "patch_embed.rpe_conv",
                 "head"}
        names |= {f"patch_embed.maxpool{s}" for i, s in enumerate(pe._sfx[:3]) if pe.pools[i]}
        for j in range(len(self.block)):
            p = f"block.{j}"
            names |= {f"{p}.attn.q_conv", f"{p}.attn.k_conv", f"{p}.attn.v_conv", f"{p}.attn.proj_conv",
                      f"{p}.mlp.fc1_conv", f"{p}.mlp.fc2_conv"}
            if self.cfg["dvs_mode"]:
                names.add(f"{p}.attn.pool")
        return names

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        x, static = prepare_input(x, self.time_steps)
        if static:
            x = x.unsqueeze(0).expand(self.time_steps, *x.shape)
        T = x.shape[0]
        y = to_time(self.patch_embed(from_time(x.contiguous()), T), T)
        for blk in self.block:
            y = blk(y)
        logits = self.head(self.head_lif(self.pool(y)))  # (T, B, K)
        return logits if per_step else logits.mean(0)


def closed_form_params(cfg: dict) -> int:
    """Spec 2 §3.3."""
    cfg = normalize(cfg)
    D, h, K, L = cfg["embed_dim"], cfg["num_heads"], cfg["num_classes"], cfg["depth"]
    r = int(D * cfg["mlp_ratio"])
    c = [cfg["in_channels"], D // 8, D // 4, D // 2, D]
    sps = sum(9 * c[i] * c[i + 1] + 2 * c[i + 1] for i in range(4)) + 9 * D * D + 2 * D
    block = 3 * (D * D + 2 * D) + (h * h if cfg["reference_compat"] else 0) + (D * D + 3 * D) + (D * r + r + 2 * r) \
        + (r * D + 3 * D)
    return sps + L * block + D * K + K


__all__ = ["SpikeDrivenTransformer", "closed_form_params", "normalize"]
