// The experiments table: one row per run; columns = the config values that differ between the shown runs, then
// metrics read from the run's events (the row types and CSV live in tableModel.ts, which the webview bundles).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { readEvents } from './events';
import { RESOLVED_CONFIG_FILE, type RunInfo } from './runs';
import type { ExperimentsTable, TableRow } from './tableModel';

export { METRIC_COLUMNS, tableCsv, type ExperimentsTable, type TableGroup, type TableRow } from './tableModel';

/** Keys that differ by nature and say nothing about the experiment. */
const IGNORED = /^(version|name|source|data\.root|model\.init_from)$/;

/** A nested object → dotted leaf keys (lists become JSON text). */
export function flattenConfig(value: unknown, prefix = '', out: Record<string, string | number | boolean | null> = {}): Record<string, string | number | boolean | null> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = Array.isArray(value) ? JSON.stringify(value) : (value as string | number | boolean | null) ?? null;
  }
  return out;
}

function readConfig(dir: string): Record<string, string | number | boolean | null> {
  try {
    return flattenConfig(JSON.parse(fs.readFileSync(path.join(dir, RESOLVED_CONFIG_FILE), 'utf8')));
  } catch {
    return {};
  }
}

function metricsOf(run: RunInfo): Pick<TableRow, 'finalLoss' | 'energyMj' | 'imgPerS' | 'params'> {
  let energyMj: number | null = null;
  let params: number | null = null;
  let imgPerS: number | null = null;
  for (const e of readEvents(path.join(run.dir, 'events.jsonl')).events) {
    if (e.type === 'energy') energyMj = e.total_mj;
    else if (e.type === 'model') params = e.params;
    else if (e.type === 'step' && Number.isFinite(e.img_per_s)) imgPerS = e.img_per_s;
  }
  return { finalLoss: run.summary.lastEval?.loss ?? run.summary.lastStep?.loss ?? null, energyMj, imgPerS, params };
}

export function buildTable(runs: readonly RunInfo[]): ExperimentsTable {
  const configs = runs.map((r) => readConfig(r.dir));
  const keys = new Set(configs.flatMap((c) => Object.keys(c)));
  const configColumns = [...keys].filter((k) => !IGNORED.test(k) && new Set(configs.map((c) => JSON.stringify(c[k] ?? null))).size > 1);
  // sweep keys first, in the sweep's order
  const sweepKeys = [...new Set(runs.flatMap((r) => Object.keys(r.sweep?.params ?? {})))];
  configColumns.sort((a, b) => (sweepKeys.includes(a) ? sweepKeys.indexOf(a) : 1e6) - (sweepKeys.includes(b) ? sweepKeys.indexOf(b) : 1e6) || a.localeCompare(b));
  const rows: TableRow[] = runs.map((run, i) => ({
    id: run.id,
    name: run.name,
    dir: run.dir,
    status: run.status,
    slurm: run.slurm ? `${run.slurm.state ?? 'SUBMITTED'} · job ${run.slurm.jobId}` : null,
    sweepId: run.sweep?.sweepId ?? null,
    config: Object.fromEntries(configColumns.map((k) => [k, configs[i][k] ?? null])),
    bestTop1: run.bestTop1,
    finalTop1: run.summary.lastTop1,
    durationS: run.durationS,
    startedAt: run.startedAt,
    ...metricsOf(run),
  }));
  const bySweep = new Map<string | null, TableRow[]>();
  for (const row of rows) bySweep.set(row.sweepId, [...(bySweep.get(row.sweepId) ?? []), row]);
  const groups = [...bySweep.entries()]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : a.localeCompare(b)))
    .map(([sweepId, groupRows]) => ({ sweepId, rows: groupRows }));
  return { configColumns, rows, groups };
}
