"""Spikeformer (Li, Lei, Yang; arXiv 2211.10686) as coded in Loydian/Spikeformer -- reference spec §4.

* Convolutional tokenizer: a stack of SEW blocks. conv unit = Conv2d(k, stride, pad k//2, no bias) -> BN2d -> PLIF
  (time folded into the batch for conv/BN). SEW block: residual = unit(in->out, s) -> unit(out->out, 1);
  shortcut = identity if s == 1 and in == out, else AvgPool(s, s) -> unit 1x1 (in->out); output = sum (ADD of
  spikes). Kaiming-normal conv init with fan_in (the reference's kaiming_normal_ defaults).
* Embeddings: spatial position (N, D) trunc-normal 0.02 added per frame, temporal (T, D) zero-init added per
  token. Another input size resizes the position embedding by 2-D nearest interpolation over the token grid, another
  T the time embedding by nearest over T (as the reference).
* Encoder block (pre-norm, LayerNorm eps 1e-6, DropPath rising linearly to `drop_path`):
  temporal attention over each token's T steps (LN_t -> MHSA_t -> DropPath -> Linear_tfc, zero-init) + residual;
  spatial attention over each frame's N tokens (LN_1 -> MHSA_s -> DropPath) + residual;
  MLP: LN_2 -> FC1 -> PLIF over T -> FC2 (-> Dropout(0)) -> DropPath + residual. The reference's MLP DropPath drops
  whole time steps (the same steps for every sample); `model.mlp_drop_path: sample` drops whole samples instead.
* Head: LayerNorm -> attention pooling (softmax over all N*T tokens of Linear(D->1)) -> Linear(D->classes).
  `per_step=True` pools each time step's N tokens separately and gives (T, B, classes) (not in the reference,
  which has one logit vector per sample).

`model.attention`: `softmax` (default) reproduces the public code: float Q/K/V = Linear(D->3D, no bias),
softmax(Q K^T d^-1/2) V, Linear proj (bias). `spiking`: Q, K, V are spikes (PLIF over time after the same bias-free
projection, one learnable PLIF per Q/K/V) and the attention is SSA-style Q K^T V * attn_scale without softmax
(3 extra PLIF parameters per MHSA). `model.neuron_kind`: `plif` (DVS configs) or `liaf` (ImageNet: output ReLU(H)).
Tokenizer: `model.tokenizer_channels` (one entry per SEW block; the last must equal embed_dim),
`model.tokenizer_strides` (same length), `model.tokenizer_kernel` (odd).
Input: frames (B, T, C, H, W) or static images (B, C, H, W), repeated over T.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from spikestudio import probe as _probe_api
from spikestudio import config_schema
from spikestudio.errors import ConfigError
from spikestudio.models.config import ARCH_DEFAULTS
from spikestudio.models.layers import as_hw, from_time, prepare_input, to_time, trunc_normal_init
from spikestudio.models.registry import register_model
from spikestudio.neurons import LIAF, PLIF

DEFAULTS = ARCH_DEFAULTS["spikeformer"]
ATTENTIONS = config_schema.choices("model.attention")
MLP_DROP_PATHS = config_schema.choices("model.mlp_drop_path")
NEURON_KINDS = config_schema.choices("model.neuron_kind")


def _int_list(cfg: dict, key: str) -> list[int]:
    v = cfg[key]
    if not isinstance(v, (list, tuple)) or not v or not all(
            isinstance(i, numbers.Integral) and not isinstance(i, bool) and i >= 1 for i in v):
        raise ConfigError(f"model.{key}", f"must be a non-empty list of integers >= 1, got {v!r}")
    return [int(i) for i in v]


def normalize(cfg: dict) -> dict:
    cfg = dict(cfg)
    for k, v in DEFAULTS.items():
        if cfg.get(k) is None:
            cfg[k] = list(v) if isinstance(v, list) else v
    chans = _int_list(cfg, "tokenizer_channels")
    strides = _int_list(cfg, "tokenizer_strides")
    if len(strides) != len(chans):
        raise ConfigError("model.tokenizer_strides", f"needs one stride per SEW block ({len(chans)}), got {len(strides)}")
    if chans[-1] != cfg["embed_dim"]:
        raise ConfigError("model.tokenizer_channels", f"the last entry ({chans[-1]}) must equal model.embed_dim "
                                                      f"({cfg['embed_dim']})")
    k = cfg["tokenizer_kernel"]
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1 or k % 2 == 0:
        raise ConfigError("model.tokenizer_kernel", f"must be an odd integer >= 1, got {k!r}")
    if cfg["attention"] not in ATTENTIONS:
        raise ConfigError("model.attention", f"must be one of {', '.join(ATTENTIONS)}, got {cfg['attention']!r}")
    if cfg["neuron_kind"] not in NEURON_KINDS:
        raise ConfigError("model.neuron_kind", f"must be one of {', '.join(NEURON_KINDS)}, got {cfg['neuron_kind']!r}")
    if cfg["mlp_drop_path"] not in MLP_DROP_PATHS:
        raise ConfigError("model.mlp_drop_path", f"must be one of {', '.join(MLP_DROP_PATHS)}, got {cfg['mlp_drop_path']!r}")
    dp = cfg["drop_path"]
    if not isinstance(dp, numbers.Real) or isinstance(dp, bool) or not 0 <= dp < 1:
        raise ConfigError("model.drop_path", f"must be a number in [0, 1), got {dp!r}")
    cfg.update(tokenizer_channels=chans, tokenizer_strides=strides, tokenizer_kernel=int(k), drop_path=float(dp))
    check_grid(cfg["img_size"], strides)
    return cfg


def _side_text(h: int, w: int) -> str:
    return f"{h}×{w}"


def check_grid(img_size, strides: list[int]) -> tuple[int, int]:
    """The token grid; ConfigError when a stride does not divide the side its SEW block gets: the strided conv
    (pad k//2) gives ceil(side / s), the shortcut's AvgPool(s, s) floor(side / s), and the sum would fail."""
    h, w = as_hw(img_size)
    sides = [(h, w)]
    for i, s in enumerate(strides):
        if s > 1 and (h % s or w % s):
            side = h if h % s else w
            product = 1
            for v in strides:
                product *= v
            H0, W0 = sides[0]
            fit = [max(product, round(v / product) * product) for v in (H0, W0)]
            to = str(fit[0]) if fit[0] == fit[1] else f"[{fit[0]}, {fit[1]}]"
            trail = " → ".join(_side_text(a, b) for a, b in sides)
            raise ConfigError(
                "model.img_size",
                f"{_side_text(H0, W0)} does not fit model.tokenizer_strides {strides}: SEW block {i} (stride {s}) gets "
                f"{_side_text(h, w)} (sides per block: {trail}), and {s} does not divide {side}; its strided conv "
                f"would give {-(-side // s)} but the shortcut's AvgPool {side // s}",
                f"use sides divisible by {product} (the product of the strides), e.g. img_size {to}, "
                f"or change model.tokenizer_strides")
        h, w = (h - 1) // s + 1, (w - 1) // s + 1
        sides.append((h, w))
    return h, w


def make_neuron(cfg: dict) -> PLIF:
    n = cfg["neuron"]
    cls = LIAF if cfg["neuron_kind"] == "liaf" else PLIF
    return cls(tau=n["tau"], v_threshold=n["v_threshold"], v_reset=n["v_reset"], detach_reset=n["detach_reset"],
               surrogate=n["surrogate"], alpha=n["alpha"], decay_input=n.get("decay_input", True))


class ConvUnit(nn.Module):
    """Conv2d (no bias) -> BN2d -> PLIF on (T*B, C, H, W)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, cfg: dict):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.lif = make_neuron(cfg)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        return from_time(self.lif(to_time(self.bn(self.conv(x)), T)))


class SEWBlock(nn.Module):
    describe_kind = "block"

    def __init__(self, cin: int, cout: int, k: int, stride: int, cfg: dict):
        super().__init__()
        self.conv1 = ConvUnit(cin, cout, k, stride, cfg)
        self.conv2 = ConvUnit(cout, cout, k, 1, cfg)
        if stride == 1 and cin == cout:
            self.down = None
        else:
            self.pool = nn.AvgPool2d(stride, stride) if stride > 1 else None
            self.down = ConvUnit(cin, cout, 1, 1, cfg)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        y = self.conv2(self.conv1(x, T), T)
        if self.down is None:
            return y + x
        s = self.pool(x) if self.pool is not None else x
        return y + self.down(s, T)


class Tokenizer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        k = cfg["tokenizer_kernel"]
        chans = [cfg["in_channels"]] + cfg["tokenizer_channels"]
        self.blocks = nn.ModuleList(SEWBlock(chans[i], chans[i + 1], k, s, cfg)
                                    for i, s in enumerate(cfg["tokenizer_strides"]))
        self.kernel, self.strides = k, list(cfg["tokenizer_strides"])
        self.grid = self.grid_for(*as_hw(cfg["img_size"]))
        for m in self.modules():  # the reference: kaiming_normal_ with its defaults (fan_in, gain sqrt(2))
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def grid_for(self, h: int, w: int) -> tuple[int, int]:
        """The token grid (rows, cols) of an h x w input."""
        k = self.kernel
        for s in self.strides:
            h, w = (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1
        return h, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        y = from_time(x)
        for blk in self.blocks:
            y = blk(y, T)
        return to_time(y.flatten(2).transpose(1, 2), T)  # (T, B, N, D)


class DropPath(nn.Module):
    """Stochastic depth: zeroes the residual branch of whole slices along `dim` (rescaling the kept ones), timm's
    drop_path on the tensor's dimension `dim`."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor, dim: int = 0) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = [1] * x.dim()
        shape[dim] = x.shape[dim]
        keep = x.new_empty(shape).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)


class MHSA(nn.Module):
    """Multi-head self-attention over sequences x (S, L, D) (S independent sequences of length L).

    softmax: softmax(Q K^T / sqrt(d)) V. spiking: Q, K, V spikes (PLIF over the time axis given by `T`) and
    Q K^T V * scale without softmax."""

    describe_kind = "attention"
    # the spatial MHSA of each block reports its map through spikestudio.probe.attention (Block sets it)
    probe_maps = False

    def __init__(self, cfg: dict):
        super().__init__()
        D = cfg["embed_dim"]
        self.num_heads = cfg["num_heads"]
        self.spiking = cfg["attention"] == "spiking"
        self.scale = (cfg["attn_scale"] if cfg["attn_scale"] is not None else 0.125) if self.spiking else \
            (D // self.num_heads) ** -0.5
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.proj = nn.Linear(D, D)
        if self.spiking:
            self.q_lif, self.k_lif, self.v_lif = make_neuron(cfg), make_neuron(cfg), make_neuron(cfg)

    def forward(self, x: torch.Tensor, to_t=None, from_t=None) -> torch.Tensor:
        S, L, D = x.shape
        h = self.num_heads
        qkv = self.qkv(x)
        if self.spiking:  # the neurons run over time: to_t maps (S, L, 3D) -> (T, ...), from_t back
            q, k, v = qkv.chunk(3, dim=-1)
            q, k, v = (from_t(lif(to_t(t))) for lif, t in ((self.q_lif, q), (self.k_lif, k), (self.v_lif, v)))
        else:
            q, k, v = qkv.chunk(3, dim=-1)
        q, k, v = (t.reshape(S, L, h, D // h).transpose(1, 2) for t in (q, k, v))
        qk = q @ k.transpose(-2, -1)
        a = qk * self.scale
        if not self.spiking:
            a = a.softmax(dim=-1)
        self.report_map(qk, a, to_t)
        y = (a @ v).transpose(1, 2).reshape(S, L, D)
        return self.proj(y)

    def report_map(self, qk: torch.Tensor, a: torch.Tensor, to_t) -> None:
        """spikestudio.probe.attention, (T, B, h, N, N): the softmax probabilities, or Q K^T of the Q/K neurons' spikes
        before the scale (spiking attention)."""
        if self.probe_maps and to_t is not None and _probe_api.active():
            _probe_api.attention(self, lambda: to_t(a.detach() if not self.spiking else qk.detach()),
                                 kind="qk" if self.spiking else "softmax")


class Block(nn.Module):
    describe_kind = "block"
    time_layout = True

    def __init__(self, cfg: dict, drop_path: float):
        super().__init__()
        D = cfg["embed_dim"]
        hidden = int(D * cfg["mlp_ratio"])
        self.norm_t = nn.LayerNorm(D, eps=1e-6)
        self.attn_t = MHSA(cfg)
        self.temporal_fc = nn.Linear(D, D)
        self.norm1 = nn.LayerNorm(D, eps=1e-6)
        self.attn = MHSA(cfg)
        self.attn.probe_maps = True
        self.norm2 = nn.LayerNorm(D, eps=1e-6)
        self.fc1 = nn.Linear(D, hidden)
        self.mlp_lif = make_neuron(cfg)
        self.fc2 = nn.Linear(hidden, D)
        self.drop_path = DropPath(drop_path)
        # the reference runs its DropPath on the MLP branch laid out (T, B, N, D): it drops whole time steps, the same
        # steps for every sample; `sample` drops whole samples instead
        self.mlp_drop_dim = 0 if cfg["mlp_drop_path"] == "step" else 1
        for m in (self.attn_t.qkv, self.attn_t.proj, self.attn.qkv, self.attn.proj, self.fc1, self.fc2):
            trunc_normal_init(m)
        nn.init.zeros_(self.temporal_fc.weight)
        nn.init.zeros_(self.temporal_fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, D = x.shape
        # temporal attention: B*N sequences of length T
        xt = x.permute(1, 2, 0, 3).reshape(B * N, T, D)

        def t_to(z):  # (B*N, T, C) -> (T, B*N, C)
            return z.transpose(0, 1)

        def t_from(z):
            return z.transpose(0, 1)

        r = self.attn_t(self.norm_t(xt), t_to, t_from)
        r = self.temporal_fc(self.drop_path(r))
        x = x + r.reshape(B, N, T, D).permute(2, 0, 1, 3)
        # spatial attention: T*B sequences of length N
        xs = x.reshape(T * B, N, D)
        r = self.attn(self.norm1(xs), lambda z: to_time(z, T), from_time)
        x = x + self.drop_path(r).reshape(T, B, N, D)
        # MLP with the neuron running over T
        y = self.fc2(self.mlp_lif(self.fc1(self.norm2(x))))
        return x + self.drop_path(y, dim=self.mlp_drop_dim)


class AttentionPoolHead(nn.Module):
    describe_kind = "pool"

    def __init__(self, D: int, K: int):
        super().__init__()
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.attention_pool = nn.Linear(D, 1)
        self.fc = nn.Linear(D, K)
        trunc_normal_init(self.attention_pool)
        trunc_normal_init(self.fc)

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        T, B, N, D = x.shape
        x = self.norm(x)
        if per_step:
            w = self.attention_pool(x).softmax(dim=2)  # over the N tokens of each step
            return self.fc((w * x).sum(2))  # (T, B, K)
        xs = x.permute(1, 0, 2, 3).reshape(B, T * N, D)
        w = self.attention_pool(xs).softmax(dim=1)
        return self.fc((w * xs).sum(1))


@register_model("spikeformer")
class Spikeformer(nn.Module):
    arch = "spikeformer"

    def __init__(self, cfg: dict):
        super().__init__()
        cfg = normalize(cfg)
        self.cfg = cfg
        self.variant = cfg["variant"]
        self.time_steps = cfg["time_steps"]
        self.num_classes = cfg["num_classes"]
        D = cfg["embed_dim"]
        self.tokenizer = Tokenizer(cfg)
        self.token_grid = self.tokenizer.grid
        N = self.token_grid[0] * self.token_grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(N, D))
        self.time_embed = nn.Parameter(torch.zeros(self.time_steps, D))
        nn.init.trunc_normal_(self.pos_embed, std=0.02, a=-2.0, b=2.0)
        L = cfg["depth"]
        rates = [cfg["drop_path"] * i / max(L - 1, 1) for i in range(L)]
        self.blocks = nn.ModuleList(Block(cfg, r) for r in rates)
        self.head = AttentionPoolHead(D, cfg["num_classes"])

    def spiking_inputs(self) -> set:
        """Names of the weight/pool layers whose input is binary spikes (structural, spec §6): only the layers fed
        by a PLIF directly -- each SEW block's conv2 (after conv1's neuron) and each MLP's fc2 (after mlp_lif). The
        first conv reads the input, later SEW blocks the integer SEW sums, the encoder the float residual stream;
        the spiking-attention Q/K/V products are no layers. LIAF (`neuron_kind: liaf`) outputs ReLU(H), not spikes."""
        if self.cfg["neuron_kind"] == "liaf":
            return set()
        names = {f"tokenizer.blocks.{i}.conv2.conv" for i in range(len(self.tokenizer.blocks))}
        names |= {f"blocks.{j}.fc2" for j in range(len(self.blocks))}
        return names

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        x, static = prepare_input(x, self.time_steps)
        if static:
            x = x.unsqueeze(0).expand(self.time_steps, *x.shape)
        T = x.shape[0]
        grid = self.tokenizer.grid_for(x.shape[-2], x.shape[-1])
        x = self.tokenizer(x)  # (T, B, N, D)
        pos, tim = self.pos_embed, self.time_embed
        if tuple(grid) != tuple(self.token_grid):  # another input size
            pos = resize_pos_embed(pos, self.token_grid, grid)
        if tim.shape[0] != T:  # nearest over the time steps, as the reference
            tim = nn.functional.interpolate(tim.t()[None], size=T, mode="nearest")[0].t()
        x = x + pos + tim[:, None, None, :]
        for blk in self.blocks:
            x = blk(x)
        return self.head(x, per_step)


def resize_pos_embed(pos: torch.Tensor, grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """(h*w, D) position embedding of a token grid (h, w) -> (H*W, D) for another input size: 2-D nearest
    interpolation over the grid, as the reference does (not 1-D over the flattened tokens)."""
    (h, w), (H, W) = grid, new_grid
    g = pos.t().reshape(1, pos.shape[1], h, w)
    return nn.functional.interpolate(g, size=(H, W), mode="nearest").reshape(pos.shape[1], H * W).t()


def closed_form_params(cfg: dict) -> int:
    """The spec §4.2 closed form (softmax attention): tokenizer + L * block + embeddings + head."""
    cfg = normalize(cfg)
    k = cfg["tokenizer_kernel"]
    chans = [cfg["in_channels"]] + cfg["tokenizer_channels"]
    tok = 0
    for i, s in enumerate(cfg["tokenizer_strides"]):
        a, b = chans[i], chans[i + 1]
        tok += a * b * k * k + 2 * b + 1 + b * b * k * k + 2 * b + 1
        if not (s == 1 and a == b):
            tok += a * b + 2 * b + 1
    D = cfg["embed_dim"]
    r = int(D * cfg["mlp_ratio"])
    block = 6 * D + 2 * (4 * D * D + D) + D * D + D + D * r + r + r * D + D + 1
    if cfg["attention"] == "spiking":
        block += 6
    h, w = as_hw(cfg["img_size"])
    for s in cfg["tokenizer_strides"]:
        h, w = (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1
    K = cfg["num_classes"]
    return tok + cfg["depth"] * block + h * w * D + cfg["time_steps"] * D + 2 * D + D + 1 + D * K + K


__all__ = ["Spikeformer", "closed_form_params", "normalize", "resize_pos_embed"]
