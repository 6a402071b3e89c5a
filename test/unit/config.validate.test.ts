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
    assert.match(d.message, /must be one of adamw \| adam \| sgd.*Did you mean "adamw"\?/);
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
