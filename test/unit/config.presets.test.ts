import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { BUNDLED_PRESETS, configDefaults, deepMerge, generateJsonSchema, leafFields, loadConfig } from '../../src/core/config';
import { FIXTURE_PRESETS, readFixture, REPO_ROOT } from './helpers';

describe('config/presets: extends', () => {
  it('merges the preset under the file (the file wins, nested sections merge key by key)', () => {
    const text = 'extends: spikformer-4-384/cifar10\nmodel:\n  depth: 8\n  neuron:\n    alpha: 2.0\ntrain:\n  epochs: 30\n';
    const { resolved, diagnostics } = loadConfig(text, '/w/c.spike.yaml', { presets: FIXTURE_PRESETS });
    assert.deepEqual(diagnostics, []);
    assert.ok(resolved);
    assert.equal(resolved.model.embed_dim, 384); // preset
    assert.equal(resolved.model.depth, 8); // file
    assert.equal(resolved.model.neuron.tau, 2.0); // preset
    assert.equal(resolved.model.neuron.alpha, 2.0); // file
    assert.equal(resolved.model.neuron.surrogate, 'sigmoid'); // default
    assert.equal(resolved.train.epochs, 30);
    assert.equal(resolved.train.warmup_epochs, 20);
    assert.equal(resolved.data.dataset, 'cifar10');
  });

  it('unknown preset: error on the value with "did you mean"', () => {
    const { resolved, diagnostics } = loadConfig('extends: spikformer-tiny/mnistt\n', null, { presets: FIXTURE_PRESETS });
    assert.equal(resolved, null);
    assert.equal(diagnostics.length, 1);
    assert.equal(diagnostics[0].code, 'unknown-preset');
    assert.match(diagnostics[0].message, /unknown preset "spikformer-tiny\/mnistt"\. Did you mean "spikformer-tiny\/mnist"\?/);
    assert.deepEqual(diagnostics[0].range.start, { line: 0, character: 9 });
  });

  it('deepMerge does not mutate its inputs', () => {
    const base = { a: { b: 1, c: 2 } };
    const merged = deepMerge(base, { a: { c: 3 } });
    assert.deepEqual(merged, { a: { b: 1, c: 3 } });
    assert.deepEqual(base, { a: { b: 1, c: 2 } });
  });
});

describe('config/index: the resolved config', () => {
  it('has version 1, name, absolute source, and absolute paths relative to the file', () => {
    const source = path.join('/work', 'exps', 'valid.spike.yaml');
    const { resolved, diagnostics } = loadConfig(readFixture('configs/valid.spike.yaml'), source, { presets: FIXTURE_PRESETS, checkPaths: false }); // its paths do not exist
    assert.deepEqual(diagnostics, []);
    assert.ok(resolved);
    assert.equal(resolved.version, 1);
    assert.equal(resolved.name, 'fixture-run');
    assert.equal(resolved.source, source);
    assert.equal(resolved.data.root, '/work/exps/data/mnist');
    assert.equal(resolved.model.init_from, '/work/checkpoints/start.pt');
    assert.equal(resolved.model.depth, 2);
    assert.equal(resolved.train.max_steps_per_epoch, 5);
  });

  it('names the run after the file when there is no name:, and resolves relative to cwd without a file', () => {
    const a = loadConfig('extends: spikformer-tiny/mnist\n', '/w/my-exp.spike.yaml', { presets: FIXTURE_PRESETS }).resolved;
    assert.equal(a?.name, 'my-exp');
    const b = loadConfig('extends: spikformer-tiny/mnist\ndata: {root: d}\n', null, { presets: FIXTURE_PRESETS, cwd: '/tmp/x' }).resolved;
    assert.equal(b?.source, null);
    assert.equal(b?.data.root, '/tmp/x/d');
  });

  it('fills every key of every section', () => {
    const { resolved } = loadConfig('extends: spikformer-tiny/mnist\n', null, { presets: FIXTURE_PRESETS });
    for (const { path: dotted } of leafFields()) {
      const value = dotted.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], resolved);
      assert.notEqual(value, undefined, dotted);
    }
  });
});

describe('config/definition: generated JSON Schema', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });

  it("accepts examples/mnist-spikformer.spike.yaml's resolved form", () => {
    const file = path.join(REPO_ROOT, 'examples', 'mnist-spikformer.spike.yaml');
    const { resolved, diagnostics } = loadConfig(fs.readFileSync(file, 'utf8'), file, { presets: FIXTURE_PRESETS });
    assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
    const validate = ajv.compile(generateJsonSchema({ mode: 'resolved' }));
    assert.ok(validate(JSON.parse(JSON.stringify(resolved))), JSON.stringify(validate.errors));
  });

  it('rejects a resolved config with a missing or mistyped key', () => {
    const validate = ajv.compile(generateJsonSchema({ mode: 'resolved' }));
    const good = { version: 1, name: 'x', source: null, ...configDefaults() };
    assert.ok(validate(good), JSON.stringify(validate.errors));
    const missing = JSON.parse(JSON.stringify(good));
    delete missing.model.embed_dim;
    assert.equal(validate(missing), false);
    assert.equal(validate({ ...good, train: { ...good.train, amp: 'fp32' } }), false);
  });

  it('file mode accepts partial files and rejects unknown keys', () => {
    const validate = ajv.compile(generateJsonSchema({ mode: 'file' }));
    assert.ok(validate({ extends: 'spikformer-tiny/mnist', model: { depth: 2 } }), JSON.stringify(validate.errors));
    assert.equal(validate({ model: { dpeth: 2 } }), false);
  });

  it('defaults satisfy the validator', () => {
    const { diagnostics } = loadConfig(`model: {}\ndata: {}\ntrain: {}\n`, null, { presets: {} });
    assert.deepEqual(diagnostics, []);
  });
});

describe('config: the presets shipped in runtime/spikestudio/presets/presets.json', () => {
  const names = Object.keys(BUNDLED_PRESETS);

  it('exist', () => assert.ok(names.length > 0));

  it('each resolves without errors from a file that only extends it', () => {
    for (const name of names) {
      const { resolved, diagnostics } = loadConfig(`extends: ${name}\n`, '/w/x.spike.yaml');
      assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), [], name);
      assert.ok(resolved, name);
    }
  });
});
