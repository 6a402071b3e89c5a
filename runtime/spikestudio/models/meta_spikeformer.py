"""Meta-SpikeFormer / Spike-driven Transformer V2 (Yao et al., ICLR 2024) as coded in
BICLab/Spike-Driven-Transformer-V2 (classification/models.py) -- reference spec 2 §4.

Membrane shortcut everywhere (float residual stream; a LIF before every weight layer except the first conv and
the inner convs of SepConv / RepConv). Layout over `stage_dims` [C0, C1, C2, C3] (null = [D/4, D/2, D, 5D/4],
D = embed_dim = C2):

  downsample1_1 (7x7 s2, 3 -> C0/2, no LIF) -> ConvBlock1_1 (C0/2) -> downsample1_2 (3x3 s2) -> ConvBlock1_2 (C0)
  -> downsample2 -> ConvBlock2_1, ConvBlock2_2 (C1) -> downsample3 -> block3 x (depth - 2) (C2)
  -> downsample4 (3x3 s1) -> block4 x 2 (C3) -> mean over tokens -> head_lif -> Linear -> mean over T.

* conv-based block: X1 = X + SepConv(X) (LIF, pw 1x1 c->2c, BN, LIF, dw 7x7, pw 1x1 2c->c, BN);
  X_out = X1 + BN(Conv3x3(4c->c)(LIF(BN(Conv3x3(c->4c)(LIF(X1)))))).
* transformer-based block: LIF(X) -> Q, K, V = LIF(BN(RepConv(.))) -> Q (K^T V) * 0.125 -> LIF_0.5 ->
  BN(RepConv(.)); MLP LIF -> Conv1d (4c) -> BN1d -> LIF -> Conv1d -> BN1d. RepConv = Conv1x1 -> BNAndPad(1) ->
  depthwise 3x3 (pad 0) -> Conv1x1 -> BN; BNAndPad pads with the value a zero input maps to (running stats).
* `distillation_head: true` adds `head_kd` (a second Linear on the same spikes); the output is the mean of both
  heads (the reference's eval output; the reference's training returns both for hard distillation from a
  CAFormer teacher, which this trainer does not run).

Module names are the released state_dict keys (spec 2 §4.5), so checkpoints load as they are.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from spikestudio.errors import ConfigError
from spikestudio.models.layers import (
    AttentionProbeMixin,
    SpikeAdd,
    as_hw,
    attention_product,
    from_time,
    make_lif,
    prepare_input,
    to_time,
    trunc_normal_init,
)
from spikestudio.models.registry import register_model
from spikestudio.models.sdt import TokenMean  # (T, B, C, H, W) -> (T, B, C)

TAIL_BLOCKS = 2  # block4


def default_dims(D: int) -> list[int]:
    return [D // 4, D // 2, D, D * 5 // 4]


def normalize(cfg: dict) -> dict:
    cfg = dict(cfg)
    D, h = cfg["embed_dim"], cfg["num_heads"]
    dims = cfg.get("stage_dims")
    if dims is None:
        dims = default_dims(D)
    if not isinstance(dims, (list, tuple)) or len(dims) != 4 or not all(
            isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 2 for c in dims):
        raise ConfigError("model.stage_dims", f"must be 4 integers [C0, C1, C2, C3] >= 2, got {dims!r}")
    dims = [int(c) for c in dims]
    if dims[2] != D:
        raise ConfigError("model.stage_dims", f"C2 ({dims[2]}) must equal model.embed_dim ({D})",
                          f"set embed_dim: {dims[2]} or stage_dims[2]: {D}")
    if dims[0] % 2:
        raise ConfigError("model.stage_dims", f"C0 ({dims[0]}) must be even (the stem has C0/2 channels)")
    for i in (2, 3):
        if dims[i] % h:
            raise ConfigError("model.num_heads", f"must divide the transformer stage widths C2 = {dims[2]} and "
                                                 f"C3 = {dims[3]}, got {h}")
    if cfg["depth"] < TAIL_BLOCKS + 1:
        raise ConfigError("model.depth", f"Meta-SpikeFormer needs depth >= {TAIL_BLOCKS + 1} (depth - 2 blocks at C2, "
                                         f"2 at C3), got {cfg['depth']}")
    dh = cfg.get("distillation_head")
    cfg["distillation_head"] = False if dh is None else dh
    if not isinstance(cfg["distillation_head"], bool):
        raise ConfigError("model.distillation_head", f"must be true or false, got {dh!r}")
    cfg["stage_dims"] = dims
    return cfg


class MS_DownSampling(nn.Module):
    """[LIF ->] Conv2d (bias) -> BN on (T*B, C, H, W)."""

    def __init__(self, cin: int, cout: int, k: int, s: int, p: int, first: bool, neuron: dict):
        super().__init__()
        self.encode_conv = nn.Conv2d(cin, cout, k, s, p)
        self.encode_bn = nn.BatchNorm2d(cout)
        if not first:
            self.encode_lif = make_lif(neuron)
        self.first = first

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        if not self.first:
            x = from_time(self.encode_lif(to_time(x, T)))
        return self.encode_bn(self.encode_conv(x))


class SepConv(nn.Module):
    def __init__(self, c: int, neuron: dict):
        super().__init__()
        self.lif1 = make_lif(neuron)
        self.pwconv1 = nn.Conv2d(c, 2 * c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(2 * c)
        self.lif2 = make_lif(neuron)
        self.dwconv = nn.Conv2d(2 * c, 2 * c, 7, padding=3, groups=2 * c, bias=False)
        self.pwconv2 = nn.Conv2d(2 * c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        y = self.bn1(self.pwconv1(from_time(self.lif1(to_time(x, T)))))
        y = self.dwconv(from_time(self.lif2(to_time(y, T))))
        return self.bn2(self.pwconv2(y))


class MS_ConvBlock(nn.Module):
    describe_kind = "block"
    time_layout = False

    def __init__(self, c: int, neuron: dict, ratio: int = 4):
        super().__init__()
        self.Conv = SepConv(c, neuron)
        self.add1 = SpikeAdd(time_layout=False)
        self.lif1 = make_lif(neuron)
        self.conv1 = nn.Conv2d(c, c * ratio, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c * ratio)
        self.lif2 = make_lif(neuron)
        self.conv2 = nn.Conv2d(c * ratio, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.add2 = SpikeAdd(time_layout=False)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:  # (T*B, C, H, W) float
        x = self.add1(x, self.Conv(x, T))
        y = self.bn1(self.conv1(from_time(self.lif1(to_time(x, T)))))
        y = self.bn2(self.conv2(from_time(self.lif2(to_time(y, T)))))
        return self.add2(x, y)


class BNAndPadLayer(nn.Module):
    """BatchNorm, then a 1-pixel border filled with beta - mean * gamma / sqrt(var + eps) (running statistics,
    detached gamma / beta): the value the BN maps a zero input to in eval mode."""

    def __init__(self, c: int, pad: int = 1):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(x)
        p = self.pad
        if p <= 0:
            return y
        bn = self.bn
        value = bn.bias.detach() - bn.running_mean * bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        n, c, h, w = y.shape
        v = value.to(y.dtype).reshape(1, c, 1, 1)
        y = torch.cat([v.expand(n, c, h, p), y, v.expand(n, c, h, p)], dim=3)  # concatenation: exact, exportable
        return torch.cat([v.expand(n, c, p, w + 2 * p), y, v.expand(n, c, p, w + 2 * p)], dim=2)


class RepConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cin, 1, bias=False),
            BNAndPadLayer(cin, 1),
            nn.Sequential(nn.Conv2d(cin, cin, 3, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False),
                          nn.BatchNorm2d(cout)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def rep_bn(cin: int, cout: int) -> nn.Sequential:
    """RepConv followed by its outer BatchNorm (keys `.0.body.*`, `.1.*`)."""
    return nn.Sequential(RepConv(cin, cout), nn.BatchNorm2d(cout))


class MS_Attention_RepConv(AttentionProbeMixin, nn.Module):
    def __init__(self, c: int, heads: int, cfg: dict):
        super().__init__()
        n = cfg["neuron"]
        self.num_heads, self.dim = heads, c
        self.scale = cfg["attn_scale"] if cfg["attn_scale"] is not None else 0.125
        self.head_lif = make_lif(n)
        for b in ("q", "k", "v"):
            setattr(self, f"{b}_conv", rep_bn(c, c))
            setattr(self, f"{b}_lif", make_lif(n))
        self.attn_lif = make_lif(n, v_threshold=cfg["attn_v_threshold"])
        self.proj_conv = rep_bn(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, C, H, W) float
        T, B, C, H, W = x.shape
        h, N = self.num_heads, H * W
        s = from_time(self.head_lif(x))
        q, k, v = (getattr(self, f"{b}_lif")(to_time(getattr(self, f"{b}_conv")(s), T))
                   .reshape(T, B, h, C // h, N).transpose(3, 4) for b in ("q", "k", "v"))
        self.probe_attention(q, k)
        y = attention_product(q, k, v, self.scale)  # (T, B, h, N, d)
        y = self.attn_lif(y.transpose(3, 4).reshape(T, B, C, H, W))
        return to_time(self.proj_conv(from_time(y)), T)


class MS_MLP(nn.Module):
    describe_kind = "mlp"
    time_layout = True

    def __init__(self, c: int, hidden: int, neuron: dict):
        super().__init__()
        self.fc1_lif = make_lif(neuron)
        self.fc1_conv = nn.Conv1d(c, hidden, 1)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc2_lif = make_lif(neuron)
        self.fc2_conv = nn.Conv1d(hidden, c, 1)
        self.fc2_bn = nn.BatchNorm1d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, C, H, W)
        T, B, C, H, W = x.shape
        y = self.fc1_bn(self.fc1_conv(from_time(self.fc1_lif(x)).flatten(2)))
        y = self.fc2_bn(self.fc2_conv(from_time(self.fc2_lif(to_time(y, T)))))
        return y.reshape(T, B, C, H, W)


class MS_Block(nn.Module):
    describe_kind = "block"
    time_layout = True

    def __init__(self, c: int, cfg: dict):
        super().__init__()
        self.attn = MS_Attention_RepConv(c, cfg["num_heads"], cfg)
        self.add1 = SpikeAdd()
        self.mlp = MS_MLP(c, int(c * cfg["mlp_ratio"]), cfg["neuron"])
        self.add2 = SpikeAdd()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.add1(x, self.attn(x))
        return self.add2(x, self.mlp(x))


@register_model("meta-spikeformer")
class MetaSpikeFormer(nn.Module):
    arch = "meta-spikeformer"

    def __init__(self, cfg: dict):
        super().__init__()
        cfg = normalize(cfg)
        self.cfg = cfg
        self.variant = cfg["variant"]
        self.time_steps = cfg["time_steps"]
        self.num_classes = cfg["num_classes"]
        n = cfg["neuron"]
        c0, c1, c2, c3 = cfg["stage_dims"]
        self.downsample1_1 = MS_DownSampling(cfg["in_channels"], c0 // 2, 7, 2, 3, True, n)
        self.ConvBlock1_1 = nn.ModuleList([MS_ConvBlock(c0 // 2, n)])
        self.downsample1_2 = MS_DownSampling(c0 // 2, c0, 3, 2, 1, False, n)
        self.ConvBlock1_2 = nn.ModuleList([MS_ConvBlock(c0, n)])
        self.downsample2 = MS_DownSampling(c0, c1, 3, 2, 1, False, n)
        self.ConvBlock2_1 = nn.ModuleList([MS_ConvBlock(c1, n)])
        self.ConvBlock2_2 = nn.ModuleList([MS_ConvBlock(c1, n)])
        self.downsample3 = MS_DownSampling(c1, c2, 3, 2, 1, False, n)
        self.block3 = nn.ModuleList(MS_Block(c2, cfg) for _ in range(cfg["depth"] - TAIL_BLOCKS))
        self.downsample4 = MS_DownSampling(c2, c3, 3, 1, 1, False, n)
        self.block4 = nn.ModuleList(MS_Block(c3, cfg) for _ in range(TAIL_BLOCKS))
        self.pool = TokenMean()
        self.head_lif = make_lif(n)
        self.head = nn.Linear(c3, cfg["num_classes"])
        if cfg["distillation_head"]:
            self.head_kd = nn.Linear(c3, cfg["num_classes"])
        h, w = as_hw(cfg["img_size"])
        for k, s, p in ((7, 2, 3), (3, 2, 1), (3, 2, 1), (3, 2, 1)):
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        self.token_grid = (h, w)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m)

    def spiking_inputs(self) -> set:
        """Layers whose input is a LIF's output: every downsampling conv but the first, SepConv pwconv1 / dwconv,
        the 3x3 channel-MLP convs, RepConv's first 1x1 of Q/K/V (after head_lif) and of proj (after attn_lif), the
        MLP Conv1d's and the head(s). SepConv's pwconv2 and RepConv's inner convs see floats."""
        names = {"downsample1_2.encode_conv", "downsample2.encode_conv", "downsample3.encode_conv",
                 "downsample4.encode_conv", "head"}
        if self.cfg["distillation_head"]:
            names.add("head_kd")
        for cb in ("ConvBlock1_1", "ConvBlock1_2", "ConvBlock2_1", "ConvBlock2_2"):
            names |= {f"{cb}.0.Conv.pwconv1", f"{cb}.0.Conv.dwconv", f"{cb}.0.conv1", f"{cb}.0.conv2"}
        for st, blocks in (("block3", self.block3), ("block4", self.block4)):
            for j in range(len(blocks)):
                p = f"{st}.{j}"
                names |= {f"{p}.attn.{b}_conv.0.body.0" for b in ("q", "k", "v", "proj")}
                names |= {f"{p}.mlp.fc1_conv", f"{p}.mlp.fc2_conv"}
        return names

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        x, static = prepare_input(x, self.time_steps)
        if static:
            x = x.unsqueeze(0).expand(self.time_steps, *x.shape)
        T = x.shape[0]
        y = self.downsample1_1(from_time(x.contiguous()), T)
        y = self.ConvBlock1_1[0](y, T)
        y = self.ConvBlock1_2[0](self.downsample1_2(y, T), T)
        y = self.downsample2(y, T)
        y = self.ConvBlock2_2[0](self.ConvBlock2_1[0](y, T), T)
        z = to_time(self.downsample3(y, T), T)
        for blk in self.block3:
            z = blk(z)
        z = to_time(self.downsample4(from_time(z), T), T)
        for blk in self.block4:
            z = blk(z)
        s = self.head_lif(self.pool(z))  # (T, B, C3)
        logits = self.head(s)
        if self.cfg["distillation_head"]:
            logits = (logits + self.head_kd(s)) / 2
        return logits if per_step else logits.mean(0)


def closed_form_params(cfg: dict) -> int:
    """Spec 2 §4.2."""
    cfg = normalize(cfg)
    c0, c1, c2, c3 = cfg["stage_dims"]
    cin, K = cfg["in_channels"], cfg["num_classes"]

    def down(a, c, k):
        return k * k * a * c + c + 2 * c

    def cb(c):
        return (2 * c * c + 4 * c + 98 * c + 2 * c * c + 2 * c) + (36 * c * c + 8 * c + 36 * c * c + 2 * c)

    def blk(c):
        r = int(c * cfg["mlp_ratio"])
        return 4 * (2 * c * c + 15 * c) + (c * r + r + 2 * r) + (r * c + 3 * c)

    n = down(cin, c0 // 2, 7) + cb(c0 // 2) + down(c0 // 2, c0, 3) + cb(c0) + down(c0, c1, 3) + 2 * cb(c1)
    n += down(c1, c2, 3) + (cfg["depth"] - TAIL_BLOCKS) * blk(c2) + down(c2, c3, 3) + TAIL_BLOCKS * blk(c3)
    n += (c3 * K + K) * (2 if cfg["distillation_head"] else 1)
    return n


__all__ = ["MetaSpikeFormer", "closed_form_params", "normalize", "default_dims"]
