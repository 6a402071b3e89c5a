"""A small spiking transformer written with Spike Studio's own multi-step LIF and the attention probe.

No extra package needed. It is also registered as the architecture `tiny-lif-former` (with two presets) for configs
that list this file under `model.plugins` -- see ../plugin.spike.yaml.
"""

import torch
from torch import nn

import spikestudio
from spikestudio.neurons import LIF


class SpikingAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_lif, self.k_lif, self.v_lif = LIF(), LIF(), LIF()
        self.attn_lif = LIF(v_threshold=0.5)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # (T, B, N, D)
        T, B, N, D = x.shape
        h = self.heads
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (lif(t).reshape(T, B, N, h, D // h).transpose(2, 3)
                   for lif, t in ((self.q_lif, q), (self.k_lif, k), (self.v_lif, v)))
        # computed only while the attention panel records
        spikestudio.probe.attention(self, lambda: q @ k.transpose(-2, -1), tokens=(7, 7), kind="qk")
        y = q @ (k.transpose(-2, -1) @ v) * 0.125
        return self.proj(self.attn_lif(y.transpose(2, 3).reshape(T, B, N, D)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.attn = SpikingAttention(dim, heads)
        self.lif = LIF()
        self.fc1, self.fc_lif, self.fc2 = nn.Linear(dim, mlp_ratio * dim), LIF(), nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.fc2(self.fc_lif(self.fc1(self.lif(x))))


@spikestudio.register_model("tiny-lif-former", presets={"tiny-lif-former-s": {"dim": 32, "depth": 1},
                                                        "tiny-lif-former-m": {"dim": 64, "depth": 2}})
class LIFFormer(nn.Module):
    """Patch-embedding spiking transformer on Spike Studio's LIF (7x7 tokens from 28x28 images).

    Args:
        dim: embedding width (divisible by heads).
        heads: attention heads.
        depth: blocks.
        mlp_ratio: MLP hidden width / dim.
        time_steps: T (filled from model.time_steps).
        num_classes: classes (filled from model.num_classes).
    """

    def __init__(self, dim: int = 32, heads: int = 2, depth: int = 1, mlp_ratio: int = 2, time_steps: int = 4,
                 num_classes: int = 10):
        super().__init__()
        self.T = time_steps
        self.patch = nn.Conv2d(1, dim, kernel_size=4, stride=4)
        self.patch_lif = LIF()
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_ratio) for _ in range(depth)))
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):  # (B, 1, 28, 28) -> (B, classes)
        z = self.patch(x).flatten(2).transpose(1, 2)  # (B, 49, D)
        z = self.patch_lif(z.unsqueeze(0).expand(self.T, -1, -1, -1).contiguous())
        z = self.blocks(z)
        return self.head(z.mean(2)).mean(0)
