// From a layer list (src/core/arch predictModel, or the runtime's `model` event — same names) to a drawable graph:
// layers grouped into `tokenizer`, `blocks.<i>` and `head`; a collapsed group is one node, an expanded one is a
// cluster of its layers. Edges follow the data flow of Spikformer/Spikingformer: q/k/v branches join in the SSA
// node, `add` layers get a residual edge from the last skip point.
//
// Config keys (revealKey; approximate — the key that mainly sets the layer's size or behaviour):
//   tokenizer.stages.0.conv → model.in_channels      other tokenizer convs / bn → model.embed_dim
//   *.lif / *_lif           → model.neuron           pools (tokenizer)        → model.variant
//   blocks.<i> (group), add → model.depth            *.attn (SSA), attn_lif   → model.num_heads / model.attn_scale
//   q/k/v/proj linears, bn  → model.embed_dim        mlp.fc1 / fc2 (+ bn)      → model.mlp_ratio
//   tokenizer (group)       → model.img_size         head group, head linear  → model.num_classes
//   global pool             → model.embed_dim        unused (reference_compat) → model.reference_compat
import type { GraphModel, LayerInfo } from '../../src/core/protocol';

export interface GNode {
  id: string;
  label: string;
  /** layer kind, or 'group' for a collapsed group */
  kind: string;
  layer?: LayerInfo;
  /** for collapsed groups: the layers inside */
  members?: LayerInfo[];
  group: string;
  shape?: number[];
  params: number;
  lif: boolean;
  spiking: boolean;
  key: string;
}

export interface GEdge {
  v: string;
  w: string;
  skip?: boolean;
}

export interface Graph {
  nodes: GNode[];
  edges: GEdge[];
  /** expanded groups (clusters) with their labels */
  clusters: { id: string; label: string }[];
  groups: { id: string; label: string; expanded: boolean }[];
  unused: LayerInfo[];
}

export function groupOf(name: string): string {
  if (name.startsWith('tokenizer')) return 'tokenizer';
  const m = /^blocks\.(\d+)(\.|$)/.exec(name);
  if (m) return `blocks.${m[1]}`;
  return 'head';
}

export function groupLabel(g: string): string {
  if (g === 'tokenizer') return 'Tokenizer';
  if (g === 'head') return 'Head';
  return `Block ${g.slice('blocks.'.length)}`;
}

export function configKeyOf(name: string, kind: string): string {
  if (name === 'tokenizer') return 'model.img_size';
  if (name === 'head' && kind === 'group') return 'model.num_classes';
  if (/^blocks\.\d+$/.test(name)) return 'model.depth';
  if (kind === 'lif') return /attn_lif$/.test(name) ? 'model.attn_scale' : 'model.neuron';
  if (kind === 'other') return 'model.reference_compat';
  if (kind === 'ssa') return 'model.num_heads';
  if (kind === 'add') return 'model.depth';
  if (name === 'tokenizer.stages.0.conv' || name === 'tokenizer.stem.conv') return 'model.in_channels';
  if (name.startsWith('tokenizer') && kind === 'pool') return 'model.variant';
  if (/\.mlp\.fc[12]/.test(name)) return 'model.mlp_ratio';
  if (name === 'head') return 'model.num_classes';
  return 'model.embed_dim';
}

function shortName(name: string, group: string): string {
  if (group === 'head') return name;
  const rest = name.slice(group.length + 1);
  return rest || name;
}

const SKIP_KINDS = new Set(['block', 'mlp']);

/** The drawable graph for the given expanded groups. */
export function buildGraph(model: GraphModel, expanded: ReadonlySet<string>): Graph {
  const used = model.layers.filter((l) => l.shape_out || l.shape_in);
  const unused = model.layers.filter((l) => !(l.shape_out || l.shape_in));
  const order: string[] = [];
  const byGroup = new Map<string, LayerInfo[]>();
  for (const l of used) {
    const g = groupOf(l.name);
    if (!byGroup.has(g)) {
      byGroup.set(g, []);
      order.push(g);
    }
    byGroup.get(g)?.push(l);
  }
  const nodes: GNode[] = [];
  const edges: GEdge[] = [];
  const clusters: Graph['clusters'] = [];
  const groups: Graph['groups'] = [];
  let cur: string | null = null; // the node the next one reads from

  for (const g of order) {
    const layers = byGroup.get(g) ?? [];
    const isExpanded = expanded.has(g);
    groups.push({ id: g, label: groupLabel(g), expanded: isExpanded });
    if (!isExpanded) {
      const inner = layers.filter((l) => !SKIP_KINDS.has(l.kind));
      const last = layers[layers.length - 1];
      const id = `group:${g}`;
      nodes.push({
        id,
        label: groupLabel(g),
        kind: 'group',
        members: inner,
        group: g,
        shape: last?.shape_out,
        params: layers.reduce((s, l) => s + l.params, 0),
        lif: inner.some((l) => l.kind === 'lif'),
        spiking: inner.some((l) => l.spiking),
        key: configKeyOf(g, 'group'),
      });
      if (cur) edges.push({ v: cur, w: id });
      cur = id;
      continue;
    }
    clusters.push({ id: `cluster:${g}`, label: groupLabel(g) });
    let skip: string | null = cur;
    let branchSrc: string | null = null;
    const branchTails = new Map<string, string>();
    let ssa: LayerInfo | null = null;
    const add = (l: LayerInfo): string => {
      const id = `layer:${l.name}`;
      nodes.push({
        id,
        label: shortName(l.name, g),
        kind: l.kind,
        layer: l,
        group: g,
        shape: l.shape_out,
        params: l.params,
        lif: l.kind === 'lif',
        spiking: l.spiking === true,
        key: configKeyOf(l.name, l.kind),
      });
      return id;
    };
    const joinBranches = () => {
      if (!ssa) return;
      const id = add(ssa);
      for (const tail of branchTails.values()) edges.push({ v: tail, w: id });
      branchTails.clear();
      ssa = null;
      cur = id;
    };
    for (const l of layers) {
      if (SKIP_KINDS.has(l.kind)) continue;
      if (l.kind === 'ssa') {
        ssa = l;
        continue;
      }
      const branch = /\.attn\.([qkv])_/.exec(l.name)?.[1];
      if (branch) {
        if (branchSrc === null) branchSrc = cur;
        const id = add(l);
        const from = branchTails.get(branch) ?? branchSrc;
        if (from) edges.push({ v: from, w: id });
        branchTails.set(branch, id);
        continue;
      }
      if (branchTails.size) joinBranches();
      if (/rpe\.conv$/.test(l.name)) skip = cur;
      const id = add(l);
      if (cur) edges.push({ v: cur, w: id });
      if (l.kind === 'add') {
        if (skip && skip !== cur) edges.push({ v: skip, w: id, skip: true });
        skip = id;
      }
      cur = id;
    }
    if (branchTails.size) joinBranches();
  }
  return { nodes, edges, clusters, groups, unused };
}

/** name → latest firing rate, for the colouring; a collapsed group gets the mean over its LIF layers. */
export function rateOf(node: GNode, rates: ReadonlyMap<string, number>): number | undefined {
  if (node.layer) return rates.get(node.layer.name);
  const values = (node.members ?? []).map((l) => rates.get(l.name)).filter((v): v is number => typeof v === 'number');
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
}

// ---------------------------------------------------------------------------------------------- described graphs
// Your own model (the runtime's describe: layers with nesting, and `edges` from torch.fx or the module order): a
// node per leaf layer, grouped by its top-level module (`blocks.<i>` for the items of a list), edges as described.

/** The group of a described layer: its top-level module, or `<list>.<i>` for an item of a list of blocks (an item
 * that has layers of its own; a Sequential's leaf items stay in their Sequential). */
export function describedGroupOf(name: string, names: readonly string[]): string {
  const [first, second] = name.split('.');
  const item = `${first}.${second}`;
  return second !== undefined && /^\d+$/.test(second) && names.some((n) => n.startsWith(`${item}.`)) ? item : first;
}

function describedGroupLabel(g: string): string {
  const m = /^(.*)\.(\d+)$/.exec(g);
  return m ? `${m[1]} ${m[2]}` : g;
}

/** The groups a model's graph has (what "Expand all" expands). */
export function groupsOf(model: GraphModel): string[] {
  const names = model.layers.map((l) => l.name);
  return [...new Set(names.map((n) => (model.edges ? describedGroupOf(n, names) : groupOf(n))))];
}

/** The drawable graph of a described model: its `edges` between leaf layers, collapsed groups as one node. */
export function buildDescribedGraph(model: GraphModel, expanded: ReadonlySet<string>): Graph {
  const names = model.layers.map((l) => l.name);
  const isLeaf = (n: string): boolean => !names.some((o) => o.startsWith(`${n}.`));
  const leaves = model.layers.filter((l) => isLeaf(l.name));
  const used = leaves.filter((l) => l.shape_out || l.shape_in);
  const unused = leaves.filter((l) => !(l.shape_out || l.shape_in));
  const nodes: GNode[] = [];
  const clusters: Graph['clusters'] = [];
  const groups: Graph['groups'] = [];
  const nodeOf = new Map<string, string>(); // layer name → node id
  const membersOf = new Map<string, LayerInfo[]>();
  for (const l of used) {
    const g = describedGroupOf(l.name, names);
    if (!membersOf.has(g)) membersOf.set(g, []);
    membersOf.get(g)?.push(l);
  }
  for (const [g, members] of membersOf) {
    const single = members.length === 1 && members[0].name === g;
    const isExpanded = single || expanded.has(g);
    if (!single) groups.push({ id: g, label: describedGroupLabel(g), expanded: isExpanded });
    if (!isExpanded) {
      const id = `group:${g}`;
      const params = model.layers.filter((l) => l.name === g || l.name.startsWith(`${g}.`)).reduce((s, l) => s + l.params, 0);
      nodes.push({ id, label: describedGroupLabel(g), kind: 'group', members, group: g, shape: members[members.length - 1]?.shape_out, params, lif: members.some((l) => l.kind === 'lif'), spiking: members.some((l) => l.spiking), key: 'model.args' });
      for (const l of members) nodeOf.set(l.name, id);
      continue;
    }
    if (!single) clusters.push({ id: `cluster:${g}`, label: describedGroupLabel(g) });
    for (const l of members) {
      const id = `layer:${l.name}`;
      nodes.push({ id, label: single ? l.name : l.name.slice(g.length + 1), kind: l.kind, layer: l, group: single ? '' : g, shape: l.shape_out, params: l.params, lif: l.kind === 'lif', spiking: l.spiking === true, key: 'model.args' });
      nodeOf.set(l.name, id);
    }
  }
  const edges: GEdge[] = [];
  const seen = new Set<string>();
  for (const [from, to] of model.edges ?? []) {
    const v = nodeOf.get(from);
    const w = nodeOf.get(to);
    if (!v || !w || v === w || seen.has(`${v}→${w}`)) continue;
    seen.add(`${v}→${w}`);
    edges.push({ v, w });
  }
  return { nodes, edges, clusters, groups, unused };
}

// ---------------------------------------------------------------------------------------------- predicted vs measured

export interface LayerDiff {
  name: string;
  /** what differs: "params", "shape", "kind", "predicted only", "measured only" */
  what: string[];
  predicted?: LayerInfo;
  measured?: LayerInfo;
}

/** The layers whose params, output shape or kind differ between the predicted and the measured graph, or that only one has. */
export function compareLayers(predicted: readonly LayerInfo[], measured: readonly LayerInfo[]): LayerDiff[] {
  const byName = new Map(measured.map((l) => [l.name, l]));
  const out: LayerDiff[] = [];
  for (const p of predicted) {
    const m = byName.get(p.name);
    byName.delete(p.name);
    if (!m) {
      out.push({ name: p.name, what: ['predicted only'], predicted: p });
      continue;
    }
    const what: string[] = [];
    if (p.params !== m.params) what.push('params');
    if (JSON.stringify(p.shape_out ?? null) !== JSON.stringify(m.shape_out ?? null)) what.push('shape');
    if (p.kind !== m.kind) what.push('kind');
    if (what.length) out.push({ name: p.name, what, predicted: p, measured: m });
  }
  for (const m of byName.values()) out.push({ name: m.name, what: ['measured only'], measured: m });
  return out;
}
