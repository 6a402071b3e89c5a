// Pure helpers for the dashboard's exports and run colours (no DOM; unit-tested from mocha via tsx).
import type { RunModel } from './model';

/** A fixed, colour-blind-aware palette (Tableau 10); a run's colour is a hash of its id into it. */
export const RUN_PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'] as const;

/** FNV-1a, 32 bit. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The palette slot of a run id: the same id always gets the same colour. */
export function runColor(runId: string): string {
  return RUN_PALETTE[hashString(runId) % RUN_PALETTE.length];
}

/**
 * Colours for the runs shown together: each run's hashed colour, except that a run whose slot an earlier run in the
 * list already took moves to the next free slot (so runs compared side by side never share a colour).
 */
export function runColors(runIds: readonly string[]): string[] {
  const taken = new Set<number>();
  return runIds.map((id) => {
    let slot = hashString(id) % RUN_PALETTE.length;
    for (let k = 0; k < RUN_PALETTE.length && taken.has(slot); k++) slot = (slot + 1) % RUN_PALETTE.length;
    taken.add(slot);
    return RUN_PALETTE[slot];
  });
}

export interface CsvRow {
  run: string;
  metric: string;
  step: number;
  /** fractional epoch: epoch − 1 + epoch_step / steps_per_epoch (evals: the epoch they close) */
  epoch: number | null;
  /** wall time, seconds since the Unix epoch */
  wall: number | null;
  value: number | null;
}

export const CSV_HEADER = 'run,metric,step,epoch,wall,value';

function cell(v: string | number | null): string {
  if (v === null || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV (\n line ends, a header line, fields with commas, quotes or newlines quoted). */
export function buildCsv(rows: readonly CsvRow[]): string {
  const lines = [CSV_HEADER];
  for (const r of rows) lines.push([cell(r.run), cell(r.metric), cell(r.step), cell(r.epoch), cell(r.wall), cell(r.value)].join(','));
  return lines.join('\n') + '\n';
}

/** Every curve point of the runs (raw values, not smoothed): train loss/acc, lr, img/s, eval loss/top-1/top-5. */
export function curveRows(runs: ReadonlyArray<{ name: string; model: RunModel }>): CsvRow[] {
  const rows: CsvRow[] = [];
  for (const { name, model } of runs) {
    const steps = model.steps;
    const metrics: Array<[string, (i: number) => number | null]> = [
      ['train_loss', (i) => steps[i].loss],
      ['train_acc', (i) => steps[i].acc],
      ['lr', (i) => steps[i].lr],
      ['img_per_s', (i) => steps[i].imgPerS],
    ];
    for (const [metric, get] of metrics) {
      for (let i = 0; i < steps.length; i++) {
        const value = get(i);
        if (value === null || value === undefined) continue;
        const p = steps[i];
        rows.push({ run: name, metric, step: p.step, epoch: p.epochX, wall: p.t, value });
      }
    }
    for (const metric of ['eval_loss', 'eval_top1', 'eval_top5'] as const) {
      for (const e of model.evals) {
        const value = metric === 'eval_loss' ? e.loss : metric === 'eval_top1' ? e.top1 : e.top5;
        rows.push({ run: name, metric, step: e.step, epoch: e.epoch, wall: e.t, value });
      }
    }
  }
  return rows;
}
