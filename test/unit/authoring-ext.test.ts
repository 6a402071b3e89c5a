// The extension's insertion of keys that a config does not write yet (quick fixes whose range is null).
import * as assert from 'node:assert/strict';
import { applyInsertion, planKeyInsertion } from '../../src/extension/authoring/insert';

function insert(text: string, keyPath: string, value: string): string | null {
  const ins = planKeyInsertion(text, keyPath, value);
  return ins ? applyInsertion(text, ins) : null;
}

describe('authoring (extension): key insertion for quick fixes', () => {
  it('adds the key at the end of an existing section, indented like its siblings', () => {
    const text = 'extends: spikformer-tiny/mnist\nmodel:\n    embed_dim: 64\n    depth: 1\ndata:\n    dataset: cifar10\n';
    assert.equal(insert(text, 'model.in_channels', '3'), 'extends: spikformer-tiny/mnist\nmodel:\n    embed_dim: 64\n    depth: 1\n    in_channels: 3\ndata:\n    dataset: cifar10\n');
  });

  it('creates a missing section at the end of the file', () => {
    const text = 'extends: spikformer-tiny/mnist\ndata:\n  dataset: cifar10\n';
    assert.equal(insert(text, 'model.in_channels', '3'), 'extends: spikformer-tiny/mnist\ndata:\n  dataset: cifar10\nmodel:\n  in_channels: 3\n');
  });

  it('handles a file without a final newline', () => {
    assert.equal(insert('extends: x\ndata:\n  dataset: cifar10', 'model.in_channels', '3'), 'extends: x\ndata:\n  dataset: cifar10\nmodel:\n  in_channels: 3');
  });

  it('fills an empty section and uses the file indentation step', () => {
    const text = 'model:\ntrain:\n   epochs: 3\n';
    assert.equal(insert(text, 'model.num_classes', '100'), 'model:\n   num_classes: 100\ntrain:\n   epochs: 3\n');
  });

  it('creates nested sections (model.neuron.tau)', () => {
    const text = 'model:\n  embed_dim: 64\n';
    assert.equal(insert(text, 'model.neuron.tau', '2.0'), 'model:\n  embed_dim: 64\n  neuron:\n    tau: 2.0\n');
  });

  it('skips comments and blank lines that belong to the next section', () => {
    const text = 'model:\n  embed_dim: 64\n  # a note in model\n\n# about data\ndata:\n  batch_size: 8\n';
    assert.equal(insert(text, 'model.in_channels', '3'), 'model:\n  embed_dim: 64\n  # a note in model\n  in_channels: 3\n\n# about data\ndata:\n  batch_size: 8\n');
  });

  it('keeps CRLF line endings', () => {
    assert.equal(insert('model:\r\n  depth: 1\r\n', 'model.in_channels', '3'), 'model:\r\n  depth: 1\r\n  in_channels: 3\r\n');
  });

  it('writes into an empty or comment-only document', () => {
    assert.equal(insert('', 'model.in_channels', '3'), 'model:\n  in_channels: 3\n');
    assert.equal(insert('# new\n', 'data.batch_size', '32'), '# new\ndata:\n  batch_size: 32\n');
  });

  it('does not touch flow mappings or keys that are already written', () => {
    assert.equal(planKeyInsertion('model: {embed_dim: 64}\n', 'model.in_channels', '3'), null);
    assert.equal(planKeyInsertion('model:\n  in_channels: 1\n', 'model.in_channels', '3'), null);
  });

  it('does not mistake a deeper key of the same name for the section', () => {
    const text = 'train:\n  model: 1\n';
    assert.equal(insert(text, 'model.in_channels', '3'), 'train:\n  model: 1\nmodel:\n  in_channels: 3\n');
  });
});
