import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUNDLED_PRESETS, chooseConfig, configFileName, defaultConfigName, loadConfig, newConfigText, paperRowText, presetGroups, validateConfigName } from '../../src/core/config';
import { takePipArgs } from '../../src/cli/commands/setup';
import { removeDir, tempDir } from './helpers';

describe('config/newConfig: New Config…', () => {
  it('groups every preset by architecture and dataset, architectures in table order', () => {
    const groups = presetGroups(BUNDLED_PRESETS);
    const all = groups.flatMap((g) => g.items.map((i) => i.preset));
    assert.deepEqual([...all].sort(), Object.keys(BUNDLED_PRESETS).sort());
    const c10 = groups.find((g) => g.arch === 'spikformer' && g.dataset === 'cifar10');
    assert.equal(c10?.title, 'Spikformer · CIFAR-10');
    assert.ok(c10?.items.some((i) => i.preset === 'spikformer-4-384/cifar10'));
    for (const g of groups) for (const i of g.items) assert.equal(BUNDLED_PRESETS[i.preset].data?.dataset, g.dataset, i.preset);
    // one group per (arch, dataset), and each architecture's groups are adjacent
    const archs = groups.map((g) => g.arch);
    assert.deepEqual(archs.filter((a, i) => a !== archs[i - 1]), [...new Set(archs)]);
    assert.equal(new Set(groups.map((g) => `${g.arch}/${g.dataset}`)).size, groups.length);
  });

  it('shows the paper row: accuracy, params, T', () => {
    assert.equal(paperRowText(BUNDLED_PRESETS['spikformer-4-384/cifar10']), '95.19 % top-1 · 9.32 M params · T = 4');
    assert.equal(paperRowText(BUNDLED_PRESETS['spikformer-2-256-t16/cifar10-dvs']), '80.9 % top-1 · 2.59 M params · T = 16');
    // no paper row: says so, and T comes from the model
    assert.equal(paperRowText(BUNDLED_PRESETS['spikformer-tiny/mnist']), 'no paper row · T = 4');
  });

  it('names: a default from the preset, checked, .spike.yaml added once', () => {
    assert.equal(defaultConfigName('spikformer-4-384/cifar10'), 'spikformer-4-384-cifar10');
    assert.equal(validateConfigName('c10'), undefined);
    assert.match(validateConfigName('') ?? '', /name/);
    assert.match(validateConfigName('a/b') ?? '', /not a path/);
    assert.match(validateConfigName('-x') ?? '', /letters/);
    assert.equal(configFileName('c10'), 'c10.spike.yaml');
    assert.equal(configFileName('c10.spike.yaml'), 'c10.spike.yaml');
  });

  it('writes a config that extends the preset and validates clean', () => {
    const text = newConfigText('spikformer-4-384/cifar10', BUNDLED_PRESETS['spikformer-4-384/cifar10'], 'c10');
    assert.match(text, /^extends: spikformer-4-384\/cifar10$/m);
    assert.match(text, /^name: c10$/m);
    assert.match(text, /# Paper: 95\.19 % top-1 · 9\.32 M params · T = 4/);
    const dir = tempDir();
    try {
      const file = path.join(dir, 'c10.spike.yaml');
      fs.writeFileSync(file, text);
      const loaded = loadConfig(text, file);
      assert.deepEqual(loaded.diagnostics.filter((d) => d.severity === 'error'), []);
      assert.equal(loaded.resolved?.model.embed_dim, 384);
      assert.equal(loaded.resolved?.name, 'c10');
    } finally {
      removeDir(dir);
    }
  });
});

describe('config/newConfig: which config a command means', () => {
  it('the given file, then the active editor, then the one visible', () => {
    assert.deepEqual(chooseConfig({ explicit: '/w/a.spike.yaml', active: '/w/b.spike.yaml', workspace: [] }), { kind: 'use', file: '/w/a.spike.yaml' });
    assert.deepEqual(chooseConfig({ active: '/w/b.spike.yaml', workspace: ['/w/c.spike.yaml', '/w/d.spike.yaml'] }), { kind: 'use', file: '/w/b.spike.yaml' });
    assert.deepEqual(chooseConfig({ visible: ['/w/v.spike.yaml', '/w/v.spike.yaml'], workspace: ['/w/c.spike.yaml', '/w/d.spike.yaml'] }), { kind: 'use', file: '/w/v.spike.yaml' });
  });

  it('no editor: the workspace’s only config, else a pick (sorted), else none', () => {
    assert.deepEqual(chooseConfig({ workspace: ['/w/only.spike.yaml'] }), { kind: 'use', file: '/w/only.spike.yaml' });
    assert.deepEqual(chooseConfig({ visible: ['/w/x.spike.yaml', '/w/y.spike.yaml'], workspace: ['/w/z.spike.yaml', '/w/b.spike.yaml'] }), { kind: 'pick', files: ['/w/b.spike.yaml', '/w/z.spike.yaml'] });
    assert.deepEqual(chooseConfig({ workspace: [] }), { kind: 'none' });
  });
});

describe('cli setup: --pip-arg', () => {
  it('takes every --pip-arg value, even ones that start with --', () => {
    const { pipArgs, rest } = takePipArgs(['--dir', 'env', '--pip-arg', '--index-url', '--pip-arg', 'https://m/simple', '--pip-arg=--proxy=http://p:3128', '--verbose']);
    assert.deepEqual(pipArgs, ['--index-url', 'https://m/simple', '--proxy=http://p:3128']);
    assert.deepEqual(rest, ['--dir', 'env', '--verbose']);
  });
});
