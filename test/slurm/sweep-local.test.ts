// A local sweep: 4 tiny CPU runs, 2 at a time, each an ordinary run dir listed in the sweep folder; the experiments
// table groups them and sorts by top-1; CSV export. (No Slurm needed; runs in the slurm layer because it trains.)
// SPIKE_WRITE_TABLE_FIXTURE=1 also writes test/fixtures/experiments/table.json (the webview test's input).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runSweepLocal } from '../../src/core/cluster/submit';
import { loadSweep } from '../../src/core/cluster/sweep';
import { readRun } from '../../src/core/runs/runs';
import { buildTable, tableCsv } from '../../src/core/runs/table';

const ROOT = path.resolve(__dirname, '..', '..');

describe('local sweep (4 tiny runs, 2 at a time, CPU)', function () {
  this.timeout(300_000);
  it('runs every member, never more than 2 at once, and tabulates them', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-sweep-local-'));
    const file = path.join(__dirname, 'tiny.sweep.yaml');
    const sweep = loadSweep(fs.readFileSync(file, 'utf8'), file);
    assert.equal(sweep.members.length, 4);
    for (const m of sweep.members) m.resolved.train.epochs = 1;
    let running = 0;
    let most = 0;
    const bestOf = new Map<string, number | null>();
    const result = await runSweepLocal(work, file, sweep.members, {
      python: path.join(ROOT, '.venv', 'bin', 'python'), runtimeRoot: path.join(ROOT, 'runtime'), parallel: 2, env: { OMP_NUM_THREADS: '1' },
      runsDir: path.join(work, 'runs'),
      onStart: () => (most = Math.max(most, ++running)),
      onDone: (run, state) => {
        running--;
        bestOf.set(run.id, state.bestTop1);
      },
    });
    assert.equal(most, 2);
    assert.deepEqual(result.done.map((d) => d?.status), ['completed', 'completed', 'completed', 'completed']);
    const record = JSON.parse(fs.readFileSync(path.join(result.dir, 'sweep.json'), 'utf8'));
    assert.deepEqual(record.members.map((m: { runDir: string }) => m.runDir), result.runs.map((r) => r.dir));
    const runs = result.runs.map((r) => readRun(r.dir));
    const table = buildTable(runs);
    assert.deepEqual(table.groups.map((g) => g.rows.length), [4]);
    assert.deepEqual(table.configColumns, ['train.lr', 'model.depth']);
    for (const row of table.rows) {
      assert.ok(row.bestTop1 !== null && row.finalLoss !== null && row.params !== null && row.imgPerS !== null && row.durationS !== null, JSON.stringify(row));
    }
    for (const row of table.rows) assert.equal(bestOf.get(row.id), row.bestTop1, `${row.id}: onDone's best top-1 is the table's`);
    const byTop1 = [...table.rows].sort((a, b) => (b.bestTop1 ?? 0) - (a.bestTop1 ?? 0));
    const csv = tableCsv(table.configColumns, byTop1).trimEnd().split('\r\n');
    assert.equal(csv.length, 5);
    assert.match(csv[0], /^run,sweep,train\.lr,model\.depth,best top-1/);
    assert.deepEqual(csv.slice(1).map((l) => l.split(',')[0]), byTop1.map((r) => r.id));
    if (process.env.SPIKE_WRITE_TABLE_FIXTURE === '1') {
      const out = path.join(ROOT, 'test/fixtures/experiments/table.json');
      fs.mkdirSync(path.dirname(out), { recursive: true });
      const clean = JSON.parse(JSON.stringify(table).split(work).join('/ws'));
      fs.writeFileSync(out, JSON.stringify(clean, null, 2) + '\n');
    }
    fs.rmSync(work, { recursive: true, force: true });
  });
});
