// Attention maps: pick evaluation, block, head, time step and probe sample (UI-kit dropdowns); the N×N map decoded
// from map_b64 (uint8, row-major, value = byte / 255 · scale) is drawn as a canvas heatmap; a query token (click a
// row of the map or a cell of the grid; ↑/↓ on the focused map) shows its attention row on the token grid.
// Beside them, the probe sample's input (the `probe` event: image pixels, or for event data the two polarity
// channels' counts at the chosen time step in red / blue) with the query's attention row as a translucent heat
// overlay (the token grid scaled onto the image). Runs recorded before `probe` events say so instead.
// Attention that computes masks, not maps (the event's `kind`), is drawn as what it is: a token mask (QKFormer's
// QKTA) on the token grid and over the input, a column / channel mask (SDT's SDSA, QKFormer's QKCA) as a strip of
// channel cells; no N×N map and no query token for them.
import type { AttentionEvent, AttentionKind, EvalEvent, ProbeEvent } from '../../src/core/protocol';
import { PanelClient, el, fmtPct, rgb, sizeCanvas, theme, viridis, type Host } from '../shared/panel';
import { dropdown, registerUi, setChoices, type Choice } from '../shared/ui';

interface Ui {
  /** evaluation key `epoch:step`; null = the latest */
  evalKey: string | null;
  block: number;
  head: number;
  t: number;
  sample: number;
  query: number;
}

/** The attention maps in `root`, speaking to the host through `host`. */
export function mount(root: HTMLElement, host: Host<unknown>): void {
  registerUi();

  const evalKeyOf = (e: { epoch: number; step: number }) => `${e.epoch}:${e.step}`;

  const client = new PanelClient<Ui>({
    name: 'attention',
    host,
    ui: { evalKey: null, block: 0, head: 0, t: 0, sample: 0, query: 0 },
    keep: (e) => e.type === 'attention' || e.type === 'eval' || e.type === 'probe',
    // keep the saved state small: the maps of the evaluation on screen only
    saveEvents: (events) => {
      const key = currentEvalKey();
      return events.filter((e) => e.type === 'eval' || e.type === 'probe' || (e.type === 'attention' && evalKeyOf(e) === key));
    },
    render: () => draw(),
  });

  const sub = el('span', { id: 'attn-sub', class: 'muted' });
  const empty = el('div', { id: 'attn-empty', class: 'empty muted' }, 'No attention maps yet: the trainer sends them for a few fixed evaluation samples at each evaluation (telemetry.attention_samples).');
  const onPick = (key: keyof Ui, parse: (v: string) => unknown) => (v: string) => client.setUi({ [key]: parse(v) } as Partial<Ui>);
  const ddEval = dropdown('evaluation', 'dd-eval', [], '', onPick('evalKey', (v) => (v === 'latest' ? null : v)));
  const ddBlock = dropdown('block', 'dd-block', [], '0', onPick('block', Number));
  const ddHead = dropdown('head', 'dd-head', [], '0', onPick('head', Number));
  const ddT = dropdown('time step', 'dd-t', [], '0', onPick('t', Number));
  const ddSample = dropdown('probe sample', 'dd-sample', [], '0', onPick('sample', Number));
  const dd = (wrap: HTMLElement) => wrap.querySelector('vscode-dropdown') as HTMLElement;
  const toolbar = el('div', { class: 'toolbar', id: 'attn-toolbar' }, ddEval, ddBlock, ddHead, ddT, ddSample);
  const mapBox = el('div', { id: 'attn-map', class: 'canvas-box' });
  const mapCanvas = el('canvas', { tabindex: '0', 'aria-label': 'attention map, rows are query tokens; click a row or use the arrow keys to pick the query' });
  mapBox.append(mapCanvas);
  const gridBox = el('div', { id: 'attn-grid', class: 'canvas-box' });
  const gridCanvas = el('canvas', { tabindex: '0', 'aria-label': 'attention of the query token over the token grid; click a cell to make it the query' });
  gridBox.append(gridCanvas);
  const mapCaption = el('figcaption', {}, 'Map (query × key)');
  const gridCaption = el('figcaption', { id: 'grid-caption' }, 'Query row on the token grid');
  const inputBox = el('div', { id: 'attn-input', class: 'canvas-box' });
  const inputCanvas = el('canvas', { class: 'input', 'aria-label': 'the probe sample\'s input' });
  const overlayCanvas = el('canvas', { class: 'overlay', 'aria-label': 'attention of the query token over the input; click to pick the query' });
  overlayCanvas.style.position = 'absolute';
  overlayCanvas.style.left = '0';
  overlayCanvas.style.top = '0';
  inputBox.append(inputCanvas, overlayCanvas);
  const inputCaption = el('figcaption', { id: 'input-caption' }, 'Input');
  const inputNote = el('div', { id: 'input-note', class: 'note muted' });
  const inputFigure = el('figure', { id: 'attn-input-figure' }, inputCaption, inputBox, inputNote);
  const noInput = el('div', { id: 'attn-no-input', class: 'note muted' }, 'Input not recorded for this run (runs from before the runtime sent `probe` events).');
  const info = el('div', { id: 'attn-info', class: 'note muted' });
  const mapFigure = el('figure', { id: 'attn-map-figure' }, mapCaption, mapBox);
  const gridFigure = el('figure', { id: 'attn-grid-figure' }, gridCaption, gridBox);
  const body = el('div', { class: 'split', id: 'attn-body' }, inputFigure, mapFigure, gridFigure);
  root.append(el('header', { class: 'header' }, el('h1', {}, 'Attention maps'), sub), empty, toolbar, info, noInput, body);

  function maps(): AttentionEvent[] {
    return client.events.filter((e): e is AttentionEvent => e.type === 'attention' && typeof e.map_b64 === 'string');
  }

  function currentEvalKey(): string | null {
    const all = maps();
    if (!all.length) return null;
    const keys = [...new Set(all.map(evalKeyOf))];
    return client.ui.evalKey && keys.includes(client.ui.evalKey) ? client.ui.evalKey : keys[keys.length - 1];
  }

  // keyed by the event object: seq numbers repeat across runs (another run posted into the panel)
  const decoded = new WeakMap<AttentionEvent, Float32Array>();
  function decode(e: AttentionEvent): Float32Array {
    const hit = decoded.get(e);
    if (hit) return hit;
    const k = (typeof e.scale === 'number' && e.scale > 0 ? e.scale : 1) / 255;
    const out = Float32Array.from(base64Bytes(e.map_b64), (b) => b * k);
    decoded.set(e, out);
    return out;
  }

  function probeOf(sample: number): ProbeEvent | undefined {
    let hit: ProbeEvent | undefined;
    for (const e of client.events) {
      if (e.type === 'probe' && e.sample === sample && typeof e.data_b64 === 'string' && Array.isArray(e.shape)) hit = e; // the latest
    }
    return hit;
  }

  const probeBytes = new WeakMap<ProbeEvent, Uint8Array>();
  function bytesOf(e: ProbeEvent): Uint8Array {
    const hit = probeBytes.get(e);
    if (hit) return hit;
    const out = base64Bytes(e.data_b64);
    probeBytes.set(e, out);
    return out;
  }

  /** The probe input as RGBA pixels (image, or event frame `t` in red / blue); null when the shape does not fit. */
  function inputPixels(e: ProbeEvent, t: number): { w: number; h: number; rgba: Uint8ClampedArray; note: string } | null {
    const d = bytesOf(e);
    const shape = e.shape;
    const scale = e.scale > 0 ? e.scale : 1;
    if (e.kind === 'events' && shape.length === 4 && shape[1] === 2) {
      const [T, , h, w] = shape;
      if (T * 2 * h * w !== d.length) return null;
      const ft = Math.max(0, Math.min(T - 1, t));
      const hw = h * w;
      const on = ft * 2 * hw;
      let mx = 0;
      for (let i = 0; i < 2 * hw; i++) mx = Math.max(mx, d[on + i]);
      const rgba = new Uint8ClampedArray(hw * 4);
      for (let i = 0; i < hw; i++) {
        // sqrt: sparse counts stay visible; normalised by this frame's max
        rgba[i * 4] = mx ? Math.round(255 * Math.sqrt(d[on + i] / mx)) : 0;
        rgba[i * 4 + 1] = 0;
        rgba[i * 4 + 2] = mx ? Math.round(255 * Math.sqrt(d[on + hw + i] / mx)) : 0;
        rgba[i * 4 + 3] = 255;
      }
      const frameMax = (mx / 255) * scale;
      return { w, h, rgba, note: `event frame t = ${ft}${ft !== t ? ` (of ${T})` : ''}: red = polarity 0, blue = polarity 1 · frame max ${frameMax.toPrecision(3)} events` };
    }
    if (shape.length === 3) {
      const [c, h, w] = shape;
      const hw = h * w;
      if (c * hw !== d.length || c < 1) return null;
      const rgba = new Uint8ClampedArray(hw * 4);
      for (let i = 0; i < hw; i++) {
        const r = d[i];
        rgba[i * 4] = r;
        rgba[i * 4 + 1] = c >= 3 ? d[hw + i] : r;
        rgba[i * 4 + 2] = c >= 3 ? d[2 * hw + i] : r;
        rgba[i * 4 + 3] = 255;
      }
      return { w, h, rgba, note: `${c}×${h}×${w} image` };
    }
    return null;
  }

  let inputGeo = { w: 0, h: 0 };

  function drawInput(sample: number, t: number, row: Float32Array | null, query: number, rows: number, cols: number, rowMax: number): void {
    const probe = probeOf(sample);
    const pix = probe ? inputPixels(probe, t) : null;
    inputFigure.hidden = !pix;
    noInput.hidden = !!pix;
    if (probe && !pix) noInput.textContent = `Input of sample ${sample} has an unexpected shape [${probe.shape.join(', ')}] (${probe.kind}).`;
    else if (!probe) noInput.textContent = client.events.some((e) => e.type === 'probe') ? `Input of sample ${sample} not recorded.` : 'Input not recorded for this run.';
    if (!probe || !pix) {
      delete inputBox.dataset.sample;
      return;
    }
    const px = Math.max(1, Math.floor(252 / Math.max(pix.w, pix.h)));
    const w = pix.w * px;
    const h = pix.h * px;
    inputGeo = { w, h };
    const g = sizeCanvas(inputCanvas, w, h);
    const scratch = document.createElement('canvas');
    scratch.width = pix.w;
    scratch.height = pix.h;
    const sg = scratch.getContext('2d');
    if (sg) {
      const img = sg.createImageData(pix.w, pix.h);
      img.data.set(pix.rgba);
      sg.putImageData(img, 0, 0);
    }
    g.imageSmoothingEnabled = false;
    g.drawImage(scratch, 0, 0, w, h);
    // the query's row: the token grid scaled onto the image
    const o = sizeCanvas(overlayCanvas, w, h);
    o.clearRect(0, 0, w, h);
    const n = rows * cols;
    if (row && n > 0) {
      const denom = rowMax > 0 ? rowMax : 1;
      const cw = w / cols;
      const ch = h / rows;
      for (let k = 0; k < n; k++) {
        const v = row[k] / denom;
        if (v <= 0) continue;
        const [r, gg, b] = viridis(v);
        o.fillStyle = `rgba(${r}, ${gg}, ${b}, ${(0.15 + 0.5 * v).toFixed(3)})`;
        o.fillRect((k % cols) * cw, Math.floor(k / cols) * ch, cw, ch);
      }
      if (query >= 0) {
        o.strokeStyle = theme().red;
        o.lineWidth = 2;
        o.strokeRect((query % cols) * cw + 1, Math.floor(query / cols) * ch + 1, cw - 2, ch - 2);
      }
    }
    inputBox.dataset.sample = String(sample);
    inputBox.dataset.kind = probe.kind;
    inputBox.dataset.query = String(query);
    inputCaption.textContent = `Input of sample ${sample} (label ${probe.label})`;
    inputNote.style.maxWidth = `${Math.max(w, 160)}px`;
    inputNote.textContent = !row
      ? pix.note
      : query >= 0
      ? `${pix.note} · overlay: query token ${query}'s attention row (${rows}×${cols} grid on the image)`
      : `${pix.note} · overlay: the token mask (${rows}×${cols} grid on the image)`;
  }

  const kindOf = (e: AttentionEvent): AttentionKind => e.kind ?? 'map';
  const MASK_TITLE: Record<Exclude<AttentionKind, 'map'>, string> = {
    token_mask: 'Token mask',
    column_mask: 'Column mask',
    channel_mask: 'Channel mask',
  };
  const MASK_WHAT: Record<Exclude<AttentionKind, 'map'>, string> = {
    token_mask: 'one binary value per token (QKTA: the tokens whose summed Q fired keep their K)',
    column_mask: 'one binary value per channel of the head (SDSA: SN of the column sums of K⊙V gates Q)',
    channel_mask: 'one binary value per channel (QKCA: the channels whose summed Q fired keep their K)',
  };

  /** A token mask on the rows×cols token grid (one cell per token). */
  function drawTokenMask(m: Float32Array, rows: number, cols: number): void {
    const th = theme();
    const gc = Math.max(8, Math.min(56, Math.floor(420 / Math.max(rows, cols))));
    const gw = cols * gc + 2;
    const gh = rows * gc + 2;
    const q = sizeCanvas(gridCanvas, gw + 4, gh + 4);
    q.fillStyle = th.bg;
    q.fillRect(0, 0, gw + 4, gh + 4);
    for (let k = 0; k < rows * cols; k++) {
      q.fillStyle = rgb(viridis(Math.min(1, m[k])));
      q.fillRect(2 + (k % cols) * gc, 2 + Math.floor(k / cols) * gc, gc - 1, gc - 1);
    }
  }

  /** A column / channel mask as a strip of channel cells, wrapped to rows of at most 64. */
  function drawChannelStrip(m: Float32Array): void {
    const th = theme();
    const n = m.length;
    const perRow = Math.min(64, n);
    const rowsN = Math.ceil(n / perRow);
    const cell = Math.max(6, Math.min(28, Math.floor(480 / perRow)));
    const pad = 18;
    const w = perRow * cell + 4;
    const h = Math.max(64, rowsN * cell + pad + 4);
    const g = sizeCanvas(mapCanvas, w, h);
    g.fillStyle = th.bg;
    g.fillRect(0, 0, w, h);
    g.fillStyle = th.muted;
    g.font = `10px ${th.font}`;
    g.textAlign = 'left';
    g.textBaseline = 'middle';
    g.fillText(`channel 0 … ${n - 1} →`, 2, pad / 2);
    for (let i = 0; i < n; i++) {
      g.fillStyle = rgb(viridis(Math.min(1, m[i])));
      g.fillRect(2 + (i % perRow) * cell, pad + Math.floor(i / perRow) * cell, cell - 1, cell - 1);
    }
  }

  /** The event `ev` of a mask kind: its strip or token grid, the counts, the captions; no query token. */
  function drawMask(ev: AttentionEvent, kind: Exclude<AttentionKind, 'map'>, m: Float32Array, top1: number | undefined): void {
    const [rows, cols] = Array.isArray(ev.grid) && ev.grid.length === 2 ? ev.grid : [1, m.length];
    const tokenGrid = kind === 'token_mask' && rows * cols === m.length;
    const n = m.length;
    let kept = 0;
    for (let i = 0; i < n; i++) if (m[i] > 0.5) kept++;
    const scale = ev.scale > 0 ? ev.scale : 1;
    const unit = kind === 'token_mask' ? 'tokens' : 'channels';
    info.textContent = `${MASK_TITLE[kind]} — ${MASK_WHAT[kind]} · epoch ${ev.epoch} · block ${ev.block} · head ${ev.head} · t = ${ev.time_step} · sample ${ev.sample} · ${kept} of ${n} ${unit} on${top1 !== undefined ? ` · eval top-1 ${fmtPct(top1)}` : ''}`;
    mapBox.dataset.key = `${ev.epoch}:${ev.block}:${ev.head}:${ev.time_step}:${ev.sample}`;
    mapBox.dataset.kind = kind;
    mapBox.dataset.sum = (m.reduce((a, b) => a + b, 0)).toFixed(3);
    mapBox.dataset.kept = String(kept);
    mapBox.dataset.length = String(n);
    delete mapBox.dataset.query;
    geo = { cell: 1, n: 0, gridCell: 1, rows: 0, cols: 0 };
    mapFigure.hidden = tokenGrid;
    gridFigure.hidden = !tokenGrid;
    if (tokenGrid) {
      drawTokenMask(m, rows, cols);
      gridCaption.textContent = `${MASK_TITLE[kind]} of head ${ev.head} at t = ${ev.time_step} on the ${rows}×${cols} token grid — ${kept} of ${n} tokens on`;
      delete gridBox.dataset.query;
      gridBox.dataset.kind = kind;
      const overlay = new Float32Array(m.length);
      for (let i = 0; i < n; i++) overlay[i] = m[i] / scale;
      drawInput(ev.sample, ev.time_step, overlay, -1, rows, cols, 1);
    } else {
      drawChannelStrip(m);
      mapCaption.textContent = `${MASK_TITLE[kind]} of ${kind === 'channel_mask' ? 'all channels' : `head ${ev.head}`} at t = ${ev.time_step} — ${kept} of ${n} channels on`;
      drawInput(ev.sample, ev.time_step, null, 0, 0, 0, 0);
      if (!inputFigure.hidden) inputNote.textContent += ' · no overlay: the mask is over channels, not image positions';
    }
  }

  const uniq = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
  const pick = (xs: number[], v: number) => (xs.includes(v) ? v : xs[0] ?? 0);

  let geo = { cell: 1, n: 0, gridCell: 1, rows: 0, cols: 0 };

  function draw(): void {
    const all = maps();
    sub.textContent = client.run ? `${client.run.name} · ${client.run.status}` : '';
    empty.hidden = all.length > 0;
    toolbar.hidden = body.hidden = info.hidden = all.length === 0;
    if (!all.length) {
      noInput.hidden = true;
      return;
    }
    const key = currentEvalKey() as string;
    const evalKeys = [...new Set(all.map(evalKeyOf))];
    const evals = client.events.filter((e): e is EvalEvent => e.type === 'eval');
    const evalChoices: Choice[] = [{ value: 'latest', label: 'latest' }, ...evalKeys.map((k) => {
      const [epoch, step] = k.split(':');
      return { value: k, label: `epoch ${epoch} (step ${step})` };
    })];
    setChoices(dd(ddEval), evalChoices, client.ui.evalKey && evalKeys.includes(client.ui.evalKey) ? client.ui.evalKey : 'latest');
    const inEval = all.filter((e) => evalKeyOf(e) === key);
    const blocks = uniq(inEval.map((e) => e.block));
    const block = pick(blocks, client.ui.block);
    const heads = uniq(inEval.filter((e) => e.block === block).map((e) => e.head));
    const head = pick(heads, client.ui.head);
    const ts = uniq(inEval.filter((e) => e.block === block && e.head === head).map((e) => e.time_step));
    const t = pick(ts, client.ui.t);
    const samples = uniq(inEval.filter((e) => e.block === block && e.head === head && e.time_step === t).map((e) => e.sample));
    const sample = pick(samples, client.ui.sample);
    setChoices(dd(ddBlock), blocks.map((b) => ({ value: String(b), label: `block ${b}` })), String(block));
    setChoices(dd(ddHead), heads.map((h) => ({ value: String(h), label: `head ${h}` })), String(head));
    setChoices(dd(ddT), ts.map((x) => ({ value: String(x), label: `t = ${x}` })), String(t));
    setChoices(dd(ddSample), samples.map((s) => ({ value: String(s), label: `sample ${s}` })), String(sample));
    const ev = inEval.find((e) => e.block === block && e.head === head && e.time_step === t && e.sample === sample);
    if (!ev) {
      drawInput(sample, t, null, 0, 0, 0, 0);
      return;
    }
    const m = decode(ev);
    const top1Of = evals.find((e) => evalKeyOf(e) === key)?.top1;
    const kind = kindOf(ev);
    if (kind !== 'map') {
      drawMask(ev, kind, m, top1Of);
      return;
    }
    mapFigure.hidden = gridFigure.hidden = false;
    mapCaption.textContent = 'Map (query × key)';
    mapBox.dataset.kind = 'map';
    delete gridBox.dataset.kind;
    const [rows, cols] = Array.isArray(ev.grid) && ev.grid.length === 2 ? ev.grid : [Math.round(Math.sqrt(Math.sqrt(m.length))), 0];
    const n = rows * (cols || rows);
    if (n * n !== m.length) {
      info.textContent = `map has ${m.length} values, expected ${n}² for the ${rows}×${cols} grid`;
      drawInput(sample, t, null, 0, 0, 0, 0);
      return;
    }
    const query = Math.max(0, Math.min(n - 1, client.ui.query));
    const scale = ev.scale > 0 ? ev.scale : 1;
    const top1 = top1Of;
    info.textContent = `epoch ${ev.epoch} · block ${block} · head ${head} · t = ${t} · sample ${sample} · ${rows}×${cols} tokens (N = ${n}) · scale (map max) ${scale.toPrecision(3)}${top1 !== undefined ? ` · eval top-1 ${fmtPct(top1)}` : ''}`;
    mapBox.dataset.key = `${ev.epoch}:${block}:${head}:${t}:${sample}`;
    mapBox.dataset.query = String(query);
    let sum = 0;
    for (let i = 0; i < m.length; i++) sum += m[i];
    mapBox.dataset.sum = sum.toFixed(3);

    const th = theme();
    // --- N×N map
    const cell = Math.max(2, Math.min(10, Math.floor(480 / n)));
    const pad = 24;
    const size = cell * n;
    const g = sizeCanvas(mapCanvas, size + pad + 8, size + pad + 8);
    g.fillStyle = th.bg;
    g.fillRect(0, 0, size + pad + 8, size + pad + 8);
    const img = g.createImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const [r, gg, b] = viridis(m[i] / scale);
      img.data[i * 4] = r;
      img.data[i * 4 + 1] = gg;
      img.data[i * 4 + 2] = b;
      img.data[i * 4 + 3] = 255;
    }
    // draw the N×N pixels scaled up without smoothing, via a scratch canvas
    const scratch = document.createElement('canvas');
    scratch.width = n;
    scratch.height = n;
    scratch.getContext('2d')?.putImageData(img, 0, 0);
    g.imageSmoothingEnabled = false;
    g.drawImage(scratch, pad, pad, size, size);
    g.strokeStyle = th.focus;
    g.lineWidth = 2;
    g.strokeRect(pad - 1, pad + query * cell - 1, size + 2, cell + 2);
    g.fillStyle = th.muted;
    g.font = `10px ${th.font}`;
    g.textAlign = 'left';
    g.textBaseline = 'middle';
    g.fillText('key →', pad, pad / 2);
    g.save();
    g.translate(pad / 2, pad);
    g.rotate(Math.PI / 2);
    g.fillText('query →', 0, 0);
    g.restore();
    geo = { cell, n, gridCell: 0, rows, cols };

    // --- the query's row on the token grid
    const gc = Math.max(12, Math.min(56, Math.floor(420 / Math.max(rows, cols))));
    geo.gridCell = gc;
    const gw = cols * gc + 2;
    const gh = rows * gc + 2;
    const q = sizeCanvas(gridCanvas, gw + 4, gh + 4);
    q.fillStyle = th.bg;
    q.fillRect(0, 0, gw + 4, gh + 4);
    let rowMax = 0;
    for (let k = 0; k < n; k++) rowMax = Math.max(rowMax, m[query * n + k]);
    const denom = rowMax > 0 ? rowMax : 1;
    q.font = `${Math.max(8, Math.min(11, gc / 3.2))}px ${th.font}`;
    q.textAlign = 'center';
    q.textBaseline = 'middle';
    for (let k = 0; k < n; k++) {
      const r = Math.floor(k / cols);
      const c = k % cols;
      const v = m[query * n + k];
      q.fillStyle = rgb(viridis(v / denom));
      q.fillRect(2 + c * gc, 2 + r * gc, gc - 1, gc - 1);
      if (gc >= 30 && v > 0) {
        q.fillStyle = v / denom > 0.6 ? '#000' : '#fff';
        q.fillText(v.toPrecision(2), 2 + c * gc + gc / 2, 2 + r * gc + gc / 2);
      }
    }
    const qr = Math.floor(query / cols);
    const qc = query % cols;
    q.strokeStyle = th.red;
    q.lineWidth = 3;
    q.strokeRect(2 + qc * gc, 2 + qr * gc, gc - 1, gc - 1);
    gridCaption.textContent = `Query token ${query} (row ${qr}, col ${qc}) on the ${rows}×${cols} token grid — row max ${rowMax.toPrecision(3)}`;
    gridBox.dataset.query = String(query);
    drawInput(sample, t, m.subarray(query * n, query * n + n), query, rows, cols || rows, rowMax);
  }

  function setQuery(qi: number): void {
    if (!geo.n) return;
    client.setUi({ query: Math.max(0, Math.min(geo.n - 1, qi)) });
  }

  mapCanvas.addEventListener('click', (e) => {
    const r = mapCanvas.getBoundingClientRect();
    const y = e.clientY - r.top - 24;
    if (y < 0 || y >= geo.cell * geo.n) return;
    setQuery(Math.floor(y / geo.cell));
  });
  mapCanvas.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowUp') setQuery(client.ui.query - 1);
    else if (e.key === 'ArrowDown') setQuery(client.ui.query + 1);
    else return;
    e.preventDefault();
  });
  gridCanvas.addEventListener('click', (e) => {
    const r = gridCanvas.getBoundingClientRect();
    const x = e.clientX - r.left - 2;
    const y = e.clientY - r.top - 2;
    const c = Math.floor(x / geo.gridCell);
    const row = Math.floor(y / geo.gridCell);
    if (c < 0 || row < 0 || c >= geo.cols || row >= geo.rows) return;
    setQuery(row * geo.cols + c);
  });
  overlayCanvas.addEventListener('click', (e) => {
    if (!geo.n || !inputGeo.w) return;
    const r = overlayCanvas.getBoundingClientRect();
    const c = Math.floor(((e.clientX - r.left) / inputGeo.w) * geo.cols);
    const row = Math.floor(((e.clientY - r.top) / inputGeo.h) * geo.rows);
    if (c < 0 || row < 0 || c >= geo.cols || row >= geo.rows) return;
    setQuery(row * geo.cols + c);
  });
  gridCanvas.addEventListener('keydown', (e) => {
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -geo.cols, ArrowDown: geo.cols }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    setQuery(client.ui.query + step);
  });
  client.start();
}

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
