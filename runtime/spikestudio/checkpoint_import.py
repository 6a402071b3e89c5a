"""Convert reference-repository checkpoints (ZK-Zhou/spikformer, zhouchenlin2096/Spikingformer) to Spike Studio.

    python -m spikestudio import-checkpoint --arch spikformer|spikingformer IN OUT

IN: a torch.save file holding a state_dict, or a timm-style checkpoint dict with `state_dict` /
`state_dict_ema` / `model` (a DistributedDataParallel `module.` prefix is stripped). OUT: a torch.save file
`{"model": state_dict, "arch": ..., "source": ..., "inferred_model": {...}}` that `model.init_from` loads.
The reference's k=1 Conv1d / 1x1 Conv2d weights are reshaped to our nn.Linear shapes. Unknown keys (no
rule) and missing keys (expected by the architecture inferred from the file) are listed by name on stdout
(one JSON object) and make the command fail (exit 2) unless --allow-unknown / --allow-missing is given.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Callable

# dead modules of the reference code: tolerated on either side when loading
DEAD_KEY = re.compile(r"^(blocks\.\d+\.norm[12]\.(weight|bias)|pos_embed|norm\.(weight|bias)"
                      r"|block\.\d+\.attn\.talking_heads\.weight)$")  # + SDT v1's unused talking_heads

_SPIKFORMER_RULES: list[tuple[str, Callable[[re.Match], str]]] = [
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
]

_SPIKINGFORMER_RULES: list[tuple[str, Callable[[re.Match], str]]] = [
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
]

RULES = {"spikformer": _SPIKFORMER_RULES, "spikingformer": _SPIKINGFORMER_RULES}


# QKFormer, Spike-driven Transformer v1 and Meta-SpikeFormer (reference spec 2 §2.6, §3.6, §4.5): our module names ARE
# the released keys, so each rule keeps its key; a key no rule accepts is listed as unknown.
def _same(m: re.Match) -> str:
    return m[0]


_BN = r"(?:weight|bias|running_mean|running_var|num_batches_tracked)"
_CONV = r"(?:weight|bias)"
_QKFORMER_KEYS = [
    rf"patch_embed\d\.proj(?:\d|_res)?_conv\.{_CONV}",
    rf"patch_embed\d\.proj(?:\d|_res)?_bn\.{_BN}",
    rf"stage\d\.\d+\.(?:tssa|attn|ssa)\.(?:[qkv]|proj)_conv\.{_CONV}",
    rf"stage\d\.\d+\.(?:tssa|attn|ssa)\.(?:[qkv]|proj)_bn\.{_BN}",
    rf"stage\d\.\d+\.mlp\.(?:fc|mlp)[12]_conv\.{_CONV}",
    rf"stage\d\.\d+\.mlp\.(?:fc|mlp)[12]_bn\.{_BN}",
    rf"head\.{_CONV}",
]
_SDT_KEYS = [
    rf"patch_embed\.(?:proj|rpe)_conv\d?\.weight",
    rf"patch_embed\.(?:proj_bn\d?|rpe_bn)\.{_BN}",
    rf"block\.\d+\.attn\.(?:[qkv]|proj)_conv\.{_CONV}",
    rf"block\.\d+\.attn\.(?:[qkv]|proj)_bn\.{_BN}",
    r"block\.\d+\.attn\.talking_heads\.weight",
    rf"block\.\d+\.mlp\.fc[12]_conv\.{_CONV}",
    rf"block\.\d+\.mlp\.fc[12]_bn\.{_BN}",
    rf"head\.{_CONV}",
]
_META_KEYS = [
    rf"downsample(?:1_1|1_2|2|3|4)\.encode_conv\.{_CONV}",
    rf"downsample(?:1_1|1_2|2|3|4)\.encode_bn\.{_BN}",
    r"ConvBlock(?:1_1|1_2|2_1|2_2)\.0\.Conv\.(?:pwconv1|dwconv|pwconv2)\.weight",
    rf"ConvBlock(?:1_1|1_2|2_1|2_2)\.0\.Conv\.bn[12]\.{_BN}",
    r"ConvBlock(?:1_1|1_2|2_1|2_2)\.0\.conv[12]\.weight",
    rf"ConvBlock(?:1_1|1_2|2_1|2_2)\.0\.bn[12]\.{_BN}",
    r"block[34]\.\d+\.attn\.(?:[qkv]|proj)_conv\.0\.body\.(?:0|2\.0|2\.1)\.weight",
    rf"block[34]\.\d+\.attn\.(?:[qkv]|proj)_conv\.0\.body\.(?:1\.bn|2\.2)\.{_BN}",
    rf"block[34]\.\d+\.attn\.(?:[qkv]|proj)_conv\.1\.{_BN}",
    rf"block[34]\.\d+\.mlp\.fc[12]_conv\.{_CONV}",
    rf"block[34]\.\d+\.mlp\.fc[12]_bn\.{_BN}",
    rf"head(?:_kd)?\.{_CONV}",
]
RULES.update({arch: [(p, _same) for p in keys] for arch, keys in
              (("qkformer", _QKFORMER_KEYS), ("sdt", _SDT_KEYS), ("meta-spikeformer", _META_KEYS))})
_COMPILED = {arch: [(re.compile(p + r"\Z"), f) for p, f in rules] for arch, rules in RULES.items()}

# our keys that are nn.Linear weights (the reference may hold them as k=1 Conv1d or 1x1 Conv2d weights)
_LINEAR_WEIGHT = re.compile(r"^blocks\.\d+\.(attn\.([qkv]_proj|proj)|mlp\.fc[12])\.weight$")


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


def looks_like_reference(sd: dict) -> bool:
    return any(k.startswith("patch_embed.") or k.startswith("block.") for k in sd)


def rename_key(key: str, arch: str):
    for pat, fn in _COMPILED[arch]:
        m = pat.match(key)
        if m:
            return fn(m)
    return None


def convert_state_dict(sd: dict, arch: str):
    """Reference names -> ours. Returns (new_state_dict, unknown_reference_keys)."""
    if arch not in RULES:
        raise ValueError(f"unknown arch {arch!r} (known: {', '.join(RULES)})")
    out, unknown = {}, []
    for key, value in sd.items():
        new = rename_key(key, arch)
        if new is None:
            unknown.append(key)
            continue
        if _LINEAR_WEIGHT.match(new) and value.dim() > 2:
            value = value.reshape(value.shape[0], value.shape[1])
        out[new] = value
    return out, unknown


def load_into(model, sd: dict) -> dict:
    """Load `sd` into `model`: exact key/shape match required except for the reference's dead modules.
    Returns {"missing", "unexpected", "shape", "ignored"}; loads only when the first three are empty."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd and not DEAD_KEY.match(k)]
    unexpected = [k for k in sd if k not in own and not DEAD_KEY.match(k)]
    ignored = [k for k in sd if k not in own and DEAD_KEY.match(k)]
    shape = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in sd
             if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if not (missing or unexpected or shape):
        model.load_state_dict({k: v for k, v in sd.items() if k in own}, strict=False)
    return {"missing": missing, "unexpected": unexpected, "shape": shape, "ignored": ignored}


def infer_model_cfg(sd: dict, arch: str) -> dict:
    """A model section that fits a converted state_dict (heads and pool placement are not visible in weights:
    num_heads is a divisor guess; variant guessed from biases / pos_embed)."""
    if arch in _INFER:
        return _INFER[arch](sd)
    head_w = sd["head.weight"]
    D = head_w.shape[1]
    depth = 1 + max((int(k.split(".")[1]) for k in sd if k.startswith("blocks.")), default=-1)
    stem = sd.get("tokenizer.stages.0.conv.weight" if arch == "spikformer" else "tokenizer.stem.conv.weight")
    in_ch = stem.shape[1] if stem is not None else 3
    fc1 = sd.get("blocks.0.mlp.fc1.weight")
    mlp_ratio = (fc1.shape[0] / D) if fc1 is not None else 4
    if arch == "spikformer":
        variant = "cifar" if "blocks.0.attn.q_proj.bias" in sd else ("dvs" if "pos_embed" in sd else "imagenet")
    else:
        variant = "dvs" if in_ch == 2 else ("imagenet" if D >= 512 else "cifar")
    heads = next(h for h in (8, 4, 2, 1) if D % h == 0)
    cfg = {
        "arch": arch, "variant": variant, "embed_dim": int(D), "num_heads": heads, "depth": int(depth),
        "mlp_ratio": mlp_ratio, "in_channels": int(in_ch), "num_classes": int(head_w.shape[0]),
        "img_size": 32, "time_steps": 4,
        "reference_compat": any(k.endswith("norm1.weight") for k in sd) or "pos_embed" in sd,
    }
    if arch == "spikformer" and "pos_embed" in sd:
        n = sd["pos_embed"].shape[1]
        side = int(round(n ** 0.5))
        cfg["img_size"] = side * 16 if side * side == n else 128
    return cfg


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


_INFER = {"qkformer": _infer_qkformer, "sdt": _infer_sdt, "meta-spikeformer": _infer_meta}


def convert_file(src: str, dst: str, arch: str, allow_unknown: bool = False, allow_missing: bool = False) -> dict:
    import torch

    from spikestudio.models import build_model

    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return {"ok": False, "error": f"no such file: {src}"}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"cannot read {src}: {str(exc).splitlines()[0]}"}
    sd = extract_state_dict(obj)
    if sd is None:
        return {"ok": False, "error": f"{src} holds no state_dict"}
    is_ref = looks_like_reference(sd) or arch in _INFER  # spec-2 archs: always checked against their key table
    if is_ref:
        new, unknown = convert_state_dict(sd, arch)
    else:
        new, unknown = sd, []
    result = {"ok": True, "arch": arch, "source": src, "output": dst, "converted": is_ref,
              "keys": len(new), "unknown": unknown, "missing": [], "unexpected": [], "shape": []}
    if "head.weight" not in new:
        result["missing"].append("head.weight")
    else:
        cfg = infer_model_cfg(new, arch)
        result["inferred_model"] = cfg
        model = build_model(cfg)
        rep = load_into(model, new)
        result["missing"] = rep["missing"]
        result["unexpected"] = rep["unexpected"]
        result["shape"] = rep["shape"]
        result["params"] = sum(p.numel() for p in model.parameters())
    if (unknown and not allow_unknown) or ((result["missing"] or result["shape"]) and not allow_missing):
        result["ok"] = False
        result["error"] = "unknown or missing keys (listed); nothing written"
        return result
    torch.save({"model": new, "arch": arch, "source": src, "inferred_model": result.get("inferred_model")}, dst)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m spikestudio import-checkpoint",
                                description="Convert a reference-code checkpoint (Spikformer, Spikingformer, QKFormer, "
                                            "Spike-driven Transformer v1, Meta-SpikeFormer) to Spike Studio.")
    p.add_argument("--arch", required=True, choices=sorted(RULES))
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--allow-unknown", action="store_true", help="drop reference keys that have no rule")
    p.add_argument("--allow-missing", action="store_true", help="write even if expected keys are missing")
    args = p.parse_args(argv)
    res = convert_file(args.input, args.output, args.arch, args.allow_unknown, args.allow_missing)
    print(json.dumps(res, default=str))
    if not res["ok"]:
        for name in ("unknown", "missing", "unexpected", "shape"):
            for k in res.get(name, []):
                print(f"{name}: {k}", file=sys.stderr)
        print(res.get("error", "failed"), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
