// Energy: per-layer synaptic operations (SOPs) and estimated energy (mJ) of one evaluation as a horizontal bar chart
// (canvas), with the total, the accounting convention string from the runtime, and that evaluation's top-1 beside.
// When runs are compared (init.compared), an energy–accuracy chart beside the bars: one point per run at (total mJ
// per image of its latest energy estimate, top-1 of that evaluation), in the run's stable colour; selecting a point
// (click, or its legend button) shows that run's bars.
import type { EnergyEvent, EvalEvent, HostToWebview, RunSummary, RuntimeEvent } from '../../src/core/protocol';
import { runColors } from '../dashboard/export';
import { PanelClient, el, fmtCount, fmtPct, onResize, sizeCanvas, theme, type Host } from '../shared/panel';
import { dropdown, registerUi, setChoices, type Choice } from '../shared/ui';
import './energy.css';

interface Ui {
  /** the `seq` of the energy event shown; null = the latest */
  selected: number | null;
  metric: 'mj' | 'sops';
  /** the compared run whose bars are shown; null = the primary run */
  shown: string | null;
  /** the compared run ids (the host's serializer reads them after a reload) */
  compared: string[];
}

interface Compared {
  runId: string;
  name: string;
  events: RuntimeEvent[];
}

/** The energy chart in `root`, speaking to the host through `host`. */
export function mount(root: HTMLElement, host: Host<unknown>): void {
  // registered before the PanelClient's listener, so `compared` is current when it renders
  let compared: Compared[] = [];
  window.addEventListener('message', (e: MessageEvent) => {
    const m = e.data as HostToWebview;
    if (typeof m !== 'object' || m === null || m.type !== 'init' || !Array.isArray(m.runs)) return;
    const runs: RunSummary[] = m.runs;
    compared = (Array.isArray(m.compared) ? m.compared : [])
      .filter((c) => c && typeof c.runId === 'string' && Array.isArray(c.events))
      .map((c) => ({ runId: c.runId, name: runs.find((r) => r && r.id === c.runId)?.name ?? c.runId, events: c.events }));
    const ids = compared.map((c) => c.runId);
    if (client.ui.compared.join('\n') !== ids.join('\n') || (client.ui.shown !== null && !ids.includes(client.ui.shown))) {
      client.ui = { ...client.ui, compared: ids, shown: client.ui.shown !== null && ids.includes(client.ui.shown) ? client.ui.shown : null };
    }
  });

  registerUi();
  const client = new PanelClient<Ui>({
    name: 'energy',
    host,
    ui: { selected: null, metric: 'mj', shown: null, compared: [] },
    keep: (e) => e.type === 'energy' || e.type === 'eval',
    render: () => draw(),
  });

  const sub = el('span', { id: 'energy-sub', class: 'muted' });
  const empty = el('div', { id: 'energy-empty', class: 'empty muted' }, 'No energy estimate yet: the trainer sends one at each evaluation (telemetry.energy).');
  const ddEval = dropdown('evaluation', 'dd-energy-eval', [], 'latest', (v) => client.setUi({ selected: v === 'latest' ? null : Number(v) }));
  const ddMetric = dropdown('bars', 'dd-metric', [{ value: 'mj', label: 'energy (mJ)' }, { value: 'sops', label: 'SOPs' }], 'mj', (v) => client.setUi({ metric: v === 'sops' ? 'sops' : 'mj' }));
  const toolbar = el('div', { class: 'toolbar' }, ddEval, ddMetric);
  const kpi = (id: string, label: string) => el('div', { class: 'kpi' }, el('div', { class: 'kpi-label' }, label), el('div', { class: 'kpi-value', id }, '–'));
  const kpis = el('div', { class: 'kpis', id: 'energy-kpis' }, kpi('kpi-total', 'total energy / image'), kpi('kpi-sops', 'total SOPs'), kpi('kpi-macs', 'total MACs'), kpi('kpi-top1', 'eval top-1'));
  const convention = el('div', { id: 'energy-convention', class: 'note muted mono' });
  const chartBox = el('div', { id: 'energy-chart', class: 'canvas-box' });
  const chart = el('canvas', { 'aria-label': 'energy per layer' });
  chartBox.append(chart);
  const tradeBox = el('div', { id: 'energy-tradeoff', class: 'canvas-box' });
  const trade = el('canvas', { 'aria-label': 'energy–accuracy trade-off of the compared runs' });
  const tradeLegend = el('div', { id: 'energy-tradeoff-legend', class: 'tradeoff-legend', role: 'listbox', 'aria-label': 'compared runs' });
  const tradeNote = el('div', { id: 'energy-tradeoff-note', class: 'note muted mono' });
  tradeBox.append(el('div', { class: 'tradeoff-title' }, 'energy vs accuracy (latest evaluation of each run)'), trade, tradeLegend, tradeNote);
  const row = el('div', { class: 'energy-row' }, chartBox, tradeBox);
  root.append(el('header', { class: 'header' }, el('h1', {}, 'Energy'), sub), empty, toolbar, kpis, convention, row);

  /** The run whose bars are shown: the selected compared run, else the primary one. */
  function shownRun(): { runId: string | null; name: string | null; status: string | null; events: RuntimeEvent[] } {
    const c = client.ui.shown !== null && client.ui.shown !== client.runId ? compared.find((r) => r.runId === client.ui.shown) : undefined;
    if (c) return { runId: c.runId, name: c.name, status: null, events: c.events };
    return { runId: client.runId, name: client.run?.name ?? null, status: client.run?.status ?? null, events: client.events };
  }

  function energies(events: RuntimeEvent[] = shownRun().events): EnergyEvent[] {
    return events.filter((e): e is EnergyEvent => e.type === 'energy' && Array.isArray(e.layers));
  }

  function selectRun(runId: string): void {
    const shown = runId === client.runId ? null : runId;
    if (shown === client.ui.shown) return;
    client.setUi({ shown, selected: null });
  }

  interface Point {
    runId: string;
    name: string;
    color: string;
    mj: number;
    top1: number;
    convention: string;
    x: number;
    y: number;
  }
  let points: Point[] = [];

  /** Each compared run's latest energy estimate and the top-1 of that evaluation (else its latest eval). */
  function tradeoffPoints(): { points: Omit<Point, 'x' | 'y'>[]; missing: string[] } {
    const colors = runColors(compared.map((c) => c.runId));
    const out: Omit<Point, 'x' | 'y'>[] = [];
    const missing: string[] = [];
    compared.forEach((c, i) => {
      const events = c.runId === client.runId ? client.events : c.events;
      const en = energies(events).at(-1);
      const evals = events.filter((e): e is EvalEvent => e.type === 'eval' && typeof e.top1 === 'number');
      const top1 = en ? (evals.find((e) => e.epoch === en.epoch && e.step === en.step) ?? evals.at(-1))?.top1 : undefined;
      if (!en || !Number.isFinite(en.total_mj) || typeof top1 !== 'number') missing.push(c.name);
      else out.push({ runId: c.runId, name: c.name, color: colors[i], mj: en.total_mj, top1, convention: en.convention });
    });
    return { points: out, missing };
  }

  function drawTradeoff(shownId: string | null): void {
    const { points: pts, missing } = tradeoffPoints();
    tradeBox.dataset.points = String(pts.length);
    tradeBox.dataset.selected = shownId ?? '';
    const th = theme();
    const width = Math.max(280, tradeBox.clientWidth || 360);
    const height = 240;
    const L = 52, R = 16, T = 12, B = 34;
    const g = sizeCanvas(trade, width, height);
    g.fillStyle = th.bg;
    g.fillRect(0, 0, width, height);
    const xs = pts.map((p) => p.mj);
    const ys = pts.map((p) => p.top1);
    const pad = (lo: number, hi: number, floor: number): [number, number] => {
      const span = Math.max(hi - lo, Math.abs(hi) * 0.1, floor);
      return [lo - span * 0.15, hi + span * 0.15];
    };
    const [x0, x1] = pts.length ? pad(Math.min(...xs), Math.max(...xs), 1e-9) : [0, 1];
    const [y0, y1] = pts.length ? pad(Math.min(...ys), Math.max(...ys), 0.01) : [0, 1];
    const micro = Math.max(Math.abs(x0), Math.abs(x1)) < 0.1; // small energies: ticks in µJ
    const px = (v: number) => L + ((v - x0) / (x1 - x0)) * (width - L - R);
    const py = (v: number) => height - B - ((v - y0) / (y1 - y0)) * (height - T - B);
    g.strokeStyle = th.grid;
    g.lineWidth = 1;
    g.font = `10px ${th.font}`;
    g.fillStyle = th.muted;
    for (let k = 0; k <= 4; k++) {
      const yv = y0 + ((y1 - y0) * k) / 4;
      const xv = x0 + ((x1 - x0) * k) / 4;
      g.beginPath();
      g.moveTo(L, Math.round(py(yv)) + 0.5);
      g.lineTo(width - R, Math.round(py(yv)) + 0.5);
      g.moveTo(Math.round(px(xv)) + 0.5, T);
      g.lineTo(Math.round(px(xv)) + 0.5, height - B);
      g.stroke();
      g.textAlign = 'right';
      g.textBaseline = 'middle';
      g.fillText(`${(yv * 100).toFixed(1)}%`, L - 4, py(yv));
      g.textAlign = 'center';
      g.textBaseline = 'top';
      g.fillText(micro ? (xv * 1000).toPrecision(3) : xv.toPrecision(3), px(xv), height - B + 4);
    }
    g.textAlign = 'center';
    g.textBaseline = 'bottom';
    g.fillText(`total energy / image (${micro ? 'µJ' : 'mJ'}) →   ·   eval top-1 ↑`, L + (width - L - R) / 2, height - 2);
    points = pts.map((p) => ({ ...p, x: px(p.mj), y: py(p.top1) }));
    g.textBaseline = 'middle';
    for (const p of points) {
      const sel = p.runId === shownId;
      g.beginPath();
      g.arc(p.x, p.y, sel ? 7 : 5, 0, Math.PI * 2);
      g.fillStyle = p.color;
      g.fill();
      if (sel) {
        g.lineWidth = 2;
        g.strokeStyle = th.fg;
        g.stroke();
      }
      g.font = `${sel ? 'bold ' : ''}11px ${th.font}`;
      g.fillStyle = th.fg;
      const right = p.x < width - 110;
      g.textAlign = right ? 'left' : 'right';
      g.fillText(p.name, p.x + (right ? 10 : -10), p.y, 100);
    }
    // legend: one button per run (keyboard selection), with its numbers
    tradeLegend.replaceChildren(
      ...points.map((p) => {
        const b = el('button', { class: 'tradeoff-item', role: 'option', 'data-run': p.runId, 'aria-selected': String(p.runId === shownId), 'data-x': p.x.toFixed(1), 'data-y': p.y.toFixed(1), title: `${p.name}: ${fmtMj(p.mj)} / image, top-1 ${fmtPct(p.top1)} · ${p.convention}` });
        const sw = el('span', { class: 'swatch' });
        sw.style.background = p.color;
        b.append(sw, el('span', { class: 'tradeoff-name' }, p.name), el('span', { class: 'muted' }, ` ${fmtMj(p.mj)} · ${fmtPct(p.top1)}`));
        b.addEventListener('click', () => selectRun(p.runId));
        return b;
      }),
    );
    const conventions = [...new Set(pts.map((p) => p.convention))];
    const notes: string[] = [];
    if (conventions.length > 1) {
      const by = conventions.map((c) => `${pts.filter((p) => p.convention === c).map((p) => p.name).join(', ')}: ${c}`);
      notes.push(`⚠ the runs use different conventions, so their energies are not directly comparable:\n${by.join('\n')}`);
    }
    else if (conventions.length === 1) notes.push(`convention: ${conventions[0]}`);
    if (missing.length) notes.push(`no energy estimate or top-1 yet: ${missing.join(', ')}`);
    tradeNote.textContent = notes.join('\n');
    tradeNote.dataset.mixed = String(conventions.length > 1);
  }

  trade.addEventListener('click', (e: MouseEvent) => {
    const r = trade.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    let best: Point | undefined;
    let bestD = 14 * 14;
    for (const p of points) {
      const d = (p.x - x) ** 2 + (p.y - y) ** 2;
      if (d <= bestD) {
        best = p;
        bestD = d;
      }
    }
    if (best) selectRun(best.runId);
  });

  function fmtMj(v: number): string {
    if (!Number.isFinite(v)) return '–';
    if (v === 0) return '0 mJ';
    if (Math.abs(v) < 0.01) return `${(v * 1000).toPrecision(3)} µJ`;
    return `${v.toPrecision(3)} mJ`;
  }

  function draw(): void {
    const run = shownRun();
    const all = energies(run.events);
    sub.textContent = run.name ? (run.status ? `${run.name} · ${run.status}` : run.name) + (compared.length >= 2 ? ` · ${compared.length} runs compared` : '') : '';
    const comparing = compared.length >= 2;
    tradeBox.hidden = !comparing;
    if (comparing) drawTradeoff(run.runId);
    chartBox.dataset.run = run.runId ?? '';
    empty.hidden = all.length > 0;
    toolbar.hidden = kpis.hidden = convention.hidden = chartBox.hidden = all.length === 0;
    if (!all.length) return;
    const selIndex = client.ui.selected === null ? -1 : all.findIndex((e) => e.seq === client.ui.selected);
    const ev = all[selIndex >= 0 ? selIndex : all.length - 1];
    const choices: Choice[] = [{ value: 'latest', label: 'latest' }, ...all.map((e) => ({ value: String(e.seq), label: `epoch ${e.epoch} (step ${e.step})` }))];
    setChoices(ddEval.querySelector('vscode-dropdown') as HTMLElement, choices, selIndex >= 0 ? String(ev.seq) : 'latest');
    const evals = run.events.filter((e): e is EvalEvent => e.type === 'eval');
    const top1 = evals.find((e) => e.epoch === ev.epoch && e.step === ev.step)?.top1;
    const sops = ev.layers.reduce((s, l) => s + (l.sops || 0), 0);
    const macs = ev.layers.reduce((s, l) => s + (l.macs || 0), 0);
    (document.getElementById('kpi-total') as HTMLElement).textContent = fmtMj(ev.total_mj);
    (document.getElementById('kpi-sops') as HTMLElement).textContent = fmtCount(sops);
    (document.getElementById('kpi-macs') as HTMLElement).textContent = fmtCount(macs);
    (document.getElementById('kpi-top1') as HTMLElement).textContent = fmtPct(top1);
    convention.textContent = `epoch ${ev.epoch}, step ${ev.step} · convention: ${ev.convention}`;
    const metric = client.ui.metric;
    chartBox.dataset.metric = metric;
    chartBox.dataset.bars = String(ev.layers.length);
    chartBox.dataset.seq = String(ev.seq);

    const th = theme();
    const LABEL_W = 230;
    const VALUE_W = 150;
    const ROW = 20;
    const TOP = 8;
    const width = Math.max(480, chartBox.clientWidth || 800);
    const height = TOP + ROW * ev.layers.length + 24;
    const g = sizeCanvas(chart, width, height);
    g.fillStyle = th.bg;
    g.fillRect(0, 0, width, height);
    const value = (l: EnergyEvent['layers'][number]) => (metric === 'mj' ? l.mj : l.sops) || 0;
    const max = Math.max(1e-12, ...ev.layers.map(value));
    const barW = width - LABEL_W - VALUE_W - 8;
    g.textBaseline = 'middle';
    ev.layers.forEach((l, i) => {
      const y = TOP + i * ROW;
      g.font = `11px ${th.mono}`;
      g.textAlign = 'right';
      g.fillStyle = th.fg;
      g.fillText(l.name, LABEL_W - 6, y + ROW / 2, LABEL_W - 10);
      g.fillStyle = th.grid;
      g.fillRect(LABEL_W, y + 3, barW, ROW - 6);
      const v = value(l);
      // MAC-counted layers (non-spiking input: the first conv, q/k/v of non-binary inputs) in orange, AC/SOP ones in blue
      g.fillStyle = l.macs > 0 && metric === 'mj' ? th.orange : th.blue;
      g.fillRect(LABEL_W, y + 3, Math.max(v > 0 ? 1 : 0, (v / max) * barW), ROW - 6);
      g.textAlign = 'left';
      g.fillStyle = th.muted;
      g.fillText(metric === 'mj' ? `${fmtMj(l.mj)} · ${fmtCount(l.sops)} SOPs` : `${fmtCount(l.sops)} SOPs · ${fmtMj(l.mj)}`, LABEL_W + barW + 8, y + ROW / 2, VALUE_W - 4);
    });
    g.font = `10px ${th.font}`;
    g.fillStyle = th.muted;
    g.textAlign = 'left';
    g.fillText(metric === 'mj' ? 'energy per image (orange: counted as MACs, blue: as accumulates/SOPs)' : 'synaptic operations per image', LABEL_W, height - 10);
  }

  onResize(chartBox, () => draw());
  onResize(tradeBox, () => draw());
  client.start();
}
