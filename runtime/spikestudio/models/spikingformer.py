"""Spikingformer (Zhou et al., arXiv 2304.11954) -- reference spec §3.

Pre-activation ("MS") residuals: every weight layer is fed by a LIF placed right before it, the residual stream
carries float BN outputs. Spiking tokenizer of 5 conv+BN (no RPE branch, output is the BN output); SSA ends in
BN without a LIF; MLP = LIF -> 1x1 conv -> BN -> LIF -> 1x1 conv -> BN. Q/K/V are bias-free, scale 0.125,
attention-output LIF threshold 0.5. `variant` selects the max-pool placement (cifar: last two tokenizer stages;
imagenet/dvs: all four). The DVS scripts use tau = 1.5 (set `model.neuron.tau`, as the DVS presets do).
Default PyTorch init everywhere except the head (trunc-normal 0.02, zero bias).
"""

from __future__ import annotations

import torch
from torch import nn

from spikestudio.models.layers import (
    AttentionProbeMixin,
    SpikeAdd,
    TokenBN,
    TokenTimeMean,
    as_hw,
    attention_product,
    from_time,
    make_lif,
    maxpool,
    pooled,
    prepare_input,
    to_time,
    trunc_normal_init,
)
from spikestudio.models.registry import register_model

POOLS = {"cifar": (False, False, True, True), "imagenet": (True, True, True, True), "dvs": (True, True, True, True)}


class ConvBN(nn.Module):
    """Tokenizer stem: Conv3x3 (no bias) -> BN (no LIF: the float output feeds the next stage's LIF)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, T: int, static: bool) -> torch.Tensor:
        y = self.conv(x)
        if static:
            y = y.unsqueeze(0).expand(T, *y.shape).reshape(T * y.shape[0], *y.shape[1:])
        return self.bn(y)


class LIFConvBN(nn.Module):
    """Tokenizer stage: LIF [-> MaxPool] -> Conv3x3 (no bias) -> BN on (T*B, C, H, W)."""

    def __init__(self, cin: int, cout: int, neuron: dict, pool: bool):
        super().__init__()
        self.lif = make_lif(neuron)
        self.pool = maxpool() if pool else None
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        y = from_time(self.lif(to_time(x, T)))
        if self.pool is not None:
            y = self.pool(y)
        return self.bn(self.conv(y))


class SpikingTokenizer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        D, cin, neuron = cfg["embed_dim"], cfg["in_channels"], cfg["neuron"]
        chans = [D // 8, D // 4, D // 2, D, D]
        pools = POOLS[cfg["variant"]]
        self.stem = ConvBN(cin, chans[0])
        self.stages = nn.ModuleList(LIFConvBN(chans[i], chans[i + 1], neuron, pools[i]) for i in range(4))
        h, w = as_hw(cfg["img_size"])
        for p in pools:
            if p:
                h, w = pooled(h), pooled(w)
        self.grid = (h, w)

    def forward(self, x: torch.Tensor, T: int, static: bool) -> torch.Tensor:
        if not static:
            x = from_time(x)
        x = self.stem(x, T, static)
        for stage in self.stages:
            x = stage(x, T)
        x = x.flatten(2).transpose(1, 2)  # (T*B, N, D) float
        return to_time(x, T).contiguous()


class SpikingSelfAttention(AttentionProbeMixin, nn.Module):
    """S = LIF(X); Q, K, V = LIF(BN(W S)); Y = Q K^T V s; LIF(0.5) -> Linear -> BN (float out, no LIF)."""

    def __init__(self, cfg: dict, scale: float):
        super().__init__()
        D, neuron = cfg["embed_dim"], cfg["neuron"]
        self.num_heads = cfg["num_heads"]
        self.scale = scale
        self.in_lif = make_lif(neuron)
        for n in ("q", "k", "v"):
            setattr(self, f"{n}_proj", nn.Linear(D, D, bias=False))
            setattr(self, f"{n}_bn", TokenBN(D))
            setattr(self, f"{n}_lif", make_lif(neuron))
        self.attn_lif = make_lif(neuron, v_threshold=cfg["attn_v_threshold"])
        self.proj = nn.Linear(D, D)
        self.proj_bn = TokenBN(D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, D = x.shape
        h = self.num_heads
        sf = from_time(self.in_lif(x))
        qkv = []
        for n in ("q", "k", "v"):
            y = getattr(self, f"{n}_bn")(getattr(self, f"{n}_proj")(sf))
            y = getattr(self, f"{n}_lif")(to_time(y, T))
            qkv.append(y.reshape(T, B, N, h, D // h).transpose(2, 3))
        q, k, v = qkv
        self.probe_attention(q, k)  # spikestudio.probe.attention: Q K^T while a recorder listens
        y = attention_product(q, k, v, self.scale)
        y = self.attn_lif(y.transpose(2, 3).reshape(T, B, N, D))
        return to_time(self.proj_bn(self.proj(from_time(y))), T)


class MLP(nn.Module):
    describe_kind = "mlp"
    time_layout = True

    def __init__(self, cfg: dict):
        super().__init__()
        D, neuron = cfg["embed_dim"], cfg["neuron"]
        hidden = int(D * cfg["mlp_ratio"])
        self.fc1_lif = make_lif(neuron)
        self.fc1 = nn.Linear(D, hidden)
        self.fc1_bn = TokenBN(hidden)
        self.fc2_lif = make_lif(neuron)
        self.fc2 = nn.Linear(hidden, D)
        self.fc2_bn = TokenBN(D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        y = to_time(self.fc1_bn(self.fc1(from_time(self.fc1_lif(x)))), T)
        return to_time(self.fc2_bn(self.fc2(from_time(self.fc2_lif(y)))), T)


class Block(nn.Module):
    describe_kind = "block"
    time_layout = True

    def __init__(self, cfg: dict, scale: float):
        super().__init__()
        D = cfg["embed_dim"]
        if cfg["reference_compat"]:
            self.norm1 = nn.LayerNorm(D, eps=1e-6)  # constructed but never called by the reference code
        self.attn = SpikingSelfAttention(cfg, scale)
        if cfg["reference_compat"]:
            self.norm2 = nn.LayerNorm(D, eps=1e-6)
        self.mlp = MLP(cfg)
        self.add1 = SpikeAdd()
        self.add2 = SpikeAdd()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.add1(x, self.attn(x))
        return self.add2(x, self.mlp(x))


@register_model("spikingformer")
class Spikingformer(nn.Module):
    arch = "spikingformer"

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        self.variant = cfg["variant"]
        self.time_steps = cfg["time_steps"]
        self.num_classes = cfg["num_classes"]
        D = cfg["embed_dim"]
        scale = cfg["attn_scale"] if cfg["attn_scale"] is not None else 0.125
        self.tokenizer = SpikingTokenizer(cfg)
        self.token_grid = self.tokenizer.grid
        self.blocks = nn.ModuleList(Block(cfg, scale) for _ in range(cfg["depth"]))
        self.pool = TokenTimeMean()
        self.head = nn.Linear(D, cfg["num_classes"])
        trunc_normal_init(self.head)

    def spiking_inputs(self) -> set:
        """Names of the weight/pool layers whose input is binary spikes: every one but the stem conv and the head."""
        names = set()
        for i, st in enumerate(self.tokenizer.stages):
            names.add(f"tokenizer.stages.{i}.conv")
            if st.pool is not None:
                names.add(f"tokenizer.stages.{i}.pool")
        for j in range(len(self.blocks)):
            names |= {f"blocks.{j}.attn.{n}_proj" for n in "qkv"}
            names |= {f"blocks.{j}.attn.proj", f"blocks.{j}.mlp.fc1", f"blocks.{j}.mlp.fc2"}
        return names

    def bn_lif_pairs(self) -> list:
        """(BatchNorm, LIF) names where the BN's output feeds only that LIF, through reshapes (kernels.fold.fuse_bn_lif):
        the tokenizer's stem/stage BNs into the next stage's LIF, Q/K/V, and the MLP's fc1 BN into fc2's LIF. The last
        stage's BN, the attention's proj BN and fc2's BN feed the float residual stream."""
        st = "tokenizer.stages"
        pairs = [("tokenizer.stem.bn", f"{st}.0.lif")]
        pairs += [(f"{st}.{i}.bn", f"{st}.{i + 1}.lif") for i in range(len(self.tokenizer.stages) - 1)]
        for j in range(len(self.blocks)):
            pairs += [(f"blocks.{j}.attn.{n}_bn", f"blocks.{j}.attn.{n}_lif") for n in ("q", "k", "v")]
            pairs.append((f"blocks.{j}.mlp.fc1_bn", f"blocks.{j}.mlp.fc2_lif"))
        return pairs

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        x, static = prepare_input(x, self.time_steps)
        T = self.time_steps if static else x.shape[0]
        x = self.tokenizer(x, T, static)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.pool(x, per_step))
