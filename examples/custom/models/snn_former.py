"""A small spiking transformer written with snnTorch's `Leaky` neurons (single step: the forward loops over T).

Spike Studio recognises the Leaky layers (firing panel: the k-th call within a forward is time step k), resets
their membrane (`reset_mem()`) before every batch, and shows the attention maps given to
`spikestudio.probe.attention`. snnTorch is not shipped with Spike Studio: `pip install snntorch==0.9.4`.
"""

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

import spikestudio


def leaky():
    return snn.Leaky(beta=0.5, spike_grad=surrogate.atan(), init_hidden=True)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, grid):
        super().__init__()
        self.heads, self.grid, self.scale = heads, grid, 0.125
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.q_lif, self.k_lif, self.v_lif, self.out_lif = leaky(), leaky(), leaky(), leaky()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # one time step: (B, N, D)
        B, N, D = x.shape
        h = self.heads
        q, k, v = (lif(lin(x)).reshape(B, N, h, D // h).transpose(1, 2)
                   for lin, lif in ((self.q, self.q_lif), (self.k, self.k_lif), (self.v, self.v_lif)))
        attn = q @ k.transpose(-2, -1)  # (B, h, N, N) of this step
        self.step_maps.append(attn)
        y = self.out_lif((attn @ v).transpose(1, 2).reshape(B, N, D) * self.scale)
        return self.proj(y)


class SnnFormer(nn.Module):
    """Patch tokenizer (28x28 -> 7x7 tokens of 4x4 pixels) + spiking-attention blocks, looping over T steps.

    Args:
        dim: embedding width.
        heads: attention heads.
        depth: blocks.
        time_steps: T (filled from model.time_steps).
        num_classes: classes (filled from model.num_classes).
    """

    def __init__(self, dim: int = 32, heads: int = 2, depth: int = 1, time_steps: int = 4, num_classes: int = 10):
        super().__init__()
        self.T = time_steps
        self.embed = nn.Linear(16, dim)
        self.embed_lif = leaky()
        self.blocks = nn.ModuleList(Attention(dim, heads, (7, 7)) for _ in range(depth))
        self.mlp_lif = leaky()
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):  # (B, 1, 28, 28)
        B = x.shape[0]
        patches = x.reshape(B, 7, 4, 7, 4).permute(0, 1, 3, 2, 4).reshape(B, 49, 16)
        for blk in self.blocks:
            blk.step_maps = []
        outs = []
        for _ in range(self.T):
            z = self.embed_lif(self.embed(patches))
            for blk in self.blocks:
                z = z + blk(z)
            outs.append(self.head(self.mlp_lif(z).mean(1)))
        for blk in self.blocks:  # all steps at once: (T, B, h, N, N)
            spikestudio.probe.attention(blk, lambda blk=blk: torch.stack(blk.step_maps), tokens=(7, 7))
            blk.step_maps = []
        return torch.stack(outs)  # (T, B, classes)
