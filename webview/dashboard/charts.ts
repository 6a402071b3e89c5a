// Line charts on uPlot (canvas, CSP-clean) in uPlot's mode 2: every series has its own x values, so runs with
// different steps and min/max-downsampled series need no union-of-x alignment. Each render decimates the visible
// x range of every series to about two points per pixel (downsample.ts). Zoom (drag-select on x) works only while
// the chart has focus (click or Tab into it first, as DVC does), so scrolling past a chart never zooms it; a
// double-click resets. Test hooks on the container: data-points (set by the caller), data-series (JSON of the
// series' label/colour/run), data-ysum (sum of the primary series' plotted y), data-xmin/data-xmax (x scale),
// data-logy, data-zoomed.
import uPlot from 'uplot';
import { cssVar } from '../shared/vscode';
import { lowerBound, minMaxDownsample } from './downsample';

export interface SeriesSpec {
  label: string;
  /** a CSS colour, or a CSS variable name such as --vscode-charts-blue with a fallback colour */
  color: string | [string, string];
  width?: number;
  points?: boolean;
  dash?: number[];
  /** the raw line behind a smoothed one: thin, translucent, left out of the legend */
  faint?: boolean;
  /** the run it belongs to (for data-series) */
  run?: string;
  /** the series whose plotted values data-ysum sums */
  primary?: boolean;
}

export interface SeriesData {
  /** ascending */
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  yRange?: [number, number];
  height?: number;
  /** formats legend values */
  fmt?: (v: number) => string;
}

/** Drops the alpha-less #rrggbb to a translucent rgba() for the raw line behind a smoothed one. */
function faintColor(color: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!m) return color;
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},0.28)`;
}

/**
 * Scale ranges that never collapse: uPlot's axis-split loop never ends (RangeError: Invalid array length) on a
 * range whose min equals max — the first point of a live run, or a flat series — and on non-finite bounds.
 */
export function safeRange(kind: 'x' | 'y' | 'log'): uPlot.Range.Function {
  return (_u, min, max) => {
    if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return kind === 'log' ? [0.1, 10] : [0, 1];
    if (kind === 'log') return min === max ? [min / 2, max * 2] : [min, max];
    if (min === max) {
      const pad = Math.abs(min) * 0.05 || 1;
      return [min - pad, max + pad];
    }
    return kind === 'x' ? [min, max] : uPlot.rangeNum(min, max, 0.1, true);
  };
}

export class LineChart {
  private plot: uPlot | undefined;
  private specs: SeriesSpec[] = [];
  private data: SeriesData[] = [];
  private key = '';
  private logY = false;
  private zoom: [number, number] | null = null;
  private markers: { x: number; label: string }[] = [];
  private readonly resize: ResizeObserver;

  constructor(
    readonly container: HTMLElement,
    private spec: ChartSpec,
  ) {
    container.classList.add('chart');
    container.tabIndex = 0;
    container.setAttribute('role', 'img');
    container.dataset.points = '0';
    container.dataset.logy = 'false';
    container.dataset.zoomed = 'false';
    this.setLabels(spec.xLabel);
    this.resize = new ResizeObserver(() => {
      const width = this.width();
      if (this.plot && width > 0 && Math.abs(width - this.plot.width) > 1) {
        this.plot.setSize({ width, height: this.height() });
        this.redraw();
      }
    });
    this.resize.observe(container);
    container.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.zoom) this.resetZoom();
    });
  }

  private setLabels(xLabel: string): void {
    this.container.dataset.xLabel = xLabel;
    this.container.dataset.yLabel = this.spec.yLabel;
    this.container.setAttribute('aria-label', `${this.spec.title}: ${this.spec.yLabel} by ${xLabel}. Focus the chart, then drag to zoom; double-click or Escape resets.`);
  }

  /** Changes the x axis label (step / epoch / seconds); the zoom no longer applies. */
  setXLabel(xLabel: string): void {
    if (this.spec.xLabel === xLabel) return;
    this.spec = { ...this.spec, xLabel };
    this.zoom = null;
    this.setLabels(xLabel);
    this.key = ''; // rebuild on the next setSeries
  }

  setLogY(logY: boolean): void {
    if (this.logY === logY) return;
    this.logY = logY;
    this.container.dataset.logy = String(logY);
    this.rebuild();
  }

  get isLogY(): boolean {
    return this.logY;
  }

  /** Replaces the series (specs and points) and redraws; the plot is rebuilt only when the specs changed. */
  setSeries(specs: SeriesSpec[], data: SeriesData[]): void {
    const key = JSON.stringify(specs) + this.spec.xLabel;
    this.specs = specs;
    this.data = specs.map((_, i) => data[i] ?? { xs: [], ys: [] });
    if (key !== this.key || !this.plot) {
      this.key = key;
      this.rebuild();
    } else {
      this.redraw();
    }
  }

  /** Vertical dashed markers (e.g. Slurm requeues) at these x values; drawn over the lines. */
  setMarkers(markers: { x: number; label: string }[]): void {
    const next = JSON.stringify(markers);
    if (next === JSON.stringify(this.markers)) return;
    this.markers = markers;
    this.container.dataset.markers = next;
    this.plot?.redraw(false);
  }

  /** Re-reads theme colours (after a theme change) by building the plot again. */
  rebuild(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.container.dataset.series = JSON.stringify(
      this.specs.filter((s) => !s.faint).map((s) => ({ label: s.label, color: this.colorOf(s), run: s.run ?? null })),
    );
    this.create();
    this.redraw();
  }

  /** The chart's canvas (axes and lines; the legend is HTML), for the PNG export. */
  get canvas(): HTMLCanvasElement | undefined {
    return this.plot?.ctx.canvas;
  }

  get title(): string {
    return this.spec.title;
  }

  resetZoom(): void {
    this.zoom = null;
    this.container.dataset.zoomed = 'false';
    this.redraw();
  }

  dispose(): void {
    this.resize.disconnect();
    this.plot?.destroy();
  }

  private drawMarkers(u: uPlot): void {
    if (!this.markers.length) return;
    const c = u.ctx;
    const dpr = window.devicePixelRatio || 1;
    c.save();
    c.strokeStyle = cssVar('--vscode-charts-orange', '#d18616');
    c.fillStyle = c.strokeStyle;
    c.lineWidth = dpr;
    c.setLineDash([4 * dpr, 3 * dpr]);
    c.font = `${10 * dpr}px sans-serif`;
    for (const m of this.markers) {
      const x = Math.round(u.valToPos(m.x, 'x', true));
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      c.beginPath();
      c.moveTo(x, u.bbox.top);
      c.lineTo(x, u.bbox.top + u.bbox.height);
      c.stroke();
      c.fillText(m.label, x + 3 * dpr, u.bbox.top + 10 * dpr);
    }
    c.restore();
  }

  private focused(): boolean {
    const a = document.activeElement;
    return a !== null && (a === this.container || this.container.contains(a));
  }

  private width(): number {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  private height(): number {
    return this.spec.height ?? 220;
  }

  private colorOf(s: SeriesSpec): string {
    return typeof s.color === 'string' ? s.color : cssVar(s.color[0], s.color[1]);
  }

  /** The plotted data: each series' visible x range (plus one point each side), min/max-decimated. */
  private plotted(): uPlot.AlignedData {
    const maxPoints = Math.max(100, 2 * (this.plot ? Math.round(this.plot.bbox.width / (window.devicePixelRatio || 1)) : this.width()));
    const out: unknown[] = [null];
    for (const d of this.data) {
      let lo = 0;
      let hi = Math.min(d.xs.length, d.ys.length);
      if (this.zoom) {
        lo = Math.max(0, lowerBound(d.xs, this.zoom[0]) - 1);
        hi = Math.min(hi, lowerBound(d.xs, this.zoom[1]) + 1);
      }
      let ys = d.ys;
      if (this.logY) {
        const pos = new Array<number>(ys.length);
        for (let i = lo; i < hi; i++) pos[i] = ys[i] > 0 ? ys[i] : NaN;
        ys = pos;
      }
      const r = minMaxDownsample(d.xs, ys, maxPoints, lo, hi);
      out.push([r.xs, r.ys]);
    }
    if (out.length === 1) out.push([[], []]); // mode 2 needs a series: an empty placeholder
    return out as uPlot.AlignedData;
  }

  private redraw(): void {
    if (!this.plot) return;
    const data = this.plotted();
    this.plot.setData(data, true);
    if (this.zoom) this.plot.setScale('x', { min: this.zoom[0], max: this.zoom[1] });
    this.updateHooks(data);
  }

  private updateHooks(data: uPlot.AlignedData): void {
    const c = this.container.dataset;
    const i = this.specs.findIndex((s) => s.primary);
    let sum = 0;
    if (i >= 0) {
      const ys = (data[i + 1] as unknown as [number[], number[]])[1];
      for (const y of ys) sum += y;
    }
    c.ysum = sum.toPrecision(8);
  }

  private scaleHooks(u: uPlot): void {
    const x = u.scales.x;
    this.container.dataset.xmin = x?.min === undefined || x.min === null ? '' : String(x.min);
    this.container.dataset.xmax = x?.max === undefined || x.max === null ? '' : String(x.max);
  }

  private create(): void {
    const fg = cssVar('--vscode-foreground', '#cccccc');
    const grid = cssVar('--vscode-charts-lines', 'rgba(128,128,128,0.35)');
    const family = cssVar('--vscode-font-family', 'system-ui, sans-serif');
    const font = `11px ${family}`;
    const labelFont = `12px ${family}`;
    const axis = (label: string, size: number, fmt?: (v: number) => string): uPlot.Axis => ({
      label,
      size,
      stroke: fg,
      font,
      labelFont,
      labelSize: 18,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1, size: 4 },
      ...(fmt ? { values: (_u: uPlot, splits: number[]) => splits.map((v) => (v === null ? '' : fmt(v))) } : {}),
    });
    const yScale: uPlot.Scale = this.logY ? { distr: 3, range: safeRange('log') } : { range: safeRange('y') };
    if (this.spec.yRange && !this.logY) {
      const [min, max] = this.spec.yRange;
      yScale.range = (_u, dmin, dmax) => [Math.min(min, dmin ?? min), Math.max(max, dmax ?? max)];
    }
    const fmt = this.spec.fmt ?? ((v: number) => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(4)));
    const facets: uPlot.Series.Facet[] = [
      { scale: 'x', auto: true },
      { scale: 'y', auto: true },
    ];
    const opts: uPlot.Options = {
      mode: 2,
      width: this.width(),
      height: this.height(),
      pxAlign: 0,
      scales: { x: { time: false, range: safeRange('x') }, y: yScale },
      axes: [axis(this.spec.xLabel, 30), axis(this.spec.yLabel, 52, this.spec.fmt)],
      legend: { show: true, live: true },
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
        bind: {
          // zoom only when the chart has focus: the first click focuses it, a drag after that selects
          mousedown: (_u, _t, handler) => (e: MouseEvent) => {
            if (this.focused()) handler(e);
            return null;
          },
          dblclick: () => () => {
            this.resetZoom();
            return null;
          },
        },
      },
      hooks: {
        draw: [(u) => this.drawMarkers(u)],
        setScale: [
          (u, key) => {
            if (key === 'x') this.scaleHooks(u);
          },
        ],
        setSelect: [
          (u) => {
            const { left, width } = u.select;
            if (width < 3) return;
            const min = u.posToVal(left, 'x');
            const max = u.posToVal(left + width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            if (!(max > min)) return;
            this.zoom = [min, max];
            this.container.dataset.zoomed = 'true';
            this.redraw();
          },
        ],
      },
      series: [
        {},
        ...this.specs.map<uPlot.Series>((s) => {
          const color = this.colorOf(s);
          return {
            label: s.label,
            stroke: s.faint ? faintColor(color) : color,
            width: s.faint ? 1 : (s.width ?? 1.5),
            facets,
            paths: uPlot.paths.linear!(),
            ...(s.dash ? { dash: s.dash } : {}),
            points: s.points ? { show: true, size: 7, fill: color, stroke: color } : { show: false },
            value: (_u, v) => (v === null || v === undefined ? '–' : fmt(v)),
          };
        }),
        // mode 2 needs at least one series: an empty placeholder while there is nothing to plot
        ...(this.specs.length ? [] : [{ label: '', facets, stroke: 'transparent', points: { show: false } } satisfies uPlot.Series]),
      ],
    };
    this.plot = new uPlot(opts, [null, ...(this.specs.length ? this.specs : [0]).map(() => [[], []])] as unknown as uPlot.AlignedData, this.container);
    if (!this.specs.length) this.plot.root.querySelector<HTMLElement>('.u-legend')?.style.setProperty('visibility', 'hidden');
    // the raw lines behind smoothed ones stay out of the legend
    const rows = this.plot.root.querySelectorAll<HTMLElement>('.u-legend .u-series');
    const offset = rows.length > this.specs.length ? 1 : 0; // the x row, when uPlot shows one
    this.specs.forEach((s, i) => {
      const row = rows[i + offset];
      if (s.faint && row) row.style.display = 'none';
    });
  }
}
