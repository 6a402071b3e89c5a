"""Spikformer (Zhou et al., ICLR 2023) -- reference spec §2.

Three code variants of the reference repository, selected by `model.variant`:

| variant  | Q/K/V                   | init                            | scale | SPS max-pools          | dead modules (compat) |
|----------|-------------------------|---------------------------------|-------|------------------------|-----------------------|
| cifar    | Linear with bias        | trunc-normal(0.02) on Linear    | 0.125 | after conv3 and conv4  | norm1/norm2           |
| imagenet | k=1 conv, no bias       | PyTorch default, head trunc-nrm | 0.125 | after every conv       | norm1/norm2           |
| dvs      | k=1 conv, no bias       | PyTorch default, head trunc-nrm | 0.25  | after every conv       | + pos_embed, norm     |

k=1 Conv1d / 1x1 Conv2d projections are held as nn.Linear (identical maths and default init); the checkpoint
importer reshapes the reference weights. Residuals are spike sums (SEW style); the head averages over tokens,
then over T, then applies a Linear.
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
SCALE = {"cifar": 0.125, "imagenet": 0.125, "dvs": 0.25}


class ConvBNLIF(nn.Module):
    """Conv3x3 (no bias) -> BN -> LIF [-> MaxPool] on (T*B, C, H, W)."""

    def __init__(self, cin: int, cout: int, neuron: dict, pool: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.lif = make_lif(neuron)
        self.pool = maxpool() if pool else None

    def forward(self, x: torch.Tensor, T: int, static: bool = False) -> torch.Tensor:
        y = self.conv(x)
        if static:  # the same image at every step: convolve once, repeat over T (== the reference's repeat)
            y = y.unsqueeze(0).expand(T, *y.shape).reshape(T * y.shape[0], *y.shape[1:])
        y = from_time(self.lif(to_time(self.bn(y), T)))
        return self.pool(y) if self.pool is not None else y


class SPS(nn.Module):
    """Spiking Patch Splitting: 4 ConvBNLIF stages (D/8, D/4, D/2, D) + RPE conv branch, X0 = x + RPE(x)."""

    def __init__(self, cfg: dict):
        super().__init__()
        D, cin, neuron = cfg["embed_dim"], cfg["in_channels"], cfg["neuron"]
        chans = [cin, D // 8, D // 4, D // 2, D]
        pools = POOLS[cfg["variant"]]
        self.stages = nn.ModuleList(ConvBNLIF(chans[i], chans[i + 1], neuron, pools[i]) for i in range(4))
        self.rpe = ConvBNLIF(D, D, neuron, False)
        self.rpe_add = SpikeAdd(time_layout=False)
        h, w = as_hw(cfg["img_size"])
        for p in pools:
            if p:
                h, w = pooled(h), pooled(w)
        self.grid = (h, w)

    def forward(self, x: torch.Tensor, T: int, static: bool) -> torch.Tensor:
        if not static:
            x = from_time(x)
        for i, stage in enumerate(self.stages):
            x = stage(x, T, static and i == 0)
        x = self.rpe_add(self.rpe(x, T), x)  # (T*B, D, h, w), values in {0, 1, 2}
        x = x.flatten(2).transpose(1, 2)  # (T*B, N, D)
        return to_time(x, T).contiguous()


class SSA(AttentionProbeMixin, nn.Module):
    """Spiking self-attention: Q, K, V = LIF(BN(W x)); Y = Q K^T V s; LIF(0.5) -> Linear -> BN -> LIF."""

    def __init__(self, cfg: dict, qkv_bias: bool, scale: float):
        super().__init__()
        D, neuron = cfg["embed_dim"], cfg["neuron"]
        self.num_heads = cfg["num_heads"]
        self.scale = scale
        for n in ("q", "k", "v"):
            setattr(self, f"{n}_proj", nn.Linear(D, D, bias=qkv_bias))
            setattr(self, f"{n}_bn", TokenBN(D))
            setattr(self, f"{n}_lif", make_lif(neuron))
        self.attn_lif = make_lif(neuron, v_threshold=cfg["attn_v_threshold"])
        self.proj = nn.Linear(D, D)
        self.proj_bn = TokenBN(D)
        self.proj_lif = make_lif(neuron)

    def _qkv(self, xf: torch.Tensor, n: str, T: int) -> torch.Tensor:
        y = getattr(self, f"{n}_bn")(getattr(self, f"{n}_proj")(xf))
        return getattr(self, f"{n}_lif")(to_time(y, T))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, D = x.shape
        h = self.num_heads
        xf = from_time(x)  # (T*B, N, D)
        q, k, v = (self._qkv(xf, n, T).reshape(T, B, N, h, D // h).transpose(2, 3) for n in ("q", "k", "v"))
        self.probe_attention(q, k)  # spikestudio.probe.attention: Q K^T while a recorder listens
        y = attention_product(q, k, v, self.scale)  # (T, B, h, N, d)
        y = self.attn_lif(y.transpose(2, 3).reshape(T, B, N, D))
        y = self.proj_bn(self.proj(from_time(y)))
        return self.proj_lif(to_time(y, T))


class MLP(nn.Module):
    describe_kind = "mlp"
    time_layout = True

    def __init__(self, cfg: dict):
        super().__init__()
        D, neuron = cfg["embed_dim"], cfg["neuron"]
        hidden = int(D * cfg["mlp_ratio"])
        self.fc1 = nn.Linear(D, hidden)
        self.fc1_bn = TokenBN(hidden)
        self.fc1_lif = make_lif(neuron)
        self.fc2 = nn.Linear(hidden, D)
        self.fc2_bn = TokenBN(D)
        self.fc2_lif = make_lif(neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        y = self.fc1_lif(to_time(self.fc1_bn(self.fc1(from_time(x))), T))
        return self.fc2_lif(to_time(self.fc2_bn(self.fc2(from_time(y))), T))


class Block(nn.Module):
    describe_kind = "block"
    time_layout = True

    def __init__(self, cfg: dict, qkv_bias: bool, scale: float):
        super().__init__()
        D = cfg["embed_dim"]
        if cfg["reference_compat"]:
            self.norm1 = nn.LayerNorm(D, eps=1e-6)  # constructed but never called by the reference code
        self.attn = SSA(cfg, qkv_bias, scale)
        if cfg["reference_compat"]:
            self.norm2 = nn.LayerNorm(D, eps=1e-6)
        self.mlp = MLP(cfg)
        self.add1 = SpikeAdd()
        self.add2 = SpikeAdd()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.add1(x, self.attn(x))
        return self.add2(x, self.mlp(x))


@register_model("spikformer")
class Spikformer(nn.Module):
    arch = "spikformer"

    def __init__(self, cfg: dict):
        super().__init__()
        variant = cfg["variant"]
        self.cfg = cfg
        self.variant = variant
        self.time_steps = cfg["time_steps"]
        self.num_classes = cfg["num_classes"]
        D = cfg["embed_dim"]
        scale = cfg["attn_scale"] if cfg["attn_scale"] is not None else SCALE[variant]
        qkv_bias = variant == "cifar"
        self.tokenizer = SPS(cfg)
        self.token_grid = self.tokenizer.grid
        if cfg["reference_compat"] and variant == "dvs":
            n = self.token_grid[0] * self.token_grid[1]
            self.pos_embed = nn.Parameter(torch.zeros(1, n, D))  # unused by the reference forward
        self.blocks = nn.ModuleList(Block(cfg, qkv_bias, scale) for _ in range(cfg["depth"]))
        if cfg["reference_compat"] and variant == "dvs":
            self.norm = nn.LayerNorm(D, eps=1e-6)  # unused
        self.pool = TokenTimeMean()
        self.head = nn.Linear(D, cfg["num_classes"])
        self._init_weights()

    def _init_weights(self) -> None:
        if self.variant == "cifar":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    trunc_normal_init(m)
        else:
            trunc_normal_init(self.head)
        if getattr(self, "pos_embed", None) is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02, a=-2.0, b=2.0)

    def spiking_inputs(self) -> set:
        """Names of the weight/pool layers whose input is binary spikes (spec §6: their ops are accumulates). The
        q/k/v projections and fc1 read the integer residual stream, the first conv the image, the head a mean."""
        names = {f"tokenizer.stages.{i}.conv" for i in (1, 2, 3)} | {"tokenizer.rpe.conv", "tokenizer.rpe_add"}
        names |= {f"tokenizer.stages.{i}.pool" for i, st in enumerate(self.tokenizer.stages) if st.pool is not None}
        for j in range(len(self.blocks)):
            names |= {f"blocks.{j}.attn.proj", f"blocks.{j}.mlp.fc2"}
        return names

    def bn_lif_pairs(self) -> list:
        """(BatchNorm, LIF) names where the BN's output feeds only that LIF, through reshapes (kernels.fold.fuse_bn_lif):
        every BN of this model."""
        stages = [f"tokenizer.stages.{i}" for i in range(len(self.tokenizer.stages))] + ["tokenizer.rpe"]
        pairs = [(f"{s}.bn", f"{s}.lif") for s in stages]
        for j in range(len(self.blocks)):
            pairs += [(f"blocks.{j}.attn.{n}_bn", f"blocks.{j}.attn.{n}_lif") for n in ("q", "k", "v", "proj")]
            pairs += [(f"blocks.{j}.mlp.{n}_bn", f"blocks.{j}.mlp.{n}_lif") for n in ("fc1", "fc2")]
        return pairs

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        """(B, C, H, W) images (repeated over T) or (B, T, C, H, W) frames -> (B, classes) logits averaged over T,
        or (T, B, classes) with per_step=True. Neuron state starts fresh at every call."""
        x, static = prepare_input(x, self.time_steps)
        T = self.time_steps if static else x.shape[0]
        x = self.tokenizer(x, T, static)  # (T, B, N, D)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.pool(x, per_step))
