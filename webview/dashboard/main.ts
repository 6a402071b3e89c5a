// The training dashboard: one run's curves, KPIs and latest firing rates.
// Protocol (src/core/protocol.ts): posts {type:'ready'} once loaded; the host answers with {type:'init'} and
// then streams {type:'events'} batches and {type:'runStatus'} updates. Unknown messages are ignored.
// The view state (run id, its events, UI choices) is kept with setState so a reload repaints at once.
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';
import { PROTOCOL_VERSION } from '../../src/core/protocol';
import type { HostToWebview, RunSummary, RuntimeEvent } from '../../src/core/protocol';
import { badge, button, checkbox, registerUi, setDisabled } from '../shared/ui';
import { host } from '../shared/vscode';
import { LineChart, type Points } from './charts';
import {
  applyEvents,
  emptyModel,
  fmtDuration,
  fmtNum,
  fmtParams,
  fmtPct,
  runName,
  statusOf,
  type RunModel,
} from './model';

interface State {
  v: 1;
  runId: string | null;
  runs: RunSummary[];
  events: RuntimeEvent[];
  logY: boolean;
}

const vscode = host<State>();
registerUi();

let runs: RunSummary[] = [];
let model: RunModel | null = null;
let events: RuntimeEvent[] = [];
let logY = false;
let stopping = false;

// ---------------------------------------------------------------------------------------------- DOM

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const app = document.getElementById('app') ?? document.body.appendChild(el('main', { id: 'app' }));
const nameEl = el('h1', { id: 'run-name' }, 'Spike Studio');
const statusEl = badge('no run', 'run-status');
const stopBtn = button('Stop', onStop, { id: 'stop', appearance: 'secondary', title: 'Stop training after the current step', disabled: true });
const infoEl = el('div', { id: 'run-info', class: 'muted' });
const errorEl = el('div', { id: 'run-error', class: 'error', hidden: '' });
const emptyEl = el('div', { id: 'empty', class: 'muted' }, 'No run to show yet. Open a *.spike.yaml file and run “Spike Studio: Train”, or pick a run in the Spike Studio view.');

function kpi(id: string, label: string): HTMLElement {
  return el('div', { class: 'kpi' }, el('div', { class: 'kpi-label' }, label), el('div', { class: 'kpi-value', id }, '–'));
}
const kpis = el('section', { id: 'kpis', class: 'kpis' },
  kpi('kpi-epoch', 'epoch'), kpi('kpi-step', 'step'), kpi('kpi-loss', 'loss'), kpi('kpi-best', 'best top-1'), kpi('kpi-ips', 'img/s'), kpi('kpi-eta', 'ETA'));

const lossBox = el('div', { id: 'loss-chart' });
const accBox = el('div', { id: 'acc-chart' });
const logBox = checkbox('log scale', logY, (checked) => {
  logY = checked;
  lossChart.setLogY(logY);
  saveState();
}, 'loss-log');
const firingList = el('div', { id: 'firing', class: 'firing' });
const firingCaption = el('span', { id: 'firing-caption', class: 'muted' });

app.append(
  el('header', { class: 'header' }, el('div', { class: 'title' }, nameEl, statusEl), stopBtn),
  infoEl,
  errorEl,
  emptyEl,
  kpis,
  el('section', { class: 'charts' },
    el('figure', {}, el('figcaption', {}, el('span', {}, 'Loss'), logBox), lossBox),
    el('figure', {}, el('figcaption', {}, el('span', {}, 'Accuracy')), accBox)),
  el('section', { class: 'firing-section' }, el('h2', {}, 'Firing rates ', firingCaption), firingList),
);

const lossChart = new LineChart(lossBox, {
  title: 'Loss',
  xLabel: 'step',
  yLabel: 'loss',
  series: [
    { label: 'train loss', color: ['--vscode-charts-blue', '#3794ff'] },
    { label: 'eval loss', color: ['--vscode-charts-orange', '#d18616'], width: 2, points: true },
  ],
});
const accChart = new LineChart(accBox, {
  title: 'Accuracy',
  xLabel: 'step',
  yLabel: 'accuracy %',
  yRange: [0, 100],
  series: [
    { label: 'train acc', color: ['--vscode-charts-blue', '#3794ff'] },
    { label: 'eval top-1', color: ['--vscode-charts-green', '#89d185'], width: 2, points: true },
    { label: 'eval top-5', color: ['--vscode-charts-purple', '#b180d7'], width: 1.5, points: true, dash: [4, 3] },
  ],
});

// ---------------------------------------------------------------------------------------------- render

function render(): void {
  const m = model;
  emptyEl.hidden = m !== null;
  if (!m) {
    nameEl.textContent = 'Spike Studio';
    statusEl.textContent = 'no run';
    statusEl.dataset.status = '';
    setDisabled(stopBtn, true);
    lossChart.setData([]);
    accChart.setData([]);
    firingList.replaceChildren();
    return;
  }
  const status = statusOf(m);
  nameEl.textContent = runName(m);
  nameEl.title = m.runId;
  statusEl.textContent = stopping && status === 'running' ? 'stopping…' : status;
  statusEl.dataset.status = status;
  document.body.dataset.status = status;
  if (status !== 'running') stopping = false;
  setDisabled(stopBtn, status !== 'running' || stopping);

  const info: string[] = [];
  if (m.model) info.push(m.model.arch, `${fmtParams(m.model.params)} params`, `T = ${m.model.time_steps}`);
  if (m.hello) info.push(m.hello.gpu ? `${m.hello.device} (${m.hello.gpu.name})` : m.hello.device, `torch ${m.hello.torch}`);
  if (m.done) info.push(`${m.done.status} after ${fmtDuration(m.done.duration_s)}`);
  infoEl.textContent = info.join(' · ');

  if (m.error) {
    errorEl.hidden = false;
    errorEl.replaceChildren(el('strong', {}, `${m.error.kind} error: `), m.error.message, ...(m.error.hint ? [el('div', { class: 'hint' }, m.error.hint)] : []));
  } else {
    errorEl.hidden = true;
  }

  text('kpi-epoch', m.epochs ? `${m.epoch} / ${m.epochs}` : '–');
  text('kpi-step', m.step ? String(m.step) : '–');
  text('kpi-loss', fmtNum(m.loss));
  text('kpi-best', fmtPct(m.bestTop1));
  text('kpi-ips', m.imgPerS === null ? '–' : Math.round(m.imgPerS).toLocaleString('en-US'));
  text('kpi-eta', status === 'running' ? fmtDuration(m.etaS) : '–');

  const trainLoss: Points = m.steps.map((p) => [p.step, p.loss] as const);
  const evalLoss: Points = m.evals.map((p) => [p.step, p.loss] as const);
  lossChart.setData([trainLoss, evalLoss]);
  const trainAcc: Points = m.steps.filter((p) => p.acc !== null).map((p) => [p.step, (p.acc as number) * 100] as const);
  accChart.setData([trainAcc, m.evals.map((p) => [p.step, p.top1 * 100] as const), m.evals.map((p) => [p.step, p.top5 * 100] as const)]);

  renderFiring(m);
}

function renderFiring(m: RunModel): void {
  const f = m.firing;
  if (!f) {
    firingCaption.textContent = '';
    firingList.replaceChildren(el('div', { class: 'muted' }, 'No firing-rate sample yet.'));
    return;
  }
  firingCaption.textContent = `${f.split} · epoch ${f.epoch} · step ${f.step}`;
  const max = Math.max(0.05, ...f.layers.map((l) => l.rate));
  firingList.replaceChildren(
    ...f.layers.map((l) => {
      const fill = el('div', { class: 'fr-fill' });
      fill.style.width = `${Math.max(0, Math.min(100, (l.rate / max) * 100)).toFixed(1)}%`;
      const row = el('div', { class: 'fr-row', title: l.per_t ? `per time step: ${l.per_t.map((r) => fmtPct(r)).join(', ')}` : l.name },
        el('span', { class: 'fr-name' }, l.name), el('div', { class: 'fr-bar' }, fill), el('span', { class: 'fr-val' }, fmtPct(l.rate)));
      row.dataset.layer = l.name;
      return row;
    }),
  );
}

function text(id: string, value: string): void {
  const e = document.getElementById(id);
  if (e) e.textContent = value;
}

// ---------------------------------------------------------------------------------------------- state

let saveTimer: ReturnType<typeof setTimeout> | undefined;
function saveState(immediate = false): void {
  const write = () => {
    saveTimer = undefined;
    vscode.setState({ v: 1, runId: model?.runId ?? null, runs, events, logY });
  };
  if (immediate) {
    if (saveTimer) clearTimeout(saveTimer);
    write();
  } else {
    saveTimer ??= setTimeout(write, 250);
  }
}

function show(runId: string | null, runEvents: RuntimeEvent[]): void {
  stopping = false;
  events = [];
  model = runId === null ? null : emptyModel(runId, runs.find((r) => r.id === runId) ?? null);
  if (model) append(runEvents);
  render();
}

function append(batch: RuntimeEvent[]): void {
  if (!model) return;
  const valid = batch.filter((e) => typeof e === 'object' && e !== null && typeof e.seq === 'number' && e.seq > model!.lastSeq);
  valid.sort((a, b) => a.seq - b.seq);
  if (applyEvents(model, valid) > 0) events.push(...valid);
}

function onStop(): void {
  if (!model || statusOf(model) !== 'running' || stopping) return;
  stopping = true;
  vscode.post({ type: 'stop', runId: model.runId });
  render();
}

// ---------------------------------------------------------------------------------------------- messages

function onMessage(msg: HostToWebview): void {
  if (typeof msg !== 'object' || msg === null) return;
  switch (msg.type) {
    case 'init': {
      if (!Array.isArray(msg.runs) || typeof msg.events !== 'object' || msg.events === null) return;
      runs = msg.runs;
      const ids = Object.keys(msg.events);
      const runId = ids[0] ?? null;
      show(runId, runId ? (msg.events[runId] ?? []) : []);
      saveState(true);
      return;
    }
    case 'events': {
      if (typeof msg.runId !== 'string' || !Array.isArray(msg.events)) return;
      if (!model) show(msg.runId, []);
      if (model?.runId !== msg.runId) return;
      append(msg.events);
      render();
      saveState();
      return;
    }
    case 'runStatus': {
      const run = msg.run;
      if (typeof run !== 'object' || run === null || typeof run.id !== 'string') return;
      runs = [...runs.filter((r) => r.id !== run.id), run];
      if (model?.runId === run.id) {
        model.summary = run;
        if (run.bestTop1 !== null) model.bestTop1 = Math.max(model.bestTop1 ?? 0, run.bestTop1);
        render();
      }
      saveState();
      return;
    }
    case 'theme':
      lossChart.rebuild();
      accChart.rebuild();
      return;
    default:
      return; // unknown messages are ignored (newer hosts may send more)
  }
}

window.addEventListener('message', (e: MessageEvent) => {
  try {
    onMessage(e.data as HostToWebview);
  } catch (err) {
    vscode.post({ type: 'log', level: 'error', message: `dashboard: ${String(err instanceof Error ? err.stack ?? err.message : err)}` });
  }
});
window.addEventListener('error', (e) => vscode.post({ type: 'log', level: 'error', message: `dashboard: ${e.message}` }));

// Theme changes: VS Code swaps the body's vscode-light/vscode-dark/... class.
new MutationObserver(() => {
  lossChart.rebuild();
  accChart.rebuild();
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

// Restore what was on screen before a reload, then ask the host for the current truth.
const saved = vscode.getState();
if (saved && saved.v === 1) {
  runs = Array.isArray(saved.runs) ? saved.runs : [];
  logY = Boolean(saved.logY);
  if (logY) {
    logBox.setAttribute('checked', '');
    (logBox as HTMLElement & { checked: boolean }).checked = true;
    lossChart.setLogY(true);
  }
  show(saved.runId, Array.isArray(saved.events) ? saved.events : []);
} else {
  render();
}
vscode.post({ type: 'ready', v: PROTOCOL_VERSION });
