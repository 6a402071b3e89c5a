"""Writes the webview fixtures of attention masks from real model runs (issue #15):
test/fixtures/events/mask-qkformer-run.jsonl (QKFormer cifar, 16 px: QKTA token masks in blocks 0-1, SSA maps in
block 2) and mask-sdt-run.jsonl (SDT cifar, 16 px, 4 heads of 16 channels: SDSA column masks), each with an `eval` and a `probe` event.

    .venv/bin/python scripts/mask-fixture.py

The models are the runtime's, built from small configs with wider BatchNorm scales so that the masks are neither
all 0 nor all 1 at initialisation; the input is a fixed synthetic image. Deterministic (seeded)."""

import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "runtime"))

import jsonschema  # noqa: E402
import torch  # noqa: E402

from spikestudio.models import build_model  # noqa: E402
from spikestudio.telemetry.probes import AttentionRecorder, attention_payload, probe_payload  # noqa: E402

NEURON = {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True, "surrogate": "sigmoid", "alpha": 4.0}
CONFIGS = {
    "mask-qkformer-run.jsonl": (dict(arch="qkformer", variant="cifar", embed_dim=64, num_heads=4, depth=3), 0.4),
    "mask-sdt-run.jsonl": (dict(arch="sdt", variant="cifar", embed_dim=64, num_heads=4, depth=2), 1.2),
}


def lively(model, bias: float):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 3 + 1)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 1.2 + bias)
    return model


def image() -> torch.Tensor:
    """A 3 x 16 x 16 image: a bright disc on a colour gradient (normalised like CIFAR-10)."""
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    disc = (((yy - 6) ** 2 + (xx - 9) ** 2) < 16).float()
    rgb = torch.stack([xx / 15, yy / 15, disc]) * 0.7 + disc * 0.3
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)
    return (rgb - mean) / std


def events(cfg: dict, bias: float) -> list[dict]:
    torch.manual_seed(0)
    full = dict(cfg, in_channels=3, num_classes=10, time_steps=2, img_size=16, neuron=dict(NEURON))
    model = lively(build_model(full), bias).eval()
    x = image().unsqueeze(0)
    rec = AttentionRecorder(model, samples=[0])
    with torch.no_grad(), rec.recording():
        model(x)
    out = [{"type": "eval", "epoch": 1, "step": 10, "loss": 2.1, "top1": 0.25, "top5": 0.7, "samples": 64,
            "seconds": 0.5, "best_top1": 0.25},
           dict(probe_payload(x[0], 0, 3, "cifar10"), type="probe", epoch=1, step=10)]
    out += [dict(attention_payload(m), type="attention", epoch=1, step=10) for m in rec.maps()]
    return [{"v": 1, **{k: e[k] for k in ("type",)}, "t": 1764000000.0 + i, "seq": i,
             **{k: v for k, v in e.items() if k != "type"}} for i, e in enumerate(out)]


def main() -> None:
    with open(os.path.join(ROOT, "runtime", "spikestudio", "schemas", "events.schema.json")) as f:
        schema = json.load(f)
    for name, (cfg, bias) in CONFIGS.items():
        path = os.path.join(ROOT, "test", "fixtures", "events", name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            for e in events(cfg, bias):
                jsonschema.validate(e, schema)
                f.write(json.dumps(e) + "\n")
        os.replace(tmp, path)
        print(f"wrote {os.path.relpath(path, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
