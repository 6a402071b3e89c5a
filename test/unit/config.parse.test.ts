import { strict as assert } from 'node:assert';
import { parseYamlWithRanges } from '../../src/core/config/parse';

describe('config/parse: YAML with ranges', () => {
  const text = ['name: demo', 'model:', '  embed_dim: 64', '  neuron:', '    tau: 2.0', 'train:', '  epochs: 3', ''].join('\n');

  it('maps every dotted key to the range of its key and value (0-based)', () => {
    const parsed = parseYamlWithRanges(text);
    assert.deepEqual(parsed.diagnostics, []);
    assert.deepEqual(parsed.ranges.get('model.embed_dim'), {
      key: { start: { line: 2, character: 2 }, end: { line: 2, character: 11 } },
      value: { start: { line: 2, character: 13 }, end: { line: 2, character: 15 } },
    });
    assert.deepEqual(parsed.ranges.get('model.neuron.tau')?.value, { start: { line: 4, character: 9 }, end: { line: 4, character: 12 } });
    assert.deepEqual(parsed.ranges.get('name')?.key.start, { line: 0, character: 0 });
  });

  it('falls back to the nearest written ancestor for paths not in the file', () => {
    const parsed = parseYamlWithRanges(text);
    assert.deepEqual(parsed.keyRangeOf('model.neuron.alpha'), parsed.ranges.get('model.neuron')?.key);
    assert.deepEqual(parsed.keyRangeOf('data.root'), { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } });
  });

  it('returns the document as plain JS', () => {
    assert.deepEqual(parseYamlWithRanges(text).value, { name: 'demo', model: { embed_dim: 64, neuron: { tau: 2 } }, train: { epochs: 3 } });
  });

  it('turns syntax errors into diagnostics with ranges', () => {
    const parsed = parseYamlWithRanges('model:\n  embed_dim: [64\ntrain: {');
    assert.ok(parsed.diagnostics.length > 0);
    const d = parsed.diagnostics[0];
    assert.equal(d.severity, 'error');
    assert.equal(d.code, 'yaml-syntax');
    assert.match(d.message, /YAML syntax error/);
    assert.ok(d.range.start.line >= 1);
  });

  it('reports duplicate keys', () => {
    const parsed = parseYamlWithRanges('model:\n  depth: 1\n  depth: 2\n');
    assert.equal(parsed.diagnostics[0]?.severity, 'error');
    assert.equal(parsed.diagnostics[0]?.range.start.line, 2);
  });
});
