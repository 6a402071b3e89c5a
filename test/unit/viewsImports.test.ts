// The files of src/extension/views must not import each other in a circle (issue #16: runFeed.ts and panels.ts
// did). Reads the import statements as text: every relative `import … from './x'` (type-only ones too, as they
// still tie the files together for a reader).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers';

const VIEWS = path.join(REPO_ROOT, 'src', 'extension', 'views');

/** Each views file (without .ts) → the views files it imports. */
export function viewsImports(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const targets = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+['"]\.\/([\w.-]+)['"]/gm)].map((m) => m[1].replace(/\.ts$/, ''));
    graph.set(file.replace(/\.ts$/, ''), [...new Set(targets)]);
  }
  return graph;
}

/** One circle of the graph as a list of names (first = last), or undefined. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('src/extension/views imports', () => {
  it('finds a circle when there is one (the check works)', () => {
    const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    assert.deepEqual(findCycle(graph), ['a', 'b', 'c', 'a']);
    assert.equal(findCycle(new Map([['a', ['b']], ['b', []]])), undefined);
  });

  it('reads the import statements of the views files', () => {
    const graph = viewsImports(VIEWS);
    assert.ok(graph.get('panels')?.includes('runFeed'), JSON.stringify([...graph]));
    assert.ok(graph.get('dashboard')?.includes('html'), JSON.stringify([...graph]));
  });

  it('has no circle among the views files', () => {
    const cycle = findCycle(viewsImports(VIEWS));
    assert.equal(cycle, undefined, `views files import each other in a circle: ${cycle?.join(' → ')}`);
  });
});
