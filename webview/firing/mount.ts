// Firing rates: a layer × evaluation heatmap (canvas) from the `firing` events of split eval; in the first minutes
// of a live run, before its first evaluation, the training-phase ones (sent every telemetry.firing_every steps),
// labelled as training (title, badge, columns by step) until the first evaluation replaces them; a per-time-step view for the selected evaluation (click a column, or ←/→ on the focused
// heatmap), and dead (< 1 %) / saturated (> 90 %) layers of the selected evaluation highlighted, with why.
import type { FiringEvent } from '../../src/core/protocol';
import { PanelClient, el, fmtPct, onResize, rgb, sizeCanvas, theme, viridis, viridisRamp, type Host } from '../shared/panel';
import { registerUi } from '../shared/ui';

interface Ui {
  /** selected column: the `seq` of its firing event; null = the latest */
  selected: number | null;
}

export const DEAD = 0.01;
export const SATURATED = 0.9;
/** colour scale: 0..max of the shown rates (at least 5 %), so a quiet run is not all one colour */
let SCALE_MAX = 0.5;

/** The firing-rate heatmap in `root`, speaking to the host through `host`. */
export function mount(root: HTMLElement, host: Host<unknown>): void {
  registerUi();
  const client = new PanelClient<Ui>({
    name: 'firing',
    host,
    ui: { selected: null },
    keep: (e) => e.type === 'firing',
    render: () => draw(),
  });

  const title = el('h1', { id: 'firing-title' }, 'Firing rates');
  const sub = el('span', { id: 'firing-sub', class: 'muted' });
  const phase = el('span', { id: 'firing-phase', class: 'badge' });
  const empty = el('div', { id: 'firing-empty', class: 'empty muted' }, 'No firing rates yet: training sends them every telemetry.firing_every steps, and each evaluation of a run.');
  const heatBox = el('div', { id: 'heatmap', class: 'canvas-box' });
  const heat = el('canvas', { tabindex: '0', 'aria-label': 'firing rate per layer and evaluation; click a column or use the arrow keys to pick an evaluation' });
  heatBox.append(heat);
  const notes = el('div', { id: 'firing-notes' });
  const perTitle = el('h2', { id: 'pert-title' }, 'Per time step');
  const perBox = el('div', { id: 'pert', class: 'canvas-box' });
  const per = el('canvas', { 'aria-label': 'firing rate per layer and time step of the selected evaluation' });
  perBox.append(per);
  const legend = el('div', { class: 'legend' });
  root.append(el('header', { class: 'header' }, title, phase, sub), empty, legend, heatBox, notes, perTitle, perBox);

  function columns(): { events: FiringEvent[]; split: 'eval' | 'train' } {
    const all = client.events.filter((e): e is FiringEvent => e.type === 'firing' && Array.isArray(e.layers));
    const evals = all.filter((e) => e.split === 'eval');
    return evals.length ? { events: evals, split: 'eval' } : { events: all, split: 'train' };
  }

  function layerNames(events: FiringEvent[]): string[] {
    const names: string[] = [];
    const seen = new Set<string>();
    for (const e of events) for (const l of e.layers) if (!seen.has(l.name)) seen.add(l.name), names.push(l.name);
    return names;
  }

  function selectedIndex(events: FiringEvent[]): number {
    const i = client.ui.selected === null ? -1 : events.findIndex((e) => e.seq === client.ui.selected);
    return i >= 0 ? i : events.length - 1;
  }

  const LABEL_W = 230;
  const ROW_H = 16;
  const TOP = 22;

  let geometry = { cellW: 0, cols: 0 };

  function draw(): void {
    const { events, split } = columns();
    empty.hidden = events.length > 0;
    sub.textContent = client.run ? `${client.run.name} · ${client.run.status}` : '';
    heatBox.dataset.cols = String(events.length);
    heatBox.dataset.split = events.length ? split : '';
    const training = events.length > 0 && split === 'train';
    title.textContent = training ? 'Firing rates — training' : 'Firing rates';
    phase.hidden = !training;
    phase.textContent = training ? `training · every ${stepGap(events)} · until the first evaluation` : '';
    if (!events.length) {
      heatBox.hidden = perBox.hidden = perTitle.hidden = true;
      notes.replaceChildren();
      legend.replaceChildren();
      return;
    }
    heatBox.hidden = perBox.hidden = perTitle.hidden = false;
    const th = theme();
    const names = layerNames(events);
    const sel = selectedIndex(events);
    heatBox.dataset.rows = String(names.length);
    heatBox.dataset.selected = String(sel);
    const selEv = events[sel];
    SCALE_MAX = Math.max(0.05, ...events.flatMap((e) => e.layers.flatMap((l) => [l.rate, ...(l.per_t ?? [])])).filter((v) => Number.isFinite(v)));
    const rateIn = (e: FiringEvent, name: string) => e.layers.find((l) => l.name === name)?.rate;

    // --- heatmap: layer × evaluation
    const avail = Math.max(320, heatBox.clientWidth || 800);
    const cellW = Math.max(14, Math.min(60, Math.floor((avail - LABEL_W - 8) / events.length)));
    const width = LABEL_W + cellW * events.length + 8;
    const height = TOP + ROW_H * names.length + 4;
    geometry = { cellW, cols: events.length };
    const g = sizeCanvas(heat, width, height);
    g.fillStyle = th.bg;
    g.fillRect(0, 0, width, height);
    g.font = `11px ${th.mono}`;
    g.textBaseline = 'middle';
    names.forEach((name, r) => {
      const y = TOP + r * ROW_H;
      const latest = rateIn(selEv, name);
      const state = latest === undefined ? '' : latest < DEAD ? 'dead' : latest > SATURATED ? 'sat' : '';
      g.fillStyle = state === 'dead' ? th.red : state === 'sat' ? th.orange : th.fg;
      g.textAlign = 'right';
      g.fillText(`${state === 'dead' ? '✕ ' : state === 'sat' ? '▲ ' : ''}${name}`, LABEL_W - 6, y + ROW_H / 2, LABEL_W - 10);
      events.forEach((e, c) => {
        const v = rateIn(e, name);
        g.fillStyle = v === undefined ? th.grid : rgb(viridis(v / SCALE_MAX));
        g.fillRect(LABEL_W + c * cellW, y + 1, cellW - 1, ROW_H - 2);
      });
      if (state) {
        g.strokeStyle = state === 'dead' ? th.red : th.orange;
        g.lineWidth = 1.5;
        g.strokeRect(LABEL_W + 0.75, y + 0.75, cellW * events.length - 1.5, ROW_H - 1.5);
      }
    });
    g.textAlign = 'center';
    g.fillStyle = th.muted;
    g.font = `10px ${th.font}`;
    const every = Math.max(1, Math.ceil(28 / cellW));
    events.forEach((e, c) => {
      if (c % every === 0 || c === sel) {
        g.fillStyle = c === sel ? th.fg : th.muted;
        g.fillText(split === 'train' ? `s${e.step}` : `e${e.epoch}`, LABEL_W + c * cellW + cellW / 2, TOP / 2);
      }
    });
    g.strokeStyle = th.focus;
    g.lineWidth = 2;
    g.strokeRect(LABEL_W + sel * cellW, TOP - 1, cellW - 1, ROW_H * names.length + 2);

    legend.replaceChildren(
      el('span', { class: 'muted' }, `${split === 'eval' ? 'evaluation' : 'training (no evaluation yet)'} firing rate: 0 %`),
      viridisRamp(),
      el('span', { class: 'muted' }, fmtPct(SCALE_MAX, 0)),
    );

    // --- dead / saturated notes for the selected evaluation
    const dead = names.filter((n) => (rateIn(selEv, n) ?? 1) < DEAD);
    const sat = names.filter((n) => (rateIn(selEv, n) ?? 0) > SATURATED);
    const what = split === 'train' ? 'training sample' : 'evaluation';
    const list: HTMLElement[] = [el('div', { class: 'note muted', id: 'firing-selected' }, `Selected: epoch ${selEv.epoch}, step ${selEv.step} (${split === 'train' ? 'training batch; the first evaluation replaces these' : 'eval'}). Click a column for its per-time-step rates.`)];
    if (dead.length) list.push(el('div', { class: 'note err', id: 'firing-dead' }, `✕ Dead (< 1 %): ${dead.join(', ')} — almost no neuron fires, so no signal (and no surrogate gradient) passes; lower neuron.v_threshold or check the input scale.`));
    if (sat.length) list.push(el('div', { class: 'note warn', id: 'firing-saturated' }, `▲ Saturated (> 90 %): ${sat.join(', ')} — nearly every neuron fires every step, so spikes carry little information and SOPs are high; raise neuron.v_threshold.`));
    if (!dead.length && !sat.length) list.push(el('div', { class: 'note muted', id: 'firing-ok' }, `No dead (< 1 %) or saturated (> 90 %) layers in this ${what}.`));
    notes.replaceChildren(...list);

    // --- per time step of the selected evaluation
    const T = Math.max(0, ...selEv.layers.map((l) => l.per_t?.length ?? 0));
    perTitle.textContent = `Per time step — ${split === 'train' ? 'training, ' : ''}epoch ${selEv.epoch}, step ${selEv.step}`;
    perBox.dataset.t = String(T);
    perBox.dataset.epoch = String(selEv.epoch);
    const tW = Math.max(24, Math.min(80, Math.floor((avail - LABEL_W - 80) / Math.max(1, T))));
    const pw = LABEL_W + tW * Math.max(1, T) + 70;
    const ph = TOP + ROW_H * names.length + 4;
    const p = sizeCanvas(per, pw, ph);
    p.fillStyle = th.bg;
    p.fillRect(0, 0, pw, ph);
    p.textBaseline = 'middle';
    names.forEach((name, r) => {
      const y = TOP + r * ROW_H;
      const layer = selEv.layers.find((l) => l.name === name);
      p.font = `11px ${th.mono}`;
      p.fillStyle = th.fg;
      p.textAlign = 'right';
      p.fillText(name, LABEL_W - 6, y + ROW_H / 2, LABEL_W - 10);
      const perT = layer?.per_t ?? [];
      for (let t = 0; t < T; t++) {
        const v = perT[t];
        p.fillStyle = v === undefined ? th.grid : rgb(viridis(v / SCALE_MAX));
        p.fillRect(LABEL_W + t * tW, y + 1, tW - 1, ROW_H - 2);
      }
      p.textAlign = 'left';
      p.fillStyle = th.muted;
      p.fillText(fmtPct(layer?.rate), LABEL_W + T * tW + 8, y + ROW_H / 2);
    });
    p.textAlign = 'center';
    p.font = `10px ${th.font}`;
    p.fillStyle = th.muted;
    for (let t = 0; t < T; t++) p.fillText(`t=${t}`, LABEL_W + t * tW + tW / 2, TOP / 2);
    p.fillText('mean', LABEL_W + T * tW + 30, TOP / 2);
    if (T === 0) {
      p.textAlign = 'left';
      p.fillText('this event has no per-time-step rates', LABEL_W, TOP / 2);
    }
  }

  /** "10 steps" between training samples (telemetry.firing_every as the run shows it), or "few steps" with one sample */
  function stepGap(events: FiringEvent[]): string {
    const n = events.length > 1 ? events[events.length - 1].step - events[events.length - 2].step : 0;
    return n > 0 ? `${n} step${n === 1 ? '' : 's'}` : 'telemetry.firing_every steps';
  }

  function select(index: number): void {
    const { events } = columns();
    if (!events.length) return;
    const i = Math.max(0, Math.min(events.length - 1, index));
    client.setUi({ selected: i === events.length - 1 ? null : events[i].seq });
  }

  heat.addEventListener('click', (e) => {
    const r = heat.getBoundingClientRect();
    const x = e.clientX - r.left - LABEL_W;
    if (x < 0 || !geometry.cols) return;
    select(Math.floor(x / geometry.cellW));
  });
  heat.addEventListener('keydown', (e) => {
    const { events } = columns();
    const cur = selectedIndex(events);
    if (e.key === 'ArrowLeft') select(cur - 1);
    else if (e.key === 'ArrowRight') select(cur + 1);
    else return;
    e.preventDefault();
  });
  onResize(heatBox, () => draw());
  client.start();
}
