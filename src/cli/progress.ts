// The live training display: one line redrawn in place on a TTY, plain periodic lines otherwise.

import type { RuntimeEvent } from '../core/protocol';
import { emptyRunState, reduce } from '../core/runs/state';
import { downloadFinished, downloadMessage } from '../core/runtime/download';
import { bar, formatCount, formatDuration, formatLoss, formatPercent } from './format';

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** non-TTY: at most one progress line per this many ms (default 10 s) */
  plainIntervalMs?: number;
  now?: () => number;
}

const CLEAR_LINE = '\r\x1b[2K';

export class TrainingProgress {
  /** the run state of the events so far (src/core/runs/state.ts) */
  private readonly state = emptyRunState();
  private liveLineShown = false;
  private lastPlainAt = -Infinity;
  /** the live dataset download / frame-cache line, until the download ends or the first epoch starts */
  private downloadLine: string | null = null;
  private readonly now: () => number;
  readonly startedAt: number;

  constructor(
    private readonly out: ProgressOutput,
    private readonly options: ProgressOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  get bestTop1(): number | null {
    return this.state.bestTop1;
  }

  handle(event: RuntimeEvent): void {
    reduce(this.state, event);
    switch (event.type) {
      case 'hello':
        return this.println(`runtime ${event.runtime_version} · python ${event.python} · torch ${event.torch} · device ${event.device}${event.gpu ? ` (${event.gpu.name})` : ''}`);
      case 'model':
        return this.println(`model ${event.arch} · ${formatCount(event.params)} params · T=${event.time_steps} · ${event.num_classes} classes`);
      case 'epoch':
        this.downloadLine = null;
        return this.redraw(true);
      case 'step':
        return this.redraw(false);
      case 'eval':
        return this.println(`epoch ${event.epoch}/${this.state.epochs || '?'} eval: top-1 ${formatPercent(event.top1)} · top-5 ${formatPercent(event.top5)} · loss ${formatLoss(event.loss)} · best ${formatPercent(this.state.bestTop1)}`);
      case 'phase':
        if (event.name !== 'compile') return;
        if (event.state === 'start') {
          return this.println(`compiling the training step (train.compile ${event.mode ?? ''}) at the first step…${event.cache_dir ? ` (cached in ${event.cache_dir})` : ''}`);
        }
        if (event.ok === false) return; // the warning said why
        return this.println(`compiled: first step ${typeof event.seconds === 'number' ? formatDuration(event.seconds) : '?'}${event.cache ? ` (cache ${event.cache})` : ''}`);
      case 'download': {
        const text = downloadMessage(event);
        if ((event.stage !== 'download' && event.stage !== 'frames') || downloadFinished(event)) {
          this.downloadLine = null;
          return this.println(text);
        }
        this.downloadLine = text;
        if (this.out.isTTY) {
          this.out.write(CLEAR_LINE + this.fitToWidth(text));
          this.liveLineShown = true;
          return;
        }
        const first = !event.done || event.resumed_from !== undefined;
        if (!first && this.now() - this.lastPlainAt < (this.options.plainIntervalMs ?? 10_000)) return;
        this.lastPlainAt = this.now();
        this.out.write(text + '\n');
        return;
      }
      case 'warning':
        return this.println(`warning: ${event.message}${event.hint ? `\n  hint: ${event.hint}` : ''}`);
      case 'error':
        return this.println(`error (${event.kind}): ${event.message}${event.hint ? `\n  hint: ${event.hint}` : ''}`);
      default:
        return;
    }
  }

  /** Prints a line above the live line. */
  println(text: string): void {
    this.clearLiveLine();
    this.out.write(text + '\n');
    if (this.out.isTTY && this.downloadLine !== null) {
      this.out.write(this.fitToWidth(this.downloadLine));
      this.liveLineShown = true;
    } else if (this.out.isTTY && (this.state.epoch > 0 || this.state.lastStep)) this.redraw(true);
  }

  /** Removes the live line (before the final summary). */
  finish(): void {
    this.clearLiveLine();
  }

  /** The live status line's text. */
  statusLine(): string {
    const { epoch, epochs, epochStep, stepsPerEpoch, step, loss, acc, top1, imgPerS } = this.state;
    const fraction = stepsPerEpoch > 0 ? epochStep / stepsPerEpoch : 0;
    const parts = [
      `epoch ${epoch}/${epochs || '?'}`,
      `${bar(fraction, 20)} ${epochStep}/${stepsPerEpoch || '?'}`,
      `step ${step}`,
      `loss ${formatLoss(loss)}`,
      `acc ${formatPercent(acc)}`,
      `top-1 ${formatPercent(top1)}`,
      `${imgPerS !== null ? formatCount(imgPerS) : '--'} img/s`,
      `ETA ${formatDuration(this.etaSeconds())}`,
    ];
    return parts.join(' │ ');
  }

  private etaSeconds(): number | null {
    const s = this.state.lastStep;
    if (!s) return null;
    if (this.state.etaS !== null) return this.state.etaS;
    const totalSteps = (this.state.epochs || s.epoch) * s.steps_per_epoch;
    const elapsed = (this.now() - this.startedAt) / 1000;
    return s.step > 0 ? (elapsed / s.step) * Math.max(0, totalSteps - s.step) : null;
  }

  private redraw(force: boolean): void {
    if (this.out.isTTY) {
      this.out.write(CLEAR_LINE + this.fitToWidth(this.statusLine()));
      this.liveLineShown = true;
      return;
    }
    const interval = this.options.plainIntervalMs ?? 10_000;
    if (!force && this.now() - this.lastPlainAt < interval) return;
    if (!this.state.lastStep && !force) return;
    this.lastPlainAt = this.now();
    this.out.write(this.statusLine() + '\n');
  }

  private fitToWidth(line: string): string {
    const width = this.out.columns ?? 120;
    return line.length <= width - 1 ? line : line.slice(0, Math.max(10, width - 2)) + '…';
  }

  private clearLiveLine(): void {
    if (this.out.isTTY && this.liveLineShown) this.out.write(CLEAR_LINE);
    this.liveLineShown = false;
  }
}
