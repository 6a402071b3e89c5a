// What the visualisation panels (graph, firing, attention, energy) share: the host connection (ready handshake,
// init/events/runStatus/theme messages, one run's events deduplicated by seq), state kept with setState
// (debounced; restored at once after a reload), small DOM and canvas helpers, and colour scales.
import { PROTOCOL_VERSION } from '../../src/core/protocol';
import type { HostToWebview, RunSummary, RuntimeEvent } from '../../src/core/protocol';
import { takeFresh } from '../../src/core/runs/state';
import { cssVar, host } from './vscode';
import './panel.css';

export interface PanelState<U> {
  v: 1;
  runId: string | null;
  /** the graph panel's config file (the host's serializer reads it) */
  source?: string | null;
  run: RunSummary | null;
  events: RuntimeEvent[];
  ui: U;
}

export interface PanelOptions<U> {
  name: string;
  ui: U;
  /** which events to keep (and save); default: all */
  keep?: (e: RuntimeEvent) => boolean;
  /** events, run or UI changed */
  render: () => void;
  /** any other host message (e.g. graph) */
  onMessage?: (m: HostToWebview) => void;
  /** trims the saved events (the state should stay small) */
  saveEvents?: (events: RuntimeEvent[]) => RuntimeEvent[];
}

export class PanelClient<U> {
  readonly vscode = host<PanelState<U>>();
  runId: string | null = null;
  run: RunSummary | null = null;
  events: RuntimeEvent[] = [];
  source: string | null = null;
  ui: U;
  /** the highest seq taken (src/core/runs/state.ts takeFresh: events at or below it are duplicates) */
  private readonly mark = { lastSeq: -1 };
  private saveTimer: number | undefined;

  constructor(private readonly o: PanelOptions<U>) {
    this.ui = o.ui;
    window.addEventListener('message', (e: MessageEvent) => {
      try {
        this.onMessage(e.data as HostToWebview);
      } catch (err) {
        this.log(err instanceof Error ? (err.stack ?? err.message) : String(err));
      }
    });
    window.addEventListener('error', (e) => this.log(e.message));
    new MutationObserver(() => o.render()).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  }

  /** Restores the saved state (if any), renders, then says ready. Call once, after the DOM is built. */
  start(): void {
    const saved = this.vscode.getState();
    if (saved && saved.v === 1) {
      this.runId = typeof saved.runId === 'string' ? saved.runId : null;
      this.source = typeof saved.source === 'string' ? saved.source : null;
      this.run = saved.run ?? null;
      if (saved.ui && typeof saved.ui === 'object') this.ui = { ...this.ui, ...saved.ui };
      this.setEvents(Array.isArray(saved.events) ? saved.events : []);
    }
    this.safeRender();
    this.vscode.post({ type: 'ready', v: PROTOCOL_VERSION });
  }

  log(message: string, level: 'info' | 'warn' | 'error' = 'error'): void {
    this.vscode.post({ type: 'log', level, message: `${this.o.name}: ${message}` });
  }

  setUi(patch: Partial<U>): void {
    this.ui = { ...this.ui, ...patch };
    this.save();
    this.safeRender();
  }

  save(immediate = false): void {
    const write = () => {
      this.saveTimer = undefined;
      const events = this.o.saveEvents ? this.o.saveEvents(this.events) : this.events;
      this.vscode.setState({ v: 1, runId: this.runId, source: this.source, run: this.run, events, ui: this.ui });
    };
    if (immediate) {
      if (this.saveTimer) clearTimeout(this.saveTimer);
      write();
    } else {
      this.saveTimer ??= window.setTimeout(write, 250);
    }
  }

  private setEvents(events: RuntimeEvent[]): void {
    this.events = [];
    this.mark.lastSeq = -1;
    this.add(events);
  }

  private add(events: RuntimeEvent[]): boolean {
    let changed = false;
    for (const e of takeFresh(this.mark, events)) {
      if (typeof e.type !== 'string') continue;
      if (this.o.keep && !this.o.keep(e)) continue;
      this.events.push(e);
      changed = true;
    }
    return changed;
  }

  private safeRender(): void {
    try {
      this.o.render();
    } catch (err) {
      this.log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
  }

  private onMessage(m: HostToWebview): void {
    if (typeof m !== 'object' || m === null) return;
    switch (m.type) {
      case 'init': {
        if (!Array.isArray(m.runs) || typeof m.events !== 'object' || m.events === null) return;
        const id = Object.keys(m.events)[0] ?? null;
        const list = id ? m.events[id] : [];
        if (!Array.isArray(list)) return;
        this.runId = id;
        this.run = m.runs.find((r) => r && r.id === id) ?? null;
        this.setEvents(list);
        break;
      }
      case 'events':
        if (typeof m.runId !== 'string' || m.runId !== this.runId || !Array.isArray(m.events)) return;
        if (!this.add(m.events)) return;
        break;
      case 'runStatus':
        if (!m.run || m.run.id !== this.runId) return;
        this.run = m.run;
        break;
      case 'theme':
        break;
      default:
        this.o.onMessage?.(m);
        return;
    }
    this.save();
    this.safeRender();
  }
}

// ---------------------------------------------------------------------------------------------- DOM

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export function app(): HTMLElement {
  return document.getElementById('app') ?? document.body.appendChild(el('main', { id: 'app' }));
}

// ---------------------------------------------------------------------------------------------- canvas

/** Sizes a canvas for the device pixel ratio; returns the 2-D context scaled to CSS pixels. */
export function sizeCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(width * dpr));
  canvas.height = Math.max(1, Math.round(height * dpr));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const g = canvas.getContext('2d');
  if (!g) throw new Error('no 2d context');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  return g;
}

export interface Theme {
  fg: string;
  muted: string;
  bg: string;
  grid: string;
  font: string;
  mono: string;
  accent: string;
  red: string;
  blue: string;
  yellow: string;
  green: string;
  orange: string;
  focus: string;
}

export function theme(): Theme {
  return {
    fg: cssVar('--vscode-foreground', '#cccccc'),
    muted: cssVar('--vscode-descriptionForeground', '#9d9d9d'),
    bg: cssVar('--vscode-editor-background', '#1f1f1f'),
    grid: cssVar('--vscode-charts-lines', 'rgba(128,128,128,0.35)'),
    font: cssVar('--vscode-font-family', 'sans-serif'),
    mono: cssVar('--vscode-editor-font-family', 'monospace'),
    accent: cssVar('--vscode-charts-blue', '#3794ff'),
    red: cssVar('--vscode-charts-red', '#f14c4c'),
    blue: cssVar('--vscode-charts-blue', '#3794ff'),
    yellow: cssVar('--vscode-charts-yellow', '#cca700'),
    green: cssVar('--vscode-charts-green', '#89d185'),
    orange: cssVar('--vscode-charts-orange', '#d18616'),
    focus: cssVar('--vscode-focusBorder', '#0078d4'),
  };
}

/** A perceptual-ish sequential scale (dark blue → teal → yellow, like viridis) for v in 0..1, as [r, g, b]. */
export function viridis(v: number): [number, number, number] {
  const stops: [number, number, number][] = [
    [68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37],
  ];
  const x = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

export function rgb(c: [number, number, number]): string {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function fmtPct(v: number | null | undefined, digits = 1): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(digits)} %` : '–';
}

export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return `${Math.round(n)}`;
}

/** Calls fn when the element's width changes (debounced to one frame). */
export function onResize(target: HTMLElement, fn: () => void): void {
  let frame = 0;
  let last = -1;
  new ResizeObserver(() => {
    const w = target.clientWidth;
    if (w === last) return;
    last = w;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(fn);
  }).observe(target);
}
