// The Runs view following a Slurm job inside real VS Code: starts the single-node cluster (cluster.mjs), then
// code-server with SLURM_CONF in its environment, and runs the in-host suite test/integration/suite/slurm.test.ts
// (selected with SPIKE_IT_GREP) in it: Train on Cluster… → PENDING (held) → RUNNING → COMPLETED in the tree, and a
// refused job. Needs the build (npm run build: dist/ and out/integration/), code-server and Chromium (setup.sh).
// Run: npx mocha --config test/slurm/.mocharc.json -g "Runs view"

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { BrowserContext } from 'playwright-core';

type Cluster = Awaited<ReturnType<typeof import('./cluster.mjs').startCluster>>;

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(ROOT, 'test-results');
/** a guard only: the in-host test's waits follow the job (PENDING ≤ 60 s, RUNNING ≤ 120 s, COMPLETED ≤ 300 s) */
const SUITE_GUARD_S = 600;

describe('Runs view following a Slurm job (code-server)', function () {
  this.timeout((SUITE_GUARD_S + 180) * 1000);
  let cluster: Cluster | undefined;
  let tmp: string | undefined;
  let server: ChildProcess | undefined;
  let context: BrowserContext | undefined;
  const t0 = Date.now();
  const log = (...a: unknown[]) => console.log(`    [runs-view ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

  after(async function () {
    this.timeout(60_000);
    const { endAll } = await import('../integration/codeserver.mjs');
    await endAll({ server, context, tmp });
    await cluster?.stop();
    if (tmp && !process.env.SPIKE_SLURM_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    else if (tmp) console.log(`kept ${tmp}`);
  });

  it('shows PENDING (reason) → RUNNING (node) → COMPLETED with the job id and log links; a refused job leaves nothing', async () => {
    const cs = await import('../integration/codeserver.mjs');
    for (const [what, file] of [['code-server', cs.CODE_SERVER], ['Chromium', cs.CHROMIUM], ['the in-host suite (npm run build)', path.join(ROOT, 'out/integration/index.js')], ['the extension (npm run build)', path.join(ROOT, 'dist/extension.js')]]) {
      assert.ok(fs.existsSync(file), `${what} is missing: ${file} (bash scripts/setup.sh test; npm run build)`);
    }
    const { startCluster } = await import('./cluster.mjs');
    cluster = await startCluster(); // throws SlurmUnavailable with the reason
    log(`single-node Slurm up (node ${cluster.node})`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-slurm-it-'));
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const ws = path.join(tmp, 'ws');
    fs.mkdirSync(ws);
    fs.copyFileSync(path.join(__dirname, 'tiny.spike.yaml'), path.join(ws, 'slurm-tiny.spike.yaml'));
    const resultsFile = path.join(tmp, 'results-slurm.json');
    const started = await cs.startCodeServer({
      tmp, resultsDir: RESULTS_DIR, log, resultsFile, onSpawn: (s) => (server = s),
      env: { SLURM_CONF: cluster.conf, SPIKE_IT_GREP: '^Slurm: ', SPIKE_IT_SLURM: JSON.stringify({ node: cluster.node, partition: cluster.partition }) },
    });
    context = await cs.launchBrowser({ tmp, profile: 'chromium-profile-slurm', log });
    const ts = Date.now();
    const { code, report } = await cs.runInHostSuite({ context, base: started.base, port: started.port, ws, name: 'slurm', guardS: SUITE_GUARD_S, resultsFile, resultsDir: RESULTS_DIR, log });
    log(`in-host Slurm suite: exit ${code} in ${((Date.now() - ts) / 1000).toFixed(1)} s`);
    assert.ok(report, `the in-host suite wrote no results (exit ${code}); see test-results/integration-slurm-console.log`);
    for (const t of report.tests) log(`${t.state === 'passed' ? '✔' : t.state === 'failed' ? '✘' : '-'} ${t.title}${t.durationMs !== undefined ? ` (${(t.durationMs / 1000).toFixed(1)} s)` : ''}`);
    const failed = report.tests.filter((t) => t.state === 'failed');
    assert.deepEqual(failed.map((t) => `${t.title}: ${t.error}`), []);
    assert.equal(report.tests.filter((t) => t.state === 'passed').length, 2, `both Slurm tests ran: ${JSON.stringify(report.tests.map((t) => [t.title, t.state]))}`);
    assert.equal(code, 0);
  });
});
