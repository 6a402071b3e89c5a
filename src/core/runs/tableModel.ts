// The experiments table's rows and CSV (no Node imports: the experiments webview bundles this file).

export interface TableRow {
  id: string;
  name: string;
  dir: string;
  status: string;
  /** a Slurm run: "COMPLETED · job 12" etc. */
  slurm: string | null;
  sweepId: string | null;
  /** dotted config key → value, for every key in `configColumns` */
  config: Record<string, string | number | boolean | null>;
  bestTop1: number | null;
  finalTop1: number | null;
  finalLoss: number | null;
  /** mJ per image (the last energy estimate) */
  energyMj: number | null;
  imgPerS: number | null;
  params: number | null;
  durationS: number | null;
  startedAt: number | null;
}

export interface TableGroup {
  /** null: runs outside any sweep */
  sweepId: string | null;
  rows: TableRow[];
}

export interface ExperimentsTable {
  configColumns: string[];
  rows: TableRow[];
  /** rows grouped by sweep (sweeps first, by id; then the runs outside sweeps) */
  groups: TableGroup[];
}

export const METRIC_COLUMNS = [
  { key: 'bestTop1', label: 'best top-1' },
  { key: 'finalTop1', label: 'final top-1' },
  { key: 'finalLoss', label: 'final loss' },
  { key: 'energyMj', label: 'energy / image (mJ)' },
  { key: 'imgPerS', label: 'img/s' },
  { key: 'params', label: 'params' },
  { key: 'durationS', label: 'duration (s)' },
  { key: 'status', label: 'status' },
] as const;

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV of the given rows with the table's columns (RFC 4180: quoted when needed, CRLF line ends). */
export function tableCsv(configColumns: readonly string[], rows: readonly TableRow[]): string {
  const header = ['run', 'sweep', ...configColumns, ...METRIC_COLUMNS.map((m) => m.label)];
  const lines = [header, ...rows.map((r) => [r.id, r.sweepId, ...configColumns.map((k) => r.config[k]), ...METRIC_COLUMNS.map((m) => r[m.key])])];
  return lines.map((cells) => cells.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
