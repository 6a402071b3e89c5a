// The dashboard's view model: a pure fold over a run's runtime events. No DOM here.
import type {
  DoneEvent,
  ErrorEvent,
  FiringEvent,
  HelloEvent,
  ModelEvent,
  RunStatus,
  RunSummary,
  RuntimeEvent,
} from '../../src/core/protocol';

export interface StepPoint {
  step: number;
  loss: number;
  /** 0..1 or null when the runtime did not report it */
  acc: number | null;
  /** fractional epoch: epoch − 1 + epoch_step / steps_per_epoch */
  epochX: number;
  /** wall time, seconds since the Unix epoch */
  t: number;
  lr: number | null;
  imgPerS: number | null;
}

export interface EvalPoint {
  epoch: number;
  step: number;
  loss: number;
  top1: number;
  top5: number;
  /** wall time, seconds since the Unix epoch */
  t: number;
}

export interface RunModel {
  runId: string;
  summary: RunSummary | null;
  lastSeq: number;
  /** wall time of the run's first event (the origin of the relative-time x axis), or null before any */
  t0: number | null;
  hello: HelloEvent | null;
  model: ModelEvent | null;
  epoch: number;
  epochs: number;
  stepsPerEpoch: number;
  step: number;
  loss: number | null;
  imgPerS: number | null;
  etaS: number | null;
  bestTop1: number | null;
  steps: StepPoint[];
  evals: EvalPoint[];
  firing: FiringEvent | null;
  error: ErrorEvent | null;
  done: DoneEvent | null;
  /** Slurm requeues (time limit, preemption): where the resumed segment started; marked on the curves */
  requeues: { step: number; epoch: number; t: number }[];
}

export function emptyModel(runId: string, summary: RunSummary | null = null): RunModel {
  return {
    runId,
    summary,
    lastSeq: -1,
    t0: null,
    hello: null,
    model: null,
    epoch: 0,
    epochs: 0,
    stepsPerEpoch: 0,
    step: 0,
    loss: null,
    imgPerS: null,
    etaS: null,
    bestTop1: summary?.bestTop1 ?? null,
    steps: [],
    evals: [],
    firing: null,
    error: null,
    done: null,
    requeues: [],
  };
}

/** Applies events in order; events at or below the last seen seq are duplicates and are skipped. */
export function applyEvents(m: RunModel, events: readonly RuntimeEvent[]): number {
  let applied = 0;
  for (const e of events) {
    if (typeof e?.seq !== 'number' || e.seq <= m.lastSeq) continue;
    m.lastSeq = e.seq;
    applied++;
    if (m.t0 === null && typeof e.t === 'number' && Number.isFinite(e.t)) m.t0 = e.t;
    switch (e.type) {
      case 'hello':
        m.hello = e;
        break;
      case 'model':
        m.model = e;
        break;
      case 'requeued':
        m.requeues.push({ step: e.step, epoch: e.epoch, t: e.t });
        break;
      case 'epoch':
        m.epoch = e.epoch;
        m.epochs = e.epochs;
        m.stepsPerEpoch = e.steps_per_epoch;
        break;
      case 'step':
        m.epoch = e.epoch;
        m.step = e.step;
        m.stepsPerEpoch = e.steps_per_epoch;
        m.loss = e.loss;
        m.imgPerS = e.img_per_s;
        m.etaS = e.eta_s ?? null;
        m.steps.push({
          step: e.step,
          loss: e.loss,
          acc: typeof e.acc === 'number' ? e.acc : null,
          epochX: e.steps_per_epoch > 0 ? e.epoch - 1 + e.epoch_step / e.steps_per_epoch : e.epoch,
          t: e.t,
          lr: typeof e.lr === 'number' ? e.lr : null,
          imgPerS: typeof e.img_per_s === 'number' ? e.img_per_s : null,
        });
        break;
      case 'eval':
        m.evals.push({ epoch: e.epoch, step: e.step, loss: e.loss, top1: e.top1, top5: e.top5, t: e.t });
        m.bestTop1 = Math.max(m.bestTop1 ?? 0, e.best_top1, e.top1);
        break;
      case 'firing':
        m.firing = e;
        break;
      case 'error':
        m.error = e;
        break;
      case 'done':
        m.done = e;
        if (e.best_top1 !== null) m.bestTop1 = Math.max(m.bestTop1 ?? 0, e.best_top1);
        break;
      default:
        // warnings, checkpoints, attention, energy and future types: not shown here
        break;
    }
  }
  return applied;
}

export function statusOf(m: RunModel): RunStatus {
  if (m.done) return m.done.status;
  if (m.summary) return m.summary.status;
  return m.error ? 'failed' : 'running';
}

export function runName(m: RunModel): string {
  if (m.summary?.name) return m.summary.name;
  const dir = m.hello?.run_dir ?? m.summary?.dir;
  if (dir) return dir.split(/[\\/]/).filter(Boolean).pop() ?? m.runId;
  return m.runId || 'Spike Studio run';
}

export function fmtPct(x: number | null | undefined, digits = 1): string {
  return typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(digits)} %` : '–';
}

export function fmtNum(x: number | null | undefined, digits = 3): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  return Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(digits);
}

export function fmtDuration(s: number | null | undefined): string {
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtParams(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}
