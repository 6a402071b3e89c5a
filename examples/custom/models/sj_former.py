"""A small spiking transformer written with SpikingJelly's `activation_based` neurons (multi-step LIFNode).

Spike Studio recognises the LIFNode layers (firing panel), resets their state before every batch (what
`functional.reset_net` does) and shows the attention maps this model hands to `spikestudio.probe.attention`.
SpikingJelly is not shipped with Spike Studio: `pip install spikingjelly==0.0.0.0.14` into the training environment.
"""

import torch
from torch import nn
from spikingjelly.activation_based import neuron, surrogate

import spikestudio


def lif():
    return neuron.LIFNode(tau=2.0, detach_reset=True, surrogate_function=surrogate.Sigmoid(), step_mode="m")


class Attention(nn.Module):
    """Spiking self-attention: Q, K, V = LIF(BN(W x)); Y = Q K^T V * scale -> LIF -> Linear."""

    def __init__(self, dim: int, heads: int, grid):
        super().__init__()
        self.heads, self.grid, self.scale = heads, grid, 0.125
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.qkv_bn = nn.BatchNorm1d(3 * dim)
        self.qkv_lif = lif()
        self.attn_lif = lif()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # (T, B, N, D)
        T, B, N, D = x.shape
        h = self.heads
        qkv = self.qkv_bn(self.qkv(x).flatten(0, 2)).reshape(T, B, N, 3 * D)
        q, k, v = self.qkv_lif(qkv).reshape(T, B, N, 3, h, D // h).permute(3, 0, 1, 4, 2, 5)
        attn = q @ k.transpose(-2, -1)  # (T, B, h, N, N)
        spikestudio.probe.attention(self, attn, tokens=self.grid)
        y = (attn @ v) * self.scale
        y = self.attn_lif(y.transpose(2, 3).reshape(T, B, N, D))
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, grid):
        super().__init__()
        self.attn = Attention(dim, heads, grid)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), lif(), nn.Linear(2 * dim, dim))
        self.lif1, self.lif2 = lif(), lif()

    def forward(self, x):
        x = x + self.attn(self.lif1(x))
        return x + self.mlp(self.lif2(x))


class SJFormer(nn.Module):
    """Conv tokenizer (28x28 -> 7x7 tokens) + `depth` spiking-attention blocks + mean-pooled linear head.

    Args:
        dim: embedding width (divisible by heads).
        heads: attention heads.
        depth: number of blocks.
        time_steps: T, the input is repeated over T steps (filled from model.time_steps).
        in_channels: image channels (filled from model.in_channels).
        num_classes: classes (filled from model.num_classes).
    """

    def __init__(self, dim: int = 32, heads: int = 2, depth: int = 1, time_steps: int = 4, in_channels: int = 1,
                 num_classes: int = 10):
        super().__init__()
        self.T = time_steps
        self.grid = (7, 7)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, dim, 3, 2, 1, bias=False), nn.BatchNorm2d(dim),
                                  nn.MaxPool2d(2))
        self.stem_lif = lif()
        self.blocks = nn.ModuleList(Block(dim, heads, self.grid) for _ in range(depth))
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):  # (B, C, H, W)
        x = self.stem(x)  # (B, D, 7, 7)
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        x = self.stem_lif(x.unsqueeze(0).repeat(self.T, 1, 1, 1))  # (T, B, N, D)
        for blk in self.blocks:
            x = blk(x)
        return self.head(x.mean(2))  # (T, B, classes)
