// The architecture graph: a config's layers (predictModel, no training) grouped into tokenizer / block i / head;
// groups expand and collapse on click or Enter/Space; layer nodes reveal their config key in the editor. With a
// run attached (the latest run of the config), spiking layers are coloured by the latest firing rate.
// Protocol: {type:'graph'} from the host (the config's model); init/events as for every panel; posts
// {type:'revealKey', path}. Without a graph message, the run's `model` event is drawn.
// Your own model: the graph the runtime described (its `edges`, from torch.fx or the module order), grouped by
// top-level module. A preset's predicted graph can be compared with the measured one ("Compare with measured": the
// host describes the model by running it, {type:'measureGraph'}; the layers that differ are listed).
import './graph.css';
import type { FiringEvent, GraphModel, HostToWebview, LayerInfo, ModelEvent } from '../../src/core/protocol';
import { fmtCount, fmtPct, PanelClient, el, rgb, viridis, viridisRamp, type Host } from '../shared/panel';
import { button, checkbox, registerUi } from '../shared/ui';
import { layoutGraph, type LayoutNode, type LayoutResult } from './layout';
import { buildDescribedGraph, buildGraph, compareLayers, groupsOf, rateOf, type GNode } from './model';

type GraphMsg = Extract<HostToWebview, { type: 'graph' }>;

interface Ui {
  expanded: string[];
  graph: GraphMsg | null;
  /** show the measured graph against the predicted one */
  compare: boolean;
}

/** The architecture graph in `root`, speaking to the host through `host`. */
export function mount(root: HTMLElement, host: Host<unknown>): void {
  registerUi();
  const SVG = 'http://www.w3.org/2000/svg';
  const NODE_W = 188;
  const NODE_H = 54;

  const client = new PanelClient<Ui>({
    name: 'graph',
    host,
    ui: { expanded: ['tokenizer', 'head'], graph: null, compare: false },
    keep: (e) => e.type === 'firing' || e.type === 'model',
    saveEvents: (events) => {
      const lastFiring = [...events].reverse().find((e) => e.type === 'firing');
      const model = events.find((e) => e.type === 'model');
      return [model, lastFiring].filter((e) => e !== undefined);
    },
    render: () => scheduleDraw(),
    onMessage: (m) => {
      if (m.type !== 'graph' || typeof m.name !== 'string') return;
      client.source = m.source;
      client.setUi({ graph: m });
    },
  });

  const title = el('h1', { id: 'graph-title' }, 'Architecture');
  const summary = el('span', { id: 'graph-summary', class: 'muted' });
  const runNote = el('div', { id: 'graph-run', class: 'note muted' });
  const errorBox = el('div', { id: 'graph-error', class: 'error', hidden: '' });
  const legend = el('div', { id: 'graph-legend', class: 'legend' });
  const canvasBox = el('div', { id: 'graph', class: 'graph-box' });
  const footer = el('div', { id: 'graph-unused', class: 'note muted' });
  const compareBox = el('div', { id: 'graph-compare', class: 'note', hidden: '' });
  const compareToggle = checkbox('Compare with measured', false, (on) => {
    client.setUi({ compare: on });
    if (on && !client.ui.graph?.model?.measured) client.vscode.post({ type: 'measureGraph' });
  }, 'compare-measured');
  root.append(
    el('header', { class: 'header' }, title, summary),
    el('div', { class: 'toolbar' },
      button('Expand all', () => client.setUi({ expanded: currentGroups() }), { id: 'expand-all', appearance: 'secondary' }),
      button('Collapse blocks', () => client.setUi({ expanded: ['tokenizer', 'head'] }), { id: 'collapse-all', appearance: 'secondary' }),
      compareToggle,
      legend),
    runNote,
    errorBox,
    compareBox,
    canvasBox,
    footer,
  );

  function currentModel(): { model: GraphModel; name: string } | null {
    const g = client.ui.graph;
    if (g?.model) return { model: g.model, name: g.name };
    const ev = client.events.find((e): e is ModelEvent => e.type === 'model');
    if (ev) return { model: { arch: ev.arch, params: ev.params, time_steps: ev.time_steps, num_classes: ev.num_classes, layers: ev.layers }, name: client.run?.name ?? 'run' };
    return null;
  }

  function currentGroups(): string[] {
    const m = currentModel();
    return m ? groupsOf(m.model) : [];
  }

  function latestRates(): { rates: Map<string, number>; event: FiringEvent | null } {
    const ev = [...client.events].reverse().find((e): e is FiringEvent => e.type === 'firing') ?? null;
    const rates = new Map<string, number>();
    for (const l of ev?.layers ?? []) if (typeof l.rate === 'number') rates.set(l.name, l.rate);
    return { rates, event: ev };
  }

  function toggle(group: string): void {
    const set = new Set(client.ui.expanded);
    if (set.has(group)) set.delete(group);
    else set.add(group);
    pendingFocus = set.has(group) ? `cluster:${group}` : `group:${group}`;
    client.setUi({ expanded: [...set] });
  }

  function activate(node: GNode): void {
    if (node.kind === 'group') toggle(node.group);
    else client.vscode.post({ type: 'revealKey', path: node.key });
  }

  // ---------------------------------------------------------------------------------------------- drawing

  let drawSeq = 0;
  let drawQueued = false;
  let pendingFocus: string | null = null;

  function scheduleDraw(): void {
    if (drawQueued) return;
    drawQueued = true;
    queueMicrotask(() => {
      drawQueued = false;
      void draw();
    });
  }

  function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  }

  function shapeText(s: number[] | undefined): string {
    return s ? `[${s.join('×')}]` : '';
  }

  async function draw(): Promise<void> {
    const mySeq = ++drawSeq;
    const g = client.ui.graph;
    const cur = currentModel();
    errorBox.hidden = !g?.error;
    errorBox.textContent = g?.error ? `${g.error.path ? `${g.error.path}: ` : ''}${g.error.message}` : '';
    if (!cur) {
      title.textContent = 'Architecture';
      summary.textContent = g?.error ? '' : 'Open a *.spike.yaml config and run “Spike Studio: Open Architecture Graph”.';
      canvasBox.replaceChildren();
      canvasBox.dataset.nodes = '0';
      return;
    }
    const { model, name } = cur;
    title.textContent = name;
    const traced = model.graph === 'fx' ? ' · edges traced (torch.fx)' : model.graph === 'order' ? ' · edges in module order (not traceable)' : '';
    summary.textContent = `${model.arch}${model.variant ? ` (${model.variant})` : ''} · ${fmtCount(model.params)} params · T = ${model.time_steps}${model.token_grid ? ` · tokens ${model.token_grid[0]}×${model.token_grid[1]}` : ''} · ${model.num_classes} classes${traced}`;
    drawComparison(model);
    const { rates, event } = latestRates();
    rateMax = Math.max(0.05, ...rates.values());
    runNote.textContent = event
      ? `Coloured by the ${event.split} firing rates of run ${client.run?.name ?? client.runId ?? ''} (epoch ${event.epoch}, step ${event.step}).`
      : client.runId
        ? `Run ${client.run?.name ?? client.runId} attached; no firing rates yet.`
        : 'No run attached: train this config to colour the spiking layers by firing rate.';

    const graph = (model.edges ? buildDescribedGraph : buildGraph)(model, new Set(client.ui.expanded));
    const spec: { nodes: LayoutNode[]; edges: { v: string; w: string }[] } = { nodes: [], edges: graph.edges.map((e) => ({ v: e.v, w: e.w })) };
    for (const c of graph.clusters) spec.nodes.push({ id: c.id, width: 0, height: 0, cluster: true });
    const clusterIds = new Set(graph.clusters.map((c) => c.id));
    for (const n of graph.nodes) spec.nodes.push({ id: n.id, width: NODE_W, height: NODE_H, ...(n.kind !== 'group' && clusterIds.has(`cluster:${n.group}`) ? { parent: `cluster:${n.group}` } : {}) });
    let layout: LayoutResult;
    try {
      layout = await layoutGraph(spec);
    } catch (err) {
      client.log(`layout failed: ${String(err)}`);
      return;
    }
    if (mySeq !== drawSeq) return; // a newer draw started meanwhile
    render(graph, layout, rates);
    footer.textContent = graph.unused.length
      ? `Not in the forward pass (reference_compat): ${graph.unused.map((l) => l.name).join(', ')}`
      : '';
    legend.replaceChildren(
      legendItem('lif', 'LIF neuron'),
      legendItem('spk', 'spiking input'),
      ...(rates.size ? [el('span', { class: 'muted' }, 'firing 0 %'), viridisRamp(), el('span', { class: 'muted' }, fmtPct(rateMax, 0))] : []),
    );
  }

  /** The predicted graph against the measured one: a summary and the layers that differ (presets only). */
  function drawComparison(model: GraphModel): void {
    const predicted = !model.edges;
    compareToggle.hidden = !predicted;
    (compareToggle as HTMLElement & { checked: boolean }).checked = client.ui.compare;
    compareBox.hidden = !(predicted && client.ui.compare);
    if (compareBox.hidden) return;
    const measured = model.measured;
    if (!measured) {
      compareBox.dataset.diffs = '';
      compareBox.replaceChildren(el('span', { class: 'muted' }, 'Measuring the model (the runtime builds it and runs one tiny batch)…'));
      return;
    }
    if (measured.error) {
      compareBox.dataset.diffs = '';
      compareBox.replaceChildren(el('span', { class: 'error' }, `Could not measure the model: ${measured.error}`));
      return;
    }
    const diffs = compareLayers(model.layers, measured.layers);
    compareBox.dataset.diffs = String(diffs.length);
    const head = el('div', {}, `Measured by running the model: ${measured.layers.length} layers, ${fmtCount(measured.params)} params; predicted: ${model.layers.length} layers, ${fmtCount(model.params)} params. `,
      diffs.length ? `${diffs.length} layer${diffs.length === 1 ? ' differs' : 's differ'}:` : 'Every layer matches (params, output shape, kind).');
    const fmt = (l: LayerInfo | undefined): string => (l ? `${l.kind} · ${fmtCount(l.params)} params · ${shapeText(l.shape_out) || 'not run'}` : '—');
    const rows = diffs.map((d) => el('tr', { class: 'diff', 'data-layer': d.name }, el('td', {}, d.name), el('td', {}, d.what.join(', ')), el('td', {}, fmt(d.predicted)), el('td', {}, fmt(d.measured))));
    const table = el('table', { class: 'compare-table' },
      el('thead', {}, el('tr', {}, el('th', {}, 'layer'), el('th', {}, 'differs in'), el('th', {}, 'predicted'), el('th', {}, 'measured'))),
      el('tbody', {}, ...rows));
    compareBox.replaceChildren(head, ...(diffs.length ? [table] : []));
  }

  function legendItem(cls: string, text: string): HTMLElement {
    return el('span', {}, el('span', { class: `swatch sw-${cls}` }), text);
  }

  /** Colour scale of firing rates: 0..the largest shown rate (at least 5 %). */
  let rateMax = 0.5;
  function rateColour(rate: number): string {
    return rgb(viridis(Math.min(1, rate / rateMax)));
  }

  function render(graph: ReturnType<typeof buildGraph>, layout: LayoutResult, rates: Map<string, number>): void {
    const focusedId = (document.activeElement as Element | null)?.getAttribute?.('data-id') ?? null;
    const w = Math.ceil(layout.width) + 2;
    const h = Math.ceil(layout.height) + 2;
    const root = svg('svg', { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'group', 'aria-label': 'model architecture graph' });
    root.dataset.layout = layout.where ?? '';
    const defs = svg('defs');
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }));
    defs.append(marker);
    root.append(defs);

    for (const c of graph.clusters) {
      const box = layout.nodes[c.id];
      if (!box) continue;
      const group = c.id.slice('cluster:'.length);
      const gEl = svg('g', { class: 'cluster', tabindex: 0, role: 'button', 'aria-expanded': 'true', 'aria-label': `${c.label}: collapse`, 'data-id': c.id, 'data-group': group });
      gEl.append(
        svg('rect', { x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width, height: box.height, rx: 6, class: 'cluster-box' }),
      );
      const label = svg('text', { x: box.x - box.width / 2 + 10, y: box.y - box.height / 2 + 17, class: 'cluster-label' });
      label.textContent = `▾ ${c.label}`;
      gEl.append(label);
      const onToggle = () => toggle(group);
      gEl.addEventListener('click', (e) => {
        if ((e.target as Element).closest('.node')) return;
        onToggle();
      });
      gEl.addEventListener('keydown', (e) => {
        if (e.target !== gEl) return;
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onToggle();
        }
      });
      root.append(gEl);
    }

    const skipOf = new Set(graph.edges.filter((e) => e.skip).map((e) => `${e.v}→${e.w}`));
    const edgeLayer = svg('g', { class: 'edges' });
    for (const e of layout.edges) {
      if (!e.points.length) continue;
      const d = e.points.map((p, i) => `${i ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
      edgeLayer.append(svg('path', { d, class: skipOf.has(`${e.v}→${e.w}`) ? 'edge skip' : 'edge', 'marker-end': 'url(#arrow)' }));
    }
    root.append(edgeLayer);

    const nodeLayer = svg('g', { class: 'nodes' });
    for (const n of graph.nodes) {
      const box = layout.nodes[n.id];
      if (!box) continue;
      const x = box.x - NODE_W / 2;
      const y = box.y - NODE_H / 2;
      const rate = n.lif || n.kind === 'group' ? rateOf(n, rates) : undefined;
      const cls = ['node', `k-${n.kind}`, n.lif ? 'lif' : '', n.spiking && !n.lif ? 'spk' : '', rate !== undefined ? 'rated' : ''].filter(Boolean).join(' ');
      const gEl = svg('g', {
        class: cls,
        tabindex: 0,
        role: 'button',
        'data-id': n.id,
        'data-key': n.key,
        'aria-label': n.kind === 'group' ? `${n.label}: expand` : `${n.layer?.name ?? n.label}: reveal ${n.key}`,
      });
      if (n.kind === 'group') gEl.setAttribute('aria-expanded', 'false');
      if (rate !== undefined) gEl.setAttribute('data-rate', rate.toFixed(4));
      const rect = svg('rect', { x, y, width: NODE_W, height: NODE_H, rx: n.kind === 'group' ? 8 : 4, class: 'node-box' });
      gEl.append(rect);
      if (rate !== undefined) {
        const band = svg('rect', { x: x + 1, y: y + 1, width: 8, height: NODE_H - 2, rx: 3, class: 'rate-band' });
        band.style.fill = rateColour(rate);
        gEl.append(band);
      }
      const t1 = svg('text', { x: x + 14, y: y + 18, class: 'node-title' });
      t1.textContent = n.kind === 'group' ? `▸ ${n.label}` : n.label;
      const kind = svg('text', { x: x + NODE_W - 8, y: y + 18, class: 'node-kind', 'text-anchor': 'end' });
      kind.textContent = n.kind === 'group' ? `${n.members?.length ?? 0} layers` : n.lif ? 'LIF ⚡' : n.kind;
      const t2 = svg('text', { x: x + 14, y: y + 34, class: 'node-shape' });
      t2.textContent = shapeText(n.shape);
      const t3 = svg('text', { x: x + 14, y: y + 48, class: 'node-params' });
      t3.textContent = `${n.params ? `${fmtCount(n.params)} params` : 'no params'}${rate !== undefined ? ` · ${fmtPct(rate)}` : ''}`;
      gEl.append(t1, kind, t2, t3);
      const title = svg('title');
      title.textContent = nodeTip(n, rate);
      gEl.append(title);
      gEl.addEventListener('click', (e) => {
        e.stopPropagation();
        activate(n);
      });
      gEl.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          e.stopPropagation();
          activate(n);
        }
      });
      nodeLayer.append(gEl);
    }
    root.append(nodeLayer);
    canvasBox.replaceChildren(root);
    canvasBox.dataset.nodes = String(graph.nodes.length);
    canvasBox.dataset.layout = layout.where ?? '';
    const focusId = pendingFocus ?? focusedId;
    pendingFocus = null;
    if (focusId) (root.querySelector(`[data-id="${CSS.escape(focusId)}"]`) as SVGGElement | null)?.focus();
  }

  function nodeTip(n: GNode, rate: number | undefined): string {
    const lines = [n.layer?.name ?? n.label, `kind: ${n.kind}`];
    if (n.layer?.shape_in) lines.push(`in ${shapeText(n.layer.shape_in)} → out ${shapeText(n.layer.shape_out)} (per time step)`);
    lines.push(`params: ${n.params.toLocaleString('en-US')}`);
    if (n.layer?.flops) lines.push(`dense MACs/step: ${n.layer.flops.toLocaleString('en-US')}`);
    if (n.spiking) lines.push(n.lif ? 'LIF neuron (emits spikes)' : 'reads binary spikes');
    if (rate !== undefined) lines.push(`latest firing rate: ${fmtPct(rate)}`);
    lines.push(n.kind === 'group' ? 'click / Enter: expand' : `click / Enter: reveal ${n.key}`);
    return lines.join('\n');
  }

  client.start();
}
