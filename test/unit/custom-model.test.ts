import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ConfigDiagnostic, loadConfig } from '../../src/core/config';
import { generateJsonSchema } from '../../src/core/config/definition';
import { FIXTURE_PRESETS } from './helpers';

const EXAMPLES = path.resolve(__dirname, '../../examples/custom');

const CUSTOM = [
  'model:',
  '  arch: custom',
  '  source: models/lif_former.py',
  '  entry: LIFFormer',
  '  args:',
  '    dim: 32',
  '    heads: 2',
  '  embed_dim: 36',
  '  num_heads: 5',
  'data:',
  '  batch_size: 32',
  'train:',
  '  epochs: 1',
  '',
].join('\n');

function load(text: string, file = path.join(EXAMPLES, 'x.spike.yaml')) {
  return loadConfig(text, file, { presets: FIXTURE_PRESETS });
}
const codes = (ds: readonly ConfigDiagnostic[]) => ds.map((d) => `${d.code}:${d.path}`);

describe('config: your own model (model.arch custom, model.plugins)', () => {
  it('a custom model validates; source is made absolute; args pass through; the built-in structure rules are skipped', () => {
    const r = load(CUSTOM);
    assert.deepEqual(codes(r.diagnostics), []); // embed_dim 36 / num_heads 5 would be errors for a built-in arch
    assert.equal(r.resolved?.model.source, path.join(EXAMPLES, 'models/lif_former.py'));
    assert.deepEqual(r.resolved?.model.args, { dim: 32, heads: 2 });
    assert.equal(r.resolved?.model.entry, 'LIFFormer');
  });

  it('every example config under examples/custom validates cleanly', () => {
    const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.spike.yaml'));
    assert.ok(files.length >= 4);
    for (const f of files) {
      const r = load(fs.readFileSync(path.join(EXAMPLES, f), 'utf8'), path.join(EXAMPLES, f));
      assert.deepEqual(codes(r.diagnostics), [], f);
    }
  });

  it('a plugin arch name is accepted only with model.plugins, and plugin paths are made absolute', () => {
    const plugin = CUSTOM.replace('arch: custom', 'arch: my-former\n  plugins: [models/lif_former.py]').replace(/ {2}source.*\n {2}entry.*\n/, '');
    const r = load(plugin);
    assert.deepEqual(codes(r.diagnostics), []);
    assert.deepEqual(r.resolved?.model.plugins, [path.join(EXAMPLES, 'models/lif_former.py')]);
    const bad = load(plugin.replace('  plugins: [models/lif_former.py]\n', ''));
    assert.ok(codes(bad.diagnostics).includes('bad-enum:model.arch'));
  });

  it('missing source / entry, a missing file, and a bad entry name are diagnostics', () => {
    const noSource = load(CUSTOM.replace('  source: models/lif_former.py\n', ''));
    assert.ok(noSource.diagnostics.some((d) => d.path === 'model.arch' && /needs model.source/.test(d.message)));
    const missing = load(CUSTOM.replace('models/lif_former.py', 'models/nope.py'));
    assert.ok(missing.diagnostics.some((d) => d.path === 'model.source' && /does not exist/.test(d.message)));
    const noEntry = load(CUSTOM.replace('  entry: LIFFormer\n', ''));
    assert.ok(noEntry.diagnostics.some((d) => /model.entry is missing/.test(d.message)));
    const badEntry = load(CUSTOM.replace('entry: LIFFormer', 'entry: "1abc"'));
    assert.ok(codes(badEntry.diagnostics).includes('bad-format:model.entry'));
    const badArgs = load(CUSTOM.replace('  args:\n    dim: 32\n    heads: 2', '  args: [1, 2]'));
    assert.ok(codes(badArgs.diagnostics).includes('wrong-type:model.args'));
  });

  it('source/entry on a built-in arch is an arch-option warning', () => {
    const r = load(CUSTOM.replace('arch: custom', 'arch: spikformer').replace('embed_dim: 36', 'embed_dim: 32').replace('num_heads: 5', 'num_heads: 4'));
    assert.ok(codes(r.diagnostics).includes('arch-option:model.source'));
  });

  it('the JSON schema accepts a plugin name for arch and describes args / plugins', () => {
    const schema = generateJsonSchema() as { properties: { model: { properties: Record<string, Record<string, unknown>> } } };
    const m = schema.properties.model.properties;
    assert.ok(Array.isArray(m.arch.anyOf));
    assert.deepEqual(m.plugins.type, ['array', 'null']);
    assert.deepEqual(m.args.type, ['object', 'null']);
  });
});
