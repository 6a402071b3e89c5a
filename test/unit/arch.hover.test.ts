import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { predictModel } from '../../src/core/arch';
import { BUNDLED_PRESETS, completionsAt, hoverAt } from '../../src/core/config';
import { REPO_ROOT } from './helpers';

const TEXT = ['extends: spikformer-4-256/cifar10', 'model:', '  depth: 2', '  num_heads: 8', 'data:', '  batch_size: 32', 'train:', '  optimizer: adamw', ''].join('\n');

describe('authoring: hoverAt', () => {
  it('on a model key: description plus params, FLOPs, tokens, SOPs, energy and memory at the batch', () => {
    const h = hoverAt(TEXT, '/w/x.spike.yaml', 2, 3);
    assert.ok(h);
    assert.match(h.markdown, /\*\*model\.depth\*\*/);
    assert.match(h.markdown, /Number of encoder blocks/);
    const p = predictModel({ ...BUNDLED_PRESETS['spikformer-4-256/cifar10'].model, depth: 2 });
    assert.match(h.markdown, new RegExp(p.params.toLocaleString('en-US')));
    assert.match(h.markdown, /tokens N \| 64 \(8×8\)/);
    assert.match(h.markdown, /dense FLOPs/);
    assert.match(h.markdown, /SOPs @ 15 % firing/);
    assert.match(h.markdown, /energy @ 15 % firing \| [0-9.]+ mJ/);
    assert.match(h.markdown, /training memory \(rough\) \| ≈ [0-9.]+ GB at batch 32 × T 4 \(fp16\)/);
    assert.deepEqual(h.range, { start: { line: 2, character: 2 }, end: { line: 2, character: 7 } });
  });

  it('measured rates add a measured-energy line', () => {
    const h = hoverAt(TEXT, null, 1, 1, { rates: { 'blocks.0.attn.q_lif': 0.3 } });
    assert.match(h?.markdown ?? '', /energy @ measured rates/);
  });

  it('on the extends value: the paper row from presets.json', () => {
    const h = hoverAt(TEXT, null, 0, 15);
    assert.ok(h);
    assert.match(h.markdown, /preset `spikformer-4-256\/cifar10`/);
    assert.match(h.markdown, /93\.94 %/);
    assert.match(h.markdown, /4\.15 M/);
    const energy = hoverAt('extends: spikingformer-8-512/imagenet\n', null, 0, 12);
    assert.match(energy?.markdown ?? '', /7\.46 mJ/);
  });

  it('on any other key: its description, type and default; nothing on blank lines or unknown keys', () => {
    const h = hoverAt(TEXT, null, 7, 4);
    assert.match(h?.markdown ?? '', /\*\*train\.optimizer\*\*[\s\S]*`adamw` \| `adam` \| `sgd` \| `lamb`[\s\S]*default: `"adamw"`/);
    assert.equal(hoverAt(TEXT, null, 8, 0), null);
    assert.equal(hoverAt('model:\n  dpeth: 2\n', null, 1, 3), null);
  });

  it('says why derived numbers are missing when the model is invalid', () => {
    const h = hoverAt('extends: spikformer-tiny/mnist\nmodel:\n  num_heads: 5\n', null, 2, 4);
    assert.match(h?.markdown ?? '', /Derived numbers unavailable: model\.num_heads/);
  });
});

describe('authoring: completionsAt', () => {
  it('preset names after extends:', () => {
    const items = completionsAt('extends: ', 0, 9);
    assert.ok(items.some((i) => i.label === 'spikformer-tiny/mnist' && i.kind === 'preset'));
    assert.equal(items.length, Object.keys(BUNDLED_PRESETS).length);
  });

  it('enum values, booleans, datasets', () => {
    const text = 'model:\n  arch: \n  reference_compat: \ndata:\n  dataset: \ntrain:\n  amp: \n';
    assert.deepEqual(completionsAt(text, 1, 8).map((i) => i.label), ['spikformer', 'spikingformer', 'spikeformer', 'stsa', 'qkformer', 'sdt', 'meta-spikeformer', 'custom']);
    assert.deepEqual(completionsAt(text, 2, 20).map((i) => i.label), ['true', 'false']);
    assert.ok(completionsAt(text, 4, 11).some((i) => i.label === 'cifar10-dvs'));
    assert.deepEqual(completionsAt(text, 6, 7).map((i) => i.label), ['false', 'bf16', 'fp16']);
  });

  it('keys of the current section, without the ones already written', () => {
    const text = 'model:\n  depth: 2\n  \n  neuron:\n    \ntrain:\n  lr: 0.1\n';
    const model = completionsAt(text, 2, 2).map((i) => i.label);
    assert.ok(model.includes('embed_dim') && model.includes('variant'));
    assert.ok(!model.includes('depth') && !model.includes('neuron'));
    assert.ok(completionsAt(text, 4, 4).some((i) => i.label === 'surrogate'));
    const top = completionsAt(text, 7, 0).map((i) => i.label);
    assert.ok(top.includes('extends') && top.includes('data') && !top.includes('model'));
  });

  it('the example config hovers without errors at every position of its first lines', () => {
    const text = fs.readFileSync(path.join(REPO_ROOT, 'examples', 'mnist-spikformer.spike.yaml'), 'utf8');
    const lines = text.split('\n');
    for (let l = 0; l < lines.length; l++) for (let c = 0; c <= lines[l].length; c++) hoverAt(text, null, l, c);
  });
});
