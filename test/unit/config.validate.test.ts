import { strict as assert } from 'node:assert';
import { type ConfigDiagnostic, formatDiagnostic, loadConfig } from '../../src/core/config';
import { FIXTURE_PRESETS, readFixture } from './helpers';

const FULL = ['model:', '  embed_dim: 64', '  num_heads: 4', 'data:', '  batch_size: 32', 'train:', '  epochs: 2', ''].join('\n');

function diagnose(text: string): ConfigDiagnostic[] {
  return loadConfig(text, '/w/exp.spike.yaml', { presets: FIXTURE_PRESETS }).diagnostics;
}

function only(text: string, code: string): ConfigDiagnostic {
  const found = diagnose(text).filter((d) => d.code === code);
  assert.equal(found.length, 1, `expected one ${code} in ${JSON.stringify(diagnose(text), null, 1)}`);
  return found[0];
}

describe('config/validate: structural checks', () => {
  it('accepts a complete file without extends', () => {
    const result = loadConfig(FULL, '/w/exp.spike.yaml', { presets: FIXTURE_PRESETS });
    assert.deepEqual(result.diagnostics, []);
    assert.equal(result.resolved?.data.batch_size, 32);
    assert.equal(result.resolved?.train.optimizer, 'adamw');
  });

  it('wrong type: names the key, what it must be, and points at the value', () => {
    const d = only(FULL.replace('embed_dim: 64', 'embed_dim: "abc"'), 'wrong-type');
    assert.equal(d.path, 'model.embed_dim');
    assert.match(d.message, /model\.embed_dim must be an integer, but it is the string "abc"/);
    assert.deepEqual(d.range.start, { line: 1, character: 13 });
  });

  it('wrong type: a number where an integer is needed, a string for a boolean, a scalar for a section', () => {
    assert.match(only(FULL.replace('epochs: 2', 'epochs: 2.5'), 'wrong-type').message, /train\.epochs must be an integer/);
    assert.match(only(FULL + 'telemetry: 5\n', 'wrong-type').message, /telemetry must be a mapping/);
    assert.match(only(FULL.replace('num_heads: 4', 'num_heads: 4\n  reference_compat: "yes"'), 'wrong-type').message, /true or false/);
  });

  it('null for a non-nullable key is an error; for a nullable key it is fine', () => {
    assert.equal(only(FULL.replace('epochs: 2', 'epochs: null'), 'null-value').path, 'train.epochs');
    assert.deepEqual(diagnose(FULL.replace('epochs: 2', 'epochs: 2\n  grad_clip: null')), []);
  });

  it('unknown key: error on the key with "did you mean"', () => {
    const d = only(FULL.replace('num_heads: 4', 'num_heds: 4'), 'unknown-key');
    assert.equal(d.path, 'model.num_heds');
    assert.match(d.message, /Unknown key "num_heds" in model\. Did you mean "num_heads"\?/);
    assert.deepEqual(d.range, { start: { line: 2, character: 2 }, end: { line: 2, character: 10 } });
  });

  it('unknown key without a close match lists the allowed keys; top-level typos get suggestions', () => {
    assert.match(only(FULL + 'zzzz: 1\n', 'unknown-key').message, /keys allowed at the top level are: extends, name, model/);
    assert.match(only(FULL + 'telemetri: {}\n', 'unknown-key').message, /Did you mean "telemetry"\?/);
  });

  it('missing section when there is no extends', () => {
    const d = only('model:\n  embed_dim: 64\ntrain:\n  epochs: 1\n', 'missing-section');
    assert.equal(d.path, 'data');
    assert.match(d.message, /Missing section "data".*extends/);
  });

  it('no missing-section errors when extends names a preset', () => {
    assert.deepEqual(diagnose('extends: spikformer-tiny/mnist\n'), []);
  });

  it('bad enum: lists the values and suggests the closest', () => {
    const d = only(FULL.replace('epochs: 2', 'epochs: 2\n  optimizer: adamx'), 'bad-enum');
    assert.equal(d.path, 'train.optimizer');
    assert.match(d.message, /must be one of adamw \| adam \| sgd \| lamb.*Did you mean "adamw"\?/);
  });

  it('enums with booleans (train.amp)', () => {
    assert.deepEqual(diagnose(FULL.replace('epochs: 2', 'epochs: 2\n  amp: bf16')), []);
    assert.deepEqual(diagnose(FULL.replace('epochs: 2', 'epochs: 2\n  amp: false')), []);
    assert.equal(only(FULL.replace('epochs: 2', 'epochs: 2\n  amp: true'), 'bad-enum').path, 'train.amp');
  });

  it('ranges and patterns', () => {
    assert.match(only(FULL.replace('epochs: 2', 'epochs: 0'), 'out-of-range').message, /train\.epochs must be at least 1 \(it is 0\)/);
    assert.match(only(FULL.replace('epochs: 2', 'epochs: 2\n  momentum: 1.5'), 'out-of-range').message, /at most 1/);
    assert.match(only(FULL.replace('epochs: 2', 'epochs: 2\n  device: gpu'), 'bad-format').message, /auto, cpu, cuda or cuda:N/);
    assert.deepEqual(diagnose(FULL.replace('epochs: 2', 'epochs: 2\n  device: cuda:1')), []);
  });

  it('semantic: num_heads must divide embed_dim', () => {
    const d = only(FULL.replace('embed_dim: 64', 'embed_dim: 66'), 'heads-divide-dim');
    assert.equal(d.path, 'model.num_heads');
    assert.match(d.message, /model\.num_heads \(4\) must divide model\.embed_dim \(66\)/);
    assert.deepEqual(d.range.start, { line: 2, character: 13 });
  });

  it('semantic: time_steps ≥ 1', () => {
    const d = diagnose(FULL.replace('num_heads: 4', 'num_heads: 4\n  time_steps: 0'));
    assert.ok(d.some((x) => x.path === 'model.time_steps' && x.severity === 'error'));
  });

  it('semantic warnings do not block resolving', () => {
    const result = loadConfig(FULL.replace('epochs: 2', 'epochs: 2\n  warmup_epochs: 5'), null, { presets: FIXTURE_PRESETS });
    assert.equal(result.diagnostics[0]?.severity, 'warning');
    assert.ok(result.resolved);
  });

  it('a preset value that breaks a rule points at extends and says so', () => {
    const d = only('extends: broken/heads\n', 'heads-divide-dim');
    assert.deepEqual(d.range.start, { line: 0, character: 9 });
    assert.match(d.message, /comes from preset "broken\/heads"/);
  });

  it('the top level must be a mapping', () => {
    assert.equal(only('- a\n- b\n', 'not-a-mapping').severity, 'error');
  });

  it('the malformed fixture gives wrong type, unknown key and bad enum', () => {
    const codes = loadConfig(readFixture('configs/malformed.spike.yaml'), '/w/m.spike.yaml', { presets: FIXTURE_PRESETS }).diagnostics.map((d) => d.code);
    assert.deepEqual(codes.sort(), ['bad-enum', 'missing-section', 'unknown-key', 'wrong-type']);
  });
});

describe('formatDiagnostic', () => {
  it('prints file:line:col: severity: message with 1-based positions', () => {
    const d: ConfigDiagnostic = {
      severity: 'error',
      message: 'model.embed_dim must be an integer',
      path: 'model.embed_dim',
      range: { start: { line: 3, character: 13 }, end: { line: 3, character: 23 } },
      code: 'wrong-type',
    };
    assert.equal(formatDiagnostic('cfg.spike.yaml', d), 'cfg.spike.yaml:4:14: error: model.embed_dim must be an integer');
  });
});

describe('config/validate: list, size and mapping fields; architecture- and dataset-specific keys', () => {
  const SF = 'extends: spikeformer-7-256/dvs128-gesture\nmodel:\n';
  const cfg = (text: string) => loadConfig(text, '/w/x.spike.yaml', { checkPaths: false }).diagnostics;
  const codes = (text: string) => cfg(text).map((d) => `${d.code}@${d.path}`);

  it('int[]: a non-empty list of integers ≥ minimum', () => {
    assert.deepEqual(cfg(SF + '  tokenizer_channels: [32, 64, 256]\n'), []);
    assert.deepEqual(codes(SF + '  tokenizer_channels: 256\n'), ['wrong-type@model.tokenizer_channels']);
    assert.deepEqual(codes(SF + '  tokenizer_channels: []\n'), ['wrong-type@model.tokenizer_channels']);
    assert.deepEqual(codes(SF + '  tokenizer_strides: [2, 0, 2]\n'), ['out-of-range@model.tokenizer_strides']);
    assert.match(cfg(SF + '  tokenizer_strides: [2, 1.5, 2]\n')[0].message, /a non-empty list of integers or null/);
  });

  it('odd integers and [0, 1) ranges', () => {
    assert.match(cfg(SF + '  tokenizer_kernel: 4\n')[0].message, /model\.tokenizer_kernel must be odd \(it is 4\)\. Use 3 or 5\./);
    assert.match(cfg(SF + '  drop_path: 1\n')[0].message, /model\.drop_path must be less than 1/);
  });

  it('size: an integer or [height, width]', () => {
    assert.deepEqual(codes('extends: spikformer-tiny/mnist\nmodel:\n  img_size: [28, 28]\n'), []);
    assert.deepEqual(codes('extends: spikformer-tiny/mnist\nmodel:\n  img_size: [28, 28, 3]\n'), ['wrong-type@model.img_size']);
    assert.deepEqual(codes('extends: spikformer-tiny/mnist\nmodel:\n  img_size: [0, 28]\n'), ['out-of-range@model.img_size']);
  });

  it('neuron_overrides: patterns → neuron keys, checked shallowly', () => {
    const base = 'extends: spikformer-tiny/mnist\nmodel:\n  neuron_overrides:\n';
    assert.deepEqual(cfg(base + '    "blocks.*.attn.attn_lif": {v_threshold: 0.5, surrogate: atan}\n'), []);
    assert.deepEqual(codes(base + '    "blocks.*": {v_thresh: 0.5}\n'), ['unknown-key@model.neuron_overrides.blocks.*.v_thresh']);
    assert.match(cfg(base + '    "blocks.*": {v_thresh: 0.5}\n')[0].message, /Did you mean "v_threshold"/);
    assert.deepEqual(codes(base + '    "blocks.*": {tau: 0.5}\n'), ['out-of-range@model.neuron_overrides.blocks.*.tau']);
    assert.deepEqual(codes(base + '    "blocks.*": 0.5\n'), ['wrong-type@model.neuron_overrides.blocks.*']);
    assert.deepEqual(codes('extends: spikformer-tiny/mnist\nmodel:\n  neuron_overrides: [a]\n'), ['wrong-type@model.neuron_overrides']);
  });

  it('arch-only keys warn on another architecture; dataset-only keys on another dataset', () => {
    assert.deepEqual(codes('extends: spikformer-tiny/mnist\nmodel:\n  attention: spiking\n'), ['arch-option@model.attention']);
    assert.deepEqual(codes('extends: spikeformer-7-256/dvs128-gesture\nmodel:\n  mlp_dropout: 0.1\n'), ['arch-option@model.mlp_dropout']);
    assert.deepEqual(codes('extends: spikformer-tiny/mnist\ndata:\n  classes: 12\n'), ['dataset-option@data.classes']);
    assert.deepEqual(codes('extends: spikformer-tiny/mnist\ndata:\n  dataset: mnist-npn\n'), ['bad-enum@data.dataset']);
  });

  it('Speech Commands: 1 channel, 30/35 words or 12 classes, img_size [n_mels, 101]', () => {
    const speech = (extra: string) =>
      `model:\n  embed_dim: 64\n  num_heads: 4\n  in_channels: 1\n  num_classes: 35\n  img_size: [40, 101]\ndata:\n  dataset: speech-commands-v2\n${extra}train:\n  epochs: 1\n`;
    assert.deepEqual(codes(speech('')), ['img-size-pooling@model.img_size']); // 101 is not divisible by 4: a warning only
    assert.deepEqual(codes(speech('  classes: 12\n')), ['img-size-pooling@model.img_size', 'num-classes-dataset@model.num_classes']);
    assert.ok(codes(speech('  n_mels: 64\n')).includes('img-size-dataset@model.img_size'));
    assert.ok(codes(speech('').replace('in_channels: 1', 'in_channels: 3')).includes('in-channels-dataset@model.in_channels'));
  });

  it('STSA: embed_dim a multiple of 16; Spikeformer: every stride must divide its side', () => {
    assert.deepEqual(codes('extends: stsa-2-256-t10/dvs128-gesture\nmodel:\n  embed_dim: 264\n  num_heads: 1\n  mlp_ratio: 1\n'), ['embed-dim-multiple-of-8@model.embed_dim']);
    const d = cfg(SF + '  img_size: 100\ndata:\n  sensor_size: 100\n');
    assert.deepEqual(d.map((x) => `${x.code}@${x.severity}`), ['img-size-pooling@error']);
    assert.equal(d[0].fix?.replaceWith, '104'); // nearest multiple of 8 (the product of the strides)
  });
});

describe('config/validate: recipe augmentations (range and object fields, data kinds)', () => {
  const cfg = (text: string) => loadConfig(text, '/w/x.spike.yaml', { checkPaths: false });
  const codes = (text: string) => cfg(text).diagnostics.map((d) => `${d.code}@${d.path}`);
  const MNIST = 'extends: spikformer-tiny/mnist\ntrain:\n';
  const DVS = 'extends: spikformer-2-256-t16/cifar10-dvs\ntrain:\n';

  it('random_resized_crop: a mapping of scale / ratio / interpolation, or null; the keys left out take their defaults', () => {
    const r = cfg(MNIST + '  random_resized_crop: {scale: [0.5, 1.0]}\n');
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.resolved?.train.random_resized_crop, { scale: [0.5, 1.0], ratio: [0.75, 1.3333333333333333], interpolation: 'bicubic' });
    assert.equal(cfg(MNIST + '  epochs: 1\n').resolved?.train.random_resized_crop, null);
    assert.equal(cfg('extends: spikformer-8-512/imagenet\ntrain:\n  random_resized_crop: null\n').resolved?.train.random_resized_crop, null);
    assert.deepEqual(cfg('extends: spikformer-8-512/imagenet\n').resolved?.train.random_resized_crop?.scale, [1, 1]);
    assert.deepEqual(cfg('extends: spikformer-8-512/imagenet\ntrain:\n  random_resized_crop: {ratio: [1, 1]}\n').resolved?.train.random_resized_crop,
      { scale: [1, 1], ratio: [1, 1], interpolation: 'bicubic' }); // merged key by key over the preset
  });

  it('random_resized_crop: wrong types, bounds, order and unknown keys name the key', () => {
    assert.deepEqual(codes(MNIST + '  random_resized_crop: {scale: [1.0, 0.5]}\n'), ['out-of-range@train.random_resized_crop.scale']);
    assert.match(cfg(MNIST + '  random_resized_crop: {scale: [1.0, 0.5]}\n').diagnostics[0].message, /low ≤ high/);
    assert.deepEqual(codes(MNIST + '  random_resized_crop: {scale: [0, 1]}\n'), ['out-of-range@train.random_resized_crop.scale']);
    assert.deepEqual(codes(MNIST + '  random_resized_crop: {scale: [0.5, 1.5]}\n'), ['out-of-range@train.random_resized_crop.scale']);
    assert.deepEqual(codes(MNIST + '  random_resized_crop: {ratio: [0.75]}\n'), ['wrong-type@train.random_resized_crop.ratio']);
    assert.deepEqual(codes(MNIST + '  random_resized_crop: {interpolation: nearest}\n'), ['bad-enum@train.random_resized_crop.interpolation']);
    assert.deepEqual(codes(MNIST + '  random_resized_crop: {scael: [0.5, 1]}\n'), ['unknown-key@train.random_resized_crop.scael']);
    assert.deepEqual(codes(MNIST + '  random_resized_crop: 0.5\n'), ['wrong-type@train.random_resized_crop']);
  });

  it('auto_augment, snn_augment_wide, dvs_cutout: types; image augmentations warn on event data and event ones on images', () => {
    assert.deepEqual(codes(MNIST + '  auto_augment: imagenet\n'), []);
    assert.deepEqual(codes(MNIST + '  auto_augment: cifar10\n'), ['bad-enum@train.auto_augment']);
    assert.deepEqual(codes(DVS + '  dvs_cutout: 16\n'), []);
    assert.deepEqual(codes(DVS + '  dvs_cutout: -1\n'), ['out-of-range@train.dvs_cutout']);
    assert.deepEqual(codes(DVS + '  snn_augment_wide: 1\n'), ['wrong-type@train.snn_augment_wide']);
    for (const key of ['snn_augment_wide: true', 'dvs_cutout: 16', 'dvs_roll: 5', 'dvs_flip: 0.5']) {
      const name = key.split(':')[0];
      const d = cfg(MNIST + `  ${key}\n`).diagnostics;
      assert.deepEqual(d.map((x) => `${x.code}@${x.path}@${x.severity}`), [`dataset-option@train.${name}@warning`], key);
      assert.match(d[0].message, /static images, so training ignores it/);
    }
    for (const key of ['auto_augment: imagenet', 'randaugment: rand-m9-n1', 'hflip: 0.5', 'random_resized_crop: {scale: [1, 1]}']) {
      const d = cfg(DVS + `  ${key}\n`).diagnostics;
      assert.deepEqual(d.map((x) => `${x.code}@${x.path}`), [`dataset-option@train.${key.split(':')[0]}`], key);
      assert.match(d[0].message, /event frames, so training ignores it/);
    }
    assert.equal(cfg(DVS + '  hflip: 0.5\n').diagnostics[0].fix?.replaceWith, '0');
  });

  it('the presets set the recipes: SNNAugmentWide (Spikformer / Spikingformer DVS), cutout (Spikeformer DVS), AutoAugment + crop (Spikeformer ImageNet)', () => {
    const t = (name: string) => cfg(`extends: ${name}\n`).resolved?.train;
    for (const name of ['spikformer-2-256-t16/cifar10-dvs', 'spikingformer-2-256-t10/cifar10-dvs', 'spikingformer-2-256-t16/dvs128-gesture']) {
      assert.equal(t(name)?.snn_augment_wide, true, name);
    }
    assert.equal(t('spikeformer-7-256/cifar10-dvs')?.dvs_cutout, 16);
    assert.equal(t('spikeformer-7-256/cifar10-dvs')?.snn_augment_wide, false);
    const sf = t('spikeformer-7-512/imagenet');
    assert.equal(sf?.auto_augment, 'imagenet');
    assert.equal(sf?.randaugment, null);
    assert.deepEqual(sf?.random_resized_crop, { scale: [0.08, 1], ratio: [0.75, 1.3333333333333333], interpolation: 'bilinear' });
    assert.match(String(t('spikformer-4-384/cifar10')?.randaugment), /-ops=Equalize,Rotate,ShearX,TranslateXRel,TranslateYRel$/);
    assert.equal(t('spikingformer-4-384/cifar10')?.randaugment, 'rand-m9-n1-mstd0.4-inc1'); // stock timm 15-op set
    assert.equal(t('spikingformer-8-512/imagenet')?.random_resized_crop, null); // scale (1, 1) ratio (1, 1): the identity
  });
});
