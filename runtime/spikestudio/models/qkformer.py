"""QKFormer (Zhou et al., NeurIPS 2024, "QKFormer: Hierarchical Spiking Transformer using Q-K Attention") --
reference spec 2 §2.

Hierarchical: SPEDS patch embeddings (ConvBN-[MP]-LIF with a 1x1 ConvBN-LIF shortcut, outputs added) between
stages; Q-K token attention (QKTA) blocks in the early stages, spiking self-attention (SSA) blocks in the last.
Residuals are SEW (spike sums); every conv / BN runs on the (T*B)-flattened batch, neurons over T.

| variant  | stages (width, blocks)                        | stem                                 | names (reference)         |
|----------|-----------------------------------------------|--------------------------------------|---------------------------|
| imagenet | D/4 x 1 QKTA, D/2 x 2 QKTA, D x (depth-3) SSA | 3 convs, 2 max-pools (224 -> 56)     | `attn`, `fc1_conv`, ...   |
| cifar    | D/4 x 1 QKTA, D/2 x 1 QKTA, D x (depth-2) SSA | 2 convs, no pooling (32 -> 32)       | `ssa`, `mlp1_conv`, ...   |
| dvs      | D/2 x 1 QKTA, D x (depth-1) SSA               | 4 convs, 3 max-pools (128 -> 16)     | `ssa`, `mlp1_conv`, ...   |

Module names are the reference files' state_dict keys, so released checkpoints load as they are
(spec 2 §2.6). `num_heads` is used in every stage (the code hard-codes 8 for CIFAR and 16 for DVS; the presets
set those). Options:

* `ssa_neuron`: `reference` (default) reproduces the released code's last SSA neuron (`proj_lif`) applied to the
  (T*B, C, N) tensor -- it integrates over T*B "time steps" across the samples of the batch, so a sample's output
  depends on its batch (spec 2 §2.1 [BUG]; the published accuracies were measured this way). `per_sample` runs it
  over T per sample like every other neuron.
* `early_attention`: `qkta` (the code) or `qkca` (Q-K channel attention, paper only: one mask per channel from the
  token sums of Q; threshold 0.5 [UNVERIFIED]). `last_attention`: `ssa` (the code) or `qkca` (the paper's
  "QKTA+QKCA" ablation; no V projection).
"""

from __future__ import annotations

import torch
from torch import nn

from spikestudio import probe
from spikestudio import config_schema
from spikestudio.errors import ConfigError
from spikestudio.models.config import ARCH_DEFAULTS
from spikestudio.models.layers import (
    AttentionProbeMixin,
    SpikeAdd,
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
from spikestudio.neurons import BatchCoupledLIF

DEFAULTS = ARCH_DEFAULTS["qkformer"]
CHOICES = {key: config_schema.choices(f"model.{key}") for key in DEFAULTS}
MIN_DEPTH = {"imagenet": 4, "cifar": 3, "dvs": 2}


def stage_plan(cfg: dict) -> list[tuple[int, int]]:
    """[(width, blocks)] per stage."""
    D, L, v = cfg["embed_dim"], cfg["depth"], cfg["variant"]
    if v == "imagenet":
        return [(D // 4, 1), (D // 2, 2), (D, L - 3)]
    if v == "cifar":
        return [(D // 4, 1), (D // 2, 1), (D, L - 2)]
    return [(D // 2, 1), (D, L - 1)]


def normalize(cfg: dict) -> dict:
    cfg = dict(cfg)
    for k, v in DEFAULTS.items():
        if cfg.get(k) is None:
            cfg[k] = v
        if cfg[k] not in CHOICES[k]:
            raise ConfigError(f"model.{k}", f"must be one of {', '.join(CHOICES[k])}, got {cfg[k]!r}")
    v, D, h = cfg["variant"], cfg["embed_dim"], cfg["num_heads"]
    if cfg["depth"] < MIN_DEPTH[v]:
        raise ConfigError("model.depth", f"QKFormer {v} needs depth >= {MIN_DEPTH[v]} (one block in each early stage "
                                         f"and at least one in the last), got {cfg['depth']}")
    need = 16 if v == "dvs" else 8
    if D % need:
        chans = "embed_dim/16 (dvs stem: stage width D/2, then /8)" if v == "dvs" else "embed_dim/8"
        raise ConfigError("model.embed_dim", f"must be a multiple of {need} for QKFormer {v}: its stem has {chans} "
                                             f"channels, got {D}", f"try {max(need, round(D / need) * need)}")
    for width, _ in stage_plan(cfg):
        if width % h:
            raise ConfigError("model.num_heads", f"must divide every stage width {[w for w, _ in stage_plan(cfg)]}, "
                                                 f"got {h}")
    return cfg


# ------------------------------------------------------------------------------------------------------------
# patch embeddings (SPEDS)
# ------------------------------------------------------------------------------------------------------------


class _ConvPath(nn.Module):
    """Shared forward of the embeddings: a list of (conv, bn, pool-or-None, lif) attribute-name groups."""

    def _unit(self, prefix: str, x: torch.Tensor, T: int) -> torch.Tensor:
        y = getattr(self, f"{prefix}_bn")(getattr(self, f"{prefix}_conv")(x))
        pool = getattr(self, f"{prefix}_mp", None)
        if pool is not None:
            y = pool(y)
        return from_time(getattr(self, f"{prefix}_lif")(to_time(y, T)))

    def _add_unit(self, prefix: str, cin: int, cout: int, neuron: dict, pool: bool, k: int = 3, stride: int = 1):
        setattr(self, f"{prefix}_conv", nn.Conv2d(cin, cout, k, stride, k // 2, bias=False))
        setattr(self, f"{prefix}_bn", nn.BatchNorm2d(cout))
        if pool:
            setattr(self, f"{prefix}_mp", maxpool())
        setattr(self, f"{prefix}_lif", make_lif(neuron))


class PatchEmbedInit(_ConvPath):
    """The first embedding: image / event frames -> stage-1 width."""

    def __init__(self, cfg: dict, width: int):
        super().__init__()
        v, cin, n = cfg["variant"], cfg["in_channels"], cfg["neuron"]
        self.variant = v
        h, w = as_hw(cfg["img_size"])
        if v == "imagenet":  # D/8 (MP) -> D/4 (MP) -> D/4; shortcut 1x1 s2 from x0
            c8, c4 = width // 2, width
            self._add_unit("proj", cin, c8, n, True)
            self._add_unit("proj1", c8, c4, n, True)
            self._add_unit("proj2", c4, c4, n, False)
            self._add_unit("proj_res", c8, c4, n, False, k=1, stride=2)
            self.main = ("proj1", "proj2")
            h, w = pooled(pooled(h)), pooled(pooled(w))
        elif v == "cifar":  # D/8 -> D/4, no pooling; shortcut 1x1 s1 from x0
            c8, c4 = width // 2, width
            self._add_unit("proj", cin, c8, n, False)
            self._add_unit("proj1", c8, c4, n, False)
            self._add_unit("proj_res", c8, c4, n, False, k=1, stride=1)
            self.main = ("proj1",)
        else:  # dvs: c/8 -> c/4 (MP, x0) -> c/2 (MP) -> c (MP); shortcut 1x1 s4 from x0
            c = width
            self._add_unit("proj", cin, c // 8, n, False)
            self._add_unit("proj1", c // 8, c // 4, n, True)
            self._add_unit("proj2", c // 4, c // 2, n, True)
            self._add_unit("proj3", c // 2, c, n, True)
            self._add_unit("proj_res", c // 4, c, n, False, k=1, stride=4)
            self.main = ("proj2", "proj3")
            h, w = pooled(pooled(pooled(h))), pooled(pooled(pooled(w)))
        self.add = SpikeAdd(time_layout=False)
        self.grid = (h, w)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        x0 = self._unit("proj", x, T)
        if self.variant == "dvs":
            x0 = self._unit("proj1", x0, T)
        y = x0
        for p in self.main:
            y = self._unit(p, y, T)
        return self.add(y, self._unit("proj_res", x0, T))


class PatchEmbeddingStage(_ConvPath):
    """Between stages: c -> c' (= 2c) with one max-pool; shortcut 1x1 stride 2 on the (integer) input."""

    def __init__(self, cfg: dict, cin: int, cout: int):
        super().__init__()
        v, n = cfg["variant"], cfg["neuron"]
        if v == "imagenet":  # pool after the first conv
            self.main = ("proj3", "proj4")
            self._add_unit("proj3", cin, cout, n, True)
            self._add_unit("proj4", cout, cout, n, False)
        elif v == "cifar":  # pool after the second conv
            self.main = ("proj3", "proj4")
            self._add_unit("proj3", cin, cout, n, False)
            self._add_unit("proj4", cout, cout, n, True)
        else:  # dvs: proj / proj4 names, pool after the second conv
            self.main = ("proj", "proj4")
            self._add_unit("proj", cin, cout, n, False)
            self._add_unit("proj4", cout, cout, n, True)
        self._add_unit("proj_res", cin, cout, n, False, k=1, stride=2)
        self.add = SpikeAdd(time_layout=False)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        y = x
        for p in self.main:
            y = self._unit(p, y, T)
        return self.add(y, self._unit("proj_res", x, T))


# ------------------------------------------------------------------------------------------------------------
# attention
# ------------------------------------------------------------------------------------------------------------


class _QKV(nn.Module):
    def _branch(self, n: str, xf: torch.Tensor, T: int) -> torch.Tensor:
        """(T*B, C, N) -> LIF(BN1d(Conv1d(x))) -> (T, B, C, N)."""
        return getattr(self, f"{n}_lif")(to_time(getattr(self, f"{n}_bn")(getattr(self, f"{n}_conv")(xf)), T))

    def _make(self, n: str, C: int, neuron: dict) -> None:
        setattr(self, f"{n}_conv", nn.Conv1d(C, C, 1, bias=False))
        setattr(self, f"{n}_bn", nn.BatchNorm1d(C))
        setattr(self, f"{n}_lif", make_lif(neuron))

    def _proj(self, y: torch.Tensor, T: int) -> torch.Tensor:  # (T, B, C, N) spikes -> (T, B, C, N)
        return self.proj_lif(to_time(self.proj_bn(self.proj_conv(from_time(y))), T))


class QKAttention(_QKV):
    """QKTA (`mode` token: A_t = LIF_0.5(sum of Q over each head's d channels), one mask per head and token) or QKCA
    (`mode` channel: A_c = LIF_0.5(sum of Q over the N tokens), one mask per channel); X' = A * K; no V; output
    LIF(BN(Conv1d with bias)). `mask_kind` names what `attn_lif` emits (token / channel masks, not N x N maps)."""

    describe_kind = "ssa"  # the attention module (its products are masks: no dense flops)
    time_layout = True

    def __init__(self, C: int, heads: int, cfg: dict, mode: str):
        super().__init__()
        self.num_heads, self.dim, self.mode = heads, C, mode
        self.mask_kind = "token_mask" if mode == "token" else "channel_mask"
        n = cfg["neuron"]
        self._make("q", C, n)
        self._make("k", C, n)
        self.attn_lif = make_lif(n, v_threshold=cfg["attn_v_threshold"])
        self.proj_conv = nn.Conv1d(C, C, 1)
        self.proj_bn = nn.BatchNorm1d(C)
        self.proj_lif = make_lif(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, C, H, W)
        T, B, C, H, W = x.shape
        xf = from_time(x).flatten(2)  # (T*B, C, N)
        q = self._branch("q", xf, T)
        k = self._branch("k", xf, T)
        if self.mode == "token":
            h = self.num_heads
            a = self.attn_lif(q.reshape(T, B, h, C // h, H * W).sum(3, keepdim=True))  # (T, B, h, 1, N)
            y = (a * k.reshape(T, B, h, C // h, H * W)).reshape(T, B, C, H * W)
            if probe.active():  # one mask per head over the H x W tokens
                probe.attention(self, a.detach().squeeze(3), tokens=(H, W), kind=self.mask_kind)
        else:
            a = self.attn_lif(q.sum(3, keepdim=True))  # (T, B, C, 1)
            y = a * k
            if probe.active():  # one mask over all C channels (h = 1)
                probe.attention(self, a.detach().reshape(T, B, 1, C), tokens=(H, W), kind=self.mask_kind)
        return self._proj(y, T).reshape(T, B, C, H, W)


class SSA(AttentionProbeMixin, _QKV):
    """Spiking self-attention: Q, K, V = LIF(BN1d(Conv1d, no bias)); Y = Q (K^T V) * 0.125 -> LIF_0.5 ->
    Conv1d (bias) -> BN1d -> proj_lif, which with `ssa_neuron: reference` runs over the (T*B) axis (see module doc)."""

    def __init__(self, C: int, heads: int, cfg: dict):
        super().__init__()
        self.num_heads, self.dim = heads, C
        self.scale = cfg["attn_scale"] if cfg["attn_scale"] is not None else 0.125
        n = cfg["neuron"]
        for b in ("q", "k", "v"):
            self._make(b, C, n)
        self.attn_lif = make_lif(n, v_threshold=cfg["attn_v_threshold"])
        self.proj_conv = nn.Conv1d(C, C, 1)
        self.proj_bn = nn.BatchNorm1d(C)
        lif = make_lif(n)
        self.proj_lif = BatchCoupledLIF.like(lif, couple=cfg["ssa_neuron"] == "reference")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, C, H, W = x.shape
        h, N = self.num_heads, H * W
        xf = from_time(x).flatten(2)
        q, k, v = (self._branch(b, xf, T).reshape(T, B, h, C // h, N).transpose(3, 4) for b in ("q", "k", "v"))
        self.probe_attention(q, k)
        y = attention_product(q, k, v, self.scale)  # (T, B, h, N, d)
        y = self.attn_lif(y.transpose(3, 4).reshape(T, B, C, N))
        return self._proj(y, T).reshape(T, B, C, H, W)


class MLP(nn.Module):
    """LIF(BN2d(Conv1x1, bias)) twice. `names` = the reference attribute prefixes (fc1/fc2 or mlp1/mlp2)."""

    describe_kind = "mlp"
    time_layout = True

    def __init__(self, C: int, hidden: int, cfg: dict, names: tuple[str, str]):
        super().__init__()
        self.names = names
        for p, (a, b) in zip(names, ((C, hidden), (hidden, C))):
            setattr(self, f"{p}_conv", nn.Conv2d(a, b, 1))
            setattr(self, f"{p}_bn", nn.BatchNorm2d(b))
            setattr(self, f"{p}_lif", make_lif(cfg["neuron"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, C, H, W)
        T = x.shape[0]
        y = from_time(x)
        for p in self.names:
            y = from_time(getattr(self, f"{p}_lif")(to_time(getattr(self, f"{p}_bn")(getattr(self, f"{p}_conv")(y)), T)))
        return to_time(y, T)


class Block(nn.Module):
    """X' = X + Attn(X); X_out = X' + MLP(X') (spike sums). `attn_name` is the reference attribute (tssa/attn/ssa)."""

    describe_kind = "block"
    time_layout = True

    def __init__(self, C: int, cfg: dict, kind: str):
        super().__init__()
        imagenet = cfg["variant"] == "imagenet"
        heads = cfg["num_heads"]
        if kind == "ssa":
            self.attn_name = "attn" if imagenet else "ssa"
            attn: nn.Module = SSA(C, heads, cfg)
        else:
            self.attn_name = "tssa"
            attn = QKAttention(C, heads, cfg, "token" if kind == "qkta" else "channel")
        setattr(self, self.attn_name, attn)
        self.add1 = SpikeAdd()
        self.mlp = MLP(C, int(C * cfg["mlp_ratio"]), cfg, ("fc1", "fc2") if imagenet else ("mlp1", "mlp2"))
        self.add2 = SpikeAdd()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.add1(x, getattr(self, self.attn_name)(x))
        return self.add2(x, self.mlp(x))


class HeadPool(TokenTimeMean):
    """(T, B, C, H, W) -> mean over tokens -> (T, B, C) -> mean over T (unless per_step)."""

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        x = x.flatten(3).mean(3)
        return x if per_step else x.mean(0)


@register_model("qkformer")
class QKFormer(nn.Module):
    arch = "qkformer"

    def __init__(self, cfg: dict):
        super().__init__()
        cfg = normalize(cfg)
        self.cfg = cfg
        self.variant = cfg["variant"]
        self.time_steps = cfg["time_steps"]
        self.num_classes = cfg["num_classes"]
        plan = stage_plan(cfg)
        self.stage_names: list[str] = []
        for i, (width, blocks) in enumerate(plan):
            if i == 0:
                emb = PatchEmbedInit(cfg, width)
                grid = emb.grid
            else:
                emb = PatchEmbeddingStage(cfg, plan[i - 1][0], width)
                grid = (pooled(grid[0]), pooled(grid[1]))
            setattr(self, f"patch_embed{i + 1}", emb)
            last = i == len(plan) - 1
            kind = cfg["last_attention"] if last else cfg["early_attention"]
            setattr(self, f"stage{i + 1}", nn.ModuleList(Block(width, cfg, kind) for _ in range(blocks)))
        self.stages = len(plan)
        self.token_grid = grid
        self.pool = HeadPool()
        self.head = nn.Linear(plan[-1][0], cfg["num_classes"])
        trunc_normal_init(self.head)

    def spiking_inputs(self) -> set:
        """Layers fed binary spikes: every embedding conv after the first of its chain and every max-pool (a
        neuron's output is the input of the next unit; the pools sit before their LIF, so they see BN floats:
        not spiking); the first embedding's shortcut (reads x0, a neuron output); attention proj convs (after
        the mask product / attn_lif: binary); MLP second convs. Stage inputs (SEW sums) are integer, not binary."""
        names = set()
        for i in range(1, self.stages + 1):
            emb = getattr(self, f"patch_embed{i}")
            units = list(emb.main)
            if i == 1:
                names.add("patch_embed1.proj_res_conv")
                names |= {f"patch_embed1.{p}_conv" for p in units}
                if self.variant == "dvs":
                    names.add("patch_embed1.proj1_conv")
            else:
                names.add(f"patch_embed{i}.{units[1]}_conv")
            for j, blk in enumerate(getattr(self, f"stage{i}")):
                names.add(f"stage{i}.{j}.{blk.attn_name}.proj_conv")
                names.add(f"stage{i}.{j}.mlp.{blk.mlp.names[1]}_conv")
        return names

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        x, static = prepare_input(x, self.time_steps)
        if static:
            x = x.unsqueeze(0).expand(self.time_steps, *x.shape)
        T = x.shape[0]
        y = from_time(x.contiguous())
        for i in range(1, self.stages + 1):
            y = getattr(self, f"patch_embed{i}")(y, T)
            z = to_time(y, T)
            for blk in getattr(self, f"stage{i}"):
                z = blk(z)
            y = from_time(z)
        return self.head(self.pool(to_time(y, T), per_step))


def closed_form_params(cfg: dict) -> int:
    """Spec 2 §2.3 closed form."""
    cfg = normalize(cfg)
    bn = 2
    plan = stage_plan(cfg)
    r = cfg["mlp_ratio"]
    v, cin = cfg["variant"], cfg["in_channels"]

    def mlp(c):
        rc = int(c * r)
        return (rc * c + rc + bn * rc) + (rc * c + c + bn * c)

    def qk(c):
        return 2 * (c * c + 2 * c) + (c * c + 3 * c) + mlp(c)

    def ssa(c):
        return 3 * (c * c + 2 * c) + (c * c + 3 * c) + mlp(c)

    def emb(c, c2):
        return 9 * c * c2 + 9 * c2 * c2 + c * c2 + 3 * bn * c2

    c1 = plan[0][0]
    if v == "imagenet":
        a, b = c1 // 2, c1
        n = 9 * cin * a + 9 * a * b + 9 * b * b + a * b + bn * a + 3 * bn * b
    elif v == "cifar":
        a, b = c1 // 2, c1
        n = 9 * cin * a + 9 * a * b + a * b + bn * a + 2 * bn * b
    else:
        c = c1
        n = (9 * cin * c // 8 + 9 * (c // 8) * (c // 4) + 9 * (c // 4) * (c // 2) + 9 * (c // 2) * c + (c // 4) * c
             + bn * (c // 8) + bn * (c // 4) + bn * (c // 2) + 2 * bn * c)
    for i, (c, blocks) in enumerate(plan):
        if i:
            n += emb(plan[i - 1][0], c)
        last = i == len(plan) - 1
        kind = cfg["last_attention"] if last else cfg["early_attention"]
        n += blocks * (ssa(c) if kind == "ssa" else qk(c))
    K = cfg["num_classes"]
    return n + plan[-1][0] * K + K


__all__ = ["QKFormer", "closed_form_params", "normalize", "stage_plan"]
