import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'yaml';
import { runCli } from '../../src/cli/main';
import type { CliContext } from '../../src/cli/context';
import { importReferenceConfig, loadConfig } from '../../src/core/config';
import { FAKE_RUNTIME, FIXTURES, removeDir, tempDir } from './helpers';

const YML = path.join(FIXTURES, 'reference-yml');
const read = (f: string) => fs.readFileSync(path.join(YML, f), 'utf8');

describe('import: reference yml → *.spike.yaml', () => {
  for (const [file, arch] of [
    ['spikformer-cifar10.yml', undefined],
    ['spikformer-imagenet.yml', undefined],
    ['spikingformer-cifar10.yml', 'spikingformer'],
  ] as const) {
    it(`${file}: the result validates with loadConfig and every yml key is mapped or reported`, () => {
      const yml = read(file);
      const r = importReferenceConfig(yml, { arch, sourceName: file });
      const { diagnostics, resolved } = loadConfig(r.text, path.join('/nowhere', 'x.spike.yaml'), { checkPaths: false });
      assert.deepEqual(diagnostics, [], r.text);
      assert.ok(resolved);
      // every key is either reflected in the output or listed in unmapped
      const keys = Object.keys(parse(yml));
      for (const k of r.unmapped) assert.ok(keys.includes(k), k);
      for (const k of r.unmapped) assert.match(r.text, new RegExp(`^#   ${k}: `, 'm'));
      assert.ok(r.unmapped.includes('mean') && r.unmapped.includes('remode') && !r.unmapped.includes('aa') && !r.unmapped.includes('cooldown_epochs'));
    });
  }

  it('Spikformer CIFAR-10: model, data and train values (spec §2.4)', () => {
    const r = importReferenceConfig(read('spikformer-cifar10.yml'));
    const { resolved } = loadConfig(r.text, '/w/x.spike.yaml', { checkPaths: false });
    assert.ok(resolved);
    assert.deepEqual(
      [resolved.model.arch, resolved.model.variant, resolved.model.depth, resolved.model.embed_dim, resolved.model.num_heads, resolved.model.time_steps, resolved.model.in_channels],
      ['spikformer', 'cifar', 4, 384, 12, 4, 3],
    );
    assert.equal(resolved.data.dataset, 'cifar10');
    assert.equal(resolved.data.batch_size, 128);
    assert.equal(resolved.data.root, path.resolve('/w', 'data/cifar10'));
    assert.deepEqual([resolved.train.lr, resolved.train.weight_decay, resolved.train.warmup_lr, resolved.train.label_smoothing, resolved.train.amp, resolved.train.seed], [0.0005, 0.06, 1e-5, 0.1, 'fp16', 42]);
    assert.deepEqual(
      [resolved.train.mixup_alpha, resolved.train.mixup_prob, resolved.train.mixup_switch_prob, resolved.train.mixup_off_epoch, resolved.train.reprob, resolved.train.cooldown_epochs, resolved.train.randaugment],
      [0.5, 1, 0.5, 200, 0.25, 10, 'rand-m9-n1-mstd0.4-inc1'],
    );
    assert.equal(resolved.train.cutmix_alpha, 0);
    assert.deepEqual(r.assumed, []);
  });

  it('ImageNet: T → time_steps, patch 16 → variant imagenet, the factory size 8-512 is assumed and said so', () => {
    const r = importReferenceConfig(read('spikformer-imagenet.yml'));
    const { resolved } = loadConfig(r.text, '/w/x.spike.yaml', { checkPaths: false });
    assert.ok(resolved);
    assert.equal(resolved.model.variant, 'imagenet');
    assert.equal(resolved.model.time_steps, 4);
    assert.deepEqual([resolved.model.embed_dim, resolved.model.depth, resolved.model.num_heads], [512, 8, 8]);
    assert.match(r.text, /# Assumed:\n#   model\.embed_dim: 512/);
    assert.ok(r.unmapped.includes('resume'));
    assert.match(r.notes.resume, /authors' local checkpoint/);
    assert.equal(resolved.train.cutmix_alpha, 1);
  });

  it('scale / ratio / train_interpolation → train.random_resized_crop (null when it is the identity)', () => {
    const imagenet = importReferenceConfig(read('spikformer-imagenet.yml'));
    const a = loadConfig(imagenet.text, '/w/x.spike.yaml', { checkPaths: false }).resolved;
    assert.deepEqual(a?.train.random_resized_crop, { scale: [1, 1], ratio: [0.75, 1.3333333333], interpolation: 'bicubic' });
    assert.ok(!imagenet.unmapped.includes('scale') && !imagenet.unmapped.includes('ratio') && !imagenet.unmapped.includes('train_interpolation'));
    assert.ok(imagenet.unmapped.includes('interpolation')); // the eval resize
    const cifar = importReferenceConfig(read('spikformer-cifar10.yml'));
    assert.equal(loadConfig(cifar.text, '/w/x.spike.yaml', { checkPaths: false }).resolved?.train.random_resized_crop, null);
    assert.ok(!cifar.unmapped.includes('scale') && !cifar.unmapped.includes('ratio'));
    assert.match(cifar.notes.scale, /identity/);
    const bad = importReferenceConfig('model: spikformer\nscale: [1.0, 0.5]\n');
    assert.ok(bad.unmapped.includes('scale'));
  });

  it('Spikingformer: dashed keys (time-step, mlp-ratio) map too', () => {
    const r = importReferenceConfig(read('spikingformer-cifar10.yml'), { arch: 'spikingformer' });
    assert.ok(!r.unmapped.includes('time-step') && !r.unmapped.includes('mlp-ratio'));
    const { resolved } = loadConfig(r.text, '/w/x.spike.yaml', { checkPaths: false });
    assert.equal(resolved?.model.arch, 'spikingformer');
    assert.equal(resolved?.data.batch_size, 64);
    assert.equal(resolved?.train.epochs, 400);
  });

  it('opt: lamb maps to train.optimizer lamb', () => {
    const r = importReferenceConfig('dataset: torch/cifar10\nopt: lamb\n');
    assert.ok(!r.unmapped.includes('opt'));
    assert.match(r.text, /optimizer: lamb/);
  });

  it('unknown optimisers, schedules and keys are reported, not dropped', () => {
    const r = importReferenceConfig('dataset: torch/cifar10\nopt: lars\nsched: plateau\nfoo_bar: 3\n');
    assert.deepEqual(r.unmapped.sort(), ['foo_bar', 'opt', 'sched']);
    assert.ok(loadConfig(r.text, '/w/x.spike.yaml').resolved);
  });
});

describe('import: CLI', () => {
  function context(cwd: string) {
    const chunks = { out: '', err: '' };
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (c) => (chunks.out += c));
    err.on('data', (c) => (chunks.err += c));
    const ctx: CliContext = { stdout: out, stderr: err, cwd, env: process.env, runtimeRoot: FAKE_RUNTIME };
    return { ctx, chunks };
  }

  it('spike-studio import FILE.yml -o OUT.spike.yaml writes a valid config and lists what is not mapped', async () => {
    const cwd = tempDir();
    try {
      fs.copyFileSync(path.join(YML, 'spikingformer-cifar10.yml'), path.join(cwd, 'cifar10.yml'));
      const { ctx, chunks } = context(cwd);
      assert.equal(await runCli(['import', 'cifar10.yml', '-o', 'c10.spike.yaml', '--arch', 'spikingformer'], ctx), 0, chunks.err);
      const text = fs.readFileSync(path.join(cwd, 'c10.spike.yaml'), 'utf8');
      assert.match(text, /arch: spikingformer/);
      assert.match(chunks.err, /not mapped \(\d+\): .*remode/);
      const v = context(cwd);
      assert.equal(await runCli(['validate', 'c10.spike.yaml'], v.ctx), 0, v.chunks.out);
    } finally {
      removeDir(cwd);
    }
  });

  it('without -o prints to stdout; a bad --arch is a usage error', async () => {
    const { ctx, chunks } = context(YML);
    assert.equal(await runCli(['import', 'spikformer-cifar10.yml'], ctx), 0);
    assert.match(chunks.out, /^# Imported from spikformer-cifar10\.yml/);
    assert.equal(await runCli(['import', 'spikformer-cifar10.yml', '--arch', 'vit'], ctx), 2);
  });
});
