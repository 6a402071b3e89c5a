// spike-studio runs [--json]

import { listRuns, type RunInfo } from '../../core/runs';
import { parseArgs } from '../args';
import { type CliContext, println } from '../context';
import { formatDuration, formatPercent } from '../format';

function asJson(run: RunInfo): Record<string, unknown> {
  const { summary: _summary, ...rest } = run;
  void _summary;
  return rest;
}

function startedText(ms: number | null): string {
  if (ms === null) return '--';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  return rows.map((row) => row.map((cell, col) => cell.padEnd(widths[col])).join('  ').trimEnd());
}

export function runsCommand(ctx: CliContext, argv: string[]): number {
  const args = parseArgs(argv, { flags: ['json'] });
  if (args.flags.has('help')) return println(ctx.stdout, 'spike-studio runs [--json]   list the runs of this folder'), 0;
  const runs = listRuns(ctx.cwd);
  if (args.flags.has('json')) return println(ctx.stdout, JSON.stringify(runs.map(asJson), null, 2)), 0;
  if (runs.length === 0) return println(ctx.stdout, 'No runs in .spike-studio/runs of this folder.'), 0;
  const header = ['ID', 'STATUS', 'BEST TOP-1', 'EPOCHS', 'DURATION', 'STARTED'];
  const rows = runs.map((r) => [
    r.id,
    r.status,
    formatPercent(r.bestTop1, 2),
    `${r.epochsCompleted}/${r.epochs ?? '?'}`,
    formatDuration(r.durationS),
    startedText(r.startedAt),
  ]);
  for (const line of table([header, ...rows])) println(ctx.stdout, line);
  return 0;
}
