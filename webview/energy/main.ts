// Energy: per-layer synaptic operations (SOPs) and estimated energy (mJ) of one evaluation as a horizontal bar chart
// (canvas), with the total, the accounting convention string from the runtime, and that evaluation's top-1 beside.
import type { EnergyEvent, EvalEvent } from '../../src/core/protocol';
import { PanelClient, app, el, fmtCount, fmtPct, onResize, sizeCanvas, theme } from '../shared/panel';
import { dropdown, registerUi, setChoices, type Choice } from '../shared/ui';

interface Ui {
  /** the `seq` of the energy event shown; null = the latest */
  selected: number | null;
  metric: 'mj' | 'sops';
}

registerUi();
const client = new PanelClient<Ui>({
  name: 'energy',
  ui: { selected: null, metric: 'mj' },
  keep: (e) => e.type === 'energy' || e.type === 'eval',
  render: () => draw(),
});

const root = app();
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
root.append(el('header', { class: 'header' }, el('h1', {}, 'Energy'), sub), empty, toolbar, kpis, convention, chartBox);

function energies(): EnergyEvent[] {
  return client.events.filter((e): e is EnergyEvent => e.type === 'energy' && Array.isArray(e.layers));
}

function fmtMj(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (v === 0) return '0 mJ';
  if (Math.abs(v) < 0.01) return `${(v * 1000).toPrecision(3)} µJ`;
  return `${v.toPrecision(3)} mJ`;
}

function draw(): void {
  const all = energies();
  sub.textContent = client.run ? `${client.run.name} · ${client.run.status}` : '';
  empty.hidden = all.length > 0;
  toolbar.hidden = kpis.hidden = convention.hidden = chartBox.hidden = all.length === 0;
  if (!all.length) return;
  const selIndex = client.ui.selected === null ? -1 : all.findIndex((e) => e.seq === client.ui.selected);
  const ev = all[selIndex >= 0 ? selIndex : all.length - 1];
  const choices: Choice[] = [{ value: 'latest', label: 'latest' }, ...all.map((e) => ({ value: String(e.seq), label: `epoch ${e.epoch} (step ${e.step})` }))];
  setChoices(ddEval.querySelector('vscode-dropdown') as HTMLElement, choices, selIndex >= 0 ? String(ev.seq) : 'latest');
  const evals = client.events.filter((e): e is EvalEvent => e.type === 'eval');
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
client.start();
