// src/core/arch/configGraph: the graph message a *.spike.yaml gives the graph panel and the side panel, with no
// editor and no Python (the extension hands in the text and what the runtime measured).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { graphOfConfig } from '../../src/core/arch/configGraph';
import { predictModel } from '../../src/core/arch';
import { loadConfig } from '../../src/core/config';
import { REPO_ROOT } from './helpers';

const EXAMPLE = path.join(REPO_ROOT, 'examples', 'mnist-spikformer.spike.yaml');

describe('graphOfConfig', () => {
  it('predicts the layers of a preset config, named by the config', () => {
    const g = graphOfConfig(EXAMPLE, fs.readFileSync(EXAMPLE, 'utf8'));
    assert.equal(g.type, 'graph');
    assert.equal(g.source, EXAMPLE);
    assert.equal(g.name, 'mnist-spikformer');
    assert.equal(g.error, undefined);
    assert.ok(g.model, 'a model');
    assert.equal(g.model.arch, 'spikformer');
    assert.ok(g.model.layers.length > 10, `${g.model.layers.length} layers`);
    assert.ok(g.model.layers.some((l) => l.kind === 'lif'), 'spiking layers');
    assert.equal(g.model.measured, undefined);
  });

  it('carries what the runtime measured of a preset', () => {
    const measured = { layers: [], edges: [] } as unknown as NonNullable<Parameters<typeof graphOfConfig>[2]>['measured'];
    const g = graphOfConfig(EXAMPLE, fs.readFileSync(EXAMPLE, 'utf8'), { measured });
    assert.equal(g.model?.measured, measured);
  });

  it('shows your own model as the runtime described it, without reading the text', () => {
    const custom = { model: null, error: { path: 'model.entry', message: 'describe failed' } };
    const g = graphOfConfig('/ws/own.spike.yaml', undefined, { custom });
    assert.deepEqual(g, { type: 'graph', source: '/ws/own.spike.yaml', name: 'own', ...custom });
  });

  it('says when the file cannot be read', () => {
    const g = graphOfConfig('/ws/gone.spike.yml', undefined);
    assert.equal(g.model, null);
    assert.equal(g.name, 'gone');
    assert.match(g.error?.message ?? '', /cannot read \/ws\/gone\.spike\.yml/);
  });

  it('names the key of a config that does not resolve', () => {
    const g = graphOfConfig('/ws/bad.spike.yaml', 'extends: no-such-preset/anywhere\n');
    assert.equal(g.model, null);
    assert.ok(g.error && g.error.message.length > 0, JSON.stringify(g));
  });

  it('gives the layers predictModel gives for the resolved model section', () => {
    const g = graphOfConfig(EXAMPLE, fs.readFileSync(EXAMPLE, 'utf8'));
    const resolved = loadConfig(fs.readFileSync(EXAMPLE, 'utf8'), EXAMPLE, { checkPaths: false }).resolved;
    assert.ok(g.model && resolved);
    const p = predictModel(resolved.model as unknown as Record<string, unknown>);
    assert.deepEqual(g.model.layers, p.layers);
    assert.equal(g.model.params, p.params);
  });
});
