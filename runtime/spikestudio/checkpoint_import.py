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
DEAD_KEY = re.compile(r"^(blocks\.\d+\.norm[12]\.(weight|bias)|pos_embed|norm\.(weight|bias))$")

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
    is_ref = looks_like_reference(sd)
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
                                description="Convert a reference Spikformer/Spikingformer checkpoint to Spike Studio.")
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
