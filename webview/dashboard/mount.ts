// The training dashboard: the curves of one run or of several compared runs (one series per run per metric, a
// stable colour per run), plus the first run's KPIs and latest firing rates. Curves: EMA smoothing with debiasing
// (the raw line faint behind), x by step / fractional epoch / relative time, log y, focus-only zoom, min/max
// downsampling (charts.ts), PNG/CSV export through the host's save dialog ({type:'export'}).
// It speaks to the host through the panels' client (webview/shared/client.ts: ready, init, events, runStatus, theme;
// the shown runs' events kept with setState so a reload repaints at once); this file folds each run's events into
// its model (model.ts) and draws. mount() builds it in a root element (main.ts: the page; the side panel: a tab).
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';
import { el, PanelClient, type Change, type Host, type ShownRun } from '../shared/client';
import { badge, button, checkbox, dropdown, registerUi, setChecked, setChoices, setDisabled, slider } from '../shared/ui';
import { raiseBest } from '../../src/core/runs/state';
import { LineChart, type SeriesData, type SeriesSpec } from './charts';
import { emaDebiased } from './downsample';
import { buildCsv, curveRows, runColors } from './export';
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

/** the UI choices kept with setState */
interface Ui {
  logY: boolean;
  logLr: boolean;
  smooth: boolean;
  weight: number;
  xAxis: XAxis;
}

type XAxis = 'step' | 'epoch' | 'relative';
const xAxisOf = (v: unknown): XAxis => (v === 'epoch' || v === 'relative' ? v : 'step');
const X_LABELS: Record<XAxis, string> = { step: 'step', epoch: 'epoch', relative: 'seconds since start' };
/** beyond this many events in all, setState keeps only the UI choices (the host re-sends init on ready) */
const MAX_SAVED_EVENTS = 20000;

/** The dashboard in `root`, speaking to the host through `host`. */
export function mount(root: HTMLElement, host: Host<unknown>): void {
  registerUi();

  const client = new PanelClient<Ui>({
    name: 'dashboard',
    host,
    ui: { logY: false, logLr: false, smooth: true, weight: 0.6, xAxis: 'step' },
    render: onChange,
    restored: () => restoreUi(),
    saveEvents: (events, all) => (all.reduce((n, s) => n + s.events.length, 0) <= MAX_SAVED_EVENTS ? events : []),
    // states saved before the UI choices moved under `ui`
    migrate: (old) => ({
      logY: Boolean(old.logY),
      logLr: Boolean(old.logLr),
      smooth: typeof old.smooth === 'boolean' ? old.smooth : true,
      ...(typeof old.weight === 'number' && old.weight >= 0 && old.weight < 1 ? { weight: old.weight } : {}),
      xAxis: xAxisOf(old.xAxis),
    }),
  });
  /** each shown run's model (client.shown's order): the first is the primary one (header, KPIs, firing rates) */
  let shown: Array<{ model: RunModel }> = [];
  let model: RunModel | null = null;
  let stopping = false;

  // ---------------------------------------------------------------------------------------------- DOM
  const nameEl = el('h1', { id: 'run-name' }, 'Spike Studio');
  const statusEl = badge('no run', 'run-status');
  const stopBtn = button('Stop', onStop, { id: 'stop', appearance: 'secondary', title: 'Stop training after the current step', disabled: true });
  const infoEl = el('div', { id: 'run-info', class: 'muted' });
  /** where the run's initial weights came from (model.init_from), under the header */
  const initEl = el('div', { id: 'run-init', class: 'muted', hidden: '' });
  const errorEl = el('div', { id: 'run-error', class: 'error', hidden: '' });
  const emptyEl = el('div', { id: 'empty', class: 'muted' }, 'No run to show yet. Open a *.spike.yaml file and run “Spike Studio: Train”, or pick a run in the Spike Studio view.');

  function kpi(id: string, label: string): HTMLElement {
    return el('div', { class: 'kpi' }, el('div', { class: 'kpi-label' }, label), el('div', { class: 'kpi-value', id }, '–'));
  }
  const kpis = el('section', { id: 'kpis', class: 'kpis' },
    kpi('kpi-epoch', 'epoch'), kpi('kpi-step', 'step'), kpi('kpi-loss', 'loss'), kpi('kpi-best', 'best top-1'), kpi('kpi-ips', 'img/s'), kpi('kpi-eta', 'ETA'));

  const lossBox = el('div', { id: 'loss-chart' });
  const accBox = el('div', { id: 'acc-chart' });
  const lrBox = el('div', { id: 'lr-chart' });
  const ipsBox = el('div', { id: 'ips-chart' });
  const ui = client.ui; // the defaults; the saved choices are restored into the controls at start (restoreUi)
  const logBox = checkbox('log scale', ui.logY, (logY) => {
    client.setUi({ logY });
    lossChart.setLogY(logY);
  }, 'loss-log');
  const lrLogBox = checkbox('log scale', ui.logLr, (logLr) => {
    client.setUi({ logLr });
    lrChart.setLogY(logLr);
  }, 'lr-log');
  const smoothBox = checkbox('smoothing', ui.smooth, (smooth) => {
    client.setUi({ smooth });
    scheduleCharts();
  }, 'smooth-on');
  const weightSlider = slider('weight', 'smooth-weight', 0, 0.99, 0.01, ui.weight, (weight) => {
    client.setUi({ weight });
    if (client.ui.smooth) scheduleCharts();
  });
  const xAxisPick = dropdown('x axis', 'x-axis', [
    { value: 'step', label: 'step' },
    { value: 'epoch', label: 'epoch' },
    { value: 'relative', label: 'relative time' },
  ], ui.xAxis, (value) => {
    client.setUi({ xAxis: xAxisOf(value) });
    columns.clear(); // the other axes' columns are rebuilt when chosen again
    scheduleCharts();
  });
  const exportPng = button('Export PNG', () => onExport('png'), { id: 'export-png', appearance: 'secondary', title: 'Save the charts as one PNG image' });
  const exportCsv = button('Export CSV', () => onExport('csv'), { id: 'export-csv', appearance: 'secondary', title: 'Save every curve point of the shown runs as CSV' });
  const runLegend = el('div', { id: 'run-legend', class: 'run-legend', hidden: '' });
  const firingList = el('div', { id: 'firing', class: 'firing' });
  const firingCaption = el('span', { id: 'firing-caption', class: 'muted' });

  root.append(
    el('header', { class: 'header' }, el('div', { class: 'title' }, nameEl, statusEl), stopBtn),
    infoEl,
    initEl,
    errorEl,
    emptyEl,
    kpis,
    el('section', { class: 'toolbar', id: 'curve-toolbar' }, smoothBox, weightSlider, xAxisPick, el('span', { class: 'spacer' }), exportPng, exportCsv),
    runLegend,
    el('section', { class: 'charts' },
      el('figure', {}, el('figcaption', {}, el('span', {}, 'Loss'), logBox), lossBox),
      el('figure', {}, el('figcaption', {}, el('span', {}, 'Accuracy')), accBox),
      el('figure', {}, el('figcaption', {}, el('span', {}, 'Learning rate'), lrLogBox), lrBox),
      el('figure', {}, el('figcaption', {}, el('span', {}, 'Throughput')), ipsBox)),
    el('section', { class: 'firing-section' }, el('h2', {}, 'Firing rates ', firingCaption), firingList),
  );

  const pct = (v: number) => `${+v.toFixed(1)}`;
  const lossChart = new LineChart(lossBox, { title: 'Loss', xLabel: 'step', yLabel: 'loss' });
  const accChart = new LineChart(accBox, { title: 'Accuracy', xLabel: 'step', yLabel: 'accuracy %', yRange: [0, 100], fmt: pct });
  const lrChart = new LineChart(lrBox, { title: 'Learning rate', xLabel: 'step', yLabel: 'lr', fmt: (v) => v.toExponential(2) });
  const ipsChart = new LineChart(ipsBox, { title: 'Throughput', xLabel: 'step', yLabel: 'img/s', fmt: (v) => Math.round(v).toLocaleString('en-US') });
  const charts = [lossChart, accChart, lrChart, ipsChart];

  // ---------------------------------------------------------------------------------------------- curves

  type Metric = 'loss' | 'acc' | 'lr' | 'ips' | 'eval_loss' | 'top1' | 'top5';
  const STEP_METRICS: Record<'loss' | 'acc' | 'lr' | 'ips', (p: RunModel['steps'][number]) => number | null> = {
    loss: (p) => p.loss,
    acc: (p) => (p.acc === null ? null : p.acc * 100),
    lr: (p) => p.lr,
    ips: (p) => p.imgPerS,
  };

  interface Column {
    n: number;
    xs: number[];
    ys: number[];
    /** how many ys are finite */
    finite: number;
    /** the EMA, extended incrementally like the columns (state: last, count, w^count; constant: all ys equal so far) */
    smoothed?: { n: number; weight: number; ys: number[]; last: number; count: number; wPow: number; constant: boolean };
  }
  /** Per run, metric and x axis: the x/y columns, extended incrementally as steps arrive (runs only append). */
  const columns = new Map<string, Column>();

  function xOf(m: RunModel, p: { step: number; t: number }, epochX: number): number {
    if (client.ui.xAxis === 'epoch') return epochX;
    if (client.ui.xAxis === 'relative') return p.t - (m.t0 ?? p.t);
    return p.step;
  }

  function column(m: RunModel, metric: Metric): Column {
    const key = `${m.runId}\u0000${metric}\u0000${client.ui.xAxis}`;
    let c = columns.get(key);
    if (!c) {
      c = { n: 0, xs: [], ys: [], finite: 0 };
      columns.set(key, c);
    }
    if (metric === 'eval_loss' || metric === 'top1' || metric === 'top5') {
      for (; c.n < m.evals.length; c.n++) {
        const e = m.evals[c.n];
        c.xs.push(xOf(m, e, e.epoch));
        c.ys.push(metric === 'eval_loss' ? e.loss : (metric === 'top1' ? e.top1 : e.top5) * 100);
        c.finite++;
      }
    } else {
      const get = STEP_METRICS[metric];
      for (; c.n < m.steps.length; c.n++) {
        const p = m.steps[c.n];
        const y = get(p);
        c.xs.push(xOf(m, p, p.epochX));
        c.ys.push(y === null ? NaN : y);
        if (y !== null && Number.isFinite(y)) c.finite++;
      }
    }
    return c;
  }

  /** emaDebiased(c.ys, weight), kept up to date incrementally as points arrive (a full pass only when w changes). */
  function smoothedOf(c: Column): number[] {
    const weight = client.ui.weight;
    let sm = c.smoothed;
    if (!sm || sm.weight !== weight) {
      sm = { n: 0, weight, ys: [], last: 0, count: 0, wPow: 1, constant: true };
      c.smoothed = sm;
    }
    if (sm.n === c.n) return sm.ys;
    const w = Math.min(Math.max(weight, 0), 0.999);
    const first = c.ys.find((y) => Number.isFinite(y));
    for (let i = sm.n; i < c.n; i++) {
      const y = c.ys[i];
      if (sm.constant && Number.isFinite(y) && y !== first) {
        // no longer constant: smooth from the start (the pure function is the reference)
        sm.constant = false;
        sm.ys = emaDebiased(c.ys.slice(0, i), w);
        sm.last = 0;
        sm.count = 0;
        sm.wPow = 1;
        for (let j = 0; j < i; j++) {
          if (!Number.isFinite(c.ys[j])) continue;
          sm.last = sm.last * w + (1 - w) * c.ys[j];
          sm.count++;
          sm.wPow *= w;
        }
      }
      if (!Number.isFinite(y) || sm.constant || w === 0) {
        sm.ys.push(y);
        if (Number.isFinite(y)) {
          sm.last = sm.last * w + (1 - w) * y;
          sm.count++;
          sm.wPow *= w;
        }
        continue;
      }
      sm.last = sm.last * w + (1 - w) * y;
      sm.count++;
      sm.wPow *= w;
      sm.ys.push(sm.last / (1 - sm.wPow));
    }
    sm.n = c.n;
    return sm.ys;
  }

  const METRIC_COLORS: Record<Metric, [string, string]> = {
    loss: ['--vscode-charts-blue', '#3794ff'],
    acc: ['--vscode-charts-blue', '#3794ff'],
    lr: ['--vscode-charts-purple', '#b180d7'],
    ips: ['--vscode-charts-green', '#89d185'],
    eval_loss: ['--vscode-charts-orange', '#d18616'],
    top1: ['--vscode-charts-green', '#89d185'],
    top5: ['--vscode-charts-purple', '#b180d7'],
  };

  interface Line {
    metric: Metric;
    label: string;
    smoothable?: boolean;
    eval?: boolean;
    dash?: number[];
  }

  function chartSeries(lines: Line[]): { specs: SeriesSpec[]; data: SeriesData[] } {
    const specs: SeriesSpec[] = [];
    const data: SeriesData[] = [];
    const multi = shown.length > 1;
    const colors = runColors(shown.map((s) => s.model.runId));
    shown.forEach((s, r) => {
      const name = runName(s.model);
      for (const line of lines) {
        const c = column(s.model, line.metric);
        const color: SeriesSpec['color'] = multi ? colors[r] : METRIC_COLORS[line.metric];
        const label = multi ? `${name} ${line.label}` : line.label;
        const primary = r === 0 && line === lines[0];
        const base: SeriesSpec = { label, color, run: s.model.runId, ...(line.dash ? { dash: line.dash } : {}) };
        if (line.eval) {
          specs.push({ ...base, width: 2, points: true, ...(multi ? { dash: line.dash ?? [6, 3] } : {}) });
          data.push(c);
        } else if (line.smoothable && client.ui.smooth && client.ui.weight > 0) {
          specs.push({ ...base, label: `${label} (raw)`, faint: true });
          data.push(c);
          specs.push({ ...base, primary, width: 1.75 });
          data.push({ xs: c.xs, ys: smoothedOf(c) });
        } else {
          specs.push({ ...base, primary });
          data.push(c);
        }
      }
    });
    return { specs, data };
  }

  const CHART_LINES: Line[][] = [
    [{ metric: 'loss', label: 'train loss', smoothable: true }, { metric: 'eval_loss', label: 'eval loss', eval: true }],
    [
      { metric: 'acc', label: 'train acc', smoothable: true },
      { metric: 'top1', label: 'eval top-1', eval: true },
      { metric: 'top5', label: 'eval top-5', eval: true, dash: [4, 3] },
    ],
    [{ metric: 'lr', label: 'lr' }],
    [{ metric: 'ips', label: 'img/s', smoothable: true }],
  ];
  /** per animation frame, charts are redrawn until this much time is spent; the rest wait for the next frame */
  const FRAME_BUDGET_MS = 8;

  const dirty = new Set<number>();
  let chartsQueued = false;
  let headerQueued = false;
  /** Charts redraw in animation frames, however many batches arrive in between, a few per frame (time-sliced). */
  function scheduleCharts(): void {
    charts.forEach((_, i) => dirty.add(i));
    queueFrame();
  }

  function queueFrame(): void {
    if (chartsQueued) return;
    chartsQueued = true;
    requestAnimationFrame(() => {
      chartsQueued = false;
      if (headerQueued) {
        headerQueued = false;
        render(false);
      }
      const start = performance.now();
      for (const i of [...dirty]) {
        dirty.delete(i);
        renderChart(i);
        if (performance.now() - start > FRAME_BUDGET_MS) break;
      }
      if (dirty.size) queueFrame();
    });
  }

  function renderChart(i: number): void {
    const chart = charts[i];
    const xAxis = client.ui.xAxis;
    chart.setXLabel(X_LABELS[xAxis]);
    const { specs, data } = chartSeries(CHART_LINES[i]);
    chart.setSeries(specs, data);
    // Slurm requeues of the primary run: a dashed marker where the resumed segment started
    const primary = shown[0]?.model;
    const spe = primary?.stepsPerEpoch || 0;
    chart.setMarkers(
      (primary?.requeues ?? []).map((q) => ({
        x: xAxis === 'step' ? q.step : xAxis === 'epoch' ? (spe ? q.step / spe : q.epoch - 1) : q.t - (primary?.t0 ?? q.t),
        label: 'requeued',
      })),
    );
    // the integration tests' hook: the primary run's raw point count of the chart's first metric
    const m = model;
    chart.container.dataset.points = String(m ? column(m, CHART_LINES[i][0].metric).finite : 0);
  }

  let legendKey = '';
  function renderLegend(): void {
    const key = shown.map((s) => `${s.model.runId}\u0000${runName(s.model)}`).join('\u0001');
    if (key === legendKey) return;
    legendKey = key;
    runLegend.hidden = shown.length < 2;
    const colors = runColors(shown.map((s) => s.model.runId));
    runLegend.replaceChildren(
      ...shown.map((s, i) => {
        const sw = el('span', { class: 'swatch' });
        sw.style.background = colors[i];
        const item = el('span', { class: 'run-item', title: s.model.runId }, sw, runName(s.model));
        item.dataset.run = s.model.runId;
        item.dataset.color = colors[i];
        return item;
      }),
    );
  }

  // ---------------------------------------------------------------------------------------------- render

  /** Redraws the header, KPIs and firing rates now, and the charts (unless `charts` is false) in the next frame. */
  function render(withCharts = true): void {
    const m = model;
    emptyEl.hidden = m !== null;
    renderLegend();
    if (withCharts) scheduleCharts();
    if (!m) {
      nameEl.textContent = 'Spike Studio';
      statusEl.textContent = 'no run';
      statusEl.dataset.status = '';
      setDisabled(stopBtn, true);
      firingList.replaceChildren();
      return;
    }
    const status = statusOf(m);
    nameEl.textContent = shown.length > 1 ? `${runName(m)} + ${shown.length - 1} more` : runName(m);
    nameEl.title = shown.map((s) => s.model.runId).join(', ');
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
    renderInitFrom(m);

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

    renderFiring(m);
  }

  /** The header's weights line: which file, what it was converted from, what was ignored (model event's init_from). */
  function renderInitFrom(m: RunModel): void {
    const init = m.model?.init_from;
    initEl.hidden = !init;
    if (!init) {
      initEl.textContent = '';
      initEl.title = '';
      return;
    }
    const base = (p: string) => p.split(/[\\/]/).pop() ?? p;
    const parts = [`weights: ${base(init.path)}`];
    if (init.converted_from) parts.push(`converted from the ${init.converted_from}${init.source ? ` (${base(init.source)})` : ''}`);
    else parts.push(init.kind === 'checkpoint' ? 'a Spike Studio checkpoint' : 'a state_dict');
    if (init.qkv_layout) parts.push(`qkv_layout ${init.qkv_layout}`);
    parts.push(init.ignored.length ? `${init.ignored.length} unused key${init.ignored.length === 1 ? '' : 's'} ignored` : 'nothing ignored');
    initEl.textContent = parts.join(' · ');
    initEl.title = [init.path, ...(init.source ? [`source: ${init.source}`] : []),
      ...(init.ignored.length ? [`ignored: ${init.ignored.join(', ')}`] : []),
      ...(init.rebuilt?.length ? [`rebuilt: ${init.rebuilt.join(', ')}`] : [])].join('\n');
  }

  let shownFiring: RunModel['firing'] | undefined;
  function renderFiring(m: RunModel): void {
    const f = m.firing;
    if (f === shownFiring && f !== null) return;
    shownFiring = f;
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

  // ---------------------------------------------------------------------------------------------- export

  function exportName(ext: string): string {
    const base = shown.length === 1 ? runName(shown[0].model) : shown.length > 1 ? `compare-${shown.length}-runs` : 'spike-studio';
    return `${base.replace(/[^\w.-]+/g, '_')}-curves.${ext}`;
  }

  /** The four charts (with their titles and the run legend) composited onto one canvas, as a PNG data URL. */
  function chartsPng(): string {
    const canvases = charts.map((c) => c.canvas).filter((c): c is HTMLCanvasElement => c !== undefined);
    const w = Math.max(...canvases.map((c) => c.width), 1);
    const h = Math.max(...canvases.map((c) => c.height), 1);
    const dpr = window.devicePixelRatio || 1;
    const title = Math.round(26 * dpr);
    const legendH = shown.length > 1 ? Math.round(24 * dpr) : 0;
    const cols = 2;
    const rows = Math.ceil(canvases.length / cols);
    const out = document.createElement('canvas');
    out.width = cols * w;
    out.height = legendH + rows * (h + title);
    const g = out.getContext('2d');
    if (!g) return '';
    const cs = getComputedStyle(document.body);
    g.fillStyle = cs.getPropertyValue('--vscode-editor-background').trim() || '#1f1f1f';
    g.fillRect(0, 0, out.width, out.height);
    const fg = cs.getPropertyValue('--vscode-foreground').trim() || '#cccccc';
    const family = cs.getPropertyValue('--vscode-font-family').trim() || 'sans-serif';
    g.font = `600 ${Math.round(13 * dpr)}px ${family}`;
    g.textBaseline = 'middle';
    if (legendH) {
      const colors = runColors(shown.map((s) => s.model.runId));
      let x = 10 * dpr;
      shown.forEach((s, i) => {
        g.fillStyle = colors[i];
        g.fillRect(x, legendH / 2 - 2 * dpr, 16 * dpr, 4 * dpr);
        x += 22 * dpr;
        g.fillStyle = fg;
        const name = runName(s.model);
        g.fillText(name, x, legendH / 2);
        x += g.measureText(name).width + 18 * dpr;
      });
    }
    charts.forEach((c, i) => {
      const canvas = c.canvas;
      if (!canvas) return;
      const x = (i % cols) * w;
      const y = legendH + Math.floor(i / cols) * (h + title);
      g.fillStyle = fg;
      g.fillText(c.title, x + 10 * dpr, y + title / 2);
      g.drawImage(canvas, x, y + title);
    });
    return out.toDataURL('image/png');
  }

  function onExport(format: 'png' | 'csv'): void {
    if (!shown.length) return;
    const data = format === 'csv' ? buildCsv(curveRows(shown.map((s) => ({ name: runName(s.model), model: s.model })))) : chartsPng();
    client.vscode.post({ type: 'export', format, data, name: exportName(format) });
  }

  // ---------------------------------------------------------------------------------------------- state

  /** The saved UI choices into the controls (after a reload). */
  function restoreUi(): void {
    const { logY, logLr, smooth, weight, xAxis } = client.ui;
    setChecked(logBox, logY);
    setChecked(lrLogBox, logLr);
    setChecked(smoothBox, smooth);
    const w = weightSlider.querySelector('input');
    if (w) w.value = String(weight);
    const wv = weightSlider.querySelector('.ui-slider-value');
    if (wv) wv.textContent = String(weight);
    const dd = xAxisPick.querySelector<HTMLElement>('#x-axis');
    if (dd) setChoices(dd, [{ value: 'step', label: 'step' }, { value: 'epoch', label: 'epoch' }, { value: 'relative', label: 'relative time' }], xAxis);
    lossChart.setLogY(logY);
    lrChart.setLogY(logLr);
  }

  /** Shows the client's runs (the first is the primary one), each with its events so far. */
  function showRuns(list: readonly ShownRun[]): void {
    stopping = false;
    columns.clear();
    shown = list.map((r) => ({ model: emptyModel(r.runId, r.run) }));
    list.forEach((r, i) => applyEvents(shown[i].model, r.events));
    model = shown[0]?.model ?? null;
    for (const c of charts) c.resetZoom();
    render();
  }

  function onStop(): void {
    if (!model || statusOf(model) !== 'running' || stopping) return;
    stopping = true;
    client.vscode.post({ type: 'stop', runId: model.runId });
    render();
  }

  // ---------------------------------------------------------------------------------------------- changes

  function onChange(change: Change): void {
    switch (change.kind) {
      case 'runs':
        showRuns(client.shown);
        return;
      case 'events': {
        const s = shown.find((x) => x.model.runId === change.runId);
        if (!s) return;
        applyEvents(s.model, change.added);
        headerQueued = true; // the header with the charts, in the next frame
        scheduleCharts();
        return;
      }
      case 'status': {
        const s = shown.find((x) => x.model.runId === change.runId);
        const run = client.shown.find((x) => x.runId === change.runId)?.run;
        if (!s || !run) return;
        s.model.summary = run;
        raiseBest(s.model, run.bestTop1);
        render();
        return;
      }
      case 'theme':
        for (const c of charts) c.rebuild();
        return;
      case 'ui':
        return; // each control redraws what it changes
    }
  }

  // Restore what was on screen before a reload, then ask the host for the current truth.
  client.start();
}
