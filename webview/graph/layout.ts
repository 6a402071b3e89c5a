// Graph layout with @dagrejs/dagre, off the main thread: a Worker made from a blob: URL whose source is dagre's
// standalone build (imported as text, esbuild `with { type: 'text' }`) plus computeLayout below. The webview CSP
// allows it with `worker-src blob:` (src/extension/views/html.ts). If the Worker cannot be created or fails (an
// older host page without that directive), the same function runs on the main thread with the bundled ESM dagre.
import dagre from '@dagrejs/dagre';
// @ts-expect-error -- import attributes need module esnext in tsc; esbuild inlines the file as a string (the
// package's exports map hides dist/, hence the relative path)
import dagreStandalone from '../../node_modules/@dagrejs/dagre/dist/dagre.min.js' with { type: 'text' };

export interface LayoutNode {
  id: string;
  width: number;
  height: number;
  /** the id of the cluster (expanded group) it sits in */
  parent?: string;
  /** clusters get their box from their children */
  cluster?: boolean;
}

export interface LayoutEdge {
  v: string;
  w: string;
}

export interface LayoutSpec {
  nodes: LayoutNode[];
  edges: LayoutEdge[];
}

export interface LayoutResult {
  width: number;
  height: number;
  nodes: Record<string, { x: number; y: number; width: number; height: number }>;
  edges: { v: string; w: string; points: { x: number; y: number }[] }[];
  /** where it ran */
  where?: 'worker' | 'main';
  ms?: number;
}

/** Self-contained (stringified into the worker): no references outside its parameters. */
function computeLayout(d: typeof dagre, spec: LayoutSpec): LayoutResult {
  const g = new d.graphlib.Graph({ compound: true, multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 22, ranksep: 26, edgesep: 12, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of spec.nodes) {
    g.setNode(n.id, n.cluster ? { paddingTop: 28 } as never : { width: n.width, height: n.height });
  }
  for (const n of spec.nodes) if (n.parent) g.setParent(n.id, n.parent);
  for (const e of spec.edges) g.setEdge(e.v, e.w);
  d.layout(g);
  const out: LayoutResult = { width: 0, height: 0, nodes: {}, edges: [] };
  for (const id of g.nodes()) {
    const n = g.node(id) as unknown as { x: number; y: number; width: number; height: number };
    out.nodes[id] = { x: n.x, y: n.y, width: n.width, height: n.height };
  }
  for (const e of g.edges()) {
    const label = g.edge(e) as unknown as { points?: { x: number; y: number }[] };
    out.edges.push({ v: e.v, w: e.w, points: label.points ?? [] });
  }
  const gl = g.graph() as { width?: number; height?: number };
  out.width = gl.width ?? 0;
  out.height = gl.height ?? 0;
  return out;
}

let worker: Worker | null | undefined;
let seq = 0;
const waiting = new Map<number, (r: LayoutResult | null) => void>();

function makeWorker(): Worker | null {
  try {
    const src = String(dagreStandalone).replace(/\/\/# sourceMappingURL=\S+/g, '');
    const body = `${src}\n;const computeLayout = ${computeLayout.toString()};\nself.onmessage = (e) => {\n  const t0 = performance.now();\n  try { const r = computeLayout(dagre, e.data.spec); r.ms = performance.now() - t0; self.postMessage({ id: e.data.id, result: r }); }\n  catch (err) { self.postMessage({ id: e.data.id, error: String(err && err.message || err) }); }\n};\n`;
    const url = URL.createObjectURL(new Blob([body], { type: 'text/javascript' }));
    const w = new Worker(url, { name: 'spike-studio-graph-layout' });
    w.onmessage = (e: MessageEvent<{ id: number; result?: LayoutResult; error?: string }>) => {
      const done = waiting.get(e.data.id);
      waiting.delete(e.data.id);
      done?.(e.data.result ?? null);
    };
    w.onerror = (e) => {
      e.preventDefault();
      worker = null; // give up on the worker for good; pending layouts fall back
      for (const done of waiting.values()) done(null);
      waiting.clear();
    };
    return w;
  } catch {
    return null;
  }
}

function onMainThread(spec: LayoutSpec): LayoutResult {
  const t0 = performance.now();
  const r = computeLayout(dagre, spec);
  r.where = 'main';
  r.ms = performance.now() - t0;
  return r;
}

/** Lays the graph out in the worker (main thread when that is impossible). */
export async function layoutGraph(spec: LayoutSpec): Promise<LayoutResult> {
  if (worker === undefined) worker = makeWorker();
  const w = worker;
  if (!w) return onMainThread(spec);
  const id = ++seq;
  const result = await new Promise<LayoutResult | null>((resolve) => {
    waiting.set(id, resolve);
    w.postMessage({ id, spec });
    setTimeout(() => {
      if (waiting.delete(id)) resolve(null);
    }, 5000);
  });
  if (!result) return onMainThread(spec);
  result.where = 'worker';
  return result;
}
