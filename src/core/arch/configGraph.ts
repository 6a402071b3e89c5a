// The graph message for a *.spike.yaml: predictModel of its resolved model section (no Python). Pure: the caller
// supplies the file's text and what the runtime measured (the extension: views/configGraph.ts).
import * as path from 'node:path';
import { loadConfig } from '../config';
import type { GraphModel, HostToWebview } from '../protocol';
import { ArchError, predictModel } from './index';

export type GraphMessage = Extract<HostToWebview, { type: 'graph' }>;

/** What the runtime knows of a config's model: a custom model's described graph, a preset's measured one. */
export interface MeasuredGraphs {
  /** your own model (model.entry): the graph the runtime described by running it; undefined: not one, or not yet */
  custom?: Pick<GraphMessage, 'model' | 'error'>;
  /** a preset's graph as measured by running it ("Compare with measured") */
  measured?: GraphModel['measured'];
}

/** The graph message of `file` whose text is `text` (undefined: it could not be read). */
export function graphOfConfig(file: string, text: string | undefined, runtime: MeasuredGraphs = {}): GraphMessage {
  const name = path.basename(file).replace(/\.spike\.ya?ml$/, '');
  if (runtime.custom) return { type: 'graph', source: file, name, ...runtime.custom };
  if (text === undefined) return { type: 'graph', source: file, name, model: null, error: { path: '', message: `cannot read ${file}` } };
  const loaded = loadConfig(text, file, { checkPaths: false });
  if (!loaded.resolved) {
    const err = loaded.diagnostics.find((d) => d.severity === 'error');
    return { type: 'graph', source: file, name, model: null, error: { path: err?.path ?? '', message: err?.message ?? 'the config could not be resolved' } };
  }
  try {
    const p = predictModel(loaded.resolved.model as unknown as Record<string, unknown>);
    const model: GraphModel = { arch: p.arch, variant: p.variant, params: p.params, time_steps: p.time_steps, num_classes: p.num_classes, token_grid: p.token_grid, layers: p.layers, measured: runtime.measured };
    return { type: 'graph', source: file, name: loaded.resolved.name ?? name, model };
  } catch (error) {
    if (error instanceof ArchError) return { type: 'graph', source: file, name, model: null, error: { path: error.path, message: error.message } };
    throw error;
  }
}
