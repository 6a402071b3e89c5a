// What the visualisation panels (graph, firing, attention, energy) share besides the client (client.ts, re-exported
// here): their stylesheet, canvas helpers and colour scales.
import { el } from './client';
import { cssVar } from './vscode';
import './panel.css';

export * from './client';

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

/** A legend strip of the viridis scale, 0 to 1 in eleven steps. */
export function viridisRamp(): HTMLElement {
  const r = el('span', { class: 'ramp' });
  for (let i = 0; i <= 10; i++) {
    const s = el('span', { class: 'ramp-step' });
    s.style.background = rgb(viridis(i / 10));
    r.append(s);
  }
  return r;
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
