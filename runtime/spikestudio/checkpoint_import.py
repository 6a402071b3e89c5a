"""Convert reference-repository checkpoints to Spike Studio.

    python -m spikestudio import-checkpoint --arch spikformer|spikingformer|spikeformer|stsa IN OUT

One `ArchSpec` per architecture (the `ARCHS` table): the reference repository, the rename rules (reference name ->
ours, by name only: never by shape or registration order), how to recognise the reference layout, the modules the
reference builds but never uses (`dead`: tolerated when missing or extra, nothing else is), the buffers we rebuild
instead of loading (`rebuilt`), and what the shapes determine of the model section (`infer`).

IN: a torch.save file holding a state_dict, or a training checkpoint holding one under `model` / `state_dict` /
`state_dict_ema` (timm's and torchvision's dicts with `args` as an argparse.Namespace load safely; a
DistributedDataParallel `module.` prefix is stripped). OUT: a torch.save file
`{"model": state_dict, "arch", "source", "converted_from", "inferred_model", "undetermined", "ignored", "rebuilt"
[, "qkv_layout"]}` that `model.init_from` loads, and beside it `OUT.json`, the same without the weights (the editor
reads it to check `init_from` against the config). Unknown keys (no rule) and missing keys are listed by name on
stdout (one JSON object) and make the command fail (exit 2) unless --allow-unknown / --allow-missing is given.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable

Rule = tuple[str, Callable[[re.Match], str]]
NEVER = re.compile(r"(?!)")
_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"


@dataclass(frozen=True)
class ArchSpec:
    name: str
    repo: str
    rules: list[Rule]
    # a raw state_dict in this reference layout
    detect: Callable[[dict], bool]
    # our keys of modules the reference builds but never uses: tolerated missing or extra when loading
    dead: re.Pattern = NEVER
    # reference buffers rebuilt from the config instead of loaded (dropped by the conversion, reported)
    rebuilt: re.Pattern = NEVER
    # a prefix every key of the reference layout carries (Spikeformer's wrapper module `model.`)
    prefix: str = ""
    # (converted, raw or None) -> (determined model keys, {undetermined key: why}, a config that builds a model of
    # the same shapes, for checking the conversion)
    infer: Callable[[dict, dict | None], tuple[dict, dict, dict]] | None = None
    # reshape a converted tensor to our shape (k=1 convs held as Linear, leading dimensions of 1)
    reshape: Callable[[str, object], object] = field(default=lambda key, value: value)
    compiled: list = field(default_factory=list, compare=False)

    def __post_init__(self):
        self.compiled.extend((re.compile(p + r"\Z"), f) for p, f in self.rules)


ARCHS: dict[str, ArchSpec] = {}


def register(spec: ArchSpec) -> ArchSpec:
    ARCHS[spec.name] = spec
    return spec


# ------------------------------------------------------------------------------------------- shared helpers

def _depth(sd: dict) -> int:
    return 1 + max((int(k.split(".")[1]) for k in sd if k.startswith("blocks.")), default=-1)


def _common(sd: dict, arch: str, stem_key: str, fc1_key: str, head_key: str = "head.weight") -> dict:
    head = sd[head_key]
    D = int(head.shape[1])
    stem = sd.get(stem_key)
    fc1 = sd.get(fc1_key)
    out = {"arch": arch, "embed_dim": D, "depth": _depth(sd), "num_classes": int(head.shape[0])}
    if stem is not None:
        out["in_channels"] = int(stem.shape[1])
    if fc1 is not None:
        r = fc1.shape[0] / D
        out["mlp_ratio"] = int(r) if r == int(r) else r
    return out


def _any_heads(D: int) -> int:
    """A head count that divides D: heads change no parameter shape, so any divisor builds the same tensors."""
    return next(h for h in (8, 4, 2, 1) if D % h == 0)


_HEADS = "no parameter depends on the head count: set it from the paper or the training script"
_TIME = "no parameter depends on T"


def _linear_reshape(pattern: str):
    lin = re.compile(pattern)

    def reshape(key, value):
        if lin.match(key) and value.dim() > 2:
            return value.reshape(value.shape[0], value.shape[1])
        return value
    return reshape


# ------------------------------------------------------------------------------------------- Spikformer

def _spikformer_infer(sd: dict, raw: dict | None):
    cfg = _common(sd, "spikformer", "tokenizer.stages.0.conv.weight", "blocks.0.mlp.fc1.weight")
    und = {"num_heads": _HEADS, "time_steps": _TIME}
    variant = None
    if "blocks.0.attn.q_proj.bias" in sd:
        variant = "cifar"  # Linear Q/K/V with bias only in cifar10/model.py
    elif raw is not None and raw.get("block.0.mlp.fc1_conv.weight") is not None:
        variant = "imagenet" if raw["block.0.mlp.fc1_conv.weight"].dim() == 4 else "dvs"  # Conv2d 1x1 vs Conv1d
    elif "pos_embed" in sd:
        variant = "dvs"
    if variant:
        cfg["variant"] = variant
    else:
        und["variant"] = "imagenet and dvs build the same tensors (they differ in the attention scale)"
    cfg["reference_compat"] = any(ARCHS["spikformer"].dead.match(k) for k in sd)
    probe = dict(cfg, variant=variant or "imagenet", num_heads=_any_heads(cfg["embed_dim"]))
    if "pos_embed" in sd:
        side = int(round(sd["pos_embed"].shape[-2] ** 0.5))
        und["img_size"] = (f"the unused pos_embed holds {sd['pos_embed'].shape[-2]} tokens ({side}×{side}); the input "
                           f"side that gives them is not unique")
        probe["img_size"] = side * (4 if variant == "cifar" else 16)
    else:
        und["img_size"] = "no parameter depends on the input size"
    return cfg, und, probe


register(ArchSpec(
    name="spikformer",
    repo="ZK-Zhou/spikformer",
    rules=[
        (r"patch_embed\.proj_conv\.(.+)", lambda m: f"tokenizer.stages.0.conv.{m[1]}"),
        (r"patch_embed\.proj_bn\.(.+)", lambda m: f"tokenizer.stages.0.bn.{m[1]}"),
        (r"patch_embed\.proj_conv([123])\.(.+)", lambda m: f"tokenizer.stages.{m[1]}.conv.{m[2]}"),
        (r"patch_embed\.proj_bn([123])\.(.+)", lambda m: f"tokenizer.stages.{m[1]}.bn.{m[2]}"),
        (r"patch_embed\.rpe_conv\.(.+)", lambda m: f"tokenizer.rpe.conv.{m[1]}"),
        (r"patch_embed\.rpe_bn\.(.+)", lambda m: f"tokenizer.rpe.bn.{m[1]}"),
        (r"block\.(\d+)\.attn\.([qkv])_(?:linear|conv)\.(.+)", lambda m: f"blocks.{m[1]}.attn.{m[2]}_proj.{m[3]}"),
        (r"block\.(\d+)\.attn\.([qkv])_bn\.(.+)", lambda m: f"blocks.{m[1]}.attn.{m[2]}_bn.{m[3]}"),
        (r"block\.(\d+)\.attn\.proj_(?:linear|conv)\.(.+)", lambda m: f"blocks.{m[1]}.attn.proj.{m[2]}"),
        (r"block\.(\d+)\.attn\.proj_bn\.(.+)", lambda m: f"blocks.{m[1]}.attn.proj_bn.{m[2]}"),
        (r"block\.(\d+)\.mlp\.fc([12])_(?:linear|conv)\.(.+)", lambda m: f"blocks.{m[1]}.mlp.fc{m[2]}.{m[3]}"),
        (r"block\.(\d+)\.mlp\.fc([12])_bn\.(.+)", lambda m: f"blocks.{m[1]}.mlp.fc{m[2]}_bn.{m[3]}"),
        (r"block\.(\d+)\.norm([12])\.(.+)", lambda m: f"blocks.{m[1]}.norm{m[2]}.{m[3]}"),
        (r"head\.(.+)", lambda m: f"head.{m[1]}"),
        (r"pos_embed", lambda m: "pos_embed"),
        (r"norm\.(.+)", lambda m: f"norm.{m[1]}"),
    ],
    detect=lambda sd: any(k.startswith(("patch_embed.rpe_conv.", "patch_embed.proj_conv1.")) for k in sd),
    dead=re.compile(r"^(blocks\.\d+\.norm[12]\.(weight|bias)|pos_embed|norm\.(weight|bias))$"),
    infer=_spikformer_infer,
    reshape=_linear_reshape(r"^blocks\.\d+\.(attn\.([qkv]_proj|proj)|mlp\.fc[12])\.weight$"),
))


# ------------------------------------------------------------------------------------------- Spikingformer

def _spikingformer_infer(sd: dict, raw: dict | None):
    cfg = _common(sd, "spikingformer", "tokenizer.stem.conv.weight", "blocks.0.mlp.fc1.weight")
    cfg["reference_compat"] = any(ARCHS["spikingformer"].dead.match(k) for k in sd)
    und = {"num_heads": _HEADS, "time_steps": _TIME, "img_size": "no parameter depends on the input size",
           "variant": "the max-pool placement (cifar: last two tokenizer stages; imagenet/dvs: all four) has no "
                      "parameters", "neuron.tau": "the DVS scripts use 1.5, the others 2.0; no parameter shows it"}
    return cfg, und, dict(cfg, variant="cifar", num_heads=_any_heads(cfg["embed_dim"]))


register(ArchSpec(
    name="spikingformer",
    repo="zhouchenlin2096/Spikingformer",
    rules=[
        # two naming generations of the tokenizer: proj_conv/proj1_conv... and block0_conv/block1_conv...
        (r"patch_embed\.(?:proj|block0)_conv\.(.+)", lambda m: f"tokenizer.stem.conv.{m[1]}"),
        (r"patch_embed\.(?:proj|block0)_bn\.(.+)", lambda m: f"tokenizer.stem.bn.{m[1]}"),
        (r"patch_embed\.(?:proj|block)([1-4])_conv\.(.+)", lambda m: f"tokenizer.stages.{int(m[1]) - 1}.conv.{m[2]}"),
        (r"patch_embed\.(?:proj|block)([1-4])_bn\.(.+)", lambda m: f"tokenizer.stages.{int(m[1]) - 1}.bn.{m[2]}"),
        (r"block\.(\d+)\.attn\.([qkv])_conv\.(.+)", lambda m: f"blocks.{m[1]}.attn.{m[2]}_proj.{m[3]}"),
        (r"block\.(\d+)\.attn\.([qkv])_bn\.(.+)", lambda m: f"blocks.{m[1]}.attn.{m[2]}_bn.{m[3]}"),
        (r"block\.(\d+)\.attn\.proj_conv\.(.+)", lambda m: f"blocks.{m[1]}.attn.proj.{m[2]}"),
        (r"block\.(\d+)\.attn\.proj_bn\.(.+)", lambda m: f"blocks.{m[1]}.attn.proj_bn.{m[2]}"),
        (r"block\.(\d+)\.mlp\.mlp([12])_conv\.(.+)", lambda m: f"blocks.{m[1]}.mlp.fc{m[2]}.{m[3]}"),
        (r"block\.(\d+)\.mlp\.mlp([12])_bn\.(.+)", lambda m: f"blocks.{m[1]}.mlp.fc{m[2]}_bn.{m[3]}"),
        (r"block\.(\d+)\.norm([12])\.(.+)", lambda m: f"blocks.{m[1]}.norm{m[2]}.{m[3]}"),
        (r"head\.(.+)", lambda m: f"head.{m[1]}"),
    ],
    detect=lambda sd: any(k.startswith(("patch_embed.proj1_conv.", "patch_embed.block0_conv.")) for k in sd),
    dead=re.compile(r"^blocks\.\d+\.norm[12]\.(weight|bias)$"),
    infer=_spikingformer_infer,
    reshape=_linear_reshape(r"^blocks\.\d+\.(attn\.([qkv]_proj|proj)|mlp\.fc[12])\.weight$"),
))


# ------------------------------------------------------------------------------------------- Spikeformer
# Loydian/Spikeformer: everything under the wrapper's `model.`; the tokenizer is patch_embed.conv_layers.<i> (SEW
# blocks): residual_function.0/1 (conv1/conv2) and shortcut.1 (the 1x1 unit after the AvgPool), each unit
# Sequential(SeqToANNContainer(Conv2d, BN), PLIF); SpikingJelly 0.0.0.0.10-12 keeps a container's modules under
# `.module` (`.module.0` when it holds several), later versions under `.0`. Blocks: temporal_norm1 / temporal_attn /
# temporal_fc (ours: norm_t / attn_t / temporal_fc), norm1 / attn (spatial), norm2, mlp.mlp.0 (fc1), mlp.mlp.1.w
# (the PLIF), mlp.mlp.2.0 (fc2). Head: norm, attention_pool, head (ours: head.norm / head.attention_pool / head.fc).

_UNIT = r"\.0\.(?:module\.)?([01])\.(.+)"  # a conv unit's (Conv2d, BN) container: 0 = conv, 1 = bn


def _spikeformer_infer(sd: dict, raw: dict | None):
    cfg = _common(sd, "spikeformer", "tokenizer.blocks.0.conv1.conv.weight", "blocks.0.fc1.weight", "head.fc.weight")
    und = {"num_heads": _HEADS, "neuron_kind": "plif and liaf have the same parameter"}
    n_tok = 0
    chans, strides, kernel = [], [], None
    i = 0
    while f"tokenizer.blocks.{i}.conv1.conv.weight" in sd:
        w = sd[f"tokenizer.blocks.{i}.conv1.conv.weight"]
        chans.append(int(w.shape[0]))
        kernel = int(w.shape[-1])
        has_down = f"tokenizer.blocks.{i}.down.conv.weight" in sd
        strides.append(1 if not has_down else None)  # a shortcut conv: stride > 1 or a channel change
        i += 1
    if chans:
        cfg["tokenizer_channels"] = chans
        cfg["tokenizer_kernel"] = kernel
    if chans and all(s is not None for s in strides):
        cfg["tokenizer_strides"] = strides
    elif chans:
        und["tokenizer_strides"] = ("a SEW block with a shortcut conv has stride > 1 or changes channels: "
                                    f"known {['?' if s is None else s for s in strides]}")
    if "time_embed" in sd:
        cfg["time_steps"] = int(sd["time_embed"].shape[-2])
    cfg["attention"] = "spiking" if "blocks.0.attn.q_lif.w" in sd else "softmax"
    probe_strides = [2 if s is None else s for s in strides] or [2, 2, 2]
    if "pos_embed" in sd:
        n_tok = int(sd["pos_embed"].shape[-2])
        side = int(round(math.sqrt(n_tok)))
        und["img_size"] = (f"pos_embed holds {n_tok} tokens ({side}×{side} if square); the input size follows from "
                           f"them and the tokenizer strides")
    prod = 1
    for s in probe_strides:
        prod *= s
    side = int(round(math.sqrt(n_tok))) if n_tok else 1
    grid = [side, side] if side * side == n_tok else [1, max(n_tok, 1)]
    probe = dict(cfg, num_heads=_any_heads(cfg["embed_dim"]), tokenizer_strides=probe_strides,
                 img_size=[grid[0] * prod, grid[1] * prod])
    probe.setdefault("tokenizer_channels", [cfg["embed_dim"]])
    return cfg, und, probe


register(ArchSpec(
    name="spikeformer",
    repo="Loydian/Spikeformer",
    prefix="model.",
    rules=[
        (r"patch_embed\.conv_layers\.(\d+)\.residual_function\.([01])" + _UNIT,
         lambda m: f"tokenizer.blocks.{m[1]}.conv{int(m[2]) + 1}.{'conv' if m[3] == '0' else 'bn'}.{m[4]}"),
        (r"patch_embed\.conv_layers\.(\d+)\.residual_function\.([01])\.1\.w",
         lambda m: f"tokenizer.blocks.{m[1]}.conv{int(m[2]) + 1}.lif.w"),
        (r"patch_embed\.conv_layers\.(\d+)\.shortcut\.1" + _UNIT,
         lambda m: f"tokenizer.blocks.{m[1]}.down.{'conv' if m[2] == '0' else 'bn'}.{m[3]}"),
        (r"patch_embed\.conv_layers\.(\d+)\.shortcut\.1\.1\.w", lambda m: f"tokenizer.blocks.{m[1]}.down.lif.w"),
        (r"pos_embed", lambda m: "pos_embed"),
        (r"time_embed", lambda m: "time_embed"),
        (r"blocks\.(\d+)\.temporal_norm1\.(weight|bias)", lambda m: f"blocks.{m[1]}.norm_t.{m[2]}"),
        (r"blocks\.(\d+)\.temporal_attn\.(qkv|proj)\.(weight|bias)", lambda m: f"blocks.{m[1]}.attn_t.{m[2]}.{m[3]}"),
        (r"blocks\.(\d+)\.temporal_fc\.(weight|bias)", lambda m: f"blocks.{m[1]}.temporal_fc.{m[2]}"),
        (r"blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)", lambda m: f"blocks.{m[1]}.attn.{m[2]}.{m[3]}"),
        (r"blocks\.(\d+)\.norm([12])\.(weight|bias)", lambda m: f"blocks.{m[1]}.norm{m[2]}.{m[3]}"),
        (r"blocks\.(\d+)\.mlp\.mlp\.0\.(?:module|0)\.(weight|bias)", lambda m: f"blocks.{m[1]}.fc1.{m[2]}"),
        (r"blocks\.(\d+)\.mlp\.mlp\.1\.w", lambda m: f"blocks.{m[1]}.mlp_lif.w"),
        (r"blocks\.(\d+)\.mlp\.mlp\.2\.(?:module\.)?0\.(weight|bias)", lambda m: f"blocks.{m[1]}.fc2.{m[2]}"),
        (r"norm\.(weight|bias)", lambda m: f"head.norm.{m[1]}"),
        (r"attention_pool\.(weight|bias)", lambda m: f"head.attention_pool.{m[1]}"),
        (r"head\.(weight|bias)", lambda m: f"head.fc.{m[1]}"),
    ],
    detect=lambda sd: any(k.startswith(("model.patch_embed.conv_layers.", "patch_embed.conv_layers.")) for k in sd),
    infer=_spikeformer_infer,
    # the reference's (1, N, D) / (1, T, D) embeddings are (N, D) / (T, D) here
    reshape=lambda key, value: value.reshape(value.shape[-2:]) if key in ("pos_embed", "time_embed") else value,
))


# ------------------------------------------------------------------------------------------- STSA
# ppppps/STSA_4_Asyn_SNN: conv_stem.block1..4_{conv,bn} (stem stages), block5 (the position branch); blocks under
# `block.<j>`; attention qkv_conv / qkv_bn / proj_conv / proj_bn / relative_position_bias_table as ours, the unused
# to_qkv_proj / to_qkv_bn (kept only for reference_compat), the buffers mask_mat / relative_position_index (rebuilt);
# MLP fc1_conv / fc1_bn / fc2_conv / fc2_bn (ours fc1 / bn1 / fc2 / bn2); classifier `classification` (ours head).

def _stsa_grid(raw: dict | None, sd: dict, j: int = 0):
    """(T, H, W) from the reference's buffers: the mask's first row has N ones, the index is (T*N, T*N), the table
    (2T-1)(2H-1)(2W-1) rows; H, W are the roots of x^2 - (H+W) x + N. None when the buffers are not there."""
    if raw is None:
        return None
    mask = raw.get(f"block.{j}.attn.mask_mat")
    table = sd.get(f"blocks.{j}.attn.relative_position_bias_table")
    if mask is None or table is None:
        return None
    m = mask[0] if mask.dim() == 3 else mask
    n = int((m[0] != 0).sum())
    tn = int(m.shape[0])
    if n <= 0 or tn % n:
        return None
    T = tn // n
    s = table.shape[0] / (2 * T - 1)
    hw_sum = (4 * n + 1 - s) / 2
    disc = hw_sum * hw_sum - 4 * n
    if disc < 0:
        return None
    H = int(round((hw_sum + math.sqrt(disc)) / 2))
    W = n // H if H else 0
    if H * W != n:
        return None
    idx = raw.get(f"block.{j}.attn.relative_position_index")
    if idx is not None and H != W:
        from spikestudio.models.stsa import relative_position_index
        if not (relative_position_index(T, H, W) == idx).all():
            H, W = W, H
    return T, H, W


def _stsa_infer(sd: dict, raw: dict | None):
    cfg = _common(sd, "stsa", "stem.stages.0.conv.weight", "blocks.0.mlp.fc1.weight")
    und = {}
    table = sd.get("blocks.0.attn.relative_position_bias_table")
    if table is not None:
        cfg["num_heads"] = int(table.shape[1])  # the bias table has one column per head
    cfg["reference_compat"] = any(ARCHS["stsa"].dead.match(k) for k in sd)
    grid = _stsa_grid(raw, sd)
    probe = dict(cfg)
    if grid is not None:
        T, H, W = grid
        cfg["time_steps"] = T
        und["img_size"] = (f"the token grid is {H}×{W} (four 3x3/2 max-pools); input sides {(H - 1) * 16 + 1}–{H * 16}"
                           + ("" if H == W else f" × {(W - 1) * 16 + 1}–{W * 16}") + " give it (the reference uses 128)")
        probe.update(time_steps=T, img_size=[H * 16, W * 16])
    else:
        und["time_steps"] = und["img_size"] = ("the bias table's rows are (2T-1)(2H-1)(2W-1); without the reference's "
                                               "mask buffer T and the grid are not separable")
        rows = table.shape[0] if table is not None else 1
        # a (T, 1x1 grid) whose table has the same rows, for the check only
        probe.update(time_steps=(rows + 1) // 2, img_size=1)
    return cfg, und, probe


register(ArchSpec(
    name="stsa",
    repo="ppppps/STSA_4_Asyn_SNN",
    rules=[
        (r"conv_stem\.block([1-4])_(conv|bn)\.(.+)", lambda m: f"stem.stages.{int(m[1]) - 1}.{m[2]}.{m[3]}"),
        (r"conv_stem\.block5_(conv|bn)\.(.+)", lambda m: f"stem.rpe.{m[1]}.{m[2]}"),
        (r"block\.(\d+)\.attn\.(qkv_conv|proj_conv|to_qkv_proj)\.(weight|bias)", lambda m: f"blocks.{m[1]}.attn.{m[2]}.{m[3]}"),
        (r"block\.(\d+)\.attn\.(qkv_bn|proj_bn|to_qkv_bn)\." + _BN, lambda m: f"blocks.{m[1]}.attn.{m[2]}.{m[3]}"),
        (r"block\.(\d+)\.attn\.relative_position_bias_table", lambda m: f"blocks.{m[1]}.attn.relative_position_bias_table"),
        (r"block\.(\d+)\.attn\.(mask_mat|relative_position_index)", lambda m: f"blocks.{m[1]}.attn.{m[2]}"),
        (r"block\.(\d+)\.mlp\.fc([12])_conv\.(weight|bias)", lambda m: f"blocks.{m[1]}.mlp.fc{m[2]}.{m[3]}"),
        (r"block\.(\d+)\.mlp\.fc([12])_bn\." + _BN, lambda m: f"blocks.{m[1]}.mlp.bn{m[2]}.{m[3]}"),
        (r"classification\.(weight|bias)", lambda m: f"head.{m[1]}"),
    ],
    detect=lambda sd: any(k.startswith("conv_stem.") for k in sd),
    dead=re.compile(r"^blocks\.\d+\.attn\.to_qkv_(proj|bn)\."),
    rebuilt=re.compile(r"^blocks\.\d+\.attn\.(mask_mat|relative_position_index)$"),
    infer=_stsa_infer,
))



# ------------------------------------------------------------------------------------------- spec 2 architectures
# QKFormer, Spike-driven Transformer v1 and Meta-SpikeFormer (reference spec 2 §2.6, §3.6, §4.5): our module names ARE
# the released keys, so each rule keeps its key; a key no rule accepts is listed as unknown.

def _same(m: re.Match) -> str:
    return m[0]


_BNK = r"(?:weight|bias|running_mean|running_var|num_batches_tracked)"
_CONV = r"(?:weight|bias)"
_QKFORMER_KEYS = [
    rf"patch_embed\d\.proj(?:\d|_res)?_conv\.{_CONV}",
    rf"patch_embed\d\.proj(?:\d|_res)?_bn\.{_BNK}",
    rf"stage\d\.\d+\.(?:tssa|attn|ssa)\.(?:[qkv]|proj)_conv\.{_CONV}",
    rf"stage\d\.\d+\.(?:tssa|attn|ssa)\.(?:[qkv]|proj)_bn\.{_BNK}",
    rf"stage\d\.\d+\.mlp\.(?:fc|mlp)[12]_conv\.{_CONV}",
    rf"stage\d\.\d+\.mlp\.(?:fc|mlp)[12]_bn\.{_BNK}",
    rf"head\.{_CONV}",
]
_SDT_KEYS = [
    rf"patch_embed\.(?:proj|rpe)_conv\d?\.weight",
    rf"patch_embed\.(?:proj_bn\d?|rpe_bn)\.{_BNK}",
    rf"block\.\d+\.attn\.(?:[qkv]|proj)_conv\.{_CONV}",
    rf"block\.\d+\.attn\.(?:[qkv]|proj)_bn\.{_BNK}",
    r"block\.\d+\.attn\.talking_heads\.weight",
    rf"block\.\d+\.mlp\.fc[12]_conv\.{_CONV}",
    rf"block\.\d+\.mlp\.fc[12]_bn\.{_BNK}",
    rf"head\.{_CONV}",
]
_META_KEYS = [
    rf"downsample(?:1_1|1_2|2|3|4)\.encode_conv\.{_CONV}",
    rf"downsample(?:1_1|1_2|2|3|4)\.encode_bn\.{_BNK}",
    r"ConvBlock(?:1_1|1_2|2_1|2_2)\.0\.Conv\.(?:pwconv1|dwconv|pwconv2)\.weight",
    rf"ConvBlock(?:1_1|1_2|2_1|2_2)\.0\.Conv\.bn[12]\.{_BNK}",
    r"ConvBlock(?:1_1|1_2|2_1|2_2)\.0\.conv[12]\.weight",
    rf"ConvBlock(?:1_1|1_2|2_1|2_2)\.0\.bn[12]\.{_BNK}",
    r"block[34]\.\d+\.attn\.(?:[qkv]|proj)_conv\.0\.body\.(?:0|2\.0|2\.1)\.weight",
    rf"block[34]\.\d+\.attn\.(?:[qkv]|proj)_conv\.0\.body\.(?:1\.bn|2\.2)\.{_BNK}",
    rf"block[34]\.\d+\.attn\.(?:[qkv]|proj)_conv\.1\.{_BNK}",
    rf"block[34]\.\d+\.mlp\.fc[12]_conv\.{_CONV}",
    rf"block[34]\.\d+\.mlp\.fc[12]_bn\.{_BNK}",
    rf"head(?:_kd)?\.{_CONV}",
]
def _count(sd: dict, prefix: str) -> int:
    """Number of ModuleList entries `prefix.{i}.` in sd."""
    return 1 + max((int(k[len(prefix) + 1:].split(".")[0]) for k in sd if k.startswith(prefix + ".")), default=-1)


def _infer_qkformer(sd: dict) -> dict:
    if "patch_embed1.proj3_conv.weight" in sd:
        variant, heads, img, T = "dvs", 16, 128, 16
    elif "patch_embed1.proj2_conv.weight" in sd:
        variant, heads, img, T = "imagenet", None, 224, 4
    else:
        variant, heads, img, T = "cifar", 8, 32, 4
    head_w = sd["head.weight"]
    D = int(head_w.shape[1])
    stages = [s for s in (1, 2, 3) if _count(sd, f"stage{s}")]
    mlp = "fc1" if variant == "imagenet" else "mlp1"
    fc1 = sd.get(f"stage1.0.mlp.{mlp}_conv.weight")
    w1 = int(sd["patch_embed1.proj_res_bn.weight"].shape[0])
    return {"arch": "qkformer", "variant": variant, "embed_dim": D, "num_heads": heads or max(1, D // 64),
            "depth": sum(_count(sd, f"stage{s}") for s in stages), "mlp_ratio": (fc1.shape[0] / w1) if fc1 is not None else 4,
            "in_channels": int(sd["patch_embed1.proj_conv.weight"].shape[1]), "num_classes": int(head_w.shape[0]),
            "img_size": img, "time_steps": T}


def _infer_sdt(sd: dict) -> dict:
    head_w = sd["head.weight"]
    D, K = int(head_w.shape[1]), int(head_w.shape[0])
    th = sd.get("block.0.attn.talking_heads.weight")
    cin = int(sd["patch_embed.proj_conv.weight"].shape[1])
    variant = "dvs" if cin == 2 else ("imagenet" if K == 1000 else "cifar")
    fc1 = sd.get("block.0.mlp.fc1_conv.weight")
    return {"arch": "sdt", "variant": variant, "embed_dim": D, "num_heads": int(th.shape[0]) if th is not None else 8,
            "depth": _count(sd, "block"), "mlp_ratio": (fc1.shape[0] / D) if fc1 is not None else 4, "in_channels": cin,
            "num_classes": K, "img_size": {"dvs": 128, "imagenet": 224}.get(variant, 32),
            "time_steps": 10 if variant == "dvs" else 4, "reference_compat": th is not None}


def _infer_meta(sd: dict) -> dict:
    head_w = sd["head.weight"]
    dims = [int(sd[f"downsample{s}.encode_conv.weight"].shape[0]) for s in ("1_2", "2", "3", "4")]
    fc1 = sd.get("block3.0.mlp.fc1_conv.weight")
    return {"arch": "meta-spikeformer", "variant": "imagenet", "embed_dim": dims[2], "stage_dims": dims, "num_heads": 8,
            "depth": _count(sd, "block3") + _count(sd, "block4"),
            "mlp_ratio": (fc1.shape[0] / dims[2]) if fc1 is not None else 4,
            "in_channels": int(sd["downsample1_1.encode_conv.weight"].shape[1]), "num_classes": int(head_w.shape[0]),
            "img_size": 224, "time_steps": 1, "distillation_head": "head_kd.weight" in sd}



# what the spec-2 inferences above guess rather than read from the shapes
_GUESSED = {"num_heads": _HEADS, "time_steps": _TIME,
            "img_size": "no parameter depends on the input size (the value is the paper's)"}


def _spec2_infer(guess: Callable[[dict], dict]):
    def infer(sd: dict, raw: dict | None):
        probe = guess(sd)
        cfg = {k: v for k, v in probe.items() if k not in _GUESSED}
        return cfg, {k: why for k, why in _GUESSED.items() if k in probe}, probe
    return infer


for _name, _repo, _keys, _detect, _guess, _dead in (
        ("qkformer", "zhouchenlin2096/QKFormer", _QKFORMER_KEYS, ("patch_embed1.", "stage1."), _infer_qkformer, NEVER),
        ("sdt", "BICLab/Spike-Driven-Transformer", _SDT_KEYS, ("block.0.attn.talking_heads.", "block.0.attn.q_conv."), _infer_sdt,
         re.compile(r"^block\.\d+\.attn\.talking_heads\.weight$")),
        ("meta-spikeformer", "BICLab/Spike-Driven-Transformer-V2", _META_KEYS, ("downsample1_1.",), _infer_meta, NEVER)):
    register(ArchSpec(name=_name, repo=_repo, rules=[(p, _same) for p in _keys],
                      detect=(lambda prefixes: lambda sd: any(k.startswith(prefixes) for k in sd))(_detect),
                      dead=_dead, infer=_spec2_infer(_guess)))


# ------------------------------------------------------------------------------------------- conversion

RULES = {name: spec.rules for name, spec in ARCHS.items()}  # the rename rules per architecture (compat view)


def extract_state_dict(obj):
    """The state_dict inside a checkpoint object (or None). Strips a `module.` prefix."""
    import torch

    def is_sd(d):
        return isinstance(d, dict) and d and all(isinstance(k, str) for k in d) and all(
            isinstance(v, torch.Tensor) for v in d.values())

    sd = None
    if is_sd(obj):
        sd = obj
    elif isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state", "state_dict_ema", "model_ema"):
            if is_sd(obj.get(key)):
                sd = obj[key]
                break
    if sd is None:
        return None
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def describe_contents(obj) -> str:
    """What a checkpoint object holds, for an error message: its top-level keys and their kinds."""
    if not isinstance(obj, dict):
        return f"a {type(obj).__name__}"
    parts = []
    for k, v in list(obj.items())[:12]:
        kind = "state_dict" if isinstance(v, dict) and v and all(hasattr(t, "shape") for t in v.values()) else type(v).__name__
        parts.append(f"{k} ({kind})")
    return "a dict with " + ", ".join(parts) + (" …" if len(obj) > 12 else "")


def detect_arch(sd: dict) -> list[str]:
    """The architectures whose reference layout `sd` has (by their key names)."""
    return [name for name, spec in ARCHS.items() if spec.detect(sd)]


def looks_like_reference(sd: dict) -> bool:
    return bool(detect_arch(sd)) or any(k.startswith(("patch_embed.", "block.", "conv_stem.")) for k in sd)


def rename_key(key: str, arch: str):
    spec = ARCHS[arch]
    if spec.prefix and key.startswith(spec.prefix):
        key = key[len(spec.prefix):]
    for pat, fn in spec.compiled:
        m = pat.match(key)
        if m:
            return fn(m)
    return None


@dataclass
class Conversion:
    state_dict: dict
    unknown: list  # reference keys without a rule
    rebuilt: dict  # our name -> the reference's buffer (not loaded; rebuilt from the config)


def convert(sd: dict, arch: str) -> Conversion:
    """Reference names -> ours, by name only."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r} (known: {', '.join(ARCHS)})")
    spec = ARCHS[arch]
    out, unknown, rebuilt = {}, [], {}
    for key, value in sd.items():
        new = rename_key(key, arch)
        if new is None:
            unknown.append(key)
        elif spec.rebuilt.match(new):
            rebuilt[new] = value
        else:
            out[new] = spec.reshape(new, value)
    return Conversion(out, unknown, rebuilt)


def convert_state_dict(sd: dict, arch: str):
    """Reference names -> ours. Returns (new_state_dict, unknown_reference_keys)."""
    c = convert(sd, arch)
    return c.state_dict, c.unknown


def dead_pattern(arch: str | None) -> re.Pattern:
    spec = ARCHS.get(arch or "")
    return spec.dead if spec is not None else NEVER


def load_into(model, sd: dict) -> dict:
    """Load `sd` into `model`: exact key/shape match required except for the modules that are dead in this model's
    architecture (the reference builds them, its forward never uses them). Returns {"missing", "unexpected",
    "shape", "ignored"}; loads only when the first three are empty."""
    dead = dead_pattern(getattr(model, "arch", None))
    own = model.state_dict()
    missing = [k for k in own if k not in sd and not dead.match(k)]
    unexpected = [k for k in sd if k not in own and not dead.match(k)]
    ignored = [k for k in sd if k not in own and dead.match(k)]
    shape = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in sd
             if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if not (missing or unexpected or shape):
        model.load_state_dict({k: v for k, v in sd.items() if k in own}, strict=False)
    return {"missing": missing, "unexpected": unexpected, "shape": shape, "ignored": ignored}


def check_rebuilt(model, rebuilt: dict) -> list[str]:
    """The reference buffers that differ from the ones this model rebuilt (same T, grid and heads give the same)."""
    bufs = dict(model.named_buffers())
    bad = []
    for key, ref in rebuilt.items():
        ours_key = key.replace(".mask_mat", ".mask")
        ours = bufs.get(ours_key)
        if ours is None:
            continue
        r = ref[0] if key.endswith("mask_mat") and ref.dim() == ours.dim() + 1 else ref
        if tuple(r.shape) != tuple(ours.shape) or not bool((r.to(ours.dtype) == ours).all()):
            bad.append(f"{key} {tuple(ref.shape)} differs from the rebuilt {tuple(ours.shape)}")
    return bad


def infer_model_cfg(sd: dict, arch: str, raw: dict | None = None) -> dict:
    """The model keys a converted state_dict determines (see `infer`)."""
    return ARCHS[arch].infer(sd, raw)[0]


def write_sidecar(dst: str, meta: dict) -> str:
    """`dst`.json: the conversion's metadata without the weights, written atomically."""
    path = f"{dst}.json"
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(meta, fh, indent=1, default=str)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def convert_file(src: str, dst: str, arch: str, allow_unknown: bool = False, allow_missing: bool = False,
                 qkv_layout: str | None = None) -> dict:
    from spikestudio.models import build_model
    from spikestudio.train.checkpoint import UnreadableCheckpoint, atomic_save, read_checkpoint

    try:
        obj = read_checkpoint(src)
    except UnreadableCheckpoint as exc:
        return {"ok": False, "error": exc.message, "hint": exc.hint}
    sd = extract_state_dict(obj)
    if sd is None:
        return {"ok": False, "error": f"{src} holds no state_dict: it is {describe_contents(obj)}",
                "hint": "expected the weights under model / state_dict / state_dict_ema, or a bare state_dict"}
    spec = ARCHS[arch]
    found = detect_arch(sd)
    if found and arch not in found:
        return {"ok": False, "error": f"{src} has the {found[0]} reference layout ({ARCHS[found[0]].repo}), not {arch}'s",
                "hint": f"python -m spikestudio import-checkpoint --arch {found[0]} {src} {dst}"}
    is_ref = arch in found or looks_like_reference(sd)
    conv = convert(sd, arch) if is_ref else Conversion(sd, [], {})
    new, unknown = conv.state_dict, conv.unknown
    result = {"ok": True, "arch": arch, "source": src, "output": dst, "converted": is_ref,
              "converted_from": f"{arch} reference layout ({spec.repo})" if is_ref else None,
              "keys": len(new), "unknown": unknown, "missing": [], "unexpected": [], "shape": [],
              "rebuilt": sorted(conv.rebuilt), "ignored": []}
    head_key = "head.fc.weight" if arch == "spikeformer" else "head.weight"
    if head_key not in new:
        result["missing"].append(head_key)
    else:
        cfg, und, probe = spec.infer(new, sd if is_ref else None)
        if arch == "stsa":
            probe["qkv_layout"] = cfg["qkv_layout"] = qkv_layout or ("reference" if is_ref else "paper")
        result["inferred_model"] = cfg
        result["undetermined"] = und
        model = build_model(probe)
        rep = load_into(model, new)
        result["missing"] = rep["missing"]
        result["unexpected"] = rep["unexpected"]
        result["shape"] = rep["shape"] + check_rebuilt(model, conv.rebuilt)
        result["ignored"] = rep["ignored"]
        result["params"] = sum(p.numel() for p in model.parameters())
    if (unknown and not allow_unknown) or ((result["missing"] or result["shape"]) and not allow_missing):
        result["ok"] = False
        result["error"] = "unknown or missing keys (listed); nothing written"
        return result
    meta = {"format": "spikestudio.import", "arch": arch, "source": os.path.abspath(src),
            "converted_from": result["converted_from"], "inferred_model": result.get("inferred_model"),
            "undetermined": result.get("undetermined", {}), "rebuilt": result["rebuilt"], "dropped": unknown}
    if arch == "stsa" and result.get("inferred_model"):
        meta["qkv_layout"] = result["inferred_model"]["qkv_layout"]
    atomic_save(dict(meta, model=new), dst)
    result["sidecar"] = write_sidecar(dst, meta)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m spikestudio import-checkpoint",
                                description="Convert a reference-repository checkpoint to Spike Studio: "
                                            + "; ".join(f"{n} ({s.repo})" for n, s in ARCHS.items()) + ".")
    p.add_argument("--arch", required=True, choices=sorted(ARCHS))
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--allow-unknown", action="store_true", help="drop reference keys that have no rule")
    p.add_argument("--allow-missing", action="store_true", help="write even if expected keys are missing")
    p.add_argument("--qkv-layout", choices=("paper", "reference"), default=None,
                   help="STSA: the qkv_layout the weights were trained with (reference checkpoints: reference)")
    args = p.parse_args(argv)
    res = convert_file(args.input, args.output, args.arch, args.allow_unknown, args.allow_missing, args.qkv_layout)
    print(json.dumps(res, default=str))
    if not res["ok"]:
        for name in ("unknown", "missing", "unexpected", "shape"):
            for k in res.get(name, []):
                print(f"{name}: {k}", file=sys.stderr)
        print(res.get("error", "failed"), file=sys.stderr)
        if res.get("hint"):
            print(res["hint"], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
