// Line charts on uPlot (canvas, CSP-clean). Each series carries its own (x, y) points; the chart aligns
// them on the union of x values (uPlot's data model) and bridges the gaps. Colours come from the theme's
// --vscode-charts-* variables and are re-read when the theme changes.
import uPlot from 'uplot';
import { cssVar } from '../shared/vscode';

export interface SeriesSpec {
  label: string;
  /** a CSS variable name such as --vscode-charts-blue, with a fallback colour */
  color: [string, string];
  width?: number;
  points?: boolean;
  dash?: number[];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** the first series is the chart's main series: its point count is exposed as data-points */
  series: SeriesSpec[];
  yRange?: [number, number];
  height?: number;
}

export type Points = ReadonlyArray<readonly [number, number]>;

export class LineChart {
  private plot: uPlot | undefined;
  private data: Points[] = [];
  private logY = false;
  private readonly resize: ResizeObserver;

  constructor(
    readonly container: HTMLElement,
    private readonly spec: ChartSpec,
  ) {
    container.classList.add('chart');
    container.setAttribute('role', 'img');
    container.setAttribute('aria-label', `${spec.title}: ${spec.yLabel} by ${spec.xLabel}`);
    container.dataset.xLabel = spec.xLabel;
    container.dataset.yLabel = spec.yLabel;
    container.dataset.points = '0';
    this.data = spec.series.map(() => []);
    this.resize = new ResizeObserver(() => {
      const width = this.width();
      if (this.plot && width > 0 && Math.abs(width - this.plot.width) > 1) {
        this.plot.setSize({ width, height: this.height() });
      }
    });
    this.resize.observe(container);
  }

  setLogY(logY: boolean): void {
    if (this.logY === logY) return;
    this.logY = logY;
    this.rebuild();
  }

  /** Replaces every series' points and redraws. */
  setData(data: Points[]): void {
    this.data = this.spec.series.map((_, i) => data[i] ?? []);
    const aligned = this.align();
    if (this.plot) this.plot.setData(aligned);
    else this.create(aligned);
    this.container.dataset.points = String(this.data[0]?.length ?? 0);
  }

  /** Re-reads theme colours (after a theme change) by building the plot again. */
  rebuild(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.create(this.align());
    this.container.dataset.points = String(this.data[0]?.length ?? 0);
  }

  dispose(): void {
    this.resize.disconnect();
    this.plot?.destroy();
  }

  private width(): number {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  private height(): number {
    return this.spec.height ?? 220;
  }

  private align(): uPlot.AlignedData {
    const xs = new Set<number>();
    for (const s of this.data) for (const [x] of s) xs.add(x);
    const x = [...xs].sort((a, b) => a - b);
    const index = new Map(x.map((v, i) => [v, i]));
    const ys = this.data.map((s) => {
      const y: (number | null)[] = new Array(x.length).fill(null);
      for (const [px, py] of s) {
        const i = index.get(px);
        if (i !== undefined && Number.isFinite(py) && (!this.logY || py > 0)) y[i] = py;
      }
      return y;
    });
    return [x, ...ys] as uPlot.AlignedData;
  }

  private create(data: uPlot.AlignedData): void {
    const fg = cssVar('--vscode-foreground', '#cccccc');
    const grid = cssVar('--vscode-charts-lines', 'rgba(128,128,128,0.35)');
    const family = cssVar('--vscode-font-family', 'system-ui, sans-serif');
    const font = `11px ${family}`;
    const labelFont = `12px ${family}`;
    const axis = (label: string, size: number): uPlot.Axis => ({
      label,
      size,
      stroke: fg,
      font,
      labelFont,
      labelSize: 18,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1, size: 4 },
    });
    const yScale: uPlot.Scale = this.logY ? { distr: 3 } : {};
    if (this.spec.yRange && !this.logY) {
      const [min, max] = this.spec.yRange;
      yScale.range = (_u, dmin, dmax) => [Math.min(min, dmin ?? min), Math.max(max, dmax ?? max)];
    }
    const opts: uPlot.Options = {
      width: this.width(),
      height: this.height(),
      pxAlign: 0,
      scales: { x: { time: false }, y: yScale },
      axes: [axis(this.spec.xLabel, 30), axis(this.spec.yLabel, 46)],
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      series: [
        { label: this.spec.xLabel },
        ...this.spec.series.map<uPlot.Series>((s) => ({
          label: s.label,
          stroke: cssVar(s.color[0], s.color[1]),
          width: s.width ?? 1.5,
          spanGaps: true,
          ...(s.dash ? { dash: s.dash } : {}),
          points: s.points ? { show: true, size: 7, fill: cssVar(s.color[0], s.color[1]) } : { show: false },
          value: (_u, v) => (v === null || v === undefined ? '–' : v.toFixed(3)),
        })),
      ],
    };
    this.plot = new uPlot(opts, data, this.container);
  }
}
