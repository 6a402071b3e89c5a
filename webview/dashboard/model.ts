// The dashboard's view model: the run state (src/core/runs/state.ts) plus the curves' points. No DOM here.
import type { RunStatus, RunSummary, RuntimeEvent, StepEvent } from '../../src/core/protocol';
import { emptyRunState, reduce, type RunState } from '../../src/core/runs/state';

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

/** The run state (src/core/runs/state.ts) plus what only the dashboard keeps: the curves' points. */
export interface RunModel extends RunState {
  runId: string;
  summary: RunSummary | null;
  /** the seq of the last event applied */
  lastSeq: number;
  steps: StepPoint[];
  evals: EvalPoint[];
}

export function emptyModel(runId: string, summary: RunSummary | null = null): RunModel {
  return { ...emptyRunState(), runId, summary, lastSeq: -1, bestTop1: summary?.bestTop1 ?? null, steps: [], evals: [] };
}

/** Applies events in order: fresh ones, as the panels' client takes them from host messages (takeFresh, the one
 *  de-duplication by seq). Returns how many it applied. */
export function applyEvents(m: RunModel, events: readonly RuntimeEvent[]): number {
  for (const e of events) {
    reduce(m, e);
    m.lastSeq = e.seq;
    if (e.type === 'step') m.steps.push(stepPoint(e));
    else if (e.type === 'eval') m.evals.push({ epoch: e.epoch, step: e.step, loss: e.loss, top1: e.top1, top5: e.top5, t: e.t });
  }
  return events.length;
}

function stepPoint(e: StepEvent): StepPoint {
  return {
    step: e.step,
    loss: e.loss,
    acc: typeof e.acc === 'number' ? e.acc : null,
    epochX: e.steps_per_epoch > 0 ? e.epoch - 1 + e.epoch_step / e.steps_per_epoch : e.epoch,
    t: e.t,
    lr: typeof e.lr === 'number' ? e.lr : null,
    imgPerS: typeof e.img_per_s === 'number' ? e.img_per_s : null,
  };
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
