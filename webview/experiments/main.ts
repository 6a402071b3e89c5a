// Experiments table: one row per run; columns = the config values that differ between the runs, then metrics
// (best/final top-1, final loss, energy per image, img/s, params, duration, status). Click a header to sort
// (again: reverse), type to filter, group by sweep; select rows → compare their curves (dashboard) or energy
// (energy panel) through the host; Export CSV writes the shown rows, in the shown order, via the host's save dialog.
import { type ExperimentsTable, METRIC_COLUMNS, tableCsv, type TableRow } from '../../src/core/runs/tableModel';
import { app, el, fmtCount, fmtPct, PanelClient } from '../shared/panel';
import { button, checkbox, registerUi, setDisabled } from '../shared/ui';
import { host } from '../shared/vscode';
import './experiments.css';

interface Ui {
  sort: string;
  desc: boolean;
  filter: string;
  group: boolean;
  selected: string[];
  /** the host's last table (kept with the choices, so a reload repaints at once) */
  table: ExperimentsTable | null;
}

registerUi();
const client = new PanelClient<Ui>({
  name: 'experiments',
  host: host(),
  ui: { sort: 'startedAt', desc: true, filter: '', group: true, selected: [], table: null },
  render: () => render(),
  onMessage: (m) => {
    if (m.type !== 'table' || !m.table || !Array.isArray(m.table.rows)) return;
    client.setUi({ table: m.table, selected: client.ui.selected.filter((id) => m.table.rows.some((r) => r.id === id)) });
  },
});
const root = app();
/** A choice of the user's: kept at once (the page may be torn down right after). */
const choose = (patch: Partial<Ui>): void => {
  client.setUi(patch);
  client.save(true);
};
const count = el('span', { id: 'exp-count', class: 'muted' });
const filter = el('input', { id: 'exp-filter', type: 'search', placeholder: 'filter (run, sweep, values, status)', 'aria-label': 'filter runs' });
filter.value = client.ui.filter;
filter.addEventListener('input', () => choose({ filter: filter.value }));
const groupBox = checkbox('group by sweep', client.ui.group, (group) => choose({ group }), 'exp-group');
const compareBtn = button('Compare curves', () => compare('curves'), { id: 'exp-compare', title: 'Open the selected runs in the dashboard' });
const energyBtn = button('Compare energy', () => compare('energy'), { id: 'exp-energy', appearance: 'secondary', title: 'Energy and accuracy of the selected runs' });
const csvBtn = button('Export CSV', exportCsv, { id: 'exp-csv', appearance: 'secondary', title: 'Save the shown rows as CSV' });
const empty = el('div', { id: 'exp-empty', class: 'empty muted' }, 'No runs yet: train a config, run a sweep or submit to a cluster.');
const grid = el('table', { id: 'exp-table', class: 'exp-table' });
root.append(el('header', { class: 'header' }, el('h1', {}, 'Experiments'), count), el('div', { class: 'toolbar' }, filter, groupBox, compareBtn, energyBtn, csvBtn), empty, el('div', { class: 'exp-scroll' }, grid));

function compare(view: 'curves' | 'energy'): void {
  const ids = client.ui.selected.filter((id) => client.ui.table?.rows.some((r) => r.id === id));
  if (ids.length > 0) client.vscode.post({ type: 'compareRuns', runIds: ids, view });
}

type Cell = string | number | boolean | null;

function valueOf(row: TableRow, key: string): Cell {
  if (key.startsWith('config:')) return row.config[key.slice(7)] ?? null;
  if (key === 'run') return row.id;
  if (key === 'sweep') return row.sweepId;
  return (row as unknown as Record<string, Cell>)[key] ?? null;
}

function compareValues(a: Cell, b: Cell): number {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1; // empty cells last, either way
  if (b === null || b === undefined) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** The shown rows: filtered, sorted (empty values last), grouped by sweep when asked. */
function shownRows(): Array<{ group: string | null; rows: TableRow[] }> {
  if (!client.ui.table) return [];
  const needle = client.ui.filter.trim().toLowerCase();
  const match = (r: TableRow) => !needle || [r.id, r.name, r.status, r.sweepId ?? '', r.slurm ?? '', ...Object.entries(r.config).map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase().includes(needle);
  const sorted = (rows: TableRow[]) => {
    const out = rows.filter(match);
    out.sort((a, b) => {
      const va = valueOf(a, client.ui.sort);
      const vb = valueOf(b, client.ui.sort);
      if (va === null || vb === null) return compareValues(va, vb);
      return client.ui.desc ? -compareValues(va, vb) : compareValues(va, vb);
    });
    return out;
  };
  if (!client.ui.group) return [{ group: null, rows: sorted(client.ui.table.rows) }];
  return client.ui.table.groups.map((g) => ({ group: g.sweepId ?? '', rows: sorted(g.rows) })).filter((g) => g.rows.length > 0);
}

function fmt(key: string, v: Cell): string {
  if (v === null || v === undefined) return '–';
  if (key === 'bestTop1' || key === 'finalTop1') return fmtPct(v as number, 2);
  if (key === 'finalLoss') return (v as number).toFixed(4);
  if (key === 'energyMj') return (v as number).toPrecision(3);
  if (key === 'imgPerS') return (v as number).toFixed(0);
  if (key === 'params') return fmtCount(v as number);
  if (key === 'durationS') return `${Math.round(v as number)} s`;
  return String(v);
}

function exportCsv(): void {
  if (!client.ui.table) return;
  const rows = shownRows().flatMap((g) => g.rows);
  client.vscode.post({ type: 'export', format: 'csv', data: tableCsv(client.ui.table.configColumns, rows), name: 'experiments.csv' });
}

function render(): void {
  const rows = client.ui.table?.rows ?? [];
  empty.hidden = rows.length > 0;
  grid.hidden = rows.length === 0;
  const groups = shownRows();
  const shown = groups.reduce((n, g) => n + g.rows.length, 0);
  count.textContent = client.ui.table ? `${shown} of ${rows.length} runs · ${client.ui.selected.length} selected` : '';
  setDisabled(compareBtn, client.ui.selected.length < 1);
  setDisabled(energyBtn, client.ui.selected.length < 1);
  setDisabled(csvBtn, shown === 0);
  if (!client.ui.table) return grid.replaceChildren();
  const columns: Array<{ key: string; label: string; numeric: boolean }> = [
    { key: 'run', label: 'run', numeric: false },
    ...client.ui.table.configColumns.map((c) => ({ key: `config:${c}`, label: c, numeric: false })),
    ...METRIC_COLUMNS.map((m) => ({ key: m.key, label: m.label, numeric: m.key !== 'status' })),
  ];
  const head = el('tr', {}, el('th', { class: 'sel' }));
  for (const c of columns) {
    const arrow = client.ui.sort === c.key ? (client.ui.desc ? ' ▼' : ' ▲') : '';
    const th = el('th', { 'data-key': c.key, class: c.numeric ? 'num sortable' : 'sortable', tabindex: '0', 'aria-sort': client.ui.sort === c.key ? (client.ui.desc ? 'descending' : 'ascending') : 'none' }, c.label + arrow);
    const sortBy = () => choose(client.ui.sort === c.key ? { desc: !client.ui.desc } : { sort: c.key, desc: c.numeric });
    th.addEventListener('click', sortBy);
    th.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), sortBy()));
    head.append(th);
  }
  const body: HTMLElement[] = [];
  for (const g of groups) {
    if (client.ui.group) {
      const label = g.group ? `sweep ${g.group}` : 'runs outside sweeps';
      body.push(el('tr', { class: 'group-row', 'data-sweep': g.group ?? '' }, el('td', { colspan: String(columns.length + 1) }, `${label} · ${g.rows.length} run${g.rows.length === 1 ? '' : 's'}`)));
    }
    for (const r of g.rows) {
      const box = el('input', { type: 'checkbox', 'aria-label': `select ${r.id}` });
      box.checked = client.ui.selected.includes(r.id);
      box.addEventListener('change', () => choose({ selected: box.checked ? [...client.ui.selected, r.id] : client.ui.selected.filter((id) => id !== r.id) }));
      const tr = el('tr', { 'data-run': r.id, class: box.checked ? 'selected' : '' }, el('td', { class: 'sel' }, box));
      for (const c of columns) {
        const v = valueOf(r, c.key);
        const td = el('td', { 'data-key': c.key, class: c.numeric ? 'num' : '' }, fmt(c.key, v));
        if (c.key === 'run') td.title = `${r.name}\n${r.dir}${r.slurm ? `\n${r.slurm}` : ''}`;
        if (c.key === 'status') td.className = `status-${r.status}`;
        tr.append(td);
      }
      body.push(tr);
    }
  }
  grid.replaceChildren(el('thead', {}, head), el('tbody', {}, ...body));
}

client.start();
