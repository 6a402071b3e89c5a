// src/core/arch agrees with the runtime: for every preset of presets.json (plus a few extra shapes), predictModel
// gives exactly the layer list `spikestudio.describe.describe_model` observes in a real forward (names, kinds,
// shapes, params, flops, spiking flags). The runtime is run ONCE, in one process, for all model sections; its
// output is cached in .tmp/arch-describe/<hash of models/, describe.py, neurons.py, errors.py + cases>.json (CI starts without the cache).

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  denseFlops,
  estimateEnergy,
  estimateTrainingMemory,
  largestBatchThatFits,
  type LayerInfo,
  type ModelPrediction,
  type ModelShapeInput,
  poolingFactor,
  predictModel,
  SUPPORTED_ARCHS,
  tokenCount,
} from '../../src/core/arch';
import { REPO_ROOT } from './helpers';

const PRESETS_FILE = path.join(REPO_ROOT, 'runtime', 'spikestudio', 'presets', 'presets.json');
const PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');
const PRESETS: Record<string, { model: ModelShapeInput; paper?: { params?: number } }> = JSON.parse(fs.readFileSync(PRESETS_FILE, 'utf8'));

/** Extra shapes beyond the presets: dead modules, odd image sides, non-square images, fractional mlp_ratio. */
const EXTRA_CASES: Record<string, ModelShapeInput> = {
  'spikformer cifar compat': { arch: 'spikformer', variant: 'cifar', embed_dim: 32, num_heads: 2, depth: 2, in_channels: 3, img_size: 32, reference_compat: true },
  'spikformer imagenet compat, odd side': { arch: 'spikformer', variant: 'imagenet', embed_dim: 32, num_heads: 4, depth: 1, in_channels: 3, img_size: 37, reference_compat: true },
  'spikformer dvs compat (pos_embed)': { arch: 'spikformer', variant: 'dvs', embed_dim: 32, num_heads: 4, depth: 2, time_steps: 3, in_channels: 2, img_size: 48, reference_compat: true },
  'spikingformer compat, non-square': { arch: 'spikingformer', variant: 'cifar', embed_dim: 48, num_heads: 3, depth: 1, in_channels: 3, img_size: [24, 36], reference_compat: true },
  'spikingformer mlp_ratio 2.5, T=1': { arch: 'spikingformer', variant: 'imagenet', embed_dim: 40, num_heads: 5, depth: 1, mlp_ratio: 2.5, time_steps: 1, in_channels: 1, num_classes: 3, img_size: 30 },
  'spikformer N < d (2 tokens)': { arch: 'spikformer', variant: 'cifar', embed_dim: 64, num_heads: 1, depth: 1, in_channels: 1, img_size: [8, 4] },
  // Spikeformer / STSA with a low threshold, so that describe's one forward at init fires everywhere (see LIVE_CASES)
  'spikeformer spiking attention, non-square, firing': {
    arch: 'spikeformer', variant: 'cifar', embed_dim: 32, num_heads: 4, depth: 2, mlp_ratio: 2, time_steps: 3, in_channels: 3, num_classes: 5, img_size: [24, 32],
    tokenizer_channels: [8, 16, 32], tokenizer_strides: [2, 1, 2], tokenizer_kernel: 5, attention: 'spiking', attn_scale: 0.2, neuron: { tau: 2.0, v_threshold: 0.05 },
  },
  'spikeformer small, firing': {
    arch: 'spikeformer', variant: 'dvs', embed_dim: 32, num_heads: 4, depth: 2, mlp_ratio: 2, time_steps: 3, in_channels: 2, num_classes: 5, img_size: 20,
    tokenizer_channels: [8, 16, 32], tokenizer_strides: [2, 1, 2], tokenizer_kernel: 3, neuron: { tau: 2.0, v_threshold: 0.05 },
  },
  'spikeformer liaf, identity shortcut, stride 4': {
    arch: 'spikeformer', variant: 'dvs', embed_dim: 32, num_heads: 4, depth: 1, mlp_ratio: 1.5, time_steps: 3, in_channels: 2, num_classes: 5, img_size: 16,
    tokenizer_channels: [2, 16, 32], tokenizer_strides: [1, 4, 1], tokenizer_kernel: 3, neuron_kind: 'liaf', reference_compat: true, neuron: { tau: 2.0, v_threshold: 0.05 },
  },
  'stsa small, firing': { arch: 'stsa', variant: 'dvs', embed_dim: 32, num_heads: 2, depth: 2, mlp_ratio: 2, time_steps: 3, in_channels: 2, num_classes: 5, img_size: 40, neuron: { v_threshold: 0.05 } },
  'stsa compat, reference layout, non-square, T=1, firing': {
    arch: 'stsa', variant: 'cifar', embed_dim: 32, num_heads: 2, depth: 1, mlp_ratio: 2, time_steps: 1, in_channels: 2, num_classes: 5, img_size: [20, 50],
    reference_compat: true, qkv_layout: 'reference', neuron: { v_threshold: 0.05 },
  },
  // QKFormer / SDT v1 / Meta-SpikeFormer (spec 2), with a low threshold so that every neuron fires in describe's forward
  'qkformer cifar, T=2, firing': { arch: 'qkformer', variant: 'cifar', embed_dim: 64, num_heads: 4, depth: 3, in_channels: 3, num_classes: 5, img_size: 16, time_steps: 2, neuron: { v_threshold: 0.05 } },
  'qkformer imagenet, non-square, mlp_ratio 2, firing': { arch: 'qkformer', variant: 'imagenet', embed_dim: 64, num_heads: 2, depth: 5, mlp_ratio: 2, in_channels: 3, num_classes: 5, img_size: [40, 48], time_steps: 2, neuron: { v_threshold: 0.05 } },
  'qkformer dvs, QKCA in both, per_sample, firing': { arch: 'qkformer', variant: 'dvs', embed_dim: 64, num_heads: 4, depth: 3, mlp_ratio: 1, in_channels: 2, num_classes: 5, img_size: 32, time_steps: 2, early_attention: 'qkca', last_attention: 'qkca', ssa_neuron: 'per_sample', neuron: { v_threshold: 0.05 } },
  'sdt cifar, dead talking_heads, firing': { arch: 'sdt', variant: 'cifar', embed_dim: 32, num_heads: 4, depth: 2, in_channels: 3, num_classes: 5, img_size: 16, time_steps: 2, reference_compat: true, neuron: { v_threshold: 0.05 } },
  'sdt dvs erode, pooling 1010, non-square, firing': { arch: 'sdt', variant: 'dvs', embed_dim: 32, num_heads: 4, depth: 1, mlp_ratio: 2, in_channels: 2, num_classes: 5, img_size: [20, 24], time_steps: 2, dvs_mode: true, pooling_stat: '1010', neuron: { v_threshold: 0.05 } },
  'meta-spikeformer distillation head, non-square, firing': { arch: 'meta-spikeformer', variant: 'imagenet', embed_dim: 32, num_heads: 4, depth: 3, in_channels: 3, num_classes: 5, img_size: [32, 40], time_steps: 2, distillation_head: true, neuron: { v_threshold: 0.05 } },
  'meta-spikeformer stage_dims, odd side, T=1, firing': { arch: 'meta-spikeformer', variant: 'imagenet', embed_dim: 32, num_heads: 8, depth: 4, mlp_ratio: 2, in_channels: 3, num_classes: 5, img_size: 33, time_steps: 1, stage_dims: [8, 16, 32, 48], neuron: { v_threshold: 0.05 } },
};

/**
 * Every runtime model declares `spiking_inputs()`, so describe's `spiking` flags are structural and compared
 * exactly. These extra cases also use a low threshold so every neuron fires in describe's forward: the flags it
 * observes there must equal the declared (structural) ones.
 */
const LIVE_CASES = new Set(Object.keys(EXTRA_CASES).filter((n) => n.endsWith('firing') || n.includes('identity shortcut')));

const predicted = (model: ModelShapeInput) => (SUPPORTED_ARCHS as readonly unknown[]).includes(model.arch ?? 'spikformer');
/** Presets of architectures src/core/arch does not model yet (reported as pending tests, not hidden). */
const UNPREDICTED = Object.keys(PRESETS).filter((name) => !predicted(PRESETS[name].model));

function allCases(): Record<string, ModelShapeInput> {
  const cases: Record<string, ModelShapeInput> = {};
  for (const [name, preset] of Object.entries(PRESETS)) if (predicted(preset.model)) cases[name] = preset.model;
  return { ...cases, ...EXTRA_CASES };
}

const DESCRIBE_SCRIPT = `
import json, sys
import torch
torch.set_num_threads(2)
from spikestudio.describe import describe_model
from spikestudio.models import get_model_builder
cases = json.load(sys.stdin)
seen, out, declared = {}, {}, {}
for name, model in cases.items():
    key = json.dumps(model, sort_keys=True)
    if key not in seen:
        seen[key] = describe_model(model)
    out[name] = seen[key]
    declared[name] = hasattr(get_model_builder(model.get("arch", "spikformer")), "spiking_inputs")
json.dump({"described": out, "declared_spiking": declared}, sys.stdout)
`;

interface DescribeOutput {
  described: Record<string, ModelPrediction>;
  /** whether the runtime model declares spiking_inputs() (else describe observes the flags in one forward) */
  declared_spiking: Record<string, boolean>;
}

function runtimeSourcesHash(cases: unknown): string {
  const hash = createHash('sha256').update(DESCRIBE_SCRIPT).update(JSON.stringify(cases));
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== '__pycache__') walk(full);
      else if (entry.isFile() && entry.name.endsWith('.py')) hash.update(full).update(fs.readFileSync(full));
    }
  };
  // what describe's output depends on (not the trainer or data code other work touches)
  const pkg = path.join(REPO_ROOT, 'runtime', 'spikestudio');
  walk(path.join(pkg, 'models'));
  for (const f of ['describe.py', 'neurons.py', 'errors.py']) hash.update(f).update(fs.readFileSync(path.join(pkg, f)));
  return hash.digest('hex').slice(0, 16);
}

function describeWithRuntime(cases: Record<string, ModelShapeInput>): DescribeOutput {
  const cacheDir = path.join(REPO_ROOT, '.tmp', 'arch-describe');
  const cacheFile = path.join(cacheDir, `${runtimeSourcesHash(cases)}.json`);
  if (fs.existsSync(cacheFile)) return JSON.parse(fs.readFileSync(cacheFile, 'utf8'));
  if (!fs.existsSync(PYTHON)) {
    throw new Error(`arch.test: ${PYTHON} is missing. Create it (scripts/setup.sh test, or python3 -m venv .venv && .venv/bin/pip install torch numpy); this test does not skip.`);
  }
  const result = spawnSync(PYTHON, ['-c', DESCRIBE_SCRIPT], {
    input: JSON.stringify(cases),
    env: { ...process.env, PYTHONPATH: path.join(REPO_ROOT, 'runtime') + (process.env.PYTHONPATH ? path.delimiter + process.env.PYTHONPATH : '') },
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`describe failed (exit ${result.status}): ${result.error ?? ''}\n${result.stderr}`);
  const out = JSON.parse(result.stdout);
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify(out));
  return out;
}

describe('arch: predictModel matches `spikestudio describe`', function () {
  this.timeout(1_800_000); // the uncached describe of every preset (ImageNet sizes included) takes ~16 min on 2 busy cores
  const cases = allCases();
  let described: DescribeOutput = { described: {}, declared_spiking: {} };

  before(() => {
    described = describeWithRuntime(cases);
  });

  for (const [name, model] of Object.entries(cases)) {
    it(name, () => {
      const want = described.described[name];
      assert.ok(want, `no describe output for ${name}`);
      const strictSpiking = described.declared_spiking[name] || LIVE_CASES.has(name);
      const got = predictModel(model);
      assert.deepEqual(
        got.layers.map((l) => l.name),
        want.layers.map((l) => l.name),
        'layer names/order',
      );
      const flagsOff = (l: LayerInfo) => (strictSpiking ? l : { ...l, spiking: undefined });
      want.layers.forEach((w, i) => assert.deepEqual(flagsOff(got.layers[i]), flagsOff(w), `layer ${w.name}`));
      assert.equal(got.params, want.params, 'params');
      assert.equal(got.time_steps, want.time_steps);
      assert.equal(got.num_classes, want.num_classes);
      assert.deepEqual(got.token_grid, want.token_grid);
      assert.equal(got.arch, want.arch);
    });
  }
  for (const name of UNPREDICTED) it(`${name} (arch ${String(PRESETS[name].model.arch)}: not modelled by src/core/arch yet)`);

  it('spiking flags of Spikeformer/STSA presets: structural, not describe’s silent-forward observation (until the runtime declares spiking_inputs())', () => {
    const sf = predictModel(PRESETS['spikeformer-7-256/cifar10-dvs'].model);
    const flag = (p: ModelPrediction, n: string) => p.layers.find((l) => l.name === n)?.spiking;
    assert.equal(flag(sf, 'tokenizer.blocks.0.conv2.conv'), true); // fed by conv1.lif
    assert.equal(flag(sf, 'tokenizer.blocks.0.conv2.bn'), false); // a convolution's output
    assert.equal(flag(sf, 'tokenizer.blocks.1.conv1.conv'), false); // a SEW sum: {0, 1, 2}
    assert.equal(flag(sf, 'blocks.0.fc2'), true);
    const liaf = predictModel(PRESETS['spikeformer-7-512/imagenet'].model);
    assert.ok(liaf.layers.every((l) => l.spiking === (l.kind === 'lif')), 'LIAF outputs ReLU(H), not spikes');
    const st = predictModel(PRESETS['stsa-2-256-t10/dvs128-gesture'].model);
    assert.equal(flag(st, 'blocks.0.attn.qkv_conv'), false); // the residual stream
    assert.equal(flag(st, 'blocks.0.attn.proj_conv'), true);
    assert.equal(flag(st, 'head'), false);
  });
});

/** Paper rows whose printed size is another model's (reference spec 2 §2.3 [DIFF]: the DVS128 file uses MLP ratio 4, 1,999,371; the paper's 1.50M implies 1). */
const PAPER_PARAMS_DIFF = new Set(['qkformer-2-256/dvs128-gesture']);

describe('arch: derived numbers', () => {
  const mnist = predictModel(PRESETS['spikformer-tiny/mnist'].model);

  it('tokens, pooling factors', () => {
    assert.equal(tokenCount(mnist), 49);
    assert.equal(poolingFactor('cifar'), 4);
    assert.equal(poolingFactor('imagenet'), 16);
    assert.equal(poolingFactor('dvs'), 16);
    assert.equal(tokenCount(predictModel(PRESETS['spikingformer-8-512/imagenet'].model)), 196);
  });

  it('parameter counts are close to the papers’ rows', () => {
    for (const [name, preset] of Object.entries(PRESETS)) {
      const paper = preset.paper?.params;
      if (!paper || !predicted(preset.model) || PAPER_PARAMS_DIFF.has(name)) continue;
      const got = predictModel(preset.model).params;
      assert.ok(Math.abs(got - paper) / paper < 0.05, `${name}: ${got} vs paper ${paper}`);
    }
  });

  it('dense FLOPs: total = T × per step, except the head (once)', () => {
    const f = denseFlops(mnist);
    const head = mnist.layers.find((l) => l.name === 'head')?.flops ?? 0;
    assert.equal(f.total, (f.perStep - head) * 4 + head);
    assert.equal(f.perStep, mnist.layers.reduce((s, l) => s + l.flops, 0));
  });

  it('energy: first conv is MAC × T; spec §3.5 worked check (Spikingformer-8-512 first conv 346,816,512 MACs)', () => {
    const p = predictModel(PRESETS['spikingformer-8-512/imagenet'].model);
    const stem = p.layers.find((l) => l.name === 'tokenizer.stem.conv');
    assert.ok(stem);
    assert.equal(stem.flops * 4, 346_816_512);
    const e = estimateEnergy(p, { rate: 0 });
    const head = p.layers.find((l) => l.name === 'head');
    assert.ok(head);
    assert.equal(e.macs, 4 * stem.flops + head.flops); // the head runs once, on the time-averaged features
    assert.equal(e.sops, 0);
    // the log: 0.3473 G MACs (first conv + head)
    assert.ok(Math.abs(e.macs / 1e9 - 0.3473) < 0.001, String(e.macs));
    const nominal = estimateEnergy(p);
    assert.ok(nominal.sops > 0 && nominal.energy_mj > e.energy_mj);
    // a measured rate overrides the nominal one for the layers it feeds
    const hot = estimateEnergy(p, { rates: { 'blocks.0.mlp.fc2_lif': 0.9 } });
    assert.ok(hot.sops > nominal.sops);
  });

  it('strict counting makes Spikformer’s residual-fed layers MACs; paper counting does not; Spikingformer is the same both ways', () => {
    const sf = predictModel(PRESETS['spikformer-8-768/imagenet'].model);
    assert.ok(estimateEnergy(sf, { counting: 'strict' }).macs > 10 * estimateEnergy(sf).macs);
    const sg = predictModel(PRESETS['spikingformer-8-768/imagenet'].model);
    assert.deepEqual(estimateEnergy(sg, { counting: 'strict' }), estimateEnergy(sg));
  });

  it('energy at the spec’s rates is in the papers’ range (Spikingformer-8-512: 7.46 mJ)', () => {
    const p = predictModel(PRESETS['spikingformer-8-512/imagenet'].model);
    const e = estimateEnergy(p);
    assert.ok(e.energy_mj > 2 && e.energy_mj < 20, String(e.energy_mj));
  });

  it('training memory grows linearly with the batch; the largest fitting batch fits', () => {
    const p = predictModel(PRESETS['spikingformer-2-256-t16/cifar10-dvs'].model);
    const m16 = estimateTrainingMemory(p, 16, { amp: 'fp16' });
    const m32 = estimateTrainingMemory(p, 32, { amp: 'fp16' });
    assert.ok(Math.abs(m32.activations_mb - 2 * m16.activations_mb) < 1e-6);
    // calibration point: the published log peaks at 3.4 GB (spec §3.4)
    assert.ok(m16.total_mb > 2000 && m16.total_mb < 5000, String(m16.total_mb));
    const b = largestBatchThatFits(p, 8000, { amp: 'fp16' });
    assert.ok(estimateTrainingMemory(p, b, { amp: 'fp16' }).total_mb <= 8000);
    assert.ok(estimateTrainingMemory(p, b + 1, { amp: 'fp16' }).total_mb > 8000);
  });

  it('training memory follows the memory options: each exact option lowers it, checkpoint_blocks most; sltt does not grow with T', () => {
    const p = predictModel(PRESETS['spikformer-4-384/cifar10'].model);
    const plain = estimateTrainingMemory(p, 64).per_sample_mb;
    const pack = estimateTrainingMemory(p, 64, { pack_spikes: true }).per_sample_mb;
    const rec = estimateTrainingMemory(p, 64, { recompute_membranes: true }).per_sample_mb;
    const ckpt = estimateTrainingMemory(p, 64, { checkpoint_blocks: true }).per_sample_mb;
    const exact = estimateTrainingMemory(p, 64, { pack_spikes: true, recompute_membranes: true, checkpoint_blocks: true }).per_sample_mb;
    assert.ok(pack < plain && rec < plain && ckpt < plain, `${plain} ${pack} ${rec} ${ckpt}`);
    assert.ok(exact < Math.min(pack, rec, ckpt) && exact < plain / 3, `${plain} -> ${exact}`);
    assert.equal(estimateTrainingMemory(p, 64, { amp: 'bf16' }).per_sample_mb, plain / 2);
    const t8 = predictModel({ ...PRESETS['spikformer-4-384/cifar10'].model, time_steps: 8 });
    assert.equal(estimateTrainingMemory(t8, 64, { temporal_grad: 'sltt' }).per_sample_mb, estimateTrainingMemory(p, 64, { temporal_grad: 'sltt' }).per_sample_mb);
    assert.ok(estimateTrainingMemory(t8, 64).per_sample_mb > 1.9 * plain);
    assert.ok(largestBatchThatFits(p, 24576, { checkpoint_blocks: true }) > 1.5 * largestBatchThatFits(p, 24576));
  });

  it('rejects what the runtime rejects, naming the key', () => {
    assert.throws(() => predictModel({ embed_dim: 66 }), /model\.embed_dim/);
    assert.throws(() => predictModel({ embed_dim: 64, num_heads: 3 }), /model\.num_heads/);
    assert.throws(() => predictModel({ arch: 'vit' }), /model\.arch/);
  });
});
